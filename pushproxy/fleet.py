"""What the verification activities do: list the fleet, re-discover and classify one tenant, start a remediation,
record the summary. Each reads and writes the registry; none raises for one tenant's trouble (that tenant's record
says what went wrong, and the rest of the fleet is still verified)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from pushproxy.errors import PushProxyError, SpecError
from pushproxy.registry import Registry, VerificationRecord, open_registry
from pushproxy.verification import (
    KeyUpload,
    TenantObservation,
    classify,
    key_uploads,
    remediation_policy,
    unverifiable,
)

log = logging.getLogger("pushproxy.fleet")

def _reason(exc: BaseException) -> str:
    """One line for a report. Our errors never carry secrets; for foreign ones keep the type and a short message."""
    if isinstance(exc, PushProxyError):
        return str(exc)
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def list_fleet(registry: Registry, tenants: list[str] | None) -> list[str]:
    """The tenants to verify: those named, else every onboarded tenant of the registry, by domain. An offboarded
    tenant is never verified (named or not): nothing of ours is meant to be there any more."""
    if tenants:
        offboarded = {t.domain for t in registry.list_tenants() if t.is_offboarded}
        return sorted(set(tenants) - offboarded)
    return [t.domain for t in registry.list_tenants() if t.onboarded_at is not None and not t.is_offboarded]


def tenant_spec(stored: dict[str, Any]) -> Any:
    """The TenantSpec of a registry record (validated again: a stored spec is input too)."""
    from pushproxy.spec import TenantSpec

    return TenantSpec.from_dict(stored)


def _observe_exchange(spec: Any) -> tuple[Any, str | None, tuple[Any, ...], str | None]:
    """Discovery and the probe on every Mailbox server, in one session (one NTLM handshake)."""
    from pushproxy.exchange import client
    from pushproxy.onboarding.steps import exchange_session

    try:
        with exchange_session(spec) as session:
            discovery = client.discover_exchange(session, spec.tenant_domain)
            probes = []
            try:
                for server in discovery.mailbox_servers:
                    if server.meets_minimum:
                        probes.append(client.run_probe(session, server.fqdn))
            except Exception as exc:  # the probe's own failure is a finding, the discovery still counts
                return discovery, None, tuple(probes), _reason(exc)
            return discovery, None, tuple(probes), None
    except Exception as exc:
        return None, _reason(exc), (), None


async def _observe_tenant(spec: Any) -> tuple[Any, str | None]:
    from pushproxy.onboarding.steps import tenant_client as bound_tenant_client
    from pushproxy.tenant import client as tenant_client

    try:
        graph = bound_tenant_client(spec)
        try:
            return await tenant_client.discover_tenant(graph, spec.tenant_domain), None
        finally:
            await graph.close()
    except Exception as exc:
        return None, _reason(exc)


async def _with_hybrid_applications(spec: Any, exchange: Any, tenant: Any) -> Any:
    """The tenant discovery with the dedicated hybrid app(s) Exchange's AuthServers name, read after both sides
    (the two reads stay parallel; the app is known only once Exchange has named it)."""
    from dataclasses import replace as with_apps

    from pushproxy.hybrid import evo_sts_app_ids
    from pushproxy.onboarding.steps import tenant_client as bound_tenant_client

    app_ids = evo_sts_app_ids(exchange.auth_servers, spec.tenant_id)
    if not app_ids:
        return tenant
    try:
        graph = bound_tenant_client(spec)
        try:
            apps = tuple([await graph.get_hybrid_application(a) for a in app_ids])
        finally:
            await graph.close()
    except Exception as exc:  # the rest of the tenant was read: report without the app rather than not at all
        log.warning("the dedicated hybrid app of %s could not be read: %s", spec.tenant_domain, _reason(exc))
        return tenant
    return with_apps(tenant, hybrid_applications=apps)


async def _timed(work: Any, durations: dict[str, int], name: str) -> Any:
    started = time.perf_counter()
    try:
        return await work
    finally:
        durations[name] = int((time.perf_counter() - started) * 1000)


async def observe(spec: Any) -> TenantObservation:
    """Re-discover one tenant: Exchange (sync pypsrp, on a thread) and the tenant (async Graph) in parallel."""
    durations: dict[str, int] = {}
    (exchange, exchange_error, probes, probe_error), (tenant, tenant_error) = await asyncio.gather(
        _timed(asyncio.to_thread(_observe_exchange, spec), durations, "exchange"),
        _timed(_observe_tenant(spec), durations, "tenant"),
    )
    if exchange is not None and tenant is not None:
        tenant = await _with_hybrid_applications(spec, exchange, tenant)
    return TenantObservation(
        domain=spec.tenant_domain,
        tenant_id=spec.tenant_id,
        shared_principal_key=spec.tenant.shared_principal_key,
        exchange=exchange,
        exchange_error=exchange_error,
        tenant=tenant,
        tenant_error=tenant_error,
        probes=probes,
        probe_error=probe_error,
        durations_ms=durations,
    )


async def verify_tenant(registry: Registry, domain: str, *, now: datetime, expiry_warning_days: int,
                        verification_id: str | None) -> tuple[VerificationRecord, str]:
    """Verify one tenant and store the result. Returns the record and the tenant's remediation policy."""
    policy = "off"
    try:
        tenant = registry.get_tenant(domain)
        if tenant is None:
            record = unverifiable(domain, f"{domain} is not in the registry", now=now, verification_id=verification_id)
        else:
            policy = remediation_policy(tenant.spec)
            try:
                spec = tenant_spec(tenant.spec)
            except SpecError as exc:
                record = unverifiable(domain, f"the stored spec is invalid: {exc}", now=now, verification_id=verification_id)
            else:
                observation = replace(await observe(spec), key_uploads=uploaded_keys(registry, domain))
                record = classify(observation, now=now, expiry_warning_days=expiry_warning_days,
                                  verification_id=verification_id)
    except Exception as exc:  # one tenant's trouble must never fail the fleet
        log.warning("verification of %s failed: %s", domain, _reason(exc))
        record = unverifiable(domain, f"verification failed: {_reason(exc)}", now=now, verification_id=verification_id)
    registry.put_verification(record)
    return record, policy


def uploaded_keys(registry: Registry, domain: str) -> tuple[KeyUpload, ...]:
    """The keys our onboardings of this tenant put on the service principal, from the registry's history: with
    them, classify() tells a key removed since (maybe by hybrid clean-up mode) from one we never uploaded. A key our
    own offboarding or prune removed after its upload is no longer ours (its absence is not a removal to report)."""
    from pushproxy.offboarding_plan import removed_keys

    removed = removed_keys(registry.list_offboardings(domain))

    def still_ours(upload: KeyUpload) -> bool:
        when = upload.uploaded_at.timestamp() if upload.uploaded_at else 0.0
        return upload.thumbprint is None or when > removed.get(upload.thumbprint, -1.0)

    return tuple(u for u in key_uploads(registry.list_onboardings(domain)) if still_ours(u))


def remediation_input(registry: Registry, domain: str) -> dict[str, Any]:
    """The onboarding input of a remediation: the stored spec (references only), flagged as a remediation."""
    tenant = registry.get_tenant(domain)
    if tenant is None:
        raise SpecError("tenant", f"{domain} is not in the registry")
    spec = tenant_spec(tenant.spec).to_dict()
    return {"spec": spec, "requested_by": "verification", "remediation": True}


def note_remediation(registry: Registry, domain: str, instance_id: str) -> None:
    """Remember on the tenant's latest verification which onboarding it started."""
    latest = registry.latest_verification(domain)
    if latest is not None:
        registry.put_verification(replace(latest, remediation_id=instance_id))


__all__ = [
    "list_fleet",
    "note_remediation",
    "observe",
    "open_registry",
    "remediation_input",
    "tenant_spec",
    "uploaded_keys",
    "verify_tenant",
]
