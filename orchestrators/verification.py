"""The verification workflow: re-discover every onboarded tenant in bounded batches, classify drift, record the
results and a summary, and start a remediation onboarding where the tenant's policy allows it.

Orchestrators only decide: the activities they call are in functions/fleet.py, and reach them through
pushproxy.workflow in the one outcome shape. A remediation is started by the `start_remediation` activity through
the Durable client its host binds, in Azure and on the local host alike.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df

from pushproxy.activity_names import Activity, Orchestrator
from pushproxy.notifications.workflow import notify_fleet
from pushproxy.outcome import is_outcome, message
from pushproxy.registry.models import VerificationRecord
from pushproxy.verification import remediation_workflow, summarize
from pushproxy.workflow import call_step, short

bp = df.Blueprint()

DEFAULT_BATCH_SIZE = 20
DEFAULT_EXPIRY_WARNING_DAYS = 60


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.VERIFICATION)
def verification(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Verify the fleet, a batch at a time; one tenant's failure is that tenant's result, never the fleet's."""
    request = context.get_input() or {}
    if isinstance(request, str):  # some hosts hand the input back as JSON text
        import json

        request = json.loads(request)
    batch_size = max(1, int(request.get("batch_size") or DEFAULT_BATCH_SIZE))
    warning_days = int(request.get("expiry_warning_days") or DEFAULT_EXPIRY_WARNING_DAYS)
    remediate = bool(request.get("remediate", True))
    started = context.current_utc_datetime.isoformat()
    progress: dict[str, Any] = {"phase": "listing", "started_at": started, "total": None, "verified": 0,
                                "healthy": 0, "drifting": 0, "failing": 0, "remediations": []}
    context.set_custom_status(progress)

    listed = yield from call_step(context, Activity.LIST_FLEET, {"tenants": request.get("tenants")})
    if not listed["ok"]:  # nothing verified: say why, in the status and the output, and end
        failed = {"phase": "failed", "started_at": started, "error": f"the fleet could not be listed: {message(listed)}"}
        context.set_custom_status(failed)
        return {**failed, "tenants": [], "notes": [], "remediations": []}
    tenants: list[str] = listed["result"]["tenants"]
    progress.update(phase="verifying", total=len(tenants))
    context.set_custom_status(progress)

    records: list[dict[str, Any]] = []
    to_remediate: list[tuple[str, str]] = []  # (tenant, the workflow that remediates it)
    now = context.current_utc_datetime
    run_id = context.new_uuid()[:8]  # deterministic on replay; keeps batch ids unique across runs of this singleton
    for index, start in enumerate(range(0, len(tenants), batch_size)):
        batch = tenants[start : start + batch_size]
        # One sub-orchestration per batch: each history stays as small as a batch, and this one grows by one
        # entry per batch, so replays stay cheap however large the fleet (Durable's advice for big fan-outs).
        batch_input = {"tenants": batch, "now": now.isoformat(), "expiry_warning_days": warning_days,
                       "verification_id": context.instance_id}
        try:
            outcomes = yield context.call_sub_orchestrator(
                str(Orchestrator.VERIFICATION_BATCH), batch_input, f"{context.instance_id}-{run_id}-{index:05d}"
            )
        except Exception as exc:  # the batch orchestrator catches per tenant; this is its own crash
            outcomes = [_failing(domain, now.isoformat(), context.instance_id, short(exc)) for domain in batch]
        for outcome in outcomes:
            record = outcome["record"]
            records.append(record)
            progress[record["state"]] += 1
            workflow = remediation_workflow(VerificationRecord.from_dict(record), outcome["policy"]) if remediate else None
            if workflow is not None:
                to_remediate.append((record["domain"], workflow))
        progress["verified"] = len(records)
        context.set_custom_status(progress)

    started_remediations: list[str] = []
    notes: list[str] = []
    if to_remediate:
        progress["phase"] = "remediating"
        context.set_custom_status(progress)
        for start in range(0, len(to_remediate), batch_size):
            starts = to_remediate[start : start + batch_size]
            try:
                results = yield context.task_all(
                    [context.call_activity(str(Activity.START_REMEDIATION), {"tenant": domain, "workflow": workflow})
                     for domain, workflow in starts]
                )
            except Exception as exc:  # start_remediation reports its own trouble; this is the activity crashing
                notes.append(f"remediation of {', '.join(d for d, _ in starts)} could not be started: {short(exc)}")
                continue
            for (domain, _workflow), outcome in zip(starts, results, strict=True):
                started_one = outcome["result"] if outcome.get("ok") else {
                    "tenant": domain, "started": False, "reason": message(outcome)}
                if started_one.get("started"):
                    started_remediations.append(domain)
                elif started_one.get("reason"):
                    notes.append(f"{domain}: remediation not started ({started_one['reason']})")

    summary = summarize(
        context.instance_id, started, context.current_utc_datetime.isoformat(),
        [{"domain": r["domain"], "state": r["state"]} for r in records], started_remediations,
    ).to_dict()
    recorded = yield from call_step(context, Activity.RECORD_VERIFICATION_SUMMARY, summary)
    if not recorded["ok"]:  # every tenant's result is already stored; say the summary is not
        notes.append(f"the summary could not be recorded: {message(recorded)}")
    yield from notify_fleet(context, summary, [r["domain"] for r in records])
    context.set_custom_status({"phase": "done", **summary, "notes": notes})
    return {**summary, "notes": notes, "tenants": [_row(r) for r in records]}


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.VERIFICATION_BATCH)
def verification_batch(context: df.DurableOrchestrationContext) -> Generator[Any, Any, list[dict[str, Any]]]:
    """Verify one batch of tenants in parallel. `verify_tenant` catches its own tenant's failure; should the
    activity itself fail (a crashed worker), each tenant is retried alone so only the broken one is failing."""
    request = context.get_input() or {}
    if isinstance(request, str):
        import json

        request = json.loads(request)
    batch: list[str] = list(request["tenants"])
    verification_id = request.get("verification_id")

    def call(domain: str) -> Any:
        return context.call_activity(
            str(Activity.VERIFY_TENANT),
            {"tenant": domain, "now": request["now"], "expiry_warning_days": request["expiry_warning_days"],
             "verification_id": verification_id},
        )

    try:
        results: list[Any] = yield context.task_all([call(d) for d in batch])
    except Exception:
        results = [None] * len(batch)
    outcomes: list[dict[str, Any]] = []
    for domain, result in zip(batch, results, strict=True):
        if result is None:  # the activity itself failed: retry this tenant alone
            try:
                result = yield call(domain)
            except Exception as exc:
                outcomes.append(_failing(domain, request["now"], verification_id, short(exc)))
                continue
        if is_outcome(result) and result["ok"]:
            outcomes.append(result["result"])
        else:
            why = message(result) if is_outcome(result) else "verify_tenant returned no outcome"
            outcomes.append(_failing(domain, request["now"], verification_id, why))
    return outcomes


def _failing(domain: str, now: str, verification_id: str | None, reason: str) -> dict[str, Any]:
    """The outcome of a tenant whose verification itself crashed: failing, and why."""
    record = {"domain": domain, "verified_at": now, "state": "failing", "verification_id": verification_id,
              "findings": [{"kind": "unverifiable", "severity": "failure", "message": f"verification failed: {reason}",
                            "detail": {}}]}
    return {"record": record, "policy": "off"}


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {"tenant": record["domain"], "state": record["state"],
            "reasons": [f["message"] for f in record.get("findings", ())]}
