"""The Exchange cmdlets the stand-in serves, behaving as ../shared/design/DOMAIN.md describes."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from psrpcore.types import ErrorCategory

from emulators.exchange import certificates, clock, metadata, objects, probe
from emulators.exchange.errors import CmdletError
from emulators.exchange.organisation import AuthServer, Certificate, Server
from emulators.exchange.runtime import Cmdlet, Invocation, Param

_TASKS = "Microsoft.Exchange.Management.SystemConfigurationTasks"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)


def _now() -> dt.datetime:
    return clock.now()


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
    friendly_name = p.get("FriendlyName") or "Microsoft Exchange"
    if len(friendly_name) >= 64:  # the cmdlet reference: "The value must be less than 64 characters."
        ctx.error(CmdletError("ArgumentException", "The FriendlyName value must be less than 64 characters.",
                              ErrorCategory.InvalidArgument, target=friendly_name))
        return
    ski_text = p.get("SubjectKeyIdentifier")
    ski: bytes | None = None
    if ski_text is not None:
        # .NET's X509SubjectKeyIdentifierExtension(string, bool) takes the identifier as hexadecimal text (the
        # reference's example is a GUID in "N" form): anything else is refused, as .NET's parser would.
        try:
            ski = bytes.fromhex(ski_text)
        except ValueError:
            ski = None
        if not ski:
            ctx.error(CmdletError("ArgumentException", f"SubjectKeyIdentifier '{ski_text[:80]}' isn't hexadecimal.",
                                  ErrorCategory.InvalidArgument, target=ski_text))
            return
    now = _now().replace(microsecond=0)
    with ctx.state.lock:
        try:
            cert = ctx.state.generate_certificate(
                subject, now - dt.timedelta(minutes=10), now + dt.timedelta(days=5 * 365), key_size, [server.name],
                shared=False, friendly_name=friendly_name,
                services=services or "None", domain_names=[d for d in p.get("DomainName", []) if d],
                subject_key_identifier=ski,
            )
        except ValueError as exc:
            ctx.error(CmdletError("ArgumentException", str(exc), ErrorCategory.InvalidArgument))
            return
        cert.exportable = bool(p.get("PrivateKeyExportable", False))
        ctx.org.certificates.append(cert)
    ctx.state.save()
    ctx.write(objects.exchange_certificate(ctx.org, cert, server, ctx.runspace_id))


def _certificate_on(ctx: Invocation, server: Server, thumbprint: str) -> Certificate | None:
    """The certificate in `server`'s store, or None after writing Exchange's not-found error."""
    cert = ctx.org.certificate(thumbprint)
    if cert is None or server.name not in cert.servers:
        ctx.error(CmdletError(
            "ManagementObjectNotFoundException",
            f"The certificate with thumbprint {thumbprint} was not found on server '{server.name}'.", target=thumbprint,
        ))
        return None
    return cert


def export_exchange_certificate(ctx: Invocation, p: dict[str, Any]) -> None:
    server = _server(ctx, p.get("Server"))
    if server is None:
        return
    thumbprint = (p.get("Thumbprint") or "").upper()
    cert = _certificate_on(ctx, server, thumbprint)
    if cert is None:
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


def remove_exchange_certificate(ctx: Invocation, p: dict[str, Any]) -> None:
    """Remove-ExchangeCertificate -Thumbprint T -Server S -Confirm:$false: T leaves S's store (a Remove- task
    prompts). Stricter than known of Exchange (README row 35): a certificate AuthConfig names as current or next
    is refused, so a client that would remove a working or staged Auth certificate is caught."""
    server = _server(ctx, p.get("Server"))
    if server is None:
        return
    thumbprint = (p.get("Thumbprint") or "").strip().upper()
    with ctx.state.lock:
        cert = _certificate_on(ctx, server, thumbprint)
        if cert is None:
            return
        if thumbprint in (ctx.org.auth_config.current, ctx.org.auth_config.next):
            ctx.error(CmdletError(
                "InvalidOperationException",
                f"The certificate with thumbprint {thumbprint} is the Auth configuration's "
                f"{'current' if thumbprint == ctx.org.auth_config.current else 'next'} certificate and can't be removed.",
                ErrorCategory.InvalidOperation, target=thumbprint,
            ))
            return
        ctx.should_continue(f'Are you sure you want to perform this action? Removing certificate "{thumbprint}" '
                            f'from server "{server.name}".')
        cert.servers = [s for s in cert.servers if s != server.name]
        if not cert.servers:
            ctx.org.certificates.remove(cert)
    ctx.state.save()


def import_exchange_certificate(ctx: Invocation, p: dict[str, Any]) -> None:
    """Import-ExchangeCertificate -FileData <PFX bytes> -Password <SecureString> -Server S: what Microsoft's
    MonitorExchangeAuthCertificate does for a server that lacks the Auth certificate."""
    server = _server(ctx, p.get("Server"))
    if server is None:
        return
    data = p["FileData"]
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=True)
        except ValueError:
            data = data.encode()
    password = p.get("Password")
    try:
        key, cert_obj, _ = pkcs12.load_key_and_certificates(bytes(data), password.decrypt().encode() if password else None)
    except ValueError:
        ctx.error(CmdletError(
            "TaskException",
            "The certificate data couldn't be imported: the data isn't a PKCS #12 file or the password is wrong.",
            ErrorCategory.InvalidData,
        ))
        return
    if cert_obj is None:
        ctx.error(CmdletError("TaskException", "The certificate data holds no certificate.", ErrorCategory.InvalidData))
        return
    der = cert_obj.public_bytes(serialization.Encoding.DER)
    with ctx.state.lock:
        cert = ctx.org.certificate(certificates.thumbprint(der))
        if cert is not None and server.name in cert.servers:
            ctx.error(CmdletError(
                "TaskException",
                f"The certificate with thumbprint {cert.thumbprint} already exists on server {server.name}.",
                ErrorCategory.WriteError, target=cert.thumbprint,
            ))
            return
        if cert is None:
            cert = Certificate(der=der, servers=[], friendly_name=p.get("FriendlyName") or "Microsoft Exchange")
            ctx.org.certificates.append(cert)
        order = [s.name for s in ctx.org.servers]
        cert.servers = sorted({*cert.servers, server.name}, key=order.index)
        if isinstance(key, rsa.RSAPrivateKey):
            ctx.state.keys.setdefault(cert.thumbprint, key)
        if "PrivateKeyExportable" in p:
            cert.exportable = bool(p["PrivateKeyExportable"])
    ctx.state.save()
    ctx.write(objects.exchange_certificate(ctx.org, cert, server, ctx.runspace_id))


# ---- AuthConfig ------------------------------------------------------------------------------------------------


def get_auth_config(ctx: Invocation, p: dict[str, Any]) -> None:
    ctx.write(objects.auth_config(ctx.org, ctx.via, ctx.runspace_id))


def _auth_certificate(ctx: Invocation, thumbprint: str, *, force: bool) -> Certificate:
    """The certificate, as SetAuthConfig checks it: in the local machine store of the server the session runs on
    (not "some server"), valid now, and exportable unless -Force."""
    cert = ctx.org.certificate(thumbprint)
    if cert is None or ctx.via.name not in cert.servers:
        raise CmdletError(
            "TaskException",
            f"ErrorThumbprintNotFound: The certificate with thumbprint {thumbprint.strip().upper()} wasn't found in "
            f"the local computer's certificate store on server {ctx.via.name}.",
            ErrorCategory.InvalidArgument, target=thumbprint, terminating=True,
        )
    f = certificates.facts(cert.der)
    now = _now()
    if not f.not_before <= now <= f.not_after:
        raise CmdletError(
            "TaskException",
            f"ErrorCertificateNotValid: The certificate with thumbprint {cert.thumbprint} isn't valid now (valid from "
            f"{f.not_before.isoformat()} to {f.not_after.isoformat()}).",
            ErrorCategory.InvalidArgument, target=thumbprint, terminating=True,
        )
    if not force and not cert.exportable:
        raise CmdletError(
            "TaskException",
            f"ErrorCertificateNotExportable: The private key of certificate {cert.thumbprint} isn't exportable. Use "
            "-Force to use it anyway.",
            ErrorCategory.InvalidArgument, target=thumbprint, terminating=True,
        )
    return cert


def _push_in_same_site(ctx: Invocation, cert: Certificate) -> None:
    """TryPushCertificateInSameSite: the servers of the session server's AD site get the certificate; other
    sites don't (MonitorExchangeAuthCertificate imports it there itself)."""
    order = [s.name for s in ctx.org.servers]
    same_site = {s.name for s in ctx.org.servers if s.site == ctx.via.site and s.is_mailbox}
    cert.servers = sorted(set(cert.servers) | same_site, key=order.index)


# How far in the past an effective date may be and still count as "now": Microsoft's own renewal script passes
# Get-Date, which is already past when the cmdlet reads it (assumption: the exact slack Exchange allows).
_NOW_SLACK = dt.timedelta(minutes=5)


def set_auth_config(ctx: Invocation, p: dict[str, Any]) -> None:
    force = bool(p.get("Force"))
    ctx.confirmed = ctx.confirmed or force
    ac = ctx.org.auth_config
    now = _now()
    with ctx.state.lock:
        if "CertificateThumbprint" in p:
            cert = _auth_certificate(ctx, p["CertificateThumbprint"], force=force)
            ctx.should_continue(
                "Setting a new current certificate will cause servers to start using it immediately; servers "
                "without the certificate will fail OAuth authentication. Do you want to continue?"
            )
            if ac.current and ac.current != cert.thumbprint:
                ac.previous = ac.current
            ac.current = cert.thumbprint
            _push_in_same_site(ctx, cert)
        if "NewCertificateThumbprint" in p:
            effective = p.get("NewCertificateEffectiveDate")
            if effective is None:
                raise CmdletError(
                    "TaskException", "NewCertificateEffectiveDate is required with NewCertificateThumbprint.",
                    ErrorCategory.InvalidArgument, terminating=True,
                )
            cert = _auth_certificate(ctx, p["NewCertificateThumbprint"], force=force)
            if cert.thumbprint == ac.current:
                raise CmdletError(
                    "TaskException",
                    f"ErrorNextCertificateSameAsCurrent: The certificate {cert.thumbprint} is already the current "
                    "certificate; it can't also be the next one.",
                    ErrorCategory.InvalidArgument, target=cert.thumbprint, terminating=True,
                )
            if effective < now - _NOW_SLACK:
                raise CmdletError(
                    "TaskException",
                    f"ErrorEffectiveDateInPast: The effective date {effective.isoformat()} is in the past.",
                    ErrorCategory.InvalidArgument, terminating=True,
                )
            if effective < now + dt.timedelta(hours=48):
                ctx.should_continue(
                    "The effective date is less than 48 hours away; servers may not have the new certificate in "
                    "time. Do you want to continue?"
                )
            ac.next = cert.thumbprint
            ac.next_effective = effective
            _push_in_same_site(ctx, cert)
        elif "NewCertificateEffectiveDate" in p:
            ac.next_effective = p["NewCertificateEffectiveDate"]
        if p.get("PublishCertificate"):
            if not ac.next:
                raise CmdletError(
                    "NoNextCertificateException",
                    "There is no next certificate to publish: stage one with -NewCertificateThumbprint first.",
                    ErrorCategory.InvalidOperation, terminating=True,
                )
            if ac.next_effective is not None and now < ac.next_effective:
                ctx.should_continue(
                    "ConfirmationMessageAuthEffectiveDateNotReached: The effective date of the next certificate "
                    f"({ac.next_effective.isoformat()}) hasn't been reached. Publish it now anyway?"
                )
            # The roll-over only: next becomes current, current becomes previous. No certificate is copied.
            ac.previous, ac.current, ac.next, ac.next_effective = ac.current, ac.next, "", None
        if p.get("ClearPreviousCertificate"):
            ac.previous = ""
        if "Realm" in p:
            ac.realm = p["Realm"]
        if "ServiceName" in p:
            ac.service_name = p["ServiceName"]
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


def _fetch_metadata(ctx: Invocation, auth: AuthServer) -> bool:
    """What Exchange reads from the metadata document, which it fetches itself from the server the session runs on.

    The stand-in serves the document's contents from the URL: ACS gives the tenant id as the Realm (see
    `Organisation.acs_realm`); Azure AD's issuer names its tenant the same way.
    """
    url = auth.auth_metadata_url
    if not ctx.via.outbound_internet:
        ctx.error(CmdletError(
            "AuthMetadataClientException",
            f"Couldn't retrieve the metadata document from '{url}' on server {ctx.via.fqdn}: Unable to connect to the "
            "remote server. The server must be able to reach the URL over HTTPS.",
            ErrorCategory.ConnectionError, target=url,
        ))
        return False
    named = metadata.url_realm(url)
    if "accesscontrol.windows.net" in url:
        if not named:
            ctx.error(CmdletError(
                "AuthMetadataClientException",
                f"Couldn't retrieve the metadata document from '{url}': The remote server returned an error: (400) "
                "Bad Request.", ErrorCategory.InvalidData, target=url,
            ))
            return False
        auth.type = "MicrosoftACS"
        auth.realm = ctx.org.acs_realm(named)
        auth.issuer_identifier = "00000001-0000-0000-c000-000000000000"
        auth.token_issuing_endpoint = f"https://accounts.accesscontrol.windows.net/{auth.realm}/tokens/OAuth/2"
    elif "login.windows.net" in url or "login.microsoftonline.com" in url:
        auth.type = "AzureAD"
        auth.realm = ctx.org.acs_realm(named) if named else ""
        auth.issuer_identifier = "https://sts.windows.net/"
        auth.token_issuing_endpoint = f"https://login.windows.net/{auth.realm or 'common'}/oauth2/token"
    else:
        auth.realm = named
    return True


def _same_realm(ctx: Invocation, auth: AuthServer, exclude: AuthServer | None = None) -> AuthServer | None:
    """OAuthTaskHelper: an AuthServer of the same type, issuer and realm already exists (whatever its name)."""
    return next(
        (a for a in ctx.org.auth_servers if a is not auth and a is not exclude and a.type == auth.type
         and a.issuer_identifier == auth.issuer_identifier and a.realm.lower() == auth.realm.lower()),
        None,
    )


def _realm_taken(ctx: Invocation, auth: AuthServer, other: AuthServer) -> CmdletError:
    return CmdletError(
        "TaskException",
        f"ErrorExistingAuthServerWithSameRealm: The AuthServer '{other.name}' already has the same type "
        f"({auth.type}), issuer and realm ({auth.realm}). You can't create another one.",
        ErrorCategory.InvalidArgument, target=auth.name,
    )


def new_auth_server(ctx: Invocation, p: dict[str, Any]) -> None:
    name, url = p["Name"], p["AuthMetadataUrl"]
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
        if not _fetch_metadata(ctx, auth):
            return
        if p.get("Type"):
            auth.type = p["Type"]
        other = _same_realm(ctx, auth)
        if other is not None:
            ctx.error(_realm_taken(ctx, auth, other))
            return
        ctx.org.auth_servers.append(auth)
    ctx.state.save()
    ctx.write(objects.auth_server(ctx.org, auth, ctx.via, ctx.runspace_id))


def set_auth_server(ctx: Invocation, p: dict[str, Any]) -> None:
    with ctx.state.lock:
        auth = _auth_server(ctx, p["Identity"])
        if auth is None:
            ctx.error(_not_found(ctx, p["Identity"]))
            return
        if "AuthMetadataUrl" in p or p.get("RefreshAuthMetadata"):
            if not _check_metadata_url(ctx, p.get("AuthMetadataUrl", auth.auth_metadata_url)):
                return
            changed = AuthServer(**{**auth.__dict__, "auth_metadata_url": p.get("AuthMetadataUrl", auth.auth_metadata_url)})
            if not _fetch_metadata(ctx, changed):
                return
            other = _same_realm(ctx, changed, exclude=auth)
            if other is not None:
                ctx.error(_realm_taken(ctx, changed, other))
                return
            auth.__dict__.update(changed.__dict__)
        if "Enabled" in p:
            auth.enabled = p["Enabled"]
        if "Name" in p:
            auth.name = p["Name"]
        # ConfigureExchangeHybridApplication.ps1 -ConfigureAuthServer: Set-AuthServer -ApplicationIdentifier -DomainName
        if "ApplicationIdentifier" in p:
            auth.application_identifier = str(p["ApplicationIdentifier"] or "")
        if "DomainName" in p:
            auth.domain_name = [str(d) for d in p["DomainName"] or []]
    ctx.state.save()


# ---- the dedicated Exchange hybrid application: setting overrides, hybrid configuration --------------------------


def get_setting_override(ctx: Invocation, p: dict[str, Any]) -> None:
    # The setting override cmdlets came with Exchange 2016 (CSS-Exchange SettingOverridesCheck.md lists them for
    # 2016 and 2019; Exchange 2013 controls the same through registry values): a 2013 server does not know it.
    if ctx.via.version_parts[:2] == (15, 0):
        from emulators.exchange.runtime import command_not_found

        raise command_not_found("Get-SettingOverride")
    identity = p.get("Identity")
    found = [o for o in ctx.org.setting_overrides if identity is None or o.name.lower() == str(identity).lower()]
    if identity is not None and not found:
        ctx.error(_not_found(ctx, identity))
    for override in found:
        ctx.write(objects.setting_override(ctx.org, override, ctx.via, ctx.runspace_id))


def get_hybrid_configuration(ctx: Invocation, p: dict[str, Any]) -> None:
    # No object at all when the Hybrid Configuration Wizard never ran (HealthChecker treats $null as "not hybrid").
    if ctx.org.hybrid_features is not None:
        ctx.write(objects.hybrid_configuration(ctx.org, ctx.via, ctx.runspace_id))


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
    """Every canned app (PushNotificationCannedApp), not only OnPrem-Proxy; -Identity picks one."""
    identity = p.get("Identity")
    names = [a[0] for a in objects.CANNED_APPS]
    if identity is not None:
        names = [n for n in names if n.lower() == identity.lower()]
        if not names:
            ctx.error(_not_found(ctx, identity))
            return
    for name in names:
        ctx.write(objects.push_notification_app(ctx.org, ctx.via, ctx.runspace_id, name))


def enable_push_notification_proxy(ctx: Invocation, p: dict[str, Any]) -> None:
    """Stores -Organization in OnPrem-Proxy's AuthenticationKey and -Uri in Url; returns the presentation object."""
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
        if ctx.org.probe_needs_health_manager_restart:
            ctx.org.health_manager_stale = True  # the health manager runs the probe from what it loaded at start
    ctx.state.save()
    ctx.write(objects.push_notification_proxy(ctx.org, ctx.via, ctx.runspace_id))


def disable_push_notification_proxy(ctx: Invocation, p: dict[str, Any]) -> None:
    """Prompts (fails over remoting unless -Confirm:$false); clears OnPrem-Proxy's Enabled and keeps its
    AuthenticationKey and Url. On a proxy that is not enabled it writes a non-terminating error (README row 29:
    an assumption, stricter than a silent success, so a client that disables blindly is caught)."""
    ctx.should_continue("Are you sure you want to perform this action? Disabling the push notification proxy.")
    with ctx.state.lock:
        if not ctx.org.push_proxy.enabled:
            ctx.error(CmdletError(
                "InvalidOperationException", "The push notification proxy isn't enabled.",
                ErrorCategory.InvalidOperation, target="OnPrem-Proxy",
            ))
            return
        ctx.org.push_proxy.enabled = False
        ctx.org.push_proxy.last_update = _now().replace(microsecond=0)
    ctx.state.save()


PROBE_TIMEOUT_S = 300  # Invoke-MonitoringProbe's wait for the health service's answer


def invoke_monitoring_probe(ctx: Invocation, p: dict[str, Any]) -> None:
    server = _server(ctx, p["Server"])
    if server is None:
        return
    identity = p["Identity"]
    if identity.split("/")[0].lower() != probe.PROBE_IDENTITY.lower():
        ctx.warning(f"The monitor identity '{identity}' wasn't found on server {server.fqdn}.")
        return
    with ctx.state.lock:
        timed_out = ctx.org.probe_timeouts > 0
        if timed_out:
            ctx.org.probe_timeouts -= 1
    if timed_out:
        ctx.state.save()
        # Exchange waits 300 s for the health service, then writes only this warning: no result object.
        ctx.warning(
            f"The request to the Microsoft Exchange Health Manager on server {server.fqdn} timed out after "
            f"{PROBE_TIMEOUT_S} seconds. The probe result isn't available."
        )
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


# Services of a Mailbox server the product may restart: the health manager (after enabling the proxy) and the
# service host, whose AuthAdmin servicelet picks up a new Auth certificate (MonitorExchangeAuthCertificate restarts
# it after a change). Any other name is refused as Windows refuses an unknown service.
_SERVICES = ("msexchangehm", "msexchangeservicehost")
# IIS application pools of a Mailbox server (Restart-WebAppPool, WebAdministration module); OWA and ECP cache the
# Auth certificate, which is why MonitorExchangeAuthCertificate recycles them after a change.
_APP_POOLS = ("msexchangeowaapppool", "msexchangeecpapppool", "msexchangeservicesapppool", "msexchangepowershellapppool")
STARTED = dt.datetime.now(dt.UTC)  # when every server's processes started, unless restarted since


def restart_service(ctx: Invocation, p: dict[str, Any]) -> None:
    for name in p.get("Name", []):
        if name.lower() == "msexchangehm":
            with ctx.state.lock:
                ctx.org.health_manager_stale = False  # the probe definitions are reloaded
                ctx.org.health_manager_started[ctx.via.name.upper()] = _now()
            ctx.state.save()
        elif name.lower() in _SERVICES:
            pass  # restarted: nothing the stand-in models depends on it
        else:
            ctx.error(CmdletError(
                "ServiceCommandException", f"Cannot find any service with service name '{name}'.",
                ErrorCategory.ObjectNotFound,
                error_id="NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.RestartServiceCommand",
                target=name,
            ))


def restart_web_app_pool(ctx: Invocation, p: dict[str, Any]) -> None:
    name = str(p.get("Name") or "")
    if name.lower() not in _APP_POOLS:
        ctx.error(CmdletError(
            "ArgumentException", f"Cannot find the application pool '{name}'.", ErrorCategory.ObjectNotFound,
            error_id="InvalidArgument,Microsoft.IIs.PowerShell.Provider.RestartAppPoolCommand", target=name,
        ))


def get_process(ctx: Invocation, p: dict[str, Any]) -> None:
    """Get-Process -Name N on a server's Windows PowerShell endpoint: only the health manager's host process
    (MSExchangeHMHost, the MSExchangeHM service) is modelled, with its StartTime."""
    for name in p.get("Name", []):
        if name.lower() != "msexchangehmhost":
            ctx.error(CmdletError(
                "ProcessCommandException", f"Cannot find a process with the name \"{name}\". Verify the process name "
                "and call the cmdlet again.", ErrorCategory.ObjectNotFound,
                error_id="NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.GetProcessCommand", target=name,
            ))
            continue
        started = ctx.org.health_manager_started.get(ctx.via.name.upper(), STARTED)
        ctx.write(objects.process("MSExchangeHMHost", started, ctx.via, ctx.runspace_id))


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
       Param("SubjectKeyIdentifier"),
       Param("DomainName", "strings"), Param("Services", "strings"), Param("Server"), Param("Force", "switch"),
       Param("GenerateRequest", "switch"), Param("DomainController")),
    _c("Export-ExchangeCertificate", export_exchange_certificate, Param("Thumbprint", mandatory=True, position=0),
       Param("Server"), Param("BinaryEncoded", "switch"), Param("Password", "securestring"),
       Param("DomainController")),
    _c("Remove-ExchangeCertificate", remove_exchange_certificate, Param("Thumbprint", mandatory=True, position=0),
       Param("Server"), Param("DomainController")),
    _c("Import-ExchangeCertificate", import_exchange_certificate, Param("FileData", "bytes", mandatory=True),
       Param("Password", "securestring"), Param("Server"), Param("PrivateKeyExportable", "bool"),
       Param("FriendlyName"), Param("DomainController")),
    _c("Get-AuthConfig", get_auth_config, Param("DomainController")),
    _c("Set-AuthConfig", set_auth_config, Param("CertificateThumbprint"), Param("NewCertificateThumbprint"),
       Param("NewCertificateEffectiveDate", "datetime"), Param("PublishCertificate", "switch"),
       Param("ClearPreviousCertificate", "switch"), Param("Force", "switch"), Param("Server"), Param("Realm"),
       Param("ServiceName"), Param("SkipImmediateCertificateDeployment", "switch"), Param("DomainController")),
    _c("Get-AuthServer", get_auth_server, Param("Identity", position=0), Param("DomainController")),
    _c("New-AuthServer", new_auth_server, Param("Name", mandatory=True, position=0),
       Param("AuthMetadataUrl", mandatory=True),
       Param("Type"), Param("Enabled", "bool"), Param("DomainName", "strings"), Param("TrustAnySSLCertificate", "switch"),
       Param("DomainController")),
    _c("Set-AuthServer", set_auth_server, Param("Identity", mandatory=True, position=0), Param("AuthMetadataUrl"),
       Param("Enabled", "bool"), Param("Name"), Param("RefreshAuthMetadata", "switch"),
       Param("TrustAnySSLCertificate", "switch"), Param("ApplicationIdentifier"), Param("DomainName", "strings"),
       Param("DomainController")),
    _c("Get-SettingOverride", get_setting_override, Param("Identity", position=0), Param("DomainController")),
    _c("Get-HybridConfiguration", get_hybrid_configuration, Param("DomainController")),
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
    "get-process": Cmdlet("Get-Process", get_process, (Param("Name", "strings", mandatory=True, position=0),), None),
    "restart-service": Cmdlet(
        "Restart-Service", restart_service,
        (Param("Name", "strings", mandatory=True, position=0), Param("Force", "switch"), Param("PassThru", "switch")),
        None,
    ),
    "restart-webapppool": Cmdlet(
        "Restart-WebAppPool", restart_web_app_pool, (Param("Name", mandatory=True, position=0),), None,
    ),
}
