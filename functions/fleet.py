"""The verification activities: thin wrappers over pushproxy.fleet (list the fleet, verify one tenant, record the
summary) and the start of a remediation through the Durable client the host binds, in Azure and locally alike."""

from __future__ import annotations

import logging
from typing import Any

import azure.durable_functions as df

from pushproxy import fleet
from pushproxy.activity_names import Activity
from pushproxy.outcome import guarded, guarded_async, ok
from pushproxy.registry import VerificationSummary, shared_registry
from pushproxy.registry.models import parse_time
from pushproxy.tenant_workflows import start_exclusive
from pushproxy.verification import DECISION_DETAIL

bp = df.Blueprint()
log = logging.getLogger("pushproxy.verification")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


@bp.activity_trigger(input_name="payload", activity=Activity.LIST_FLEET)
def list_fleet(payload: dict) -> dict:
    def step(request: dict[str, Any]) -> dict[str, Any]:
        return ok({"tenants": fleet.list_fleet(shared_registry(), request.get("tenants"))}, "none")

    return guarded(step, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.VERIFY_TENANT)
async def verify_tenant(payload: dict) -> dict:
    async def step(request: dict[str, Any]) -> dict[str, Any]:
        record, policy = await fleet.verify_tenant(
            shared_registry(),
            str(request["tenant"]),
            now=parse_time(request["now"], "now"),
            expiry_warning_days=int(request["expiry_warning_days"]),
            verification_id=request.get("verification_id"),
        )
        # The full record (facts, details) is in the registry; the workflow's history keeps only what it decides on,
        # and of the findings' details only what the remediation decision reads (DECISION_DETAIL).
        slim = record.to_dict()
        slim.pop("facts", None)
        slim["findings"] = [
            {**{k: f[k] for k in ("kind", "severity", "message")},
             "detail": {k: v for k, v in (f.get("detail") or {}).items() if k in DECISION_DETAIL}}
            for f in slim["findings"]
        ]
        return ok({"record": slim, "policy": policy}, "verified")

    return await guarded_async(step, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RECORD_VERIFICATION_SUMMARY)
def record_verification_summary(payload: dict) -> dict:
    def step(request: dict[str, Any]) -> dict[str, Any]:
        summary = VerificationSummary.from_dict(request)
        shared_registry().put_verification_summary(summary)
        return ok(summary.to_dict(), "recorded")

    return guarded(step, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.START_REMEDIATION)
@bp.durable_client_input(client_name="client")
async def start_remediation(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    """Start the tenant's onboarding again (a rotation for an expiring certificate, a prune for our keys of expired
    certificates), flagged as a
    remediation; either asks for approval again. Not while any workflow of the tenant runs."""

    async def step(request: dict[str, Any]) -> dict[str, Any]:
        domain = str(request["tenant"])
        workflow = str(request.get("workflow") or "onboarding")
        if workflow not in ("onboarding", "rotation", "prune"):
            return ok({"tenant": domain, "started": False, "reason": f"{workflow!r} is not a remediation"}, "none")
        registry = shared_registry()
        try:
            client_input = fleet.remediation_input(registry, domain)
        except Exception as exc:
            return ok({"tenant": domain, "started": False, "reason": f"no usable spec: {exc}"}, "none")
        try:
            started, instance_id = await start_exclusive(client, workflow, domain, client_input)
        except Exception as exc:  # one tenant's remediation must not stop the others'
            log.warning("remediation of %s could not be started: %s", domain, _first_line(exc))
            return ok({"tenant": domain, "started": False, "workflow": workflow, "reason": _first_line(exc)}, "none")
        if not started:
            return ok({"tenant": domain, "started": False, "instance_id": instance_id,
                       "reason": f"{instance_id} is already running"}, "none")
        fleet.note_remediation(registry, domain, instance_id)
        return ok({"tenant": domain, "started": True, "instance_id": instance_id}, "started")

    return await guarded_async(step, payload)


__all__ = ["bp"]
