"""Run offboardings and prunes on one machine: the local Durable host, one instance per tenant and workflow.

The same orchestrators and activities as in Azure. A tenant runs one workflow at a time
(pushproxy.tenant_workflows); running the same command again for an unfinished offboarding continues it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pushproxy.errors import PushProxyError
from pushproxy.local import LocalHost
from pushproxy.offboarding_plan import OurFootprint, plan_offboarding, plan_prune
from pushproxy.plan import OnboardingPlan
from pushproxy.spec import TenantSpec, workflow_instance_id
from pushproxy.tenant_workflows import blocking

WORKFLOWS = ("offboarding", "prune")


class WorkflowRunning(PushProxyError):
    """Another workflow of the tenant runs (an onboarding, a rotation, or the other of offboarding/prune)."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"{instance_id} is still running: a tenant runs one workflow at a time; let it finish "
                         f"(pushproxy status {instance_id}) and run this again")
        self.instance_id = instance_id


def start_or_resume(
    host: LocalHost, spec: TenantSpec, workflow: str, *, requested_by: str | None,
    remove_auth_server: bool = False, comment: str | None = None,
) -> tuple[str, bool]:
    """Start the tenant's offboarding (or prune), or find the unfinished one. Returns (instance id, resumed)."""
    if workflow not in WORKFLOWS:
        raise ValueError(f"{workflow!r} is not offboarding or prune")
    instance_id = workflow_instance_id(workflow, spec.tenant_domain)
    running = blocking(lambda i: host.get_status(i, show_history=False), spec.tenant_domain)
    if running == instance_id:
        return instance_id, True
    if running is not None:
        raise WorkflowRunning(running)
    if _registered(spec.tenant_domain):
        # The local operator's spec file stands as the registration of a tenant the registry knows; a tenant it
        # doesn't know is never registered by an offboarding (the workflow ends blocked: nothing to undo).
        from pushproxy.onboarding.runner import register_locally

        register_locally(spec, requested_by)
    host.start_new(workflow, instance_id, {"spec": spec.to_dict(), "requested_by": requested_by,
                                           "remove_auth_server": remove_auth_server, "comment": comment})
    return instance_id, False


def dry_run(spec: TenantSpec, workflow: str, *, remove_auth_server: bool = False) -> OnboardingPlan:
    """Discover and plan in this process, changing nothing and storing nothing."""
    from pushproxy import offboarding_steps
    from pushproxy.offboarding_plan import not_onboarded_plan
    from pushproxy.onboarding import steps

    if not _registered(spec.tenant_domain):
        return not_onboarded_plan(spec.tenant_domain, workflow)  # nothing is read from Exchange or Graph
    payload = {"spec": spec.to_dict()}
    # The operator's own spec file binds its secrets for the dry run, without registering (as onboard's dry run).
    with steps.operator_registration(spec):
        results: list[dict[str, Any]] = [asyncio.run(steps.discover_tenant(payload)),
                                         offboarding_steps.discover_ours(payload)]
        if workflow == "offboarding":
            results.append(steps.discover_exchange(payload))
    for result in results:
        if not result.get("ok"):
            raise PushProxyError(result["error"]["message"])
    tenant, ours = results[0]["result"], OurFootprint.from_dict(results[1]["result"])
    now = datetime.now(UTC)
    if workflow == "offboarding":
        return plan_offboarding(results[2]["result"], tenant, ours, spec.tenant_domain, now,
                                remove_auth_server=remove_auth_server)
    return plan_prune(tenant, ours, spec.tenant_domain, now)


def _registered(domain: str) -> bool:
    """Whether this machine's registry knows the tenant (it was registered or onboarded here)."""
    from pushproxy.registry import open_registry

    registry = open_registry()
    try:
        return registry.get_tenant(domain) is not None
    finally:
        registry.close()
