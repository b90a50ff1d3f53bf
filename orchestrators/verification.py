"""The verification workflow: re-discover every onboarded tenant in bounded batches, classify drift, record the
results and a summary, and start a remediation onboarding where the tenant's policy allows it.

The orchestrator only decides; the activities below are thin wrappers over pushproxy.fleet. They live with the
orchestrator because function_app.py registers one blueprint per module and these serve only this workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.decorators.metadata import DurableClient

from pushproxy import fleet
from pushproxy.registry import VerificationRecord, VerificationSummary, shared_registry
from pushproxy.registry.models import parse_time
from pushproxy.verification import DECISION_DETAIL, should_remediate, summarize

bp = df.Blueprint()
log = logging.getLogger("pushproxy.verification")

DEFAULT_BATCH_SIZE = 20
DEFAULT_EXPIRY_WARNING_DAYS = 60


@bp.orchestration_trigger(context_name="context", orchestration="verification")
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

    tenants: list[str] = yield context.call_activity("list_fleet", {"tenants": request.get("tenants")})
    progress.update(phase="verifying", total=len(tenants))
    context.set_custom_status(progress)

    records: list[dict[str, Any]] = []
    to_remediate: list[str] = []
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
                "verification_batch", batch_input, f"{context.instance_id}-{run_id}-{index:05d}"
            )
        except Exception as exc:  # the batch orchestrator catches per tenant; this is its own crash
            outcomes = [_failing(domain, now.isoformat(), context.instance_id, exc) for domain in batch]
        for outcome in outcomes:
            record = outcome["record"]
            records.append(record)
            progress[record["state"]] += 1
            if remediate and should_remediate(VerificationRecord.from_dict(record), outcome["policy"]):
                to_remediate.append(record["domain"])
        progress["verified"] = len(records)
        context.set_custom_status(progress)

    started_remediations: list[str] = []
    notes: list[str] = []
    if to_remediate:
        progress["phase"] = "remediating"
        context.set_custom_status(progress)
        for start in range(0, len(to_remediate), batch_size):
            batch = to_remediate[start : start + batch_size]
            try:
                results = yield context.task_all(
                    [context.call_activity("start_remediation", {"tenant": domain}) for domain in batch]
                )
            except Exception as exc:  # start_remediation reports its own trouble; this is the activity crashing
                notes.append(f"remediation of {', '.join(batch)} could not be started: {_first_line(exc)}")
                continue
            started_remediations += [r["tenant"] for r in results if r.get("started")]
            notes += [f"{r['tenant']}: remediation not started ({r['reason']})" for r in results
                      if not r.get("started") and r.get("reason")]

    summary = summarize(
        context.instance_id, started, context.current_utc_datetime.isoformat(),
        [{"domain": r["domain"], "state": r["state"]} for r in records], started_remediations,
    ).to_dict()
    try:
        yield context.call_activity("record_verification_summary", summary)
    except Exception as exc:  # every tenant's result is already stored; say the summary is not
        notes.append(f"the summary could not be recorded: {_first_line(exc)}")
    context.set_custom_status({"phase": "done", **summary, "notes": notes})
    return {**summary, "notes": notes, "tenants": [_row(r) for r in records]}


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


@bp.orchestration_trigger(context_name="context", orchestration="verification_batch")
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
            "verify_tenant",
            {"tenant": domain, "now": request["now"], "expiry_warning_days": request["expiry_warning_days"],
             "verification_id": verification_id},
        )

    try:
        outcomes: list[dict[str, Any]] = yield context.task_all([call(d) for d in batch])
        return outcomes
    except Exception:
        pass
    outcomes = []
    for domain in batch:
        try:
            outcomes.append((yield call(domain)))
        except Exception as exc:
            outcomes.append(_failing(domain, request["now"], verification_id, exc))
    return outcomes


def _failing(domain: str, now: str, verification_id: str | None, exc: BaseException) -> dict[str, Any]:
    """The outcome of a tenant whose verification itself crashed: failing, and why."""
    reason = _first_line(exc)
    record = {"domain": domain, "verified_at": now, "state": "failing", "verification_id": verification_id,
              "findings": [{"kind": "unverifiable", "severity": "failure", "message": f"verification failed: {reason}",
                            "detail": {}}]}
    return {"record": record, "policy": "off"}


def _row(record: dict[str, Any]) -> dict[str, Any]:
    return {"tenant": record["domain"], "state": record["state"],
            "reasons": [f["message"] for f in record.get("findings", ())]}


# ------------------------------------------------------------------------------------------------- activities


@bp.activity_trigger(input_name="payload", activity="list_fleet")
def list_fleet(payload: dict[str, Any]) -> list[str]:
    return fleet.list_fleet(shared_registry(), (payload or {}).get("tenants"))


@bp.activity_trigger(input_name="payload", activity="verify_tenant")
async def verify_tenant(payload: dict[str, Any]) -> dict[str, Any]:
    record, policy = await fleet.verify_tenant(
        shared_registry(),
        str(payload["tenant"]),
        now=parse_time(payload["now"], "now"),
        expiry_warning_days=int(payload["expiry_warning_days"]),
        verification_id=payload.get("verification_id"),
    )
    # The full record (facts, details) is in the registry; the workflow's history keeps only what it decides on.
    slim = record.to_dict()
    slim.pop("facts", None)
    # Except the detail the remediation decision reads (whether a staged next certificate's key is uploadable).
    slim["findings"] = [
        {**{k: f[k] for k in ("kind", "severity", "message")},
         "detail": {k: v for k, v in (f.get("detail") or {}).items() if k in DECISION_DETAIL}}
        for f in slim["findings"]
    ]
    return {"record": slim, "policy": policy}


@bp.activity_trigger(input_name="payload", activity="record_verification_summary")
def record_verification_summary(payload: dict[str, Any]) -> dict[str, Any]:
    summary = VerificationSummary.from_dict(payload)
    shared_registry().put_verification_summary(summary)
    return summary.to_dict()


def _durable_client_binding(name: str) -> Any:
    """Declare a durableClient input binding without the SDK's middleware, which requires the binding: the local
    host does not bind Durable clients to activities, and then `start_remediation` falls back to it directly."""

    @bp._configure_function_builder
    def wrap(fb: Any) -> Any:
        fb.add_binding(binding=DurableClient(name=name))
        return fb

    return wrap


@bp.activity_trigger(input_name="payload", activity="start_remediation")
@_durable_client_binding("client")
async def start_remediation(payload: dict[str, Any], client: str = "") -> dict[str, Any]:
    """Start the tenant's onboarding again, flagged as a remediation (it asks for approval again)."""
    from pushproxy.api.durable import start_singleton
    from pushproxy.spec import onboarding_instance_id

    domain = str(payload["tenant"])
    registry = shared_registry()
    try:
        client_input = fleet.remediation_input(registry, domain)
    except Exception as exc:
        return {"tenant": domain, "started": False, "reason": f"no usable spec: {exc}"}
    instance_id = onboarding_instance_id(domain)
    try:
        if client:
            durable = df.DurableOrchestrationClient(client)
            started = await start_singleton(durable, "onboarding", instance_id, client_input)
        else:
            started = _start_on_local_host(instance_id, client_input)
    except Exception as exc:  # one tenant's remediation must not stop the others'
        log.warning("remediation of %s could not be started: %s", domain, _first_line(exc))
        return {"tenant": domain, "started": False, "instance_id": instance_id, "reason": _first_line(exc)}
    if started:
        fleet.note_remediation(registry, domain, instance_id)
        return {"tenant": domain, "started": True, "instance_id": instance_id}
    return {"tenant": domain, "started": False, "instance_id": instance_id, "reason": "an onboarding is already running"}


def _start_on_local_host(instance_id: str, client_input: dict[str, Any]) -> bool:
    """On one machine: start the onboarding in the local host's database (PUSHPROXY_LOCAL_DB), which the running
    host picks up on its next round, as it does for `pushproxy approve` from another process."""
    from pushproxy.commands.verify import fleet_app
    from pushproxy.local import InstanceAlreadyRunning, LocalHost

    host = LocalHost(fleet_app())
    try:
        host.start_new("onboarding", instance_id, client_input)
        return True
    except InstanceAlreadyRunning:
        return False
    finally:
        host.close()
