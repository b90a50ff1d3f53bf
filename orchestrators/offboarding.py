"""The offboarding workflow (and its narrow sibling, prune): discover, plan only what is ours to undo, approve each
group, apply, check, record.

It is the onboarding's run with other steps: the approval wait, the re-check of the state after approval and the
custom status are OnboardingRun's own (`approve`, `decision`, Progress), called, not copied. Offboarding reads
Exchange, the tenant and the registry (what we made); prune reads only the tenant and the registry. After applying,
both read again and check: the proxy disabled, our keys gone, every other key exactly as it was.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators.onboarding import Ended, OnboardingRun
from pushproxy.activity_names import Activity, Orchestrator
from pushproxy.notifications import events
from pushproxy.notifications.workflow import notify
from pushproxy.offboarding_plan import (
    OurFootprint,
    check_keys,
    check_offboarded,
    not_onboarded_plan,
    plan_offboarding,
    plan_prune,
)
from pushproxy.outcome import message
from pushproxy.plan import OnboardingPlan
from pushproxy.timers import sleep_until
from pushproxy.workflow import call_step, call_steps, short

bp = df.Blueprint()

# Reads right after a write may come from a replica that is behind (Entra): the check reads again a few times.
CHECK_ATTEMPTS = 3
CHECK_INTERVAL_S = 5.0


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.OFFBOARDING)
def offboarding(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Take one organisation off the push-notification proxy, undoing only what our onboardings made."""
    return (yield from OffboardingRun(context, "offboarding").run())


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.PRUNE)
def prune(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Remove our keys of expired certificates from the tenant's Exchange Online service principal."""
    return (yield from OffboardingRun(context, "prune").run())


class OffboardingRun(OnboardingRun):
    """One offboarding's (or prune's) decisions. Deterministic: it reads only the context and outcomes."""

    def __init__(self, context: df.DurableOrchestrationContext, workflow: str) -> None:
        super().__init__(context)
        request = context.get_input() or {}
        if isinstance(request, str):
            import json

            request = json.loads(request)
        self.workflow = workflow
        self.remove_auth_server = bool(request.get("remove_auth_server"))
        self.comment = request.get("comment") if isinstance(request.get("comment"), str) else None
        self.before_tenant: dict[str, Any] | None = None

    def run(self) -> Generator[Any, Any, dict[str, Any]]:
        try:
            exchange, plan = yield from self.discover_and_plan()
            exchange, plan = yield from self.approve(exchange, plan)  # OnboardingRun's: each group, re-checked after
            yield from self.apply_removals(plan)
            yield from self.check(plan)
            phase, error = "done", None
        except Ended as end:
            phase, error = end.phase, end.error
        except Exception as exc:  # a bug in deciding must not freeze the status either
            phase, error = "failed", f"internal error: {type(exc).__name__}: {short(exc)}"
        return (yield from self.record(phase, error))

    # discover and plan (called again by OnboardingRun.approve after approval) -----------------------------------

    def discover_and_plan(self) -> Generator[Any, Any, tuple[dict[str, Any], OnboardingPlan]]:
        self.publish("discovering")
        payload = {"spec": self.spec_dict}
        # The registry first: a tenant it doesn't know has nothing of ours to undo, and no registration binds its
        # secrets to any host (pushproxy.bindings), so neither Exchange nor Graph is asked.
        known = yield from call_step(self.context, Activity.DISCOVER_OURS, payload, self.retry)
        if known["ok"] and not OurFootprint.from_dict(known["result"]).registered:
            self.progress.set_plan(not_onboarded_plan(self.spec.tenant_domain, self.workflow))
            raise Ended("blocked")
        calls: list[tuple[str, Any]] = [(Activity.DISCOVER_TENANT, payload), (Activity.DISCOVER_OURS, payload)]
        if self.workflow == "offboarding":
            calls.append((Activity.DISCOVER_EXCHANGE, payload))
        found = yield from call_steps(self.context, calls, self.retry)
        for outcome in found:
            if not outcome["ok"]:
                raise Ended("failed", f"discovery failed: {message(outcome)}")
        tenant, ours = found[0]["result"], OurFootprint.from_dict(found[1]["result"])
        now = self.context.current_utc_datetime
        if self.workflow == "offboarding":
            exchange = found[2]["result"]
            plan = plan_offboarding(exchange, tenant, ours, self.spec.tenant_domain, now,
                                    remove_auth_server=self.remove_auth_server)
        else:
            exchange = {}
            plan = plan_prune(tenant, ours, self.spec.tenant_domain, now)
        self.before_tenant = tenant
        self.progress.set_plan(plan, self.context.current_utc_datetime)
        if plan.is_blocked:
            raise Ended("blocked")
        return exchange, plan

    # apply ------------------------------------------------------------------------------------------------------

    def apply_removals(self, plan: OnboardingPlan) -> Generator[Any, Any, None]:
        """One idempotent activity per change, in the plan's order; the first failure ends the run."""
        if not plan.is_empty:
            self.publish("applying")
        for change in plan.changes:
            self.progress.current = change.kind
            self.publish()
            payload = {"spec": self.spec_dict, "change": change.to_dict()}
            outcome = yield from call_step(self.context, change.kind, payload, self.retry)
            self.progress.current = None
            if not outcome["ok"]:
                self.progress.fail_change(change, message(outcome))
                raise Ended("failed", f"{change.kind} failed: {message(outcome)}")
            self.progress.complete_change(change, outcome["action"], outcome["result"])
            self.publish()

    # check ------------------------------------------------------------------------------------------------------

    def check(self, plan: OnboardingPlan) -> Generator[Any, Any, None]:
        """Read again: the proxy disabled, our keys gone, every other key intact (each of its fields as before)."""
        if plan.is_empty:
            return
        self.publish("verifying")
        removed = [t for c in plan.changes if c.kind == Activity.REMOVE_TENANT_KEYS for t in c.details.get("thumbprints", ())]
        payload = {"spec": self.spec_dict}
        calls: list[tuple[str, Any]] = [(Activity.DISCOVER_TENANT, payload)]
        if self.workflow == "offboarding":
            calls.append((Activity.DISCOVER_EXCHANGE, payload))
        problems: list[str] = []
        for attempt in range(1, CHECK_ATTEMPTS + 1):
            found = yield from call_steps(self.context, calls, self.retry)
            failed = [message(o) for o in found if not o["ok"]]
            if failed:
                raise Ended("failed", f"the check after applying could not read the state: {failed[0]}")
            problems = check_keys(self.before_tenant or {}, found[0]["result"], removed)
            if self.workflow == "offboarding":
                problems += check_offboarded(found[1]["result"], self.spec.tenant_domain, plan)
            if not problems:
                self.progress.note("checked: " + ("the proxy is disabled, " if self.workflow == "offboarding" else "")
                                   + "our keys are gone and every other key is as it was")
                return
            if attempt < CHECK_ATTEMPTS:
                yield from sleep_until(self.context, self.context.current_utc_datetime + timedelta(seconds=CHECK_INTERVAL_S))
        raise Ended("failed", "the check after applying found: " + "; ".join(problems))

    # record -----------------------------------------------------------------------------------------------------

    def record(self, phase: str, error: str | None) -> Generator[Any, Any, dict[str, Any]]:
        progress = self.progress
        progress.phase = phase
        progress.error = error
        progress.finished_at = self.context.current_utc_datetime
        progress.awaiting = None
        progress.current = None
        progress.waiting_until = None
        self.publish()
        report = {**progress.report(), "workflow": self.workflow, "comment": self.comment,
                  "remove_auth_server": self.remove_auth_server}
        recorded = yield from call_step(
            self.context, Activity.RECORD_OFFBOARDING,
            {"spec": self.spec_dict, "instance_id": self.context.instance_id, "report": report}, self.retry,
        )
        if not recorded["ok"]:
            progress.note(f"could not record the {self.workflow} in the registry: {message(recorded)}")
            self.publish()
            report = {**report, "notes": progress.notes}
        yield from notify(self.context, events.workflow_ended(
            workflow=self.workflow, instance_id=self.context.instance_id, report=report, occurred_at=progress.finished_at))
        return report
