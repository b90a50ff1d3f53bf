"""Response shapes of the HTTP API (and of `pushproxy verify --json`): plain JSON built from registry records and
Durable statuses. One place, so the CLI, the routes and openapi.json agree."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pushproxy.registry.models import OnboardingRecord, TenantRecord, VerificationRecord, VerificationSummary

# Durable runtime statuses during which an instance still owns its id (a second start would collide).
ACTIVE_STATUSES = frozenset({"Pending", "Running", "ContinuedAsNew", "ContinuingAsNew", "Suspended"})


def json_value(value: Any) -> Any:
    """Durable hands input and custom status back as JSON text on some hosts and parsed on others: accept both."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def runtime_status_name(status: Any) -> str | None:
    """`OrchestrationRuntimeStatus.Running` -> "Running" (None for an unknown instance)."""
    value = getattr(status, "runtime_status", None)
    if value is None:
        return None
    return str(getattr(value, "value", value))


def iso_time(value: Any) -> str | None:
    """A Durable timestamp as ISO 8601 text (None stays None)."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def onboarding_view(status: Any) -> dict[str, Any]:
    """`GET /api/onboardings/{id}`: phase, plan, approvals and results of one onboarding instance."""
    custom = json_value(getattr(status, "custom_status", None))
    custom = custom if isinstance(custom, dict) else {}
    given = json_value(getattr(status, "input_", None))
    given = given if isinstance(given, dict) else {}
    spec: dict[str, Any] = given["spec"] if isinstance(given.get("spec"), dict) else {}
    runtime = runtime_status_name(status)
    phase = custom.get("phase") or {"Pending": "pending", "Running": "discovering", "Failed": "failed",
                                     "Terminated": "terminated"}.get(runtime or "", None)
    return {
        "id": getattr(status, "instance_id", None),
        "tenant": custom.get("tenant") or spec.get("tenant_domain"),
        "runtime_status": runtime,
        "phase": phase,
        "plan": custom.get("plan") or [],
        "awaiting": custom.get("awaiting"),
        "approvals": custom.get("approvals") or [],
        "done": custom.get("done") or [],
        # What the run noted, e.g. an approval event it ignored and why (pushproxy.approvals).
        "notes": custom.get("notes") or [],
        "requested_by": given.get("requested_by") or custom.get("requested_by"),
        "remediation": bool(given.get("remediation", False)),
        "output": json_value(getattr(status, "output", None)),
        "created": iso_time(getattr(status, "created_time", None)),
        "last_updated": iso_time(getattr(status, "last_updated_time", None)),
    }


def verification_status_view(status: Any) -> dict[str, Any]:
    """A verification instance: runtime status and the summary it keeps in custom status."""
    return {
        "id": getattr(status, "instance_id", None),
        "runtime_status": runtime_status_name(status),
        "summary": json_value(getattr(status, "custom_status", None)),
        "output": json_value(getattr(status, "output", None)),
    }


def tenant_row(tenant: TenantRecord, verification: VerificationRecord | None) -> dict[str, Any]:
    """One line of `GET /api/tenants` (and of `pushproxy verify`): the tenant, its state, and why."""
    return {
        "tenant": tenant.domain,
        "state": "offboarded" if tenant.is_offboarded else (verification.state if verification else "unverified"),
        "reasons": [f.message for f in verification.findings] if verification else [],
        "findings": [f.to_dict() for f in verification.findings] if verification else [],
        "verified_at": iso_time(verification.verified_at) if verification else None,
        "remediation_id": verification.remediation_id if verification else None,
        # A staged next certificate (issue 15): "rotation staged, publishes on D" instead of an expiry warning.
        "rotation": (verification.facts or {}).get("rotation") if verification else None,
        # The dedicated Exchange hybrid application (issue 16): which mode, and what it means for push.
        "hybrid": (verification.facts or {}).get("hybrid") if verification else None,
        "onboarded_at": iso_time(tenant.onboarded_at),
        "last_onboarding_id": tenant.last_onboarding_id,
        "offboarded_at": iso_time(tenant.offboarded_at),
        "offboarded_by": list(tenant.offboarded_by),
        "last_offboarding_id": tenant.last_offboarding_id,
    }


def fleet_view(
    tenants: list[TenantRecord], verifications: list[VerificationRecord], summary: VerificationSummary | None
) -> dict[str, Any]:
    """`GET /api/tenants`: every tenant with its latest verification, and the latest fleet summary."""
    latest = {v.domain: v for v in verifications}
    return {
        "tenants": [tenant_row(t, latest.get(t.domain)) for t in tenants],
        "summary": summary.to_dict() if summary else None,
    }


def tenant_view(
    tenant: TenantRecord, verification: VerificationRecord | None, onboardings: list[OnboardingRecord],
    offboardings: list[OnboardingRecord] | None = None,
) -> dict[str, Any]:
    """`GET /api/tenants/{tenant}`: the row, plus the registration (secrets by reference, where each is read from
    and which hosts it is bound to; never a value), findings, onboarding history and offboarding/prune history."""
    return {
        **tenant_row(tenant, verification),
        "spec": tenant.spec,
        "registered_by": tenant.registered_by,
        "registered_at": iso_time(tenant.registered_at),
        "secrets": secret_bindings_view(tenant),
        "verification": verification.to_dict() if verification else None,
        "onboardings": [o.to_dict() for o in onboardings],
        "offboardings": [o.to_dict() for o in offboardings or ()],
    }


def secret_bindings_view(tenant: TenantRecord) -> list[dict[str, Any]]:
    """Each secret reference of a registration: the field, the reference, where it is read from, and its hosts."""
    from pushproxy.bindings import bindings
    from pushproxy.errors import SpecError
    from pushproxy.secrets import resolved_name
    from pushproxy.spec import TenantSpec

    try:
        spec = TenantSpec.from_dict(tenant.spec)
    except SpecError:
        return []  # a stored spec the current rules refuse: the tenant's row says so when it is verified
    return [{"field": b.field, "ref": b.ref, "reads": resolved_name(b.ref, spec.tenant_domain),
             "bound_to": sorted(b.hosts)} for b in bindings(spec)]


def onboarding_row(status: Any) -> dict[str, Any]:
    """One line of `GET /api/onboardings`: the instance, its tenant, runtime status and our phase."""
    view = onboarding_view(status)
    output = view["output"] if isinstance(view["output"], dict) else {}
    return {key: view[key] for key in ("id", "tenant", "runtime_status", "phase", "requested_by", "remediation",
                                       "created", "last_updated")} | {"outcome": output.get("outcome")}
