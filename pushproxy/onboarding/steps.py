"""What each onboarding activity does: parse its input, re-check, change only what is still missing, return JSON.

Every step is idempotent (re-running it after a crash or a retry changes nothing that is already in place).
A step returns `ok(...)` or raises; the activity wrapper (pushproxy.outcome.guarded) turns whatever it raises into
the one failure shape, and the orchestrator retries the transient ones (pushproxy.workflow).
Secrets are resolved here, in the activity, and never leave it.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pushproxy.errors import SpecError
from pushproxy.exchange.models import ExchangeDiscovery
from pushproxy.onboarding.payloads import NOT_EXPORTABLE
from pushproxy.outcome import ok
from pushproxy.secrets import resolve_secret
from pushproxy.spec import TenantSpec

log = logging.getLogger("pushproxy.onboarding")


def spec_of(payload: Any) -> TenantSpec:
    if not isinstance(payload, dict) or "spec" not in payload:
        raise SpecError("input", "an activity input is an object with a 'spec'")
    return TenantSpec.from_dict(payload["spec"])


# ----------------------------------------------------------------------------------------------- Exchange


@contextmanager
def exchange_session(spec: TenantSpec) -> Iterator[Any]:
    """One runspace pool for the whole step (one NTLM handshake)."""
    from pushproxy.exchange.session import ExchangeSession

    password = resolve_secret(spec.exchange.password_ref) if spec.exchange.password_ref else None
    with ExchangeSession(spec.exchange, password) as session:
        yield session


def _discover(session: Any, spec: TenantSpec) -> ExchangeDiscovery:
    from pushproxy import exchange as client

    found: ExchangeDiscovery = client.discover_exchange(session, spec.tenant_domain)
    return found


def discover_exchange(payload: dict[str, Any]) -> dict[str, Any]:
    """Read-only: servers, AuthConfig, the Auth certificate on every Mailbox server, AuthServers, the proxy."""
    spec = spec_of(payload)
    with exchange_session(spec) as session:
        return ok(_discover(session, spec).to_dict(), "none")


def create_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Create an Auth certificate on one server, unless a usable one is already current everywhere."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    server = str(payload["change"]["details"]["server"])
    now = datetime.now(UTC)
    with exchange_session(spec) as session:
        current = _discover(session, spec)
        cert = current.current_certificate
        everywhere = all(c.present for c in current.auth_certificates if c.slot == "current")
        # Re-check: if the current certificate became usable since the plan (someone fixed it, or a previous
        # attempt of ours got further), keep it: the seed says never replace a working certificate.
        if cert is not None and cert.is_usable(now) and everywhere:
            return ok({"certificate": cert.to_dict(), "server": server}, "none")
        created = client.new_auth_certificate(session, server)
        return ok({"certificate": created.to_dict(), "server": server}, "created")


def import_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Copy the Auth certificate (with its key) from the server that has it to each listed Mailbox server lacking it.

    Exchange pushes a certificate only within one AD site; this is Microsoft's repair for the other sites
    (MonitorExchangeAuthCertificate: export with a one-time password, import). Servers that have it are skipped.
    """
    from pushproxy import exchange as client

    spec = spec_of(payload)
    thumbprint = str(payload["thumbprint"]).upper()
    details = payload["change"]["details"]
    source = str(details["from"])
    from pushproxy.errors import ExchangeError

    with exchange_session(spec) as session:
        try:
            imported = [str(t) for t in details.get("servers", ()) if client.copy_certificate(session, thumbprint, source, str(t))]
        except ExchangeError as exc:
            if "exportable" not in exc.message.lower():
                raise
            # Export-ExchangeCertificate refused (a read: nothing changed). Only RawData survives remoting, so this
            # is the first moment anyone can see it; the run stops here as blocked (orchestrators/onboarding.py).
            raise ExchangeError(
                f"{NOT_EXPORTABLE}: the private key of the Auth certificate {thumbprint} on {source} can't be exported, "
                f"so pushproxy can't copy it to {', '.join(str(t) for t in details.get('servers', ()))}. Import it there "
                "from a PFX you hold, or replace it with a new Auth certificate. Exchange said: " + exc.message,
                cmdlet="Export-ExchangeCertificate", server=source, transient=False,
            ) from None
    return ok({"thumbprint": thumbprint, "from": source, "imported": imported}, "imported" if imported else "none")


def assign_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Make `thumbprint` the current Auth certificate (Set-AuthConfig -CertificateThumbprint), unless it already is.

    Only once it is on every Mailbox server: Exchange starts signing with it at once, and a server without it fails
    OAuth. (The plan put it there, and its key on the tenant, before this step.)
    """
    from pushproxy import exchange as client
    from pushproxy.errors import ExchangeError

    spec = spec_of(payload)
    thumbprint = str(payload["thumbprint"]).upper()
    with exchange_session(spec) as session:
        current = _discover(session, spec)
        if current.auth_config.current_thumbprint == thumbprint:
            return ok({"thumbprint": thumbprint}, "none")
        lacking = sorted(
            s.name for s in current.mailbox_servers
            if not s.is_edge and not client.get_server_certificate(session, thumbprint, s.fqdn or s.name).present
        )
        if lacking:
            raise ExchangeError(
                f"the certificate {thumbprint} is not on {', '.join(lacking)}: not making it current (servers "
                "without it would fail OAuth)", cmdlet="Set-AuthConfig", transient=False,
            )
        client.set_auth_certificate(session, thumbprint)
        return ok({"thumbprint": thumbprint, "replaced": current.auth_config.current_thumbprint}, "assigned")


def ensure_auth_server(payload: dict[str, Any]) -> dict[str, Any]:
    """Create or correct the realm's AuthServer; reuse any (e.g. `ACS - {guid}`) whose URL names the tenant domain or id."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    with exchange_session(spec) as session:
        change = client.ensure_auth_server(session, spec.tenant_domain, tenant_id=spec.tenant_id)
        return ok(change.to_dict(), change.action)


def enable_push_proxy(payload: dict[str, Any]) -> dict[str, Any]:
    """Enable-PushNotificationProxy for the tenant domain, unless it is already enabled for it."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    with exchange_session(spec) as session:
        state = client.get_push_proxy(session)
        if state.enabled and (state.organization or "").lower() == spec.tenant_domain:
            return ok(state.to_dict(), "none")
        after = client.enable_push_proxy(session, spec.tenant_domain)
        return ok(after.to_dict(), "enabled")


def restart_health_manager(payload: dict[str, Any]) -> dict[str, Any]:
    """Restart MSExchangeHM through the server's Windows PowerShell endpoint (the Exchange endpoint can't)."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    server = str(payload["server"])
    password = resolve_secret(spec.exchange.password_ref) if spec.exchange.password_ref else None
    client.restart_health_manager(spec.exchange, password, server)
    return ok({"server": server}, "restarted")


def run_probe(payload: dict[str, Any]) -> dict[str, Any]:
    """Invoke-MonitoringProbe on one server. A probe that could not run is a failed step; the workflow tries again
    until its deadline either way."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    server = str(payload["server"])
    with exchange_session(spec) as session:
        probe = client.run_probe(session, server)
    return ok(probe.to_dict(), "probed")


# ----------------------------------------------------------------------------------------------- tenant


async def _with_tenant(spec: TenantSpec, work: Callable[[Any], Any]) -> Any:
    from pushproxy.tenant.client import TenantClient

    client = TenantClient(spec.graph, spec.tenant_id)
    try:
        return await work(client)
    finally:
        await client.close()


async def discover_tenant(payload: dict[str, Any]) -> dict[str, Any]:
    """Read-only: the organisation's verified domains and the Exchange Online service principal's keys."""
    from pushproxy.tenant import client as tenant_client

    spec = spec_of(payload)

    async def work(client: Any) -> dict[str, Any]:
        found = await tenant_client.discover_tenant(client, spec.tenant_domain)
        return ok(found.to_dict(), "none")

    result: dict[str, Any] = await _with_tenant(spec, work)
    return result


async def upload_tenant_key(payload: dict[str, Any]) -> dict[str, Any]:
    """Add the Auth certificates' public keys to the Exchange Online service principal in one PATCH, keeping every
    other key as it is.

    Input `keys`: `[{"source", "thumbprint", "der_b64"}]` (the current or new certificate, and a staged next one).
    The client skips the PATCH when every key is already there (idempotent). A key that names its certificate
    must be that certificate: a plan approved for one key never uploads another.
    """
    from pushproxy.tenant.models import normalize_thumbprint, thumbprint_of

    spec = spec_of(payload)
    keys = payload.get("keys")
    if not isinstance(keys, list) or not keys:
        raise SpecError("keys", "a non-empty list of {source, thumbprint, der_b64} is required")
    ders: list[bytes] = []
    for i, key in enumerate(keys):
        field = f"keys[{i}].der_b64"
        der_b64 = key.get("der_b64") if isinstance(key, dict) else None
        if not isinstance(der_b64, str) or not der_b64:
            raise SpecError(field, "the certificate's public DER (base64) is required")
        try:
            der = base64.b64decode(der_b64, validate=True)
        except ValueError:
            raise SpecError(field, "is not base64") from None
        planned = key.get("thumbprint")
        if planned and thumbprint_of(der) != normalize_thumbprint(str(planned), f"keys[{i}].thumbprint"):
            raise SpecError(field, f"is certificate {thumbprint_of(der)}, not the planned {str(planned).upper()}")
        ders.append(der)

    async def work(client: Any) -> dict[str, Any]:
        change = await client.add_certificate_keys(ders)
        result = change.to_dict()
        result["graph_requests"] = client.graph_requests
        return ok(result, change.action)

    result: dict[str, Any] = await _with_tenant(spec, work)
    return result


# ----------------------------------------------------------------------------------------------- registry


def record_onboarding(payload: dict[str, Any]) -> dict[str, Any]:
    """Write the tenant and this run (what changed, who approved, the probe) to the registry."""
    from pushproxy.registry import open_registry
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
        remediation=bool(report.get("remediation")),
        approvals=tuple(report.get("approvals") or ()),
        changes=tuple(report.get("changes") or ()),
        probe=report.get("probe"),
        error=report.get("error"),
    )
    registry = open_registry()
    try:
        registry.record_onboarding(record)
        previous = registry.get_tenant(spec.tenant_domain)
        onboarded_at = previous.onboarded_at if previous else None
        if report["outcome"] == "done" and (report.get("probe") or {}).get("succeeded"):
            onboarded_at = onboarded_at or finished
        registry.put_tenant(
            TenantRecord(
                domain=spec.tenant_domain,
                spec=spec.to_dict(),
                onboarded_at=onboarded_at,
                updated_at=finished,
                last_onboarding_id=record.instance_id,
            )
        )
    finally:
        close = getattr(registry, "close", None)
        if callable(close):
            close()
    return ok({"instance_id": record.instance_id, "outcome": record.outcome}, "recorded")
