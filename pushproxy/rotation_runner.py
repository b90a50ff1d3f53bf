"""Run a rotation on one machine: the local Durable host, one rotation per tenant, driven from a terminal.

The same orchestrator and activities as in Azure. The instance id is the tenant's (`rotation-<domain>`), so running
`pushproxy rotate` again continues an unfinished one; `pushproxy serve` continues it too (its timers fire there).
With a JumpClock (tests, the demo) the long waits are jumped over instead of waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pushproxy.activity_names import Orchestrator
from pushproxy.local import LocalHost
from pushproxy.onboarding.runner import ACTIVE, FINAL, Decider, drive, runtime_of
from pushproxy.rotation_view import rotation_view
from pushproxy.spec import TenantSpec, workflow_instance_id
from pushproxy.tenant_workflows import blocking

# The phases in which a rotation waits on a durable timer for days.
TIMER_PHASES = ("staged", "waiting_to_retire", "waiting_for_expiry")


class Busy(Exception):
    """Another workflow of the tenant runs (onboarding or offboarding): one at a time."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(instance_id)
        self.instance_id = instance_id


def start_or_resume(host: LocalHost, spec: TenantSpec, requested_by: str | None, *, force: bool = False,
                    remediation: bool = False) -> tuple[str, bool]:
    """Start the tenant's rotation, or find the unfinished one. Returns (instance id, resumed)."""
    instance_id = workflow_instance_id(Orchestrator.ROTATION, spec.tenant_domain)
    status = host.get_status(instance_id, show_history=False)
    if status and runtime_of(status) in ACTIVE:
        return instance_id, True
    other = blocking(lambda i: host.get_status(i, show_history=False), spec.tenant_domain)
    if other is not None and other != instance_id:
        raise Busy(other)
    # On one machine the local operator's spec is the registration, as for `pushproxy onboard`: register it, then
    # start with it (the activities present its secrets only to the hosts it names, pushproxy.bindings).
    from pushproxy.onboarding.runner import register_locally

    register_locally(spec, requested_by)
    host.start_new(Orchestrator.ROTATION, instance_id, {"spec": spec.to_dict(), "requested_by": requested_by,
                                                        "remediation": remediation, "force": force})
    return instance_id, False


def waits_on_timer(custom: dict[str, Any]) -> bool:
    return custom.get("phase") in TIMER_PHASES and bool(custom.get("next_date"))


def run(host: LocalHost, instance_id: str, *, decide: Decider | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None, jump: Callable[[str], None] | None = None,
        timeout: float | None = None) -> Any:
    """Drive the rotation until it ends, or (without `jump`) until it waits on a long timer; with `jump`, call
    it with the timer's date and go on (a JumpClock's jump_to)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(1.0, deadline - time.monotonic())
        status = drive(host, instance_id, decide=decide, on_status=on_status, timeout=left, until=waits_on_timer)
        if runtime_of(status) in FINAL or jump is None:
            return status
        view = rotation_view(status)
        jump(str(view["next_date"]))
        host.wakeup.set()
        # Let the timer fire and the phase move on before looking for the next wait.
        drive(host, instance_id, decide=decide, on_status=on_status, timeout=left, until=_moved_on(view["next_date"]))


def _moved_on(seen: Any) -> Callable[[dict[str, Any]], bool]:
    def moved_on(custom: dict[str, Any]) -> bool:
        return custom.get("next_date") != seen

    return moved_on
