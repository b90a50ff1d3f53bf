"""The onboarding workflow: discover, plan, approve each group, re-check, apply, verify, record.

Orchestrators only decide: no I/O, no clock but `context.current_utc_datetime`, no environment. Every step that
touches Exchange, Graph or the registry is an activity (functions/activities.py). Custom status always says the
phase, the plan, what is done and what is awaited, so `GET` on an onboarding tells a person everything.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from pushproxy.onboarding.progress import Progress, parse_approval
from pushproxy.plan import GROUPS, OnboardingPlan, plan_onboarding
from pushproxy.spec import TenantSpec

bp = df.Blueprint()

# The plan is re-approved when the state changes between approval and apply; a state that keeps changing under
# us (another tool fighting us) ends the run instead of asking forever.
MAX_APPROVAL_ROUNDS = 5


def _short(exc: BaseException) -> str:
    """An activity failure as one line: Durable's message can carry a whole remote traceback."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 400 else text[:399] + "…"


def _upload_source(
    details: dict[str, Any], created: dict[str, Any] | None, current: dict[str, Any] | None, exchange: dict[str, Any]
) -> dict[str, Any] | None:
    """The certificate whose public key an `upload_tenant_key` change puts on the service principal: the one this
    run created, the staged next one (by thumbprint, from the discovery the plan was approved on), or the current one."""
    source = details.get("source")
    if source == "create_auth_certificate":
        return created
    if source == "next":
        wanted = str(details.get("thumbprint") or "").upper()
        return next(
            (
                c["certificate"]
                for c in exchange["auth_certificates"]
                if c["slot"] == "next" and c["certificate"] and str(c["certificate"]["thumbprint"]).upper() == wanted
            ),
            None,
        )
    return current


class OnboardingFailed(Exception):
    """A change could not be made; the custom status and the registry say which and why."""


@bp.orchestration_trigger(context_name="context")
def onboarding(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Onboard one organisation to the push-notification proxy, from discovery to a verified probe."""
    request = context.get_input() or {}
    spec = TenantSpec.from_dict(request.get("spec"))
    spec_dict = spec.to_dict()
    progress = Progress(
        tenant=spec.tenant_domain,
        started_at=context.current_utc_datetime,
        requested_by=request.get("requested_by"),
        remediation=bool(request.get("remediation")),
    )
    retry = df.RetryOptions(
        first_retry_interval_in_milliseconds=max(1, int(spec.retry.first_retry_interval_s * 1000)),
        max_number_of_attempts=spec.retry.max_attempts,
    )

    def publish(phase: str | None = None) -> None:
        if phase:
            progress.phase = phase
        context.set_custom_status(progress.status())

    def discover() -> Generator[Any, Any, tuple[dict[str, Any], dict[str, Any], OnboardingPlan]]:
        publish("discovering")
        results = yield context.task_all(
            [
                context.call_activity_with_retry("discover_exchange", retry, {"spec": spec_dict}),
                context.call_activity_with_retry("discover_tenant", retry, {"spec": spec_dict}),
            ]
        )
        for result in results:
            if not result.get("ok"):
                raise OnboardingFailed(result["error"]["message"])
        exchange, tenant = results[0]["result"], results[1]["result"]
        plan = plan_onboarding(exchange, tenant, spec.tenant_domain, context.current_utc_datetime, tenant_id=spec.tenant_id)
        progress.set_plan(plan)
        return exchange, tenant, plan

    def finish(phase: str, error: str | None = None) -> Generator[Any, Any, dict[str, Any]]:
        progress.phase = phase
        progress.error = error
        progress.finished_at = context.current_utc_datetime
        progress.awaiting = None
        publish()
        report = progress.report()
        try:
            yield context.call_activity_with_retry(
                "record_onboarding", retry, {"spec": spec_dict, "instance_id": context.instance_id, "report": report}
            )
        except Exception as exc:  # the onboarding itself is over; a registry outage must not hide its result
            progress.note(f"could not record the onboarding in the registry: {_short(exc)}")
            publish()
            report = progress.report()
        return report

    def approve(group: str, plan: OnboardingPlan) -> Generator[Any, Any, str]:
        """Wait for this group's decision: "approve", "reject" or "timed_out"."""
        now = context.current_utc_datetime
        deadline = now + timedelta(seconds=spec.approval.timeout_s)
        progress.awaiting = {"group": group, "state_hash": plan.state_hash, "deadline": deadline.isoformat()}
        publish("awaiting_approval")
        if spec.approval.policy == "auto":
            progress.approve(group, "approve", "policy:auto", "approved by the spec's approval policy", now, plan.state_hash)
            progress.awaiting = None
            return "approve"
        timer = context.create_timer(deadline)
        while True:
            event = context.wait_for_external_event("approval")
            winner = yield context.task_any([event, timer])
            if winner is timer:
                progress.awaiting = None
                return "timed_out"
            decision, why_not = parse_approval(event.result, plan.state_hash, spec.approval.approvers)
            if decision is None:
                progress.note(f"ignored an approval event: {why_not}")
                publish()
                continue
            timer.cancel()
            progress.approve(
                group,
                decision["decision"],
                decision["approver"],
                decision.get("comment"),
                context.current_utc_datetime,
                plan.state_hash,
            )
            progress.awaiting = None
            return str(decision["decision"])

    # 1. Discover and plan.
    try:
        exchange, _tenant, plan = yield from discover()
    except Exception as exc:
        return (yield from finish("failed", f"discovery failed: {_short(exc)}"))
    if plan.is_blocked:
        return (yield from finish("blocked"))

    # 2. Approve each group, then re-check: apply only what was approved for the state as it is now.
    rounds = 0
    while not plan.is_empty:
        rounds += 1
        if rounds > MAX_APPROVAL_ROUNDS:
            return (yield from finish("failed", "the state kept changing between approval and apply"))
        for group in GROUPS:
            if not plan.group(group):
                continue
            decision = yield from approve(group, plan)
            if decision == "reject":
                return (yield from finish("rejected"))
            if decision == "timed_out":
                return (yield from finish("timed_out"))
        try:
            exchange, _tenant, again = yield from discover()
        except Exception as exc:
            return (yield from finish("failed", f"discovery failed: {_short(exc)}"))
        if again.is_blocked:
            return (yield from finish("blocked"))
        if again.state_hash == plan.state_hash and again.changes == plan.changes:
            break
        progress.note("the state changed after approval: the new plan needs approval again")
        plan = again

    # 3. Apply, one idempotent activity per change, in the plan's order.
    publish("applying")
    created: dict[str, Any] | None = None
    current_cert = next((c["certificate"] for c in exchange["auth_certificates"] if c["slot"] == "current" and c["certificate"]), None)
    for change in plan.changes:
        payload: dict[str, Any] = {"spec": spec_dict, "change": change.to_dict()}
        if change.kind == "assign_auth_certificate":
            payload["thumbprint"] = (created or {}).get("thumbprint") or change.details.get("thumbprint")
        if change.kind == "upload_tenant_key":
            # One change, one PATCH: every key of the run travels together.
            payload["keys"] = [
                {
                    "source": key.get("source"),
                    "thumbprint": key.get("thumbprint"),
                    "der_b64": (_upload_source(key, created, current_cert, exchange) or {}).get("der_b64"),
                }
                for key in change.details.get("keys") or [change.details]
            ]
        progress.current = change.kind
        publish()
        try:
            result = yield context.call_activity_with_retry(change.kind, retry, payload)
        except Exception as exc:  # retries exhausted on a transient error
            progress.fail_change(change, _short(exc))
            return (yield from finish("failed", f"{change.kind} failed: {_short(exc)}"))
        if not result.get("ok"):
            progress.fail_change(change, result["error"]["message"])
            return (yield from finish("failed", f"{change.kind} failed: {result['error']['message']}"))
        if change.kind == "create_auth_certificate":
            created = result["result"]["certificate"]
        progress.complete_change(change, result["action"], result["result"])
        progress.current = None
        publish()

    # 4. Verify: optional health-manager restart, a durable wait, then the probe until it succeeds or time runs out.
    publish("verifying")
    server = plan.probe_server
    if spec.verification.restart_health_manager and server:
        try:
            restarted = yield context.call_activity_with_retry(
                "restart_health_manager", retry, {"spec": spec_dict, "server": server}
            )
            why = None if restarted.get("ok") else restarted["error"]["message"]
        except Exception as exc:
            why = _short(exc)
        # Optional step: a failure is noted, and the probe says whether it mattered.
        progress.note(f"restarted MSExchangeHM on {server}" if why is None else f"could not restart MSExchangeHM on {server}: {why}")
        publish()
    if spec.verification.wait_s > 0:
        wake = context.current_utc_datetime + timedelta(seconds=spec.verification.wait_s)
        progress.waiting_until = wake.isoformat()
        publish()
        yield context.create_timer(wake)
        progress.waiting_until = None
    deadline = context.current_utc_datetime + timedelta(seconds=spec.verification.probe_deadline_s)
    interval = timedelta(seconds=spec.verification.probe_interval_s)
    attempts = 0
    while server:
        attempts += 1
        probe = yield context.call_activity("run_probe", {"spec": spec_dict, "server": server})
        progress.probe = {**probe["result"], "attempts": attempts}
        publish()
        if progress.probe.get("succeeded") or context.current_utc_datetime + interval > deadline:
            break
        yield context.create_timer(context.current_utc_datetime + interval)

    verified = bool(progress.probe and progress.probe.get("succeeded"))
    return (yield from finish("done" if verified else "failed", None if verified else "the connectivity probe did not succeed"))
