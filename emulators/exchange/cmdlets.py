"""The Exchange cmdlets the stand-in serves, behaving as ../shared/design/DOMAIN.md describes."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from psrpcore.types import ErrorCategory

from emulators.exchange import certificates, metadata, objects, probe
from emulators.exchange.errors import CmdletError
from emulators.exchange.organisation import AuthServer, Certificate, Server
from emulators.exchange.runtime import Cmdlet, Invocation, Param

_TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _not_found(ctx: Invocation, what: str) -> CmdletError:
    return CmdletError(
        "ManagementObjectNotFoundException",
        f"The operation couldn't be performed because object '{what}' couldn't be found on 'DC1.{ctx.org.realm}'.",
        target=what,
    )


def _server(ctx: Invocation, identity: str | None) -> Server | None:
    """The named server, or the one this session runs on; reports the error itself when the name is unknown."""
    if identity is None:
        return ctx.via
    server = ctx.org.server(identity)
    if server is None:
        ctx.error(_not_found(ctx, identity))
    return server


# ---- servers and certificates ------------------------------------------------------------------------------


def get_exchange_server(ctx: Invocation, p: dict[str, Any]) -> None:
    identity = p.get("Identity")
    servers = ctx.org.servers if identity is None else [s for s in [ctx.org.server(identity)] if s]
    if identity is not None and not servers:
        ctx.error(_not_found(ctx, identity))
    for server in servers:
        ctx.write(objects.exchange_server(ctx.org, server, ctx.via, ctx.runspace_id))


def get_exchange_certificate(ctx: Invocation, p: dict[str, Any]) -> None:
    server = _server(ctx, p.get("Server"))
    if server is None:
        return
    wanted = (p.get("Thumbprint") or p.get("Identity") or "").split("\\")[-1].strip().upper()
    found = [c for c in ctx.org.certificates if server.name in c.servers and (not wanted or c.thumbprint == wanted)]
    if wanted and not found:
        ctx.error(CmdletError(
            "ManagementObjectNotFoundException",
            f"The certificate with thumbprint {wanted} was not found on server '{server.name}'.",
            target=wanted,
        ))
    for cert in found:
        ctx.write(objects.exchange_certificate(ctx.org, cert, server, ctx.runspace_id))


def new_exchange_certificate(ctx: Invocation, p: dict[str, Any]) -> None:
    server = _server(ctx, p.get("Server"))
    if server is None:
        return
    if p.get("GenerateRequest"):
        ctx.error(CmdletError("TaskException", "The stand-in doesn't make certificate requests (-GenerateRequest)."))
        return
    key_size = p.get("KeySize", 2048)
    if key_size not in (1024, 2048, 4096):
        ctx.error(CmdletError("ArgumentException", f"KeySize {key_size} isn't supported: use 1024, 2048 or 4096.",
                              ErrorCategory.InvalidArgument))
        return
    ctx.confirmed = ctx.confirmed or bool(p.get("Force"))
    services = ",".join(p.get("Services", ["IMAP", "POP", "SMTP"])).replace(" ", "")
    if "smtp" in services.lower().split(","):
        ctx.should_continue(
            "Overwrite the existing default SMTP certificate? Replacing the default SMTP certificate with the "
            "certificate being generated. [Y] Yes [A] Yes to All [N] No [L] No to All [?] Help (default is \"Y\"):"
        )
    subject = p.get("SubjectName") or f"CN={server.name}"
    if not subject.upper().startswith(("CN=", "C=", "O=", "OU=", "DC=")):
        ctx.error(CmdletError("ArgumentException", f"SubjectName '{subject}' isn't a valid X.500 name.",
                              ErrorCategory.InvalidArgument, target=subject))
        return
    now = _now().replace(microsecond=0)
    with ctx.state.lock:
        try:
            cert = ctx.state.generate_certificate(
                subject, now - dt.timedelta(minutes=10), now + dt.timedelta(days=5 * 365), key_size, [server.name],
                shared=False, friendly_name=p.get("FriendlyName") or "Microsoft Exchange",
                services=services or "None", domain_names=[d for d in p.get("DomainName", []) if d],
            )
        except ValueError as exc:
            ctx.error(CmdletError("ArgumentException", str(exc), ErrorCategory.InvalidArgument))
            return
        cert.exportable = bool(p.get("PrivateKeyExportable", False))
        ctx.org.certificates.append(cert)
    ctx.state.save()
    ctx.write(objects.exchange_certificate(ctx.org, cert, server, ctx.runspace_id))


def export_exchange_certificate(ctx: Invocation, p: dict[str, Any]) -> None:
    server = _server(ctx, p.get("Server"))
    if server is None:
        return
    thumbprint = (p.get("Thumbprint") or "").upper()
    cert = ctx.org.certificate(thumbprint)
    if cert is None or server.name not in cert.servers:
        ctx.error(CmdletError(
            "ManagementObjectNotFoundException",
            f"The certificate with thumbprint {thumbprint} was not found on server '{server.name}'.", target=thumbprint,
        ))
        return
    password = p.get("Password")
    if password is not None:
        key = ctx.state.keys.get(cert.thumbprint)
        if key is None or not cert.exportable:
            ctx.error(CmdletError(
                "TaskException", f"The private key of certificate {cert.thumbprint} isn't exportable.",
                ErrorCategory.InvalidOperation, target=cert.thumbprint,
            ))
            return
        data = certificates.export_pfx(cert.der, key, password.decrypt(), cert.friendly_name)
    else:
        data = cert.der
    if not p.get("BinaryEncoded"):
        data = base64.b64encode(data)
    ctx.write(objects.binary_file_data(data, server, ctx.runspace_id))


# ---- AuthConfig ------------------------------------------------------------------------------------------------


def get_auth_config(ctx: Invocation, p: dict[str, Any]) -> None:
    ctx.write(objects.auth_config(ctx.org, ctx.via, ctx.runspace_id))


def _existing_certificate(ctx: Invocation, thumbprint: str) -> Certificate:
    cert = ctx.org.certificate(thumbprint)
    if cert is None or not cert.servers:
        raise CmdletError(
            "TaskException",
            f"The certificate with thumbprint {thumbprint.upper()} could not be found on any Exchange server.",
            ErrorCategory.InvalidArgument, target=thumbprint, terminating=True,
        )
    return cert


def set_auth_config(ctx: Invocation, p: dict[str, Any]) -> None:
    ctx.confirmed = ctx.confirmed or bool(p.get("Force"))
    ac = ctx.org.auth_config
    with ctx.state.lock:
        if "CertificateThumbprint" in p:
            cert = _existing_certificate(ctx, p["CertificateThumbprint"])
            ctx.should_continue(
                "Setting a new current certificate will cause servers to start using it immediately; servers "
                "without the certificate will fail OAuth authentication. Do you want to continue?"
            )
            if ac.current and ac.current != cert.thumbprint:
                ac.previous = ac.current
            ac.current = cert.thumbprint
        if "NewCertificateThumbprint" in p:
            cert = _existing_certificate(ctx, p["NewCertificateThumbprint"])
            effective = p.get("NewCertificateEffectiveDate")
            if effective is None:
                raise CmdletError(
                    "TaskException", "NewCertificateEffectiveDate is required with NewCertificateThumbprint.",
                    ErrorCategory.InvalidArgument, terminating=True,
                )
            if effective < _now() + dt.timedelta(hours=48):
                ctx.should_continue(
                    "The effective date is less than 48 hours away; servers may not have the new certificate in "
                    "time. Do you want to continue?"
                )
            ac.next = cert.thumbprint
            ac.next_effective = effective
        elif "NewCertificateEffectiveDate" in p:
            ac.next_effective = p["NewCertificateEffectiveDate"]
        if p.get("ClearPreviousCertificate"):
            ac.previous = ""
        if "Realm" in p:
            ac.realm = p["Realm"]
        if "ServiceName" in p:
            ac.service_name = p["ServiceName"]
        if p.get("PublishCertificate"):
            mailbox = [s.name for s in ctx.org.servers if s.is_mailbox]
            for thumbprint in (ac.current, ac.next):
                published = ctx.org.certificate(thumbprint) if thumbprint else None
                if published is not None:
                    published.servers = sorted(set(published.servers) | set(mailbox), key=[s.name for s in ctx.org.servers].index)
    ctx.state.save()


# ---- AuthServer ------------------------------------------------------------------------------------------------


def _auth_server(ctx: Invocation, identity: str) -> AuthServer | None:
    return next((a for a in ctx.org.auth_servers if a.name.lower() == identity.lower() or a.guid == identity), None)


def get_auth_server(ctx: Invocation, p: dict[str, Any]) -> None:
    identity = p.get("Identity")
    found = ctx.org.auth_servers if identity is None else [a for a in [_auth_server(ctx, identity)] if a]
    if identity is not None and not found:
        ctx.error(_not_found(ctx, identity))
    for auth in found:
        ctx.write(objects.auth_server(ctx.org, auth, ctx.via, ctx.runspace_id))


def _check_metadata_url(ctx: Invocation, url: str) -> bool:
    if not re.match(r"^https://[^/\s]+/\S*$", url):
        ctx.error(CmdletError(
            "TaskException", f"The AuthMetadataUrl '{url}' isn't a valid HTTPS URL.", ErrorCategory.InvalidArgument,
            target=url,
        ))
        return False
    return True


def _fill_from_metadata(auth: AuthServer) -> None:
    """What Exchange reads from the metadata document (the stand-in derives it from the URL)."""
    auth.realm = metadata.url_realm(auth.auth_metadata_url)
    if "accesscontrol.windows.net" in auth.auth_metadata_url:
        auth.type = "MicrosoftACS"
        auth.issuer_identifier = "00000001-0000-0000-c000-000000000000"
        auth.token_issuing_endpoint = f"https://accounts.accesscontrol.windows.net/{auth.realm}/tokens/OAuth/2"
    elif "login.windows.net" in auth.auth_metadata_url or "login.microsoftonline.com" in auth.auth_metadata_url:
        auth.type = "AzureAD"
        auth.issuer_identifier = "https://sts.windows.net/"
        auth.token_issuing_endpoint = f"https://login.windows.net/{auth.realm}/oauth2/token"


def new_auth_server(ctx: Invocation, p: dict[str, Any]) -> None:
    name, url = p["Name"], p.get("AuthMetadataUrl", "")
    if not url:
        ctx.error(CmdletError("TaskException", "AuthMetadataUrl must be specified.", ErrorCategory.InvalidArgument))
        return
    if not _check_metadata_url(ctx, url):
        return
    with ctx.state.lock:
        if _auth_server(ctx, name) is not None:
            ctx.error(CmdletError(
                "ManagementObjectAlreadyExistsException", f"An AuthServer with the name '{name}' already exists.",
                ErrorCategory.NotSpecified, target=name,
            ))
            return
        auth = AuthServer(name=name, auth_metadata_url=url, enabled=p.get("Enabled", True))
        _fill_from_metadata(auth)
        if p.get("Type"):
            auth.type = p["Type"]
        ctx.org.auth_servers.append(auth)
    ctx.state.save()
    ctx.write(objects.auth_server(ctx.org, auth, ctx.via, ctx.runspace_id))


def set_auth_server(ctx: Invocation, p: dict[str, Any]) -> None:
    with ctx.state.lock:
        auth = _auth_server(ctx, p["Identity"])
        if auth is None:
            ctx.error(_not_found(ctx, p["Identity"]))
            return
        if "AuthMetadataUrl" in p:
            if not _check_metadata_url(ctx, p["AuthMetadataUrl"]):
                return
            auth.auth_metadata_url = p["AuthMetadataUrl"]
            _fill_from_metadata(auth)
        if "Enabled" in p:
            auth.enabled = p["Enabled"]
        if "Name" in p:
            auth.name = p["Name"]
    ctx.state.save()


def remove_auth_server(ctx: Invocation, p: dict[str, Any]) -> None:
    with ctx.state.lock:
        auth = _auth_server(ctx, p["Identity"])
        if auth is None:
            ctx.error(_not_found(ctx, p["Identity"]))
            return
        ctx.should_continue(f'Are you sure you want to perform this action? Removing AuthServer "{auth.name}".')
        ctx.org.auth_servers.remove(auth)
    ctx.state.save()


# ---- push notifications and the probe ----------------------------------------------------------------------------


def get_push_notification_app(ctx: Invocation, p: dict[str, Any]) -> None:
    identity = p.get("Identity")
    if identity is not None and identity.lower() != "onprem-proxy":
        ctx.error(_not_found(ctx, identity))
        return
    ctx.write(objects.push_notification_app(ctx.org, ctx.via, ctx.runspace_id))


def enable_push_notification_proxy(ctx: Invocation, p: dict[str, Any]) -> None:
    organization = p.get("Organization", "")
    if organization and not _DOMAIN.match(organization):
        ctx.error(CmdletError(
            "ArgumentException", f"'{organization}' isn't a valid domain name for -Organization.",
            ErrorCategory.InvalidArgument, target=organization,
        ))
        return
    with ctx.state.lock:
        pp = ctx.org.push_proxy
        pp.enabled = True
        pp.organization = organization or pp.organization
        pp.uri = p.get("Uri") or pp.uri
        pp.last_update = _now().replace(microsecond=0)
    ctx.state.save()
    ctx.write(objects.push_notification_app(ctx.org, ctx.via, ctx.runspace_id))


def disable_push_notification_proxy(ctx: Invocation, p: dict[str, Any]) -> None:
    ctx.should_continue("Are you sure you want to perform this action? Disabling the push notification proxy.")
    with ctx.state.lock:
        ctx.org.push_proxy.enabled = False
        ctx.org.push_proxy.last_update = _now().replace(microsecond=0)
    ctx.state.save()


def invoke_monitoring_probe(ctx: Invocation, p: dict[str, Any]) -> None:
    server = _server(ctx, p["Server"])
    if server is None:
        return
    identity = p["Identity"]
    if identity.split("/")[0].lower() != probe.PROBE_IDENTITY.lower():
        ctx.warning(f"The monitor identity '{identity}' wasn't found on server {server.fqdn}.")
        return
    started = _now()
    missing = probe.missing_pieces(ctx.org, server, ctx.extras.get("tenant_state_url"))
    ended = _now()
    error = "; ".join(missing)
    ctx.write(objects.monitoring_probe_result(
        server, identity, "Failed" if missing else "Succeeded", error,
        f"Microsoft.Exchange.Monitoring.ProbeFailedException: {error}" if missing else "", started, ended,
        ctx.runspace_id,
    ))


# ---- Windows PowerShell endpoint -------------------------------------------------------------------------------


def restart_service(ctx: Invocation, p: dict[str, Any]) -> None:
    for name in p.get("Name", []):
        if name.lower() != "msexchangehm":
            ctx.error(CmdletError(
                "ServiceCommandException", f"Cannot find any service with service name '{name}'.",
                ErrorCategory.ObjectNotFound,
                error_id="NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.RestartServiceCommand",
                target=name,
            ))


def get_powershell_virtual_directory(ctx: Invocation, p: dict[str, Any]) -> None:
    # One /PowerShell per Client Access server; the switches are the organisation's (one setting for all).
    servers = [s for s in ctx.org.servers if "ClientAccess" in s.roles or "Mailbox" in s.roles]
    if p.get("Server") is not None:
        wanted = _server(ctx, p["Server"])
        if wanted is None:
            ctx.error(_not_found(ctx, p["Server"]))
            return
        servers = [wanted]
    identity = p.get("Identity")
    if identity is not None:
        server_part = identity.split("\\", 1)[0] if "\\" in identity else None
        servers = [s for s in servers if server_part is None or server_part.lower() in (s.name.lower(), s.fqdn.lower())]
        if not servers:
            ctx.error(_not_found(ctx, identity))
            return
    for server in servers:
        ctx.write(objects.powershell_virtual_directory(ctx.org, server, ctx.via, ctx.runspace_id))


def _c(name: str, run: Any, *params: Param, task: str | None = None) -> Cmdlet:
    return Cmdlet(name, run, params, f"{_TASKS}.{task or name.replace('-', '')}")


EXCHANGE_CMDLETS: dict[str, Cmdlet] = {c.name.lower(): c for c in [
    _c("Get-ExchangeServer", get_exchange_server, Param("Identity", position=0), Param("Status", "switch"),
       Param("DomainController")),
    _c("Get-ExchangeCertificate", get_exchange_certificate, Param("Thumbprint", position=0), Param("Identity"),
       Param("Server"), Param("DomainName", "strings"), Param("DomainController")),
    _c("New-ExchangeCertificate", new_exchange_certificate, Param("KeySize", "int"),
       Param("PrivateKeyExportable", "bool"), Param("SubjectName"), Param("FriendlyName"),
       Param("DomainName", "strings"), Param("Services", "strings"), Param("Server"), Param("Force", "switch"),
       Param("GenerateRequest", "switch"), Param("DomainController")),
    _c("Export-ExchangeCertificate", export_exchange_certificate, Param("Thumbprint", mandatory=True, position=0),
       Param("Server"), Param("BinaryEncoded", "switch"), Param("Password", "securestring"),
       Param("DomainController")),
    _c("Get-AuthConfig", get_auth_config, Param("DomainController")),
    _c("Set-AuthConfig", set_auth_config, Param("CertificateThumbprint"), Param("NewCertificateThumbprint"),
       Param("NewCertificateEffectiveDate", "datetime"), Param("PublishCertificate", "switch"),
       Param("ClearPreviousCertificate", "switch"), Param("Force", "switch"), Param("Server"), Param("Realm"),
       Param("ServiceName"), Param("SkipImmediateCertificateDeployment", "switch"), Param("DomainController")),
    _c("Get-AuthServer", get_auth_server, Param("Identity", position=0), Param("DomainController")),
    _c("New-AuthServer", new_auth_server, Param("Name", mandatory=True, position=0), Param("AuthMetadataUrl"),
       Param("Type"), Param("Enabled", "bool"), Param("DomainName", "strings"), Param("TrustAnySSLCertificate", "switch"),
       Param("DomainController")),
    _c("Set-AuthServer", set_auth_server, Param("Identity", mandatory=True, position=0), Param("AuthMetadataUrl"),
       Param("Enabled", "bool"), Param("Name"), Param("RefreshAuthMetadata", "switch"),
       Param("TrustAnySSLCertificate", "switch"), Param("DomainController")),
    _c("Remove-AuthServer", remove_auth_server, Param("Identity", mandatory=True, position=0),
       Param("DomainController")),
    _c("Get-PowerShellVirtualDirectory", get_powershell_virtual_directory, Param("Identity", position=0),
       Param("Server"), Param("ADPropertiesOnly", "switch"), Param("ShowMailboxVirtualDirectories", "switch"),
       Param("DomainController")),
    _c("Get-PushNotificationApp", get_push_notification_app, Param("Identity", position=0), Param("Platform"),
       Param("DomainController")),
    _c("Enable-PushNotificationProxy", enable_push_notification_proxy, Param("Organization"), Param("Uri"),
       Param("DomainController")),
    _c("Disable-PushNotificationProxy", disable_push_notification_proxy, Param("DomainController")),
    _c("Invoke-MonitoringProbe", invoke_monitoring_probe, Param("Identity", mandatory=True, position=0),
       Param("Server", mandatory=True), Param("ItemTargetExtension"), Param("Account"), Param("Password"),
       Param("Endpoint"), Param("TimeOutSeconds"), Param("PropertyOverride")),
]}

WINDOWS_POWERSHELL_CMDLETS: dict[str, Cmdlet] = {
    "restart-service": Cmdlet(
        "Restart-Service", restart_service,
        (Param("Name", "strings", mandatory=True, position=0), Param("Force", "switch"), Param("PassThru", "switch")),
        None,
    ),
}
