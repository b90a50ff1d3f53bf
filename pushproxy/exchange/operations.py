"""One typed function per Exchange operation of the procedure (DOMAIN.md, "The steps, as remote-safe cmdlets").

Each takes an open ExchangeSession, builds the cmdlet with parameters only (the endpoint is NoLanguage), reads
the result with the helpers in `values`, and returns the frozen values of `models`. Changes re-read the state
first, so calling one twice does no harm (activities may be retried).
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pushproxy import builds, certs
from pushproxy.errors import ExchangeError, SpecError
from pushproxy.exchange import acs, failures, values
from pushproxy.exchange.acs import auth_server_serves_realm
from pushproxy.exchange.endpoint import ExchangeEndpoint
from pushproxy.exchange.models import (
    AUTH_METADATA_URL_TEMPLATE,
    AuthCertificate,
    AuthConfig,
    AuthServer,
    AuthServerChange,
    ExchangeServer,
    ProbeResult,
    PushProxyState,
    ServerCertificate,
    SettingOverride,
)
from pushproxy.exchange.session import SWITCH, WINDOWS_POWERSHELL_CONFIGURATION, ExchangeSession

AUTH_CERTIFICATE_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"
AUTH_CERTIFICATE_FRIENDLY_NAME = "Microsoft Exchange Server Auth Certificate"
AUTH_SERVER_NAME = "MicrosoftSts"
PUSH_PROXY_APP = "OnPrem-Proxy"
PUSH_PROXY_URI = "https://outlook.office365.com/PushNotifications"
PROBE_IDENTITY = "PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe"
HEALTH_MANAGER_SERVICE = "MSExchangeHM"
# Exchange refuses a staged certificate sooner than this: servers need time to pick it up.
MIN_STAGING_LEAD = timedelta(hours=48)

# A DNS name: what a realm (tenant domain) must be before it reaches a URL or a parameter.
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_THUMBPRINT = re.compile(r"^[0-9A-F]{40}$")


def _realm(realm: str, field: str = "realm") -> str:
    if not isinstance(realm, str) or not _DOMAIN.match(realm.strip().lower()):
        raise SpecError(field, "must be a DNS domain name such as fabrikam.com")
    return realm.strip().lower()


def _thumbprint(value: str, field: str = "thumbprint") -> str:
    cleaned = (value or "").replace(" ", "").upper() if isinstance(value, str) else ""
    if not _THUMBPRINT.match(cleaned):
        raise SpecError(field, "must be a certificate thumbprint: 40 hex digits")
    return cleaned


def _server_name(value: str, field: str = "server") -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$", value):
        raise SpecError(field, "must be a server name or FQDN")
    return value


# -- servers -------------------------------------------------------------------------------------------------
def parse_server(obj: Any) -> ExchangeServer:
    """One Get-ExchangeServer object as an ExchangeServer (AdminDisplayVersion as object or string)."""
    p = values.properties(obj)
    name = values.text(p.get("Name")) or values.text(obj) or "?"
    role_text = values.text(p.get("ServerRole")) or ""
    roles = tuple(sorted(r.strip() for r in role_text.split(",") if r.strip() and r.strip() != "None"))
    is_mailbox = values.boolean(p.get("IsMailboxServer"), "Mailbox" in roles)
    is_cas = values.boolean(p.get("IsClientAccessServer"), "ClientAccess" in roles)
    is_edge = values.boolean(p.get("IsEdgeServer"), "Edge" in roles)
    version_value = p.get("AdminDisplayVersion")
    shown = values.text(version_value) or ""
    try:
        build: builds.Build | None = builds.parse_admin_display_version(version_value)
    except ValueError:
        build = None
    return ExchangeServer(
        name=name,
        fqdn=values.text(p.get("Fqdn")) or name,
        roles=roles,
        is_mailbox=is_mailbox,
        is_client_access=is_cas,
        is_edge=is_edge,
        build=str(build) if build else None,
        admin_display_version=shown,
        release=builds.release_name(build) if build else None,
        # An unreadable version is not proof of CU3: treat it as failing the gate, and say so in discovery.
        meets_minimum=bool(build and builds.meets_minimum(build)),
    )


def get_servers(session: ExchangeSession) -> tuple[ExchangeServer, ...]:
    """Every Exchange server of the organisation, with roles, build and release name, sorted by name."""
    objects = session.invoke("Get-ExchangeServer")
    return tuple(sorted((parse_server(o) for o in objects), key=lambda s: s.name.lower()))


# -- AuthConfig ----------------------------------------------------------------------------------------------
def parse_auth_config(obj: Any) -> AuthConfig:
    p = values.properties(obj)

    def thumb(name: str) -> str | None:
        t = values.text(p.get(name))
        return t.strip().upper() if t and t.strip() else None

    return AuthConfig(
        current_thumbprint=thumb("CurrentCertificateThumbprint"),
        next_thumbprint=thumb("NextCertificateThumbprint"),
        next_effective_date=values.timestamp(p.get("NextCertificateEffectiveDate")),
        previous_thumbprint=thumb("PreviousCertificateThumbprint"),
        service_name=values.text(p.get("ServiceName")),
        realm=values.text(p.get("Realm")),
    )


def get_auth_config(session: ExchangeSession) -> AuthConfig:
    objects = session.invoke("Get-AuthConfig")
    if not objects:
        raise ExchangeError("Get-AuthConfig returned nothing", cmdlet="Get-AuthConfig", transient=False)
    return parse_auth_config(objects[0])


# -- certificates --------------------------------------------------------------------------------------------
def parse_exchange_certificate(obj: Any) -> AuthCertificate:
    """An ExchangeCertificate object: only RawData survives remoting, so everything comes from the DER."""
    raw = values.properties(obj).get("RawData")
    if not isinstance(raw, bytes | bytearray):
        raise ExchangeError("the certificate came back without RawData", cmdlet="Get-ExchangeCertificate", transient=False)
    return certs.parse_certificate(bytes(raw))


def _is_not_found(record: Any) -> bool:
    error_id = getattr(record, "fq_error", "") or ""
    message = failures.record_message(record)
    return "NotFound" in error_id or bool(re.search(r"(was|were|couldn't be|could not be|cannot be) found", message, re.I))


def get_server_certificate(session: ExchangeSession, thumbprint: str, server: str, slot: str = "current") -> ServerCertificate:
    """Whether `server` holds the certificate `thumbprint` (Get-ExchangeCertificate -Thumbprint T -Server S)."""
    thumbprint = _thumbprint(thumbprint)
    server = _server_name(server)
    cmdlet = "Get-ExchangeCertificate"
    result = session.run(cmdlet, {"Thumbprint": thumbprint, "Server": server}, server=server)
    if result.errors:
        if all(_is_not_found(e) for e in result.errors):
            return ServerCertificate(server, thumbprint, "next" if slot == "next" else "current", False, None, failures.record_message(result.errors[0]))
        raise failures.from_error_record(result.errors[0], cmdlet=cmdlet, server=server)
    for obj in result.objects:
        cert = parse_exchange_certificate(obj)
        if cert.thumbprint == thumbprint:
            return ServerCertificate(server, thumbprint, "next" if slot == "next" else "current", True, cert)
    return ServerCertificate(server, thumbprint, "next" if slot == "next" else "current", False, None, "not returned")


def list_certificates(session: ExchangeSession, server: str) -> tuple[AuthCertificate, ...]:
    """Every certificate in the server's store (public facts only), newest expiry first."""
    server = _server_name(server)
    objects = session.invoke("Get-ExchangeCertificate", {"Server": server}, server=server)
    parsed = [parse_exchange_certificate(o) for o in objects]
    return tuple(sorted(parsed, key=lambda c: c.not_after, reverse=True))


def find_marked_certificate(session: ExchangeSession, server: str, marker: str) -> AuthCertificate | None:
    """The certificate on `server` whose Subject Key Identifier is `marker` (pushproxy.exactly_once), if any."""
    wanted = marker.upper()
    for cert in list_certificates(session, server):
        if certs.subject_key_identifier(base64.b64decode(cert.der_b64)) == wanted:
            return cert
    return None


def new_auth_certificate(
    session: ExchangeSession, server: str, *, reuse_existing: bool = True, now: datetime | None = None,
    marker: str | None = None,
) -> AuthCertificate:
    """Create the Auth certificate on `server` (RSA 2048, exportable, no services, five years).

    With `marker` (hex), the certificate carries it as its Subject Key Identifier, and one already on the server
    with that marker is returned instead: it is this change, made by an attempt whose answer was lost.
    With `reuse_existing`, a usable certificate with the Auth subject already on the server is returned instead:
    a retry after a lost response must not leave a second certificate behind, and the seed says to reuse one.
    """
    server = _server_name(server)
    at = now or datetime.now(UTC)
    if marker is not None:
        if not re.fullmatch(r"[0-9A-Fa-f]{2,64}", marker) or len(marker) % 2:
            raise SpecError("marker", "must be an even number of hexadecimal digits (at most 64)")
        found = find_marked_certificate(session, server, marker)
        if found is not None:
            return found
    if reuse_existing:
        for cert in list_certificates(session, server):
            if cert.subject.lower() == AUTH_CERTIFICATE_SUBJECT.lower() and cert.is_usable(at) and cert.not_after - at > timedelta(days=365):
                return cert
    cmdlet = "New-ExchangeCertificate"
    objects = session.invoke(
        cmdlet,
        {
            "KeySize": 2048,
            "PrivateKeyExportable": True,
            "SubjectName": AUTH_CERTIFICATE_SUBJECT,
            "FriendlyName": AUTH_CERTIFICATE_FRIENDLY_NAME,
            "DomainName": [],
            # Not SMTP: that prompts to replace the default transport certificate (and fails without a host).
            "Services": "None",
            "Server": server,
            **({"SubjectKeyIdentifier": marker.upper()} if marker is not None else {}),
        },
        server=server,
    )
    if not objects:
        raise ExchangeError("New-ExchangeCertificate returned no certificate", cmdlet=cmdlet, server=server, transient=False)
    return parse_exchange_certificate(objects[0])


def set_auth_certificate(session: ExchangeSession, thumbprint: str, effective: datetime | None = None, *, now: datetime | None = None) -> AuthConfig:
    """Make `thumbprint` the current Auth certificate at once, or stage it as next for `effective` (48 h ahead or more).

    `-CertificateThumbprint T -Force` makes T current immediately. Exchange checks T in the local store of the server
    the session runs on (proxied to the caller's mailbox server since 2013 CU11), so T must already be on every
    Mailbox server: Exchange copies it only within that server's AD site. Nothing is published afterwards:
    `-PublishCertificate` rolls a staged next certificate over to current, it copies no certificate, and with nothing
    staged it fails (NoNextCertificateException). Returns AuthConfig afterwards.
    """
    thumbprint = _thumbprint(thumbprint)
    cmdlet = "Set-AuthConfig"
    config = get_auth_config(session)
    if effective is None:
        if config.current_thumbprint != thumbprint:
            session.invoke(cmdlet, {"CertificateThumbprint": thumbprint, "Force": SWITCH})
    else:
        if effective.tzinfo is None:
            raise SpecError("effective", "must carry a time zone (UTC offset)")
        at = now or datetime.now(UTC)
        if effective - at < MIN_STAGING_LEAD:
            raise SpecError("effective", "must be at least 48 hours ahead (servers need the time to pick it up)")
        if thumbprint == config.current_thumbprint:
            raise SpecError("thumbprint", "is the current Auth certificate; Exchange refuses it as the next one")
        if config.next_thumbprint != thumbprint or config.next_effective_date != effective:
            session.invoke(
                cmdlet,
                {
                    "NewCertificateThumbprint": thumbprint,
                    # pypsrp 0.9.1 cannot serialise a <DT> (it writes an empty element): send ISO 8601 text,
                    # which PowerShell's parameter binder converts to the DateTime the cmdlet declares.
                    "NewCertificateEffectiveDate": effective.astimezone(UTC).isoformat(),
                    "Force": SWITCH,
                },
            )
    return get_auth_config(session)


def copy_certificate(session: ExchangeSession, thumbprint: str, source: str, target: str) -> bool:
    """Put the certificate `thumbprint` (with its private key) on `target`, from `source`, unless it is there.

    Microsoft's repair for a server that lacks the Auth certificate (MonitorExchangeAuthCertificate in
    microsoft/CSS-Exchange): export it with its key under a one-time password on a server that has it, import it
    with that password on the one that doesn't. Over the NoLanguage endpoint that is Export-ExchangeCertificate
    -BinaryEncoded -Password, then Import-ExchangeCertificate -FileData -Password -Server. The password lives only in
    this call; the PFX never leaves memory. Returns whether it was imported (False: already there).
    """
    thumbprint = _thumbprint(thumbprint)
    source, target = _server_name(source, "source"), _server_name(target, "server")
    if get_server_certificate(session, thumbprint, target).present:
        return False
    password = secrets.token_urlsafe(32)
    exported = session.invoke(
        "Export-ExchangeCertificate",
        {"Thumbprint": thumbprint, "Server": source, "BinaryEncoded": SWITCH, "Password": session.secure_string(password)},
        server=source,
    )
    data = values.properties(exported[0]).get("FileData") if exported else None
    if not isinstance(data, bytes | bytearray) or not data:
        raise ExchangeError("Export-ExchangeCertificate returned no FileData", cmdlet="Export-ExchangeCertificate", server=source, transient=False)
    session.invoke(
        "Import-ExchangeCertificate",
        {"FileData": bytes(data), "Password": session.secure_string(password), "PrivateKeyExportable": True, "Server": target},
        server=target,
    )
    return True


# -- AuthServer ----------------------------------------------------------------------------------------------
def parse_auth_server(obj: Any) -> AuthServer:
    p = values.properties(obj)
    name = values.text(p.get("Name")) or values.text(obj) or "?"
    return AuthServer(
        name=name,
        auth_metadata_url=values.text(p.get("AuthMetadataUrl")),
        realm=values.text(p.get("Realm")),
        enabled=values.boolean(p.get("Enabled"), True),
        issuer_identifier=values.text(p.get("IssuerIdentifier")),
        type=values.text(p.get("Type")),
        identity=values.text(p.get("Identity")) or name,
        application_identifier=values.text(p.get("ApplicationIdentifier")),
        domain_names=tuple(values.multi_valued(p.get("DomainName"))),
    )


# The setting override that switches Exchange to the dedicated Exchange hybrid application: component Global, section
# ExchangeOnpremAsThirdPartyAppId (ConfigureExchangeHybridApplication.ps1 -EnableExchangeHybridApplicationOverride;
# HealthChecker's Invoke-AnalyzerHybridInformation.ps1 filters Get-SettingOverride output the same way).
HYBRID_APP_OVERRIDE_COMPONENT = "Global"
HYBRID_APP_OVERRIDE_SECTION = "ExchangeOnpremAsThirdPartyAppId"


def _absent_cmdlet(exc: ExchangeError) -> bool:
    """Exchange 2013 has no Get-SettingOverride: the cmdlet is not found (nothing to read, not a failure)."""
    return not exc.transient and "commandnotfound" in f"{exc.error_id or ''} {exc.message}".lower().replace(" ", "")


def get_setting_overrides(session: ExchangeSession) -> tuple[SettingOverride, ...]:
    """Every Get-SettingOverride object (Name, ComponentName, SectionName, Parameters, Status)."""
    try:
        objects = session.invoke("Get-SettingOverride")
    except ExchangeError as exc:
        if _absent_cmdlet(exc):
            return ()
        raise
    out = []
    for obj in objects:
        p = values.properties(obj)
        out.append(SettingOverride(
            name=values.text(p.get("Name")) or values.text(obj) or "?",
            component=values.text(p.get("ComponentName")) or "",
            section=values.text(p.get("SectionName")) or "",
            parameters=tuple(values.multi_valued(p.get("Parameters"))),
            status=values.text(p.get("Status")),
        ))
    return tuple(out)


def get_hybrid_configuration(session: ExchangeSession) -> tuple[bool, tuple[str, ...]]:
    """Whether Get-HybridConfiguration returns an object (the Hybrid Configuration Wizard ran), and its Features."""
    objects = session.invoke("Get-HybridConfiguration")
    if not objects:
        return False, ()
    return True, tuple(values.multi_valued(values.properties(objects[0]).get("Features")))


def get_auth_servers(session: ExchangeSession) -> tuple[AuthServer, ...]:
    return tuple(sorted((parse_auth_server(o) for o in session.invoke("Get-AuthServer")), key=lambda a: a.name.lower()))


def ensure_auth_server(session: ExchangeSession, realm: str, *, tenant_id: str | None = None) -> AuthServerChange:
    """Make sure an enabled AuthServer points at the tenant's ACS metadata; create or correct one only if needed.

    An existing one counts whatever its name (Hybrid Wizard's `ACS - {guid}`), in the query or the path form, naming
    the tenant domain or (given `tenant_id`) the tenant id: see `acs.auth_server_serves_realm`.
    """
    realm = _realm(realm)
    tid = acs.tenant_id_or_none(tenant_id)
    url = AUTH_METADATA_URL_TEMPLATE.format(realm=realm)
    existing = get_auth_servers(session)
    matches = [a for a in existing if auth_server_serves_realm(a, realm, tenant_id=tid)]
    enabled = [a for a in matches if a.enabled]
    if enabled:
        return AuthServerChange("none", enabled[0], f"{enabled[0].name!r} already serves {realm} (matched on metadata URL)")
    if matches:
        target = matches[0]
        session.invoke("Set-AuthServer", {"Identity": target.identity or target.name, "Enabled": True})
        return AuthServerChange("updated", _reread_auth_server(session, target.name), f"enabled {target.name!r}, which serves {realm}")
    ours = next((a for a in existing if a.name.lower() == AUTH_SERVER_NAME.lower()), None)
    if ours is not None:
        # Our own object (the seed's name) pointing elsewhere: correct it rather than fail on a duplicate name.
        _with_metadata_fetch(session, "Set-AuthServer", {"Identity": ours.identity or ours.name, "AuthMetadataUrl": url}, url)
        if not ours.enabled:
            session.invoke("Set-AuthServer", {"Identity": ours.identity or ours.name, "Enabled": True})
        return AuthServerChange("updated", _reread_auth_server(session, ours.name), f"pointed {ours.name!r} at {url}")
    _with_metadata_fetch(session, "New-AuthServer", {"Name": AUTH_SERVER_NAME, "AuthMetadataUrl": url}, url)
    return AuthServerChange("created", _reread_auth_server(session, AUTH_SERVER_NAME), f"created {AUTH_SERVER_NAME!r} for {realm}")


def remove_certificate(session: ExchangeSession, server: str, thumbprint: str) -> None:
    """Remove-ExchangeCertificate -Thumbprint T -Server S -Confirm:$false (a Remove- task prompts, and a prompt
    fails over remoting). The caller has checked that T is no certificate Exchange signs or will sign with."""
    server = _server_name(server)
    session.invoke("Remove-ExchangeCertificate", {"Thumbprint": _thumbprint(thumbprint), "Server": server, "Confirm": False},
                   server=server)


def remove_auth_server(session: ExchangeSession, name: str, auth_metadata_url: str | None) -> bool:
    """Remove the AuthServer `name` (Remove-AuthServer -Confirm:$false: it prompts, and a prompt fails over
    remoting), only while it still points at `auth_metadata_url`: an AuthServer of that name pointing elsewhere is
    no longer the one we created. True when removed, False when it was already gone."""
    found = next((a for a in get_auth_servers(session) if a.name.lower() == name.lower()), None)
    if found is None:
        return False
    if auth_metadata_url and (found.auth_metadata_url or "").rstrip("/").lower() != auth_metadata_url.rstrip("/").lower():
        raise ExchangeError(
            f"the AuthServer {found.name!r} now points at {found.auth_metadata_url}, not {auth_metadata_url} as when "
            "we created it: not removing it (someone changed it since)",
            cmdlet="Remove-AuthServer", transient=False,
        )
    session.invoke("Remove-AuthServer", {"Identity": found.identity or found.name, "Confirm": False})
    return True


_METADATA_FAILURE = re.compile(r"metadata|unable to connect|remote server|could ?n.t (be )?retrieve", re.IGNORECASE)
_FQID_SERVER = re.compile(r"\[Server=([^,\]]+)")


def _with_metadata_fetch(session: ExchangeSession, cmdlet: str, parameters: dict[str, Any], url: str) -> None:
    """Run New-/Set-AuthServer with a metadata URL. Exchange fetches that document itself, from the server the
    session runs on: when it can't, say so plainly (which URL, and from which server it needs outbound HTTPS)."""
    try:
        session.invoke(cmdlet, parameters)
    except ExchangeError as exc:
        if exc.transient or not _METADATA_FAILURE.search(exc.message):
            raise
        found = _FQID_SERVER.search(exc.error_id or "")
        where = found.group(1) if found else "the server the remote PowerShell session runs on"
        host = urlsplit(url).hostname or url
        raise ExchangeError(
            f"Exchange could not fetch the AuthServer metadata document {url}: {where} (the server this remote "
            f"PowerShell session runs on) needs outbound HTTPS (port 443) to {host}, directly or through its proxy "
            f"(Set-ExchangeServer -InternetWebProxy). Exchange said: {exc.message}",
            cmdlet=cmdlet, server=found.group(1) if found else None, error_id=exc.error_id, transient=False,
        ) from None


def _reread_auth_server(session: ExchangeSession, name: str) -> AuthServer:
    found = next((a for a in get_auth_servers(session) if a.name.lower() == name.lower()), None)
    if found is None:
        raise ExchangeError(f"AuthServer {name!r} is not there after the change", cmdlet="Get-AuthServer", transient=True)
    return found


# -- push-notification proxy ---------------------------------------------------------------------------------
def parse_push_app(obj: Any) -> PushProxyState:
    """A PushNotificationApp (Get-PushNotificationApp) or the PushNotificationProxyPresentationObject that
    Enable-PushNotificationProxy returns. Exchange keeps the proxy's organisation in the app's AuthenticationKey and
    its URI in Url; the presentation object shows them as Organization and Uri. AuthenticationId stays empty."""
    p = values.properties(obj)
    return PushProxyState(
        present=True,
        enabled=values.boolean(p.get("Enabled")),
        organization=values.text(p.get("AuthenticationKey")) or values.text(p.get("Organization")),
        uri=values.text(p.get("Url")) or values.text(p.get("Uri")),
        name=values.text(p.get("Name")) or values.text(p.get("Identity")),
        display_name=values.text(p.get("DisplayName")),
    )


def _is_proxy_app(state: PushProxyState, obj: Any) -> bool:
    platform = values.text(values.properties(obj).get("Platform")) or ""
    return (state.name or "").lower() == PUSH_PROXY_APP.lower() or platform.lower() == "proxy"


def get_push_proxy(session: ExchangeSession) -> PushProxyState:
    """The OnPrem-Proxy app among every canned app Get-PushNotificationApp lists, or `present=False` without one."""
    for obj in session.invoke("Get-PushNotificationApp"):
        state = parse_push_app(obj)
        if _is_proxy_app(state, obj):
            return state
    return PushProxyState(present=False, enabled=False, organization=None, uri=None)


def enable_push_proxy(session: ExchangeSession, organization: str, uri: str | None = None) -> PushProxyState:
    """Enable-PushNotificationProxy for the tenant domain; nothing is sent when it is already so."""
    organization = _realm(organization, "organization")
    current = get_push_proxy(session)
    wanted_uri = uri or PUSH_PROXY_URI
    if current.enabled and (current.organization or "").lower() == organization and (current.uri or wanted_uri).rstrip("/") == wanted_uri.rstrip("/"):
        return current
    params: dict[str, Any] = {"Organization": organization}
    if uri:
        params["Uri"] = uri
    session.invoke("Enable-PushNotificationProxy", params)
    # Read the app back rather than trust the presentation object: the next run reads the same fields.
    return get_push_proxy(session)


def disable_push_proxy(session: ExchangeSession) -> PushProxyState:
    current = get_push_proxy(session)
    if not current.enabled:
        return current
    session.invoke("Disable-PushNotificationProxy", {"Confirm": False})
    return get_push_proxy(session)


# -- verification --------------------------------------------------------------------------------------------
HEALTH_MANAGER_PROCESS = "MSExchangeHMHost"  # the MSExchangeHM service's process


def restart_health_manager(
    endpoint: ExchangeEndpoint, password: str | None, server: str, *, unless_started_after: datetime | None = None
) -> bool:
    """Restart-Service MSExchangeHM on `server`, through that server's Windows PowerShell endpoint.

    The Exchange endpoint cannot do it (NoLanguage, no Restart-Service), so this opens its own session to
    the WinRM endpoint (configuration Microsoft.PowerShell) with the same credential, checking its certificate
    with `windows_powershell_tls` (the WinRM listener's certificate is often not IIS's; default: `tls`).

    With `unless_started_after`, the restart is looked for first: when the service's process (MSExchangeHMHost,
    Get-Process StartTime) started after that instant, it was restarted already (by an attempt of this change whose
    answer was lost) and is not restarted again. Returns whether it restarted it now.
    """
    server = _server_name(server)
    url = endpoint.windows_powershell_url_for(server)
    tls = endpoint.windows_powershell_tls_settings
    with ExchangeSession(endpoint, password, url=url, configuration_name=WINDOWS_POWERSHELL_CONFIGURATION, tls=tls) as session:
        if unless_started_after is not None:
            found = session.invoke("Get-Process", {"Name": HEALTH_MANAGER_PROCESS}, server=server)
            started = values.timestamp(values.properties(found[0]).get("StartTime")) if found else None
            if started is not None and started >= unless_started_after:
                return False
        session.invoke("Restart-Service", {"Name": HEALTH_MANAGER_SERVICE, "Force": SWITCH}, server=server)
        return True


# Invoke-MonitoringProbe waits up to 300 s for the health service before it gives up with only a warning; our call
# deadline leaves it that time and some to answer.
PROBE_SERVICE_TIMEOUT_S = 300
PROBE_CALL_DEADLINE_S = PROBE_SERVICE_TIMEOUT_S + 60


def parse_probe_result(obj: Any, server: str, warnings: tuple[str, ...] = ()) -> ProbeResult:
    p = values.properties(obj)
    result_type = values.text(p.get("ResultType")) or "Unknown"  # a ...WorkerTaskFramework.ResultType enum: its name
    return ProbeResult(
        server=server,
        result_type=result_type,
        error=values.text(p.get("Error")),
        exception=values.text(p.get("Exception")),
        succeeded=result_type.lower() == "succeeded",
        warnings=warnings,
    )


def run_probe(session: ExchangeSession, server: str) -> ProbeResult:
    """Invoke-MonitoringProbe for the push proxy on `server` (-Server is mandatory); the last result wins.

    When the health service doesn't answer in time, Exchange writes a warning and returns no object: the warning is
    the result's error, and every warning is kept so it reaches the status and the report.
    """
    server = _server_name(server)
    deadline = max(session.endpoint.call_deadline_s, PROBE_CALL_DEADLINE_S)
    result = session.run("Invoke-MonitoringProbe", {"Identity": PROBE_IDENTITY, "Server": server}, server=server, deadline_s=deadline)
    if result.errors:
        raise failures.from_error_record(result.errors[0], cmdlet="Invoke-MonitoringProbe", server=server)
    warnings = tuple(result.warnings)
    if not result.objects:
        why = "; ".join(warnings) if warnings else "the probe returned no result"
        return ProbeResult(server, "NoResult", why, None, False, warnings)
    return parse_probe_result(result.objects[-1], server, warnings)


# -- the Auth certificate's renewal (the rotation workflow) --------------------------------------------------
def publish_auth_certificate(session: ExchangeSession) -> AuthConfig:
    """Set-AuthConfig -PublishCertificate: the staged next certificate becomes current, current becomes previous.

    Never -Force: before the next certificate's effective date Exchange asks for confirmation, which a remote
    session can't give, so publishing early fails loudly instead of happening. It copies no certificate (the
    rotation imported it on every Mailbox server before staging it). With nothing staged Exchange refuses it
    (NoNextCertificateException); the caller re-checks first.
    """
    session.invoke("Set-AuthConfig", {"PublishCertificate": SWITCH})
    return get_auth_config(session)


def clear_previous_certificate(session: ExchangeSession) -> AuthConfig:
    """Set-AuthConfig -ClearPreviousCertificate: Exchange stops accepting tokens signed with the old certificate."""
    session.invoke("Set-AuthConfig", {"ClearPreviousCertificate": SWITCH})
    return get_auth_config(session)


# What MonitorExchangeAuthCertificate restarts once the primary Auth certificate changed, so servers use it at once
# (CSS-Exchange Admin/MonitorExchangeAuthCertificate/ConfigurationAction/New-ExchangeAuthCertificate.ps1, "Step 4").
AUTH_SERVICES = ("MSExchangeServiceHost",)
AUTH_APP_POOLS = ("MSExchangeOWAAppPool", "MSExchangeECPAppPool")


def restart_auth_services(endpoint: ExchangeEndpoint, password: str | None, server: str) -> list[str]:
    """Restart MSExchangeServiceHost and recycle the OWA and ECP application pools on `server`, through its Windows
    PowerShell endpoint (the Exchange endpoint has neither cmdlet). Returns what was restarted, in order."""
    server = _server_name(server)
    url = endpoint.windows_powershell_url_for(server)
    tls = endpoint.windows_powershell_tls_settings
    done: list[str] = []
    with ExchangeSession(endpoint, password, url=url, configuration_name=WINDOWS_POWERSHELL_CONFIGURATION, tls=tls) as session:
        for service in AUTH_SERVICES:
            session.invoke("Restart-Service", {"Name": service, "Force": SWITCH}, server=server)
            done.append(service)
        for pool in AUTH_APP_POOLS:
            session.invoke("Restart-WebAppPool", {"Name": pool}, server=server)
            done.append(pool)
    return done
