"""One workflow per tenant at a time: onboarding, rotation and offboarding exclude each other.

Each is a singleton by instance id (`<workflow>-<domain>`); a tenant's workflows also exclude each other, because
an offboarding that removes our keys while a rotation uploads one, or two workflows assigning certificates, would
fight. The check is the Durable singleton pattern (check, then start), used by every door: the HTTP API, the
timer's remediation and the CLI. Works with any client that has the SDK's `get_status` / `start_new` (the
Functions host's, `pushproxy serve`'s) through `start_exclusive`, and with the local host through `blocking`.
"""

from __future__ import annotations

import inspect
from typing import Any

from pushproxy.activity_names import Orchestrator
from pushproxy.spec import workflow_instance_id

TENANT_WORKFLOWS: tuple[str, ...] = (
    Orchestrator.ONBOARDING, Orchestrator.ROTATION, Orchestrator.OFFBOARDING, Orchestrator.PRUNE,
)
ACTIVE = frozenset({"Pending", "Running", "ContinuedAsNew", "ContinuingAsNew", "Suspended"})


def runtime_name(status: Any) -> str | None:
    runtime = getattr(status, "runtime_status", None)
    return None if runtime is None else str(getattr(runtime, "value", runtime))


def instance_ids(domain: str) -> list[str]:
    """The instance ids a tenant's workflows use, in TENANT_WORKFLOWS order."""
    return [workflow_instance_id(workflow, domain) for workflow in TENANT_WORKFLOWS]


def blocking(get_status: Any, domain: str) -> str | None:
    """The instance id of the tenant's workflow that still runs, or None. `get_status(id)` is synchronous (the
    local host's)."""
    for instance_id in instance_ids(domain):
        if runtime_name(get_status(instance_id)) in ACTIVE:
            return instance_id
    return None


async def running_instance(client: Any, domain: str) -> str | None:
    """As `blocking`, through a Durable client whose `get_status` is a coroutine."""
    for instance_id in instance_ids(domain):
        status = client.get_status(instance_id)
        if inspect.isawaitable(status):
            status = await status
        if runtime_name(status) in ACTIVE:
            return instance_id
    return None


async def start_exclusive(client: Any, workflow: str, domain: str, client_input: Any) -> tuple[bool, str]:
    """Start `workflow` for `domain` unless one of the tenant's workflows still runs.

    Returns (True, the new instance id) or (False, the running instance's id), so the caller can answer 409 with
    that instance's status URL. Check-then-start, as Durable's singleton pattern is: two starts in the same
    instant can both pass the check (docs/interfaces.md says so)."""
    if workflow not in TENANT_WORKFLOWS:
        raise ValueError(f"{workflow!r} is not a tenant workflow")
    running = await running_instance(client, domain)
    if running is not None:
        return False, running
    instance_id = workflow_instance_id(workflow, domain)
    await client.start_new(workflow, instance_id, client_input)
    return True, instance_id
