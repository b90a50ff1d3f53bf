"""Singleton starts through the Durable client (the SDK's, bound by the Functions host or by `pushproxy serve`).

Every fleet verification has its own instance id, `verification-<UTC start, to the millisecond>`, so each run keeps
its own history and status (the registry keeps every run's summary too). The singleton guarantee ("never two
verifications at once", the timer never doubling a slow run) is kept by listing the running instances whose id
has the `verification-` prefix and whose orchestrator is `verification` (its batch sub-orchestrations share the
prefix but not the name) before starting one. Why this and not a fixed lock instance or an entity: it needs no
second object that could be left behind by a crash (a lock instance or entity state outliving its run would block
every later run until someone cleared it), it is what the Durable HTTP API and the SDK's `get_status_by` offer on
both hosts (`instanceIdPrefix`, `runtimeStatus`), and its cost is one query over running instances. Like every
check-then-start singleton, two starts in the same instant can both pass the check (docs/interfaces.md).
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import Any

from pushproxy.api.views import ACTIVE_STATUSES, runtime_status_name
from pushproxy.settings import setting

VERIFICATION_PREFIX = "verification-"
# The one id every run had before per-run ids: a run of an older deployment may still be going under it.
LEGACY_VERIFICATION_INSTANCE_ID = "verification"
VERIFICATION_ORCHESTRATOR = "verification"
_RUNNING = ("Running", "Pending", "ContinuedAsNew", "Suspended")


def new_verification_id(now: datetime | None = None) -> str:
    """`verification-20261201T233000.123Z`: sortable, unique per start (a singleton starts at most one at a time)."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{VERIFICATION_PREFIX}{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z"


def is_verification_id(instance_id: str) -> bool:
    return instance_id == LEGACY_VERIFICATION_INSTANCE_ID or (
        instance_id.startswith(VERIFICATION_PREFIX) and instance_id.count("-") == 1)


def _running_verifications(statuses: Any) -> list[str]:
    return sorted(
        str(s.instance_id) for s in statuses or ()
        if getattr(s, "name", None) in (None, "", VERIFICATION_ORCHESTRATOR) and is_verification_id(str(s.instance_id))
        and runtime_status_name(s) in ACTIVE_STATUSES
    )


async def running_verification(client: Any) -> str | None:
    """The id of the fleet verification that still runs, or None (SDK client: its methods are coroutines)."""
    from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

    statuses = await client.get_status_by(
        runtime_status=[OrchestrationRuntimeStatus(s) for s in _RUNNING], instance_id_prefix=VERIFICATION_PREFIX)
    running = _running_verifications(statuses)
    if running:
        return running[0]
    legacy = await client.get_status(LEGACY_VERIFICATION_INSTANCE_ID)
    return LEGACY_VERIFICATION_INSTANCE_ID if legacy and runtime_status_name(legacy) in ACTIVE_STATUSES else None


def running_verification_local(host: Any) -> str | None:
    """As `running_verification`, on the local host (synchronous)."""
    statuses = host.get_status_by(runtime_status=list(_RUNNING), instance_id_prefix=VERIFICATION_PREFIX)
    running = _running_verifications(statuses)
    if running:
        return running[0]
    legacy = host.get_status(LEGACY_VERIFICATION_INSTANCE_ID)
    return LEGACY_VERIFICATION_INSTANCE_ID if legacy and runtime_status_name(legacy) in ACTIVE_STATUSES else None


async def start_verification(client: Any, client_input: Any, now: datetime | None = None) -> tuple[bool, str]:
    """Start a fleet verification under a new id unless one runs: (True, new id) or (False, the running one's id)."""
    running = await running_verification(client)
    if running is not None:
        return False, running
    instance_id = new_verification_id(now)
    started = client.start_new(VERIFICATION_ORCHESTRATOR, instance_id, client_input)
    if inspect.isawaitable(started):
        await started
    return True, instance_id


async def running_status(client: Any, instance_id: str) -> Any | None:
    """The instance's status while it still runs (Pending, Running, Suspended), else None."""
    status = await client.get_status(instance_id)
    if status and runtime_status_name(status) in ACTIVE_STATUSES:
        return status
    return None


async def start_singleton(client: Any, orchestrator: str, instance_id: str, client_input: Any) -> bool:
    """Start `orchestrator` as `instance_id` unless an instance with that id still runs. True when started.

    Check-then-start is what Durable's singleton pattern is; two requests in the same instant can both pass the
    check, and the second start then replaces the first before it ran (the extension's default for an id reuse).
    """
    if await running_status(client, instance_id) is not None:
        return False
    await client.start_new(orchestrator, instance_id, client_input)
    return True


def verification_input(tenants: list[str] | None) -> dict[str, Any]:
    """The verification orchestrator's input: settings are read by the starter, since an orchestrator must not."""
    batch_size = int(setting("PUSHPROXY_VERIFY_BATCH_SIZE") or 20)
    warning_days = int(setting("PUSHPROXY_CERT_EXPIRY_WARNING_DAYS") or 60)
    return {"tenants": tenants, "batch_size": max(1, batch_size), "expiry_warning_days": max(0, warning_days)}
