"""What each onboarding activity does: parse its input, re-check, change only what is still missing, return JSON.

Every step is idempotent (re-running it after a crash or a retry changes nothing that is already in place).
A step returns `ok(...)` or raises; the activity wrapper (pushproxy.outcome.guarded) turns whatever it raises into
the one failure shape, and the orchestrator retries the transient ones (pushproxy.workflow).
Secrets are resolved here, in the activity, and never leave it.
"""

from __future__ import annotations

import base64
import contextvars
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from pushproxy.errors import ExchangeError, SpecError
from pushproxy.exchange.models import ExchangeDiscovery
from pushproxy.onboarding.payloads import NOT_EXPORTABLE
from pushproxy.outcome import ok
from pushproxy.secrets import resolve_secret, tenant_scope
from pushproxy.spec import TenantSpec

log = logging.getLogger("pushproxy.onboarding")
T = TypeVar("T")
# How often a step looks again for a change whose answer was lost, and for how long at most (see `_landed`).
LANDING_POLL_S = 0.5
LANDING_MAX_S = 120.0


def spec_of(payload: Any) -> TenantSpec:
    if not isinstance(payload, dict) or "spec" not in payload:
        raise SpecError("input", "an activity input is an object with a 'spec'")
    return TenantSpec.from_dict(payload["spec"])


# ----------------------------------------------------------------------------------------------- Exchange


# A dry run in the operator's own CLI process: their spec file binds its secrets, nothing is registered.
_OPERATOR_SPEC: contextvars.ContextVar[TenantSpec | None] = contextvars.ContextVar("pushproxy_operator_spec", default=None)


@contextmanager
def operator_registration(spec: TenantSpec) -> Iterator[None]:
    """Within this block (this thread or task), `spec` is its tenant's registration: the local operator's spec
    file for `onboard --dry-run`. Never used by an activity, whose registration is the registry's."""
    token = _OPERATOR_SPEC.set(spec)
    try:
        yield
    finally:
        _OPERATOR_SPEC.reset(token)


def registration_of(domain: str) -> TenantSpec | None:
    """The operator's registration of `domain`, read from the registry now (not from the activity's input)."""
    from pushproxy.registry import shared_registry

    local = _OPERATOR_SPEC.get()
    if local is not None and local.tenant_domain == domain:
        return local

    record = shared_registry().get_tenant(domain)
    return TenantSpec.from_dict(record.spec) if record is not None and record.spec else None


def registration_for(spec: TenantSpec, ref: str) -> TenantSpec | None:
    """The tenant's registration, if this run's spec is that registration. A run started with anything else (another
    approval policy or approver list through the Durable webhook, or a registration changed since the run began)
    presents no secret at all, so it can change nothing: SecretError."""
    from pushproxy.errors import SecretError

    registration = registration_of(spec.tenant_domain)
    if registration is not None and registration.to_dict() != spec.to_dict():
        raise SecretError(ref, f"this run's settings are not {spec.tenant_domain}'s registration (it was started with "
                          "others, or the registration changed since): no secret is presented; start the onboarding again")
    return registration


def bound_secret(spec: TenantSpec, side: str, ref: str, host: str) -> str:
    """The secret `ref` names, only if the tenant's registration binds it to `host` (pushproxy.bindings), resolved
    within the tenant's namespace. SecretError (naming no value) otherwise, before anything is sent."""
    from pushproxy.bindings import check_presentation

    check_presentation(registration_for(spec, ref), spec.tenant_domain, side, ref, host)
    return resolve_secret(ref, spec.tenant_domain)


def _exchange_secrets(spec: TenantSpec, host: str) -> str | None:
    from pushproxy.bindings import EXCHANGE

    if spec.exchange.keytab_ref:  # resolved by the Kerberos module inside the session, within tenant_scope
        from pushproxy.bindings import check_presentation

        check_presentation(registration_for(spec, spec.exchange.keytab_ref), spec.tenant_domain, EXCHANGE,
                           spec.exchange.keytab_ref, host)
    return bound_secret(spec, EXCHANGE, spec.exchange.password_ref, host) if spec.exchange.password_ref else None


@contextmanager
def exchange_session(spec: TenantSpec) -> Iterator[Any]:
    """One runspace pool for the whole step (one NTLM handshake)."""
    from pushproxy.bindings import origin
    from pushproxy.exchange.session import ExchangeSession

    password = _exchange_secrets(spec, origin(spec.exchange.url))
    with tenant_scope(spec.tenant_domain), ExchangeSession(spec.exchange, password) as session:
        yield session


def tenant_client(spec: TenantSpec) -> Any:
    """A TenantClient for the spec, its credential resolved only if the registration binds it to the authority."""
    from pushproxy.bindings import GRAPH, GRAPH_REF_FIELDS, check_presentation, origin
    from pushproxy.tenant.client import TenantClient

    host = origin(spec.graph.authority)
    for name in GRAPH_REF_FIELDS:
        ref = getattr(spec.graph, name)
        if ref:
            check_presentation(registration_for(spec, ref), spec.tenant_domain, GRAPH, ref, host)
    with tenant_scope(spec.tenant_domain):
        return TenantClient(spec.graph, spec.tenant_id)


# Failures after which a change may have been made: the call gave up (deadline, read timeout) or the connection
# broke mid-call. An answer from the server (an HTTP error, a WSMan fault, throttling) says it was not made.
AMBIGUOUS = frozenset({"Deadline", "Timeout", "ConnectionError", "PSRPState"})
# A dropped connection leaves less doubt than a call still running at its deadline: look for a short while.
DROPPED_LANDING_S = 5.0


def landing_window_s(spec: TenantSpec, exc: ExchangeError) -> float:
    """How long a change whose answer was lost may still take to land: after a deadline or a read timeout, as
    long again as the call deadline (at least 5 s, at most 120 s); after a dropped connection, 5 s."""
    if exc.error_id in ("Deadline", "Timeout"):
        return min(LANDING_MAX_S, max(DROPPED_LANDING_S, spec.exchange.call_deadline_s))
    return DROPPED_LANDING_S


def _landed(spec: TenantSpec, exc: ExchangeError, look: Callable[[Any], T | None], what: str) -> T | None:
    """After `exc`, look for a change that may have landed after its call gave up: in a fresh session (the old
    one may be broken), again and again within the landing window. Its result, or None (also when `exc` says the
    change was not made).

    Exchange goes on with a cmdlet whose client stopped waiting (a Stop may come too late), so making the change
    again at once would make it twice: the issue 14 case of two certificates after one slow New-ExchangeCertificate.
    """
    if not exc.transient or exc.error_id not in AMBIGUOUS:
        return None
    deadline = time.monotonic() + landing_window_s(spec, exc)
    while True:
        try:
            with exchange_session(spec) as session:
                found = look(session)
        except ExchangeError as err:
            if not err.transient:
                raise
            found = None
        if found is not None and found is not False:
            log.info("%s: the change an earlier call gave up on had landed; not making it again", what)
            return found
        if time.monotonic() + LANDING_POLL_S > deadline:
            return None
        time.sleep(LANDING_POLL_S)


def _marker(payload: dict[str, Any]) -> str | None:
    from pushproxy.exactly_once import certificate_marker

    operation = payload.get("operation")
    return certificate_marker(str(operation)) if operation else None


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
        # The certificate carries this change's marker (pushproxy.exactly_once): one made by an earlier attempt
        # whose answer was lost is found, on the server, before a second is made.
        marker = _marker(payload)
        try:
            created = client.new_auth_certificate(session, server, marker=marker)
        except ExchangeError as exc:
            if not exc.transient or marker is None:
                raise
            landed = _landed(spec, exc, lambda s: client.find_marked_certificate(s, server, marker), "create_auth_certificate")
            if landed is None:
                raise
            created = landed
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
    imported: list[str] = []
    for target in (str(t) for t in details.get("servers", ())):
        try:
            with exchange_session(spec) as session:
                if client.copy_certificate(session, thumbprint, source, target):
                    imported.append(target)
        except ExchangeError as exc:
            if "exportable" in exc.message.lower():
                # Export-ExchangeCertificate refused (a read: nothing changed). Only RawData survives remoting, so
                # this is the first moment anyone can see it; the run stops here as blocked (orchestrators/onboarding.py).
                raise ExchangeError(
                    f"{NOT_EXPORTABLE}: the private key of the Auth certificate {thumbprint} on {source} can't be "
                    f"exported, so pushproxy can't copy it to {target}. Import it there from a PFX you hold, or "
                    "replace it with a new Auth certificate. Exchange said: " + exc.message,
                    cmdlet="Export-ExchangeCertificate", server=source, transient=False,
                ) from None
            if not exc.transient:
                raise
            # Import-ExchangeCertificate may have gone on after we stopped waiting: look before importing again.
            def present(s: Any, server: str = target) -> bool:
                return bool(client.get_server_certificate(s, thumbprint, server).present)

            if not _landed(spec, exc, present, "import_auth_certificate"):
                raise
            imported.append(target)
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
        try:
            client.set_auth_certificate(session, thumbprint)
        except ExchangeError as exc:
            if not _landed(
                spec, exc, lambda s: client.get_auth_config(s).current_thumbprint == thumbprint, "assign_auth_certificate"
            ):
                raise
        return ok({"thumbprint": thumbprint, "replaced": current.auth_config.current_thumbprint}, "assigned")


def ensure_auth_server(payload: dict[str, Any]) -> dict[str, Any]:
    """Create or correct the realm's AuthServer; reuse any (e.g. `ACS - {guid}`) whose URL names the tenant domain or id."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    try:
        with exchange_session(spec) as session:
            change = client.ensure_auth_server(session, spec.tenant_domain, tenant_id=spec.tenant_id)
    except ExchangeError as exc:
        if not exc.transient:
            raise
        # New-/Set-AuthServer may have gone on after we stopped waiting: an enabled AuthServer serving the realm
        # now is that change (ensure_auth_server itself makes none when one is there).
        from pushproxy.exchange.acs import auth_server_serves_realm, tenant_id_or_none
        from pushproxy.exchange.models import AuthServerChange

        def serving(s: Any) -> Any:
            tid = tenant_id_or_none(spec.tenant_id)
            return next((a for a in client.get_auth_servers(s)
                         if a.enabled and auth_server_serves_realm(a, spec.tenant_domain, tenant_id=tid)), None)

        landed = _landed(spec, exc, serving, "ensure_auth_server")
        if landed is None:
            raise
        change = AuthServerChange("created", landed, f"{landed.name!r} serves {spec.tenant_domain} (made by a call whose answer was lost)")
    return ok(change.to_dict(), change.action)


def enable_push_proxy(payload: dict[str, Any]) -> dict[str, Any]:
    """Enable-PushNotificationProxy for the tenant domain, unless it is already enabled for it."""
    from pushproxy import exchange as client

    spec = spec_of(payload)
    with exchange_session(spec) as session:
        state = client.get_push_proxy(session)
        if state.enabled and (state.organization or "").lower() == spec.tenant_domain:
            return ok(state.to_dict(), "none")
        try:
            after = client.enable_push_proxy(session, spec.tenant_domain)
        except ExchangeError as exc:
            if not exc.transient:
                raise

            def enabled(s: Any) -> Any:
                now = client.get_push_proxy(s)
                return now if now.enabled and (now.organization or "").lower() == spec.tenant_domain else None

            landed = _landed(spec, exc, enabled, "enable_push_proxy")
            if landed is None:
                raise
            after = landed
        return ok(after.to_dict(), "enabled")


def restart_health_manager(payload: dict[str, Any]) -> dict[str, Any]:
    """Restart MSExchangeHM through the server's Windows PowerShell endpoint (the Exchange endpoint can't)."""
    from pushproxy import exchange as client
    from pushproxy.bindings import origin

    spec = spec_of(payload)
    server = str(payload["server"])
    host = origin(spec.exchange.windows_powershell_url_for(server))
    password = _exchange_secrets(spec, host)
    # `requested_at` (the orchestration's clock when it asked): a restart since then is this change, made by an
    # attempt whose answer was lost or whose host was killed; it is not made again.
    requested = payload.get("requested_at")
    since = datetime.fromisoformat(requested) if isinstance(requested, str) else None
    with tenant_scope(spec.tenant_domain):
        restarted = client.restart_health_manager(spec.exchange, password, server, unless_started_after=since)
    return ok({"server": server}, "restarted" if restarted else "none")


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
    client = tenant_client(spec)
    try:
        return await work(client)
    finally:
        await client.close()


async def key_change(
    spec: TenantSpec,
    make: Callable[..., Any],
    *,
    thumbprints: Sequence[str] | None = None,
    adding: bool = True,
    on_application: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """One change of the tenant's keys through a TenantClient, in the outcome shape with the Graph request count:
    the upload, a removal and a retired key's removal alike.

    Without `thumbprints`, `make(client)` changes the shared service principal's keys and returns its KeyChange.
    With them, the change goes everywhere Exchange Online looks for the keys (pushproxy.hybrid): `make(client,
    target, thumbprints)` runs once per collection, the shared principal and, when the organisation uses one, the
    dedicated Exchange hybrid application, each through the same TenantClient code. Which ones is decided from
    reads made now (Exchange's override and AuthServer, the tenant's app), never from an old snapshot. A removal
    (`adding` False) takes a key off the application only where `on_application(thumbprint)` says it is ours there."""

    async def work(client: Any) -> dict[str, Any]:
        if thumbprints is None:
            change = await make(client)
            result = change.to_dict()
            result["graph_requests"] = client.graph_requests
            return ok(result, change.action)
        from pushproxy.hybrid import key_targets, organisation_certificates
        from pushproxy.tenant.models import SHARED_PRINCIPAL, KeyChange

        wanted = tuple(dict.fromkeys(thumbprints))
        exchange_side = read_hybrid_exchange(spec)
        mode = await hybrid_mode_of(spec, client, exchange_side)
        if adding:
            targets = key_targets(mode, spec.tenant.shared_principal_key, wanted,
                                  organisation_certificates(exchange_side[2]))
        else:
            # Our keys come off the shared principal whatever the mode; off the app only the ones we put there.
            targets = [(SHARED_PRINCIPAL, wanted)]
            if mode.application is not None and on_application is not None:
                mine = tuple(t for t in wanted if on_application(t))
                if mine:
                    targets.append((mode.application.target, mine))
        changes = [await make(client, target, thumbs) for target, thumbs in targets]
        principal = next((c for c in changes if c.target == SHARED_PRINCIPAL), None)
        if principal is None:
            principal = KeyChange("none", wanted[0], "", thumbprints=wanted)
        result = principal.to_dict()
        result["targets"] = [c.to_dict() for c in changes]
        result["hybrid"] = {"mode": mode.mode, "summary": mode.summary, "push": mode.push}
        if all(t != SHARED_PRINCIPAL for t, _ in targets):
            result["shared_principal"] = ("left alone: " + ("tenant.shared_principal_key is leave_to_cleanup"
                                          if spec.tenant.shared_principal_key == "leave_to_cleanup"
                                          else "clean-up mode removed these keys from it; pushproxy does not re-add them"))
        result["graph_requests"] = client.graph_requests
        action = next((c.action for c in changes if c.action != "none"), "none")
        return ok(result, action)

    result: dict[str, Any] = await _with_tenant(spec, work)
    return result


def read_hybrid_exchange(spec: TenantSpec) -> tuple[Any, Any, Any]:
    """Exchange's side of the dedicated hybrid app, read now: (HybridFacts, AuthServers, AuthConfig)."""
    from pushproxy.exchange import operations
    from pushproxy.exchange.discovery import discover_hybrid

    with exchange_session(spec) as session:
        return discover_hybrid(session, ()), operations.get_auth_servers(session), operations.get_auth_config(session)


async def hybrid_mode_of(spec: TenantSpec, client: Any, exchange_side: tuple[Any, Any, Any]) -> Any:
    """The organisation's hybrid mode from Exchange's side and the tenant's (the shared principal, the app)."""
    from pushproxy.hybrid import classify, evo_sts_app_ids

    facts, auth_servers, auth_config = exchange_side
    apps = [await client.get_hybrid_application(a) for a in evo_sts_app_ids(auth_servers, spec.tenant_id)]
    shared = await client.get_exchange_service_principal()
    return classify(facts, auth_servers, auth_config, shared, apps, tenant_id=spec.tenant_id)


async def discover_tenant(payload: dict[str, Any]) -> dict[str, Any]:
    """Read-only: the organisation's verified domains, the Exchange Online service principal's keys, and the
    dedicated Exchange hybrid application Exchange names (its keys, permission and consent)."""
    from pushproxy.tenant import client as tenant_client

    spec = spec_of(payload)
    # The dedicated hybrid app is known by the appId Exchange's EvoSts AuthServer names: the caller passes it
    # (pushproxy.hybrid.tenant_with_hybrid_apps, after Exchange's discovery). Tenant discovery never opens an
    # Exchange session: it must work, and fast, when Exchange does not answer.
    given = payload.get("hybrid_app_ids")
    if given is not None and (not isinstance(given, list) or not all(isinstance(a, str) for a in given)):
        raise SpecError("hybrid_app_ids", "must be a list of application ids")
    app_ids = tuple(given or ())

    async def work(client: Any) -> dict[str, Any]:
        found = await tenant_client.discover_tenant(client, spec.tenant_domain, app_ids)
        return ok(found.to_dict(), "none")

    result: dict[str, Any] = await _with_tenant(spec, work)
    return result


async def upload_tenant_key(payload: dict[str, Any]) -> dict[str, Any]:
    """Add the Auth certificates' public keys to the Exchange Online service principal in one PATCH, keeping every
    other key as it is, and to the dedicated Exchange hybrid application's keys when the organisation uses one.

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

    from pushproxy.tenant.models import thumbprint_of as of

    # Everywhere Exchange Online looks: the shared principal (for the proxy) and the dedicated hybrid app.
    return await key_change(
        spec,
        lambda client, target, thumbs: client.add_certificate_keys([d for d in ders if of(d) in thumbs], target),
        thumbprints=[of(d) for d in ders],
    )


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
        # Only a run that ended done (every change approved, or nothing to change) touches the tenant's record, and
        # never its registration (the spec, approvers, policies): a rejected, timed-out, blocked or failed run
        # changes nothing but its own run record.
        previous = registry.get_tenant(spec.tenant_domain)
        if report["outcome"] == "done":
            onboarded_at = previous.onboarded_at if previous else None
            offboarded = previous is not None and previous.is_offboarded
            if (report.get("probe") or {}).get("succeeded"):
                # Onboarded again after an offboarding: from now on, the new onboarding's.
                onboarded_at = finished if offboarded else (onboarded_at or finished)
                offboarded = False
            registry.put_tenant(
                TenantRecord(
                    domain=spec.tenant_domain,
                    # The registration's own spec; a record made before registrations existed keeps the run's.
                    spec=previous.spec if previous else spec.to_dict(),
                    onboarded_at=onboarded_at,
                    updated_at=finished,
                    last_onboarding_id=record.instance_id,
                    registered_by=previous.registered_by if previous else None,
                    registered_at=previous.registered_at if previous else None,
                    # An offboarded tenant stays offboarded until an onboarding of it succeeds.
                    offboarded_at=previous.offboarded_at if offboarded and previous else None,
                    offboarded_by=previous.offboarded_by if offboarded and previous else (),
                    last_offboarding_id=previous.last_offboarding_id if previous else None,
                )
            )
    finally:
        close = getattr(registry, "close", None)
        if callable(close):
            close()
    return ok({"instance_id": record.instance_id, "outcome": record.outcome}, "recorded")
