"""The onboarding workflow, in its six steps: discover, plan, approve (each group), apply, verify, record.

Orchestrators only decide: no I/O, no clock but `context.current_utc_datetime`, no environment. Every step that
touches Exchange, Graph or the registry is an activity (functions/), called through pushproxy.workflow, so each
comes back in the one outcome shape and transient failures are retried on durable timers. Whatever ends the run,
a blocking problem, a decision, a failed step or a bug here, ends it through `finish`: the registry records it and
the custom status is final. Custom status always says the phase, the plan, what is done and what is awaited.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from pushproxy.activity_names import Activity, Orchestrator
from pushproxy.approvals import ApprovalRules, Awaiting, await_decision, open_wait
from pushproxy.exactly_once import operation_id
from pushproxy.hybrid import tenant_with_hybrid_apps
from pushproxy.notifications import events
from pushproxy.notifications.workflow import notify
from pushproxy.onboarding.payloads import NOT_EXPORTABLE, change_payload
from pushproxy.onboarding.progress import Progress
from pushproxy.outcome import message
from pushproxy.plan import GROUPS, OnboardingPlan, plan_onboarding
from pushproxy.spec import TenantSpec
from pushproxy.timers import sleep_until
from pushproxy.workflow import RetryPolicy, call_step, call_steps, short

bp = df.Blueprint()

# The plan is re-approved when the state changes between approval and apply; a state that keeps changing under
# us (another tool fighting us) ends the run instead of asking forever.
MAX_APPROVAL_ROUNDS = 5

Steps = Generator[Any, Any, Any]


class Ended(Exception):
    """The run ends here, in `phase` (blocked, rejected, timed_out, failed), for `error` if any."""

    def __init__(self, phase: str, error: str | None = None) -> None:
        super().__init__(phase, error)
        self.phase = phase
        self.error = error


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.ONBOARDING)
def onboarding(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Onboard one organisation to the push-notification proxy, from discovery to a verified probe."""
    run = OnboardingRun(context)
    try:
        exchange, plan = yield from run.discover_and_plan()  # 1. discover, 2. plan
        exchange, plan = yield from run.approve(exchange, plan)  # 3. approve each group, re-checked after
        yield from run.apply(exchange, plan)  # 4. apply, one idempotent activity per change
        yield from run.verify(plan)  # 5. verify: restart, wait, probe until it succeeds or time runs out
        phase, error = "done", None
    except Ended as end:
        phase, error = end.phase, end.error
    except Exception as exc:  # a bug in deciding must not freeze the status either
        phase, error = "failed", f"internal error: {type(exc).__name__}: {short(exc)}"
    return (yield from run.record(phase, error))  # 6. record


class OnboardingRun:
    """One run's decisions, a named sub-step per method. Deterministic: it reads only the context and outcomes."""

    def __init__(self, context: df.DurableOrchestrationContext) -> None:
        request = context.get_input() or {}
        if isinstance(request, str):  # as the extension hands it over: JSON text
            import json

            request = json.loads(request)
        self.context = context
        self.spec = TenantSpec.from_dict(request.get("spec"))
        self.spec_dict = self.spec.to_dict()
        self.progress = Progress(
            tenant=self.spec.tenant_domain,
            started_at=context.current_utc_datetime,
            requested_by=request.get("requested_by"),
            remediation=bool(request.get("remediation")),
        )
        # Who may decide comes from the run's input (the operator's approvers, who started it), never from an event.
        self.approval_rules = ApprovalRules(
            requester=request.get("requested_by"), approvers=tuple(self.spec.approval.approvers),
            policy=self.spec.approval.policy,
        )
        self.retry = RetryPolicy(self.spec.retry.first_retry_interval_s, self.spec.retry.max_attempts)

    def publish(self, phase: str | None = None) -> None:
        if phase:
            self.progress.phase = phase
        self.context.set_custom_status(self.progress.status())

    # 1 and 2 ---------------------------------------------------------------------------------------------------

    def discover_and_plan(self) -> Generator[Any, Any, tuple[dict[str, Any], OnboardingPlan]]:
        """Both sides in parallel, read-only, then the plan: only what is missing or wrong."""
        self.publish("discovering")
        payload = {"spec": self.spec_dict}
        found = yield from call_steps(
            self.context, [(Activity.DISCOVER_EXCHANGE, payload), (Activity.DISCOVER_TENANT, payload)], self.retry
        )
        for outcome in found:
            if not outcome["ok"]:
                raise Ended("failed", f"discovery failed: {message(outcome)}")
        exchange, tenant = found[0]["result"], found[1]["result"]
        tenant = yield from tenant_with_hybrid_apps(self.context, exchange, tenant, self.spec_dict, self.retry)
        plan = plan_onboarding(
            exchange, tenant, self.spec.tenant_domain, self.context.current_utc_datetime, tenant_id=self.spec.tenant_id,
            shared_principal_key=self.spec.tenant.shared_principal_key,
        )
        self.progress.set_plan(plan, self.context.current_utc_datetime)
        if plan.is_blocked:
            raise Ended("blocked")
        return exchange, plan

    # 3 ---------------------------------------------------------------------------------------------------------

    def approve(self, exchange: dict[str, Any], plan: OnboardingPlan) -> Generator[Any, Any, tuple[dict[str, Any], OnboardingPlan]]:
        """Each group approved on its own; then discover again and apply only a plan approved for the state as it is."""
        rounds = 0
        while not plan.is_empty:
            rounds += 1
            if rounds > MAX_APPROVAL_ROUNDS:
                raise Ended("failed", "the state kept changing between approval and apply")
            for group in GROUPS:
                if plan.group(group):
                    decision = yield from self.decision(group, plan, rounds)
                    if decision == "reject":
                        raise Ended("rejected")
                    if decision == "timed_out":
                        raise Ended("timed_out")
            exchange, again = yield from self.discover_and_plan()
            if again.state_hash == plan.state_hash and again.changes == plan.changes:
                return exchange, plan
            self.progress.note("the state changed after approval: the new plan needs approval again")
            plan = again
        return exchange, plan

    def decision(self, group: str, plan: OnboardingPlan, round_no: int) -> Generator[Any, Any, str]:
        """Wait for this group's decision: "approve", "reject" or "timed_out" (pushproxy.approvals decides what counts)."""
        context, spec, progress = self.context, self.spec, self.progress
        now = context.current_utc_datetime
        deadline = now + timedelta(seconds=spec.approval.timeout_s)
        awaiting = open_wait(group, plan.state_hash, now, round_no, deadline)
        if spec.approval.policy != "auto":
            # Tell the approvers (a quick activity: delivery runs in its own orchestration and never delays this
            # one). The hash in the event is this wait's, the one an approval must carry (pushproxy.approvals).
            yield from notify(context, events.approval_awaited(
                workflow=getattr(self, "workflow", "onboarding"), instance_id=context.instance_id, run_started_at=progress.started_at,
                tenant=spec.tenant_domain, group=group, changes=[c.to_dict() for c in plan.group(group)],
                state_hash=awaiting.state_hash, deadline=deadline, occurred_at=now, requested_by=progress.requested_by,
                approvers=spec.approval.approvers))

        def publish(wait: Awaiting) -> None:
            progress.awaiting = wait.to_dict()
            self.publish("awaiting_approval")

        def note(text: str) -> None:
            progress.note(text)
            self.publish()

        decided = yield from await_decision(context, awaiting, self.approval_rules, deadline=deadline,
                                            publish=publish, note=note)
        progress.awaiting = None
        if decided.decision != "timed_out":
            progress.approve(group, decided.decision, str(decided.approver), decided.comment,
                             context.current_utc_datetime, plan.state_hash)
        return decided.decision

    # 4 ---------------------------------------------------------------------------------------------------------

    def apply(self, exchange: dict[str, Any], plan: OnboardingPlan) -> Steps:
        """One idempotent activity per change, in the plan's order; the first failure ends the run."""
        if not plan.is_empty:
            self.publish("applying")
        created: dict[str, Any] | None = None
        for change in plan.changes:
            self.progress.current = change.kind
            self.publish()
            payload = change_payload(self.spec_dict, change, created, exchange)
            # Names this change of this run, so a step that runs again finds what an earlier attempt made.
            payload["operation"] = operation_id(self.context.instance_id, self.progress.started_at, change.kind)
            outcome = yield from call_step(self.context, change.kind, payload, self.retry)
            if not outcome["ok"]:
                self.progress.fail_change(change, message(outcome))
                self.progress.current = None
                if NOT_EXPORTABLE in message(outcome) and not any(d.get("outcome") not in ("none", "failed") for d in self.progress.done):
                    raise Ended("blocked", message(outcome))  # a refused export changed nothing: a person's to fix
                raise Ended("failed", f"{change.kind} failed: {message(outcome)}")
            if change.kind == Activity.CREATE_AUTH_CERTIFICATE:
                created = outcome["result"]["certificate"]
            self.progress.complete_change(change, outcome["action"], outcome["result"])
            self.progress.current = None
            self.publish()

    # 5 ---------------------------------------------------------------------------------------------------------

    def verify(self, plan: OnboardingPlan) -> Steps:
        """Optionally restart the health manager, wait on a durable timer, then probe until success or the deadline."""
        self.publish("verifying")
        context, progress, verification = self.context, self.progress, self.spec.verification
        server = plan.probe_server
        if verification.restart_health_manager and server:
            # One attempt, no retry: a restart whose answer was lost may well have happened, and a second would be
            # a second outage of the health manager; the probe below says whether it mattered.
            restarted = yield from call_step(
                context, Activity.RESTART_HEALTH_MANAGER,
                {"spec": self.spec_dict, "server": server, "requested_at": context.current_utc_datetime.isoformat()},
            )
            # Optional step: a failure is noted, and the probe says whether it mattered.
            progress.note(f"restarted MSExchangeHM on {server}" if restarted["ok"]
                          else f"could not restart MSExchangeHM on {server}: {message(restarted)}")
            self.publish()
        if verification.wait_s > 0:
            wake = context.current_utc_datetime + timedelta(seconds=verification.wait_s)
            progress.waiting_until = wake.isoformat()
            self.publish()
            yield from sleep_until(context, wake)
            progress.waiting_until = None
        if not server:
            raise Ended("failed", "no Mailbox server to run the connectivity probe on")
        deadline = context.current_utc_datetime + timedelta(seconds=verification.probe_deadline_s)
        interval = timedelta(seconds=verification.probe_interval_s)
        attempts = 0
        while True:
            attempts += 1
            # One attempt per call: the probe loop is its own retry, until the deadline.
            probe = yield from call_step(context, Activity.RUN_PROBE, {"spec": self.spec_dict, "server": server})
            if probe["ok"]:
                progress.probe = {**probe["result"], "attempts": attempts}
            else:
                progress.probe = {"server": server, "result_type": "Error", "error": message(probe), "exception": None,
                                  "succeeded": False, "attempts": attempts}
            self.publish()
            if progress.probe.get("succeeded"):
                return
            if context.current_utc_datetime + interval > deadline:
                why = progress.probe.get("error") or progress.probe.get("result_type") or "no result"
                raise Ended("failed", f"the connectivity probe did not succeed ({why})")
            yield from sleep_until(context, context.current_utc_datetime + interval)

    # 6 ---------------------------------------------------------------------------------------------------------

    def record(self, phase: str, error: str | None) -> Generator[Any, Any, dict[str, Any]]:
        """The one way a run ends: final custom status, then the registry; a registry outage is noted, not fatal."""
        progress = self.progress
        progress.phase = phase
        progress.error = error
        progress.finished_at = self.context.current_utc_datetime
        progress.awaiting = None
        progress.current = None
        progress.waiting_until = None
        self.publish()
        report = progress.report()
        recorded = yield from call_step(
            self.context,
            Activity.RECORD_ONBOARDING,
            {"spec": self.spec_dict, "instance_id": self.context.instance_id, "report": report},
            self.retry,
        )
        if not recorded["ok"]:
            progress.note(f"could not record the onboarding in the registry: {message(recorded)}")
            self.publish()
            report = progress.report()
        yield from notify(self.context, events.workflow_ended(
            workflow="onboarding", instance_id=self.context.instance_id, report=report, occurred_at=progress.finished_at))
        return report
