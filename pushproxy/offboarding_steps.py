"""What each offboarding (and prune) activity does: re-check, undo only what is still there and ours, return JSON.

Every step is idempotent: after a crash or a retry it finds its change made and does nothing ("none"), so a
resumed run makes each change exactly once. Secrets are resolved inside the step and never leave it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pushproxy.errors import SpecError
from pushproxy.offboarding_plan import footprint
from pushproxy.onboarding.steps import exchange_session, key_change, spec_of
from pushproxy.outcome import ok


def _registry() -> Any:
    from pushproxy.registry import open_registry

    return open_registry()


def discover_ours(payload: dict[str, Any]) -> dict[str, Any]:
    """Read-only, from the registry: whether it knows the tenant, the keys we uploaded and not removed since, and
    the AuthServers our onboardings created."""
    spec = spec_of(payload)
    registry = _registry()
    try:
        tenant = registry.get_tenant(spec.tenant_domain)
        onboardings = registry.list_onboardings(spec.tenant_domain)
        offboardings = registry.list_offboardings(spec.tenant_domain)
    finally:
        registry.close()
    found = footprint(tenant is not None or bool(onboardings), onboardings, offboardings,
                      tenant.offboarded_at if tenant else None)
    return ok(found.to_dict(), "none")


def disable_push_proxy(payload: dict[str, Any]) -> dict[str, Any]:
    """Disable-PushNotificationProxy -Confirm:$false, while the proxy is enabled for this tenant's domain; enabled for
    another organisation (someone re-pointed it since the plan) it is left alone."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    with exchange_session(spec) as session:
        state = client.get_push_proxy(session)
        if not state.enabled:
            return ok(state.to_dict(), "none")
        if (state.organization or "").lower() != spec.tenant_domain:
            return ok({**state.to_dict(), "skipped": f"enabled for {state.organization!r}, not {spec.tenant_domain}"}, "none")
        after = client.disable_push_proxy(session)
        return ok(after.to_dict(), "disabled")


def remove_auth_server(payload: dict[str, Any]) -> dict[str, Any]:
    """Remove-AuthServer for the one our onboarding created, only while it still points where we pointed it."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    details = (payload.get("change") or {}).get("details") or {}
    name = details.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError("change.details.name", "the AuthServer's name is required")
    with exchange_session(spec) as session:
        removed = client.remove_auth_server(session, name, details.get("auth_metadata_url"))
    return ok({"name": name}, "removed" if removed else "none")


async def remove_tenant_keys(payload: dict[str, Any]) -> dict[str, Any]:
    """Remove the planned keys (ours) from the Exchange Online service principal in one PATCH, every other key sent
    back as read. Only thumbprints the approved plan names; idempotent (none left: no write)."""
    spec = spec_of(payload)
    details = (payload.get("change") or {}).get("details") or {}
    thumbprints = details.get("thumbprints")
    if not isinstance(thumbprints, list) or not thumbprints or not all(isinstance(t, str) for t in thumbprints):
        raise SpecError("change.details.thumbprints", "a non-empty list of the planned keys' thumbprints is required")
    if details.get("prune"):
        from pushproxy.rotation_steps import uploaded_by_us

        # Pruning handles both collections: the shared principal, and the dedicated hybrid app where we put them.
        return await key_change(spec, lambda client, target, thumbs: client.remove_keys(thumbs, target),
                                thumbprints=[str(t).upper() for t in thumbprints], adding=False,
                                on_application=lambda t: uploaded_by_us(spec.tenant_domain, t, "application"))
    return await key_change(spec, lambda client: client.remove_keys(thumbprints))


def record_offboarding(payload: dict[str, Any]) -> dict[str, Any]:
    """Write this run to the registry; a finished offboarding marks the tenant offboarded (kept, with its history,
    who approved and when), and takes it out of verification."""
    from pushproxy.registry.models import OnboardingRecord, TenantRecord, parse_time

    spec = spec_of(payload)
    report = payload["report"]
    finished = datetime.now(UTC)
    record = OnboardingRecord(
        domain=spec.tenant_domain,
        instance_id=str(payload["instance_id"]),
        started_at=parse_time(report["started_at"], "started_at"),
        finished_at=finished,
        outcome=str(report["outcome"]),
        requested_by=report.get("requested_by"),
        approvals=tuple(report.get("approvals") or ()),
        changes=tuple(report.get("changes") or ()),
        error=report.get("error"),
    )
    registry = _registry()
    try:
        registry.record_offboarding(record)
        previous = registry.get_tenant(spec.tenant_domain)
        if report.get("workflow") == "offboarding" and report["outcome"] == "done" and previous is not None:
            approvers = tuple(dict.fromkeys(str(a["approver"]) for a in record.approvals if a.get("decision") == "approve"))
            registry.put_tenant(
                TenantRecord(
                    domain=previous.domain,
                    spec=previous.spec,
                    onboarded_at=previous.onboarded_at,
                    updated_at=finished,
                    last_onboarding_id=previous.last_onboarding_id,
                    offboarded_at=finished,
                    offboarded_by=approvers or ((record.requested_by,) if record.requested_by else ()),
                    last_offboarding_id=record.instance_id,
                )
            )
    finally:
        registry.close()
    return ok({"instance_id": record.instance_id, "outcome": record.outcome}, "recorded")
