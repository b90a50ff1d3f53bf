"""What the rotation's own activities do (functions/rotation.py): re-check, change only what is still missing.

The rotation also calls onboarding's activities where the change is the same (discovery, import, upload, make
current, probe): those steps live in pushproxy/onboarding/steps.py. Each step here is idempotent and re-reads the
state first. "Now" comes from the orchestrator (`payload["now"]`, its replay-safe clock), so a step judges dates at
the instant the workflow decided on, and a fake clock in tests and the demo reaches every step.
Secrets (the Exchange password, the one-time PFX password) are resolved or made here and never leave the step.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pushproxy.errors import ExchangeError, SpecError
from pushproxy.onboarding.steps import _discover, _with_tenant, exchange_session, key_change, spec_of
from pushproxy.outcome import ok

log = logging.getLogger("pushproxy.rotation")


class StateChanged(ExchangeError):
    """Someone else changed the Auth configuration: the workflow re-plans instead of fighting."""

    def __init__(self, message: str, cmdlet: str = "Set-AuthConfig") -> None:
        super().__init__(f"state changed: {message}", cmdlet=cmdlet, transient=False)


def _now(payload: dict[str, Any]) -> datetime:
    raw = payload.get("now")
    if raw is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(str(raw))
    except ValueError:
        raise SpecError("now", "must be an ISO 8601 time") from None
    if at.tzinfo is None:
        raise SpecError("now", "must carry a UTC offset")
    return at


def _thumbprint(payload: dict[str, Any], key: str = "thumbprint") -> str:
    from pushproxy.exchange.operations import _thumbprint as check

    return check(str(payload.get(key) or ""), key)


# ----------------------------------------------------------------------------------------------- create


def create_next_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Create the next Auth certificate on `server`, or find the one an earlier attempt of this change made.

    The certificate carries this change's marker (pushproxy.exactly_once: `payload["operation"]`, one per run) as
    its Subject Key Identifier, as onboarding's does: a retry after a lost answer or a crash finds it on the server
    and makes no second one, and an Auth-looking certificate someone else made meanwhile is never taken for ours.
    5 years (Exchange's default) is New-ExchangeCertificate; a shorter lifetime (a tenant's key-lifetime policy)
    can't be asked of it over remote PowerShell, so the certificate is made here, as MonitorExchangeAuthCertificate
    makes its custom-lifetime ones, and imported (Import-ExchangeCertificate -FileData -Password) on that server.
    Its private key and the PFX password live only in this call.
    """
    from pushproxy.exchange import operations as ops
    from pushproxy.onboarding.steps import _landed, _marker
    from pushproxy.rotation import EXCHANGE_DEFAULT_LIFETIME_DAYS

    spec = spec_of(payload)
    now = _now(payload)
    server = ops._server_name(str(payload.get("server") or ""), "server")
    lifetime = int(payload.get("lifetime_days") or EXCHANGE_DEFAULT_LIFETIME_DAYS)
    marker = _marker(payload)  # None only for a run started before the marker (it then creates, as it did)
    with exchange_session(spec) as session:
        found = ops.find_marked_certificate(session, server, marker) if marker else None
        if found is not None:
            return ok({"certificate": found.to_dict(), "server": server}, "none")
        try:
            if lifetime >= EXCHANGE_DEFAULT_LIFETIME_DAYS:
                created = ops.new_auth_certificate(session, server, reuse_existing=False, now=now, marker=marker)
            else:
                created = _import_generated(session, server, now, lifetime, marker)
        except ExchangeError as exc:
            if marker is None:
                raise
            landed = _landed(spec, exc, lambda s: ops.find_marked_certificate(s, server, marker), "create_next_certificate")
            if landed is None:
                raise
            created = landed
    return ok({"certificate": created.to_dict(), "server": server}, "created")


def remove_created_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Remove, from each of `servers`, the certificate this change created (the one carrying its marker): the
    compensation when the tenant refused its key. Never a certificate AuthConfig uses (current, next or previous):
    one of those is no longer a stray. Idempotent: a server that no longer has it is skipped."""
    from pushproxy.exchange import operations as ops
    from pushproxy.onboarding.steps import _marker

    spec = spec_of(payload)
    marker = _marker(payload)
    if marker is None:
        raise SpecError("operation", "required: only the certificate carrying this change's marker is removed")
    removed: list[dict[str, str]] = []
    kept: list[dict[str, str]] = []
    with exchange_session(spec) as session:
        cfg = ops.get_auth_config(session)
        in_use = {t for t in (cfg.current_thumbprint, cfg.next_thumbprint, cfg.previous_thumbprint) if t}
        for server in (ops._server_name(str(s), "servers") for s in payload.get("servers") or ()):
            cert = ops.find_marked_certificate(session, server, marker)
            if cert is None:
                continue
            if cert.thumbprint in in_use:
                kept.append({"server": server, "thumbprint": cert.thumbprint, "why": "the Auth configuration uses it"})
                continue
            ops.remove_certificate(session, server, cert.thumbprint)
            removed.append({"server": server, "thumbprint": cert.thumbprint})
    return ok({"removed": removed, "kept": kept}, "removed" if removed else "none")


def _import_generated(session: Any, server: str, now: datetime, lifetime_days: int, marker: str | None) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    from pushproxy import certs
    from pushproxy.exchange import operations as ops
    from pushproxy.exchange import values

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Microsoft Exchange Server Auth Certificate")])
    start = now.replace(microsecond=0) - timedelta(minutes=10)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + timedelta(days=lifetime_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # The change's marker, as New-ExchangeCertificate -SubjectKeyIdentifier would write it.
        .add_extension(x509.SubjectKeyIdentifier(bytes.fromhex(marker)) if marker
                       else x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(32)
    pfx = pkcs12.serialize_key_and_certificates(
        ops.AUTH_CERTIFICATE_FRIENDLY_NAME.encode(), key, cert, None,
        serialization.BestAvailableEncryption(password.encode()),
    )
    objects = session.invoke(
        "Import-ExchangeCertificate",
        {"FileData": pfx, "Password": session.secure_string(password), "PrivateKeyExportable": True,
         "FriendlyName": ops.AUTH_CERTIFICATE_FRIENDLY_NAME, "Server": server},
        server=server,
    )
    if objects and isinstance(values.properties(objects[0]).get("RawData"), bytes | bytearray):
        return ops.parse_exchange_certificate(objects[0])
    return certs.parse_certificate(cert.public_bytes(serialization.Encoding.DER))


async def read_key_policy(payload: dict[str, Any]) -> dict[str, Any]:
    """The tenant's key-lifetime limit, so a plan never creates a certificate whose key the tenant would refuse.
    Unreadable (no Policy.Read.All) is not fatal: the plan notes it, and an upload the policy refuses fails with
    Graph's own message."""
    from pushproxy.errors import TenantError

    spec = spec_of(payload)

    async def work(client: Any) -> dict[str, Any]:
        try:
            days = await client.key_lifetime_limit_days()
        except TenantError as exc:
            if exc.transient:
                raise
            return ok({"max_days": None, "readable": False, "error": str(exc)}, "none")
        return ok({"max_days": days, "readable": True, "error": None}, "none")

    result: dict[str, Any] = await _with_tenant(spec, work)
    return result


# ----------------------------------------------------------------------------------------------- stage / publish


def _lacking(session: Any, discovery: Any, thumbprint: str) -> list[str]:
    from pushproxy.exchange import operations as ops

    return sorted(
        s.name for s in discovery.mailbox_servers
        if not s.is_edge and not ops.get_server_certificate(session, thumbprint, s.fqdn or s.name).present
    )


def stage_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Set-AuthConfig -NewCertificateThumbprint T -NewCertificateEffectiveDate D, unless T is already staged (or
    already current: someone published early). Someone else's staged certificate is never overwritten."""
    from pushproxy.exchange import operations as ops

    spec = spec_of(payload)
    thumbprint = _thumbprint(payload)
    now = _now(payload)
    try:
        effective = datetime.fromisoformat(str(payload.get("effective")))
    except ValueError:
        raise SpecError("effective", "must be an ISO 8601 time") from None
    with exchange_session(spec) as session:
        found = _discover(session, spec)
        cfg = found.auth_config
        if cfg.current_thumbprint == thumbprint or cfg.next_thumbprint == thumbprint:
            return ok({"thumbprint": thumbprint, "effective": (cfg.next_effective_date or effective).isoformat(),
                       "slot": "current" if cfg.current_thumbprint == thumbprint else "next"}, "none")
        if cfg.next_thumbprint and cfg.next_thumbprint != cfg.current_thumbprint:
            raise StateChanged(f"{cfg.next_thumbprint} is already staged as the next certificate (not ours)")
        lacking = _lacking(session, found, thumbprint)
        if lacking:
            raise StateChanged(f"the new certificate {thumbprint} is no longer on {', '.join(lacking)}")
        after = ops.set_auth_certificate(session, thumbprint, effective, now=now)
    return ok({"thumbprint": thumbprint, "effective": (after.next_effective_date or effective).isoformat(), "slot": "next"},
              "staged")


def publish_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Set-AuthConfig -PublishCertificate once our staged certificate's date has come; nothing when it is already
    current (Exchange or a person published it). Anything else staged means the state changed: re-plan."""
    from pushproxy.exchange import operations as ops

    spec = spec_of(payload)
    thumbprint = _thumbprint(payload)
    with exchange_session(spec) as session:
        found = _discover(session, spec)
        cfg = found.auth_config
        if cfg.current_thumbprint == thumbprint:
            return ok({"thumbprint": thumbprint, "previous": cfg.previous_thumbprint}, "none")
        if cfg.next_thumbprint != thumbprint:
            raise StateChanged(f"our certificate {thumbprint} is no longer staged (next: {cfg.next_thumbprint or 'none'})")
        lacking = _lacking(session, found, thumbprint)
        if lacking:
            raise StateChanged(f"the staged certificate {thumbprint} is missing on {', '.join(lacking)}")
        after = ops.publish_auth_certificate(session)
    return ok({"thumbprint": thumbprint, "previous": after.previous_thumbprint}, "published")


def restart_auth_services(payload: dict[str, Any]) -> dict[str, Any]:
    """MSExchangeServiceHost and the OWA/ECP app pools on one server (Windows PowerShell endpoint)."""
    from pushproxy.bindings import origin
    from pushproxy.exchange import operations as ops
    from pushproxy.onboarding.steps import _exchange_secrets
    from pushproxy.secrets import tenant_scope

    spec = spec_of(payload)
    server = str(payload["server"])
    # The password goes only to the Windows PowerShell host the registration binds it to, as for the
    # health-manager restart (pushproxy.bindings).
    password = _exchange_secrets(spec, origin(spec.exchange.windows_powershell_url_for(server)))
    with tenant_scope(spec.tenant_domain):
        done = ops.restart_auth_services(spec.exchange, password, server)
    return ok({"server": server, "restarted": done}, "restarted")


# ----------------------------------------------------------------------------------------------- retire


def clear_previous_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    """Set-AuthConfig -ClearPreviousCertificate, only while the previous certificate is the one we retire."""
    from pushproxy.exchange import operations as ops

    spec = spec_of(payload)
    thumbprint = _thumbprint(payload)
    with exchange_session(spec) as session:
        cfg = ops.get_auth_config(session)
        if cfg.previous_thumbprint != thumbprint:
            return ok({"thumbprint": thumbprint, "previous": cfg.previous_thumbprint}, "none")
        ops.clear_previous_certificate(session)
    return ok({"thumbprint": thumbprint}, "cleared")


def uploaded_by_us(domain: str, thumbprint: str, target: str = "servicePrincipal") -> bool:
    """Whether the registry records a key upload of ours for this certificate (onboarding or rotation); with
    `target` "application", one that added it to the dedicated hybrid app's keys (not one that found it there)."""
    from pushproxy.registry import open_registry

    registry = open_registry()
    try:
        records = registry.list_onboardings(domain)
    finally:
        close = getattr(registry, "close", None)
        if callable(close):
            close()
    for record in records:
        for change in record.changes:
            if change.get("kind") != "upload_tenant_key" or change.get("outcome") in ("failed", None):
                continue
            result = change.get("result") or {}
            if target == "application":
                if any(t.get("action") == "added" and (t.get("target") or {}).get("kind") == "application"
                       and thumbprint in {str(x).upper() for x in t.get("thumbprints") or ()}
                       for t in result.get("targets") or ()):
                    return True
                continue
            thumbs = {str(t).upper() for t in result.get("thumbprints") or ()}
            thumbs |= {str(k.get("thumbprint") or "").upper() for k in (change.get("details") or {}).get("keys") or ()}
            if thumbprint in thumbs and change.get("outcome") != "none":
                return True
    return False


async def remove_retired_key(payload: dict[str, Any]) -> dict[str, Any]:
    """Take the retired certificate's key off the Exchange Online service principal (and the dedicated hybrid app,
    where we put it), keeping every other key.

    Only a key the registry says we uploaded (never anyone else's), and not before the certificate expired unless a
    person approved earlier removal (`early`)."""
    spec = spec_of(payload)
    thumbprint = _thumbprint(payload)
    now = _now(payload)
    not_after = datetime.fromisoformat(str(payload["not_after"]))
    if not uploaded_by_us(spec.tenant_domain, thumbprint):
        return ok({"thumbprint": thumbprint, "kept": "the registry records no upload of this key by pushproxy"}, "none")
    if now < not_after and not payload.get("early"):
        raise SpecError("not_after", f"the certificate {thumbprint} is valid until {not_after.isoformat()}: its key "
                        "stays until then unless a person approves earlier removal")

    # Off the shared principal and, where we put it there, off the dedicated hybrid app (the shared key_change).
    return await key_change(spec, lambda client, target, thumbs: client.remove_keys(thumbs, target),
                            thumbprints=[thumbprint], adding=False,
                            on_application=lambda t: uploaded_by_us(spec.tenant_domain, t, "application"))


# ----------------------------------------------------------------------------------------------- registry


def record_rotation(payload: dict[str, Any]) -> dict[str, Any]:
    """The rotation's steps and who approved each, as a run in the registry (the tenant's history)."""
    from pushproxy.registry import open_registry
    from pushproxy.registry.models import OnboardingRecord, parse_time

    spec = spec_of(payload)
    report = payload["report"]
    record = OnboardingRecord(
        domain=spec.tenant_domain,
        # One row per rotation: the instance id is the tenant's (reused by the next rotation), the start is not.
        instance_id=f"{payload['instance_id']}@{report['started_at']}",
        started_at=parse_time(report["started_at"], "started_at"),
        finished_at=parse_time(report["finished_at"], "finished_at") if report.get("finished_at") else None,
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
    finally:
        close = getattr(registry, "close", None)
        if callable(close):
            close()
    return ok({"instance_id": record.instance_id, "outcome": record.outcome}, "recorded")
