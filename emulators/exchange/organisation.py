"""The Exchange organisations behind the stand-in, and their JSON form (`GET`/`PUT /_emulator/state`, `--state`).

The JSON shape is documented in README.md. Whatever `to_json()` returns, `from_json()` accepts unchanged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.exchange import certificates, clock

DEFAULT_ORG = "fabrikam.com"
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
DEFAULT_BUILD = "15.2.1748.10"  # Exchange 2019 CU15
PUSH_PROXY_URI = "https://outlook.office365.com/PushNotifications"
AUTH_FRIENDLY_NAME = "Microsoft Exchange Server Auth Certificate"


class StateError(ValueError):
    """The state JSON is malformed; the message names the field and the reason."""


def _utcnow() -> dt.datetime:
    return clock.now().replace(microsecond=0)


def _parse_time(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise StateError(f"{where}: expected an ISO 8601 date-time string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise StateError(f"{where}: {value!r} is not an ISO 8601 date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _str(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise StateError(f"{where}.{key}: expected a string")
    return value


def _bool(d: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise StateError(f"{where}.{key}: expected true or false")
    return value


def _int(d: dict[str, Any], key: str, where: str, default: int, low: int = 0) -> int:
    value = d.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise StateError(f"{where}.{key}: expected an integer of at least {low}")
    return value


@dataclass
class Server:
    name: str
    fqdn: str
    version: str = DEFAULT_BUILD
    roles: list[str] = field(default_factory=lambda: ["Mailbox", "ClientAccess"])
    edition: str = "Enterprise"
    site: str = "Default-First-Site-Name"
    # Whether this server reaches the internet over HTTPS: New-AuthServer fetches the metadata document from the
    # server the session runs on, and fails there without it.
    outbound_internet: bool = True

    @property
    def version_parts(self) -> tuple[int, int, int, int]:
        parts = [int(p) for p in self.version.split(".")]
        return (parts + [0, 0, 0, 0])[0], (parts + [0, 0, 0, 0])[1], (parts + [0, 0, 0, 0])[2], (parts + [0, 0, 0, 0])[3]

    @property
    def is_mailbox(self) -> bool:
        return "Mailbox" in self.roles

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "fqdn": self.fqdn, "version": self.version, "roles": list(self.roles),
            "edition": self.edition, "site": self.site, "outbound_internet": self.outbound_internet,
        }

    @classmethod
    def from_json(cls, d: Any, where: str, domain: str) -> Server:
        if not isinstance(d, dict):
            raise StateError(f"{where}: expected an object")
        name = _str(d, "name", where)
        version = _str(d, "version", where, DEFAULT_BUILD)
        try:
            parts = [int(p) for p in version.split(".")]
        except ValueError:
            parts = []
        if len(parts) < 3:
            raise StateError(f"{where}.version: {version!r} is not a build number like 15.2.1748.10")
        roles = d.get("roles", ["Mailbox", "ClientAccess"])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise StateError(f"{where}.roles: expected a list of role names")
        return cls(
            name=name,
            fqdn=_str(d, "fqdn", where, f"{name.lower()}.{domain}"),
            version=version,
            roles=roles,
            edition=_str(d, "edition", where, "Enterprise"),
            site=_str(d, "site", where, "Default-First-Site-Name"),
            outbound_internet=_bool(d, "outbound_internet", where, True),
        )


@dataclass
class Certificate:
    der: bytes
    servers: list[str]
    friendly_name: str = AUTH_FRIENDLY_NAME
    services: str = "None"
    exportable: bool = True

    @property
    def thumbprint(self) -> str:
        return certificates.thumbprint(self.der)

    def to_json(self, has_key: bool) -> dict[str, Any]:
        f = certificates.facts(self.der)
        return {
            "thumbprint": f.thumbprint, "subject": f.subject, "not_before": f.not_before.isoformat(),
            "not_after": f.not_after.isoformat(), "key_size": f.key_size, "servers": list(self.servers),
            "friendly_name": self.friendly_name, "services": self.services, "exportable": self.exportable,
            "has_private_key": has_key, "der": base64.b64encode(self.der).decode(),
        }


@dataclass
class AuthConfig:
    current: str = ""
    previous: str = ""
    next: str = ""
    next_effective: dt.datetime | None = None
    service_name: str = EXCHANGE_ONLINE_APP_ID
    realm: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "current": self.current, "previous": self.previous, "next": self.next,
            "next_effective": self.next_effective.isoformat() if self.next_effective else None,
            "service_name": self.service_name, "realm": self.realm,
        }


@dataclass
class AuthServer:
    name: str
    auth_metadata_url: str
    type: str = "MicrosoftACS"
    enabled: bool = True
    realm: str = ""
    issuer_identifier: str = ""
    token_issuing_endpoint: str = ""
    application_identifier: str = ""
    # DomainName: the tenant's domains on an EvoSts AuthServer of the dedicated hybrid app (Set-AuthServer -DomainName)
    domain_name: list[str] = field(default_factory=list)
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "domain_name": list(self.domain_name)}

    @classmethod
    def from_json(cls, d: Any, where: str) -> AuthServer:
        if not isinstance(d, dict):
            raise StateError(f"{where}: expected an object")
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise StateError(f"{where}: unknown field(s) {sorted(unknown)}")
        server = cls(name=_str(d, "name", where), auth_metadata_url=_str(d, "auth_metadata_url", where))
        for key, value in d.items():
            if key == "domain_name":
                if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                    raise StateError(f"{where}.domain_name: expected a list of domain names")
                server.domain_name = list(value)
                continue
            expected = bool if key == "enabled" else str
            if not isinstance(value, expected):
                raise StateError(f"{where}.{key}: expected a {expected.__name__}")
            setattr(server, key, value)
        return server


@dataclass
class SettingOverride:
    """A setting override (New-SettingOverride): Name, Component, Section, Parameters ("Key=Value"), Reason."""

    name: str
    component: str
    section: str
    parameters: list[str] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "parameters": list(self.parameters)}

    @classmethod
    def from_json(cls, d: Any, where: str) -> SettingOverride:
        if not isinstance(d, dict):
            raise StateError(f"{where}: expected an object")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise StateError(f"{where}: unknown field(s) {sorted(unknown)}")
        params = d.get("parameters", [])
        if not isinstance(params, list) or not all(isinstance(x, str) and "=" in x for x in params):
            raise StateError(f"{where}.parameters: expected a list of \"Key=Value\" strings")
        return cls(name=_str(d, "name", where), component=_str(d, "component", where),
                   section=_str(d, "section", where), parameters=list(params), reason=_str(d, "reason", where, ""))


# HybridFeature values as Get-HybridConfiguration lists them (the capture templates/e19-GetHybridConfiguration.xml
# shows FreeBusy 0, MoveMailbox 1, Mailtips 2, MessageTracking 3, OwaRedirection 4, ...; the rest in its order).
HYBRID_FEATURES = ("FreeBusy", "MoveMailbox", "Mailtips", "MessageTracking", "OwaRedirection", "OnlineArchive",
                   "SecureMail", "CentralizedTransport", "Photos")


@dataclass
class PushProxy:
    enabled: bool = False
    organization: str = ""
    uri: str = PUSH_PROXY_URI
    last_update: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled, "organization": self.organization, "uri": self.uri,
            "last_update": self.last_update.isoformat() if self.last_update else None,
        }


@dataclass
class VirtualDirectoryAuth:
    """`/PowerShell`'s authentication, as Set-PowerShellVirtualDirectory sets it. Kerberos (Exchange's own module)
    is always on; IIS Basic and Windows authentication are off by default, as on a freshly installed server."""

    basic_authentication: bool = False  # honoured over HTTPS only (stricter than IIS: see README)
    windows_authentication: bool = False  # NTLM, and NTLM inside Negotiate

    def to_json(self) -> dict[str, Any]:
        return {"basic_authentication": self.basic_authentication,
                "windows_authentication": self.windows_authentication}

    @classmethod
    def from_json(cls, d: Any, where: str, default: VirtualDirectoryAuth) -> VirtualDirectoryAuth:
        if d is None:
            return cls(default.basic_authentication, default.windows_authentication)
        if not isinstance(d, dict):
            raise StateError(f"{where}: expected an object with basic_authentication, windows_authentication")
        unknown = sorted(set(d) - {"basic_authentication", "windows_authentication"})
        if unknown:
            raise StateError(f"{where}.{unknown[0]}: unknown field")
        for key in d:
            if not isinstance(d[key], bool):
                raise StateError(f"{where}.{key}: expected true or false")
        return cls(d.get("basic_authentication", default.basic_authentication),
                   d.get("windows_authentication", default.windows_authentication))


@dataclass
class Organisation:
    name: str
    realm: str
    display_name: str
    servers: list[Server]
    certificates: list[Certificate]
    auth_config: AuthConfig
    auth_servers: list[AuthServer]
    push_proxy: PushProxy
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The Office 365 tenant's id, when the state gives it: an AuthServer URL naming it serves the realm too, and it
    # is the Realm the ACS metadata document gives (see `acs_realm`).
    tenant_id: str = ""
    # The server sessions run on: since 2013 CU11 a session is proxied to the server hosting the caller's mailbox,
    # whatever server the URL names. "" means the first server.
    session_server: str = ""
    # Invoke-MonitoringProbe: how many of the next calls time out (a warning, no object), and whether the probe
    # fails after Enable-PushNotificationProxy until MSExchangeHM restarts (`health_manager_stale`).
    probe_timeouts: int = 0
    probe_needs_health_manager_restart: bool = False
    health_manager_stale: bool = False
    # When each server's MSExchangeHMHost process last started (Restart-Service MSExchangeHM), as Get-Process shows
    # it; not part of the state document: a server without an entry started with the stand-in.
    health_manager_started: dict[str, dt.datetime] = field(default_factory=dict)
    # PowerShellMaxConcurrency of the throttling policy: open shells per user.
    max_concurrent_shells: int = 18
    powershell_vdir: VirtualDirectoryAuth = field(default_factory=VirtualDirectoryAuth)
    setting_overrides: list[SettingOverride] = field(default_factory=list)
    # Get-HybridConfiguration: None when the Hybrid Configuration Wizard never ran (no object), else its Features.
    hybrid_features: list[str] | None = None

    @property
    def ad_domain(self) -> str:
        return self.realm

    def server(self, identity: str) -> Server | None:
        wanted = identity.lower()
        for s in self.servers:
            if wanted in (s.name.lower(), s.fqdn.lower()):
                return s
        return None

    @property
    def via(self) -> Server:
        """The server this organisation's sessions run on."""
        return (self.server(self.session_server) if self.session_server else None) or self.servers[0]

    def acs_realm(self, named: str) -> str:
        """The Realm the ACS metadata document of the realm `named` (a domain or GUID in the URL) gives: a tenant id.

        Our organisation's domain or tenant id gives its tenant id (when the state has none, a stable GUID made from
        the domain); another GUID gives itself; another domain a GUID made from it.
        """
        named = named.strip().strip("{}").lower()
        if _GUID.match(named):
            return named
        if named in (self.realm.lower(), self.name.lower()) and self.tenant_id:
            return self.tenant_id
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, named))

    def certificate(self, thumbprint: str) -> Certificate | None:
        wanted = thumbprint.strip().upper()
        return next((c for c in self.certificates if c.thumbprint == wanted), None)


DEFAULT_SITES = ("Default-First-Site-Name", "Branch-Site")


def _default_servers(name: str) -> list[Server]:
    """Two Mailbox servers in two AD sites: what Exchange pushes to one site it doesn't push to the other."""
    short = name.split(".")[0].upper()[:10]
    return [Server(f"{short}-EX{i}", f"{short.lower()}-ex{i}.{name}", site=DEFAULT_SITES[i - 1]) for i in (1, 2)]


class ExchangeState:
    """Every organisation the process serves, behind one lock, with private keys kept in memory only."""

    def __init__(self, path: Path | None = None, default_vdir: VirtualDirectoryAuth | None = None) -> None:
        self.lock = threading.RLock()
        self.path = path
        # /PowerShell auth for organisations whose state doesn't say (the CLI's --enable-auth); Kerberos only.
        self.default_vdir = default_vdir or VirtualDirectoryAuth()
        self.default_name = DEFAULT_ORG
        self.orgs: dict[str, Organisation] = {}
        self.keys: dict[str, rsa.RSAPrivateKey] = {}

    # -- construction ---------------------------------------------------------------------------------------

    def new_default_org(self, name: str, realm: str | None = None, display_name: str | None = None) -> Organisation:
        """An organisation ready to onboard: two 2019 CU15 servers and a valid, assigned Auth certificate."""
        servers = _default_servers(name)
        cert = self.generate_certificate(
            certificates.AUTH_CERTIFICATE_SUBJECT, _utcnow() - dt.timedelta(days=1),
            _utcnow() + dt.timedelta(days=5 * 365), 2048, [s.name for s in servers], shared=True,
        )
        return Organisation(
            name=name, realm=realm or name, display_name=display_name or name.split(".")[0].capitalize(),
            servers=servers, certificates=[cert], auth_config=AuthConfig(current=cert.thumbprint),
            auth_servers=[], push_proxy=PushProxy(),
            powershell_vdir=VirtualDirectoryAuth.from_json(None, "", self.default_vdir),
        )

    def generate_certificate(
        self, subject: str, not_before: dt.datetime, not_after: dt.datetime, key_size: int, servers: list[str],
        *, shared: bool, friendly_name: str = AUTH_FRIENDLY_NAME, services: str = "None",
        domain_names: list[str] | None = None, subject_key_identifier: bytes | None = None,
    ) -> Certificate:
        key = certificates.shared_key(key_size) if shared else certificates.new_key(key_size)
        der = certificates.make_certificate(subject, not_before, not_after, key, domain_names, subject_key_identifier)
        self.keys[certificates.thumbprint(der)] = key
        return Certificate(der=der, servers=servers, friendly_name=friendly_name, services=services)

    @classmethod
    def default(cls, path: Path | None = None, default_vdir: VirtualDirectoryAuth | None = None) -> ExchangeState:
        state = cls(path, default_vdir)
        state.orgs[DEFAULT_ORG] = state.new_default_org(DEFAULT_ORG, display_name="Fabrikam")
        return state

    # -- lookup -----------------------------------------------------------------------------------------------

    def org(self, name: str | None) -> Organisation | None:
        return self.orgs.get((name or self.default_name).lower())

    # -- JSON -------------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "default_organization": self.default_name,
                "organizations": {name: self._org_json(org) for name, org in self.orgs.items()},
            }

    def _org_json(self, org: Organisation) -> dict[str, Any]:
        return {
            "name": org.name, "realm": org.realm, "display_name": org.display_name, "guid": org.guid,
            "tenant_id": org.tenant_id, "session_server": org.session_server,
            "probe_timeouts": org.probe_timeouts,
            "probe_needs_health_manager_restart": org.probe_needs_health_manager_restart,
            "health_manager_stale": org.health_manager_stale, "max_concurrent_shells": org.max_concurrent_shells,
            "servers": [s.to_json() for s in org.servers],
            "certificates": [c.to_json(c.thumbprint in self.keys) for c in org.certificates],
            "auth_config": org.auth_config.to_json(),
            "auth_servers": [a.to_json() for a in org.auth_servers],
            "push_proxy": org.push_proxy.to_json(),
            "powershell_virtual_directory": org.powershell_vdir.to_json(),
            "setting_overrides": [o.to_json() for o in org.setting_overrides],
            "hybrid_configuration": None if org.hybrid_features is None else {"features": list(org.hybrid_features)},
        }

    def replace(self, data: Any) -> None:
        """Replace every organisation with the ones in `data` (validated first: a bad document changes nothing)."""
        if not isinstance(data, dict):
            raise StateError("state: expected a JSON object with 'organizations'")
        orgs_in = data.get("organizations")
        if not isinstance(orgs_in, dict) or not orgs_in:
            raise StateError("organizations: expected a non-empty object keyed by organisation name")
        default = data.get("default_organization", next(iter(orgs_in)))
        if not isinstance(default, str) or default.lower() not in {k.lower() for k in orgs_in}:
            raise StateError(f"default_organization: {default!r} is not one of the organizations")
        with self.lock:
            keys_before = dict(self.keys)
            try:
                orgs = {name.lower(): self._org_from_json(name, body) for name, body in orgs_in.items()}
            except StateError:
                self.keys = keys_before
                raise
            self.orgs = orgs
            self.default_name = default.lower()
        self.save()

    def _org_from_json(self, name: str, body: Any) -> Organisation:
        where = f"organizations.{name}"
        if not isinstance(body, dict):
            raise StateError(f"{where}: expected an object")
        realm = _str(body, "realm", where, name)
        if "servers" not in body and "certificates" not in body and "auth_config" not in body:
            org = self.new_default_org(name.lower(), realm, body.get("display_name"))
        else:
            servers_in = body.get("servers", [s.to_json() for s in _default_servers(name.lower())])
            if not isinstance(servers_in, list) or not servers_in:
                raise StateError(f"{where}.servers: expected a non-empty list")
            servers = [Server.from_json(s, f"{where}.servers[{i}]", realm) for i, s in enumerate(servers_in)]
            renamed: dict[str, str] = {}
            # No "certificates" at all: the default valid Auth certificate on every server ([] means none).
            certs_in = body.get("certificates", [{"thumbprint": "@default"}])
            if not isinstance(certs_in, list):
                raise StateError(f"{where}.certificates: expected a list")
            certs = [
                self._cert_from_json(c, f"{where}.certificates[{i}]", servers, renamed)
                for i, c in enumerate(certs_in)
            ]
            ac_in = body.get("auth_config", {"current": "@default"} if "@default" in renamed else {})
            if not isinstance(ac_in, dict):
                raise StateError(f"{where}.auth_config: expected an object")
            ac = AuthConfig(
                service_name=_str(ac_in, "service_name", f"{where}.auth_config", EXCHANGE_ONLINE_APP_ID),
                realm=_str(ac_in, "realm", f"{where}.auth_config", ""),
            )
            for slot in ("current", "previous", "next"):
                value = _str(ac_in, slot, f"{where}.auth_config", "")
                setattr(ac, slot, renamed.get(value, value.upper()))
            if ac_in.get("next_effective"):
                ac.next_effective = _parse_time(ac_in["next_effective"], f"{where}.auth_config.next_effective")
            org = Organisation(
                name=name.lower(), realm=realm, display_name=_str(body, "display_name", where, name.split(".")[0]),
                servers=servers, certificates=certs, auth_config=ac, auth_servers=[], push_proxy=PushProxy(),
            )
        if isinstance(body.get("guid"), str):
            org.guid = body["guid"]
        tenant_id = body.get("tenant_id") or ""
        if not isinstance(tenant_id, str) or (tenant_id and not _GUID.match(tenant_id.strip().strip("{}"))):
            raise StateError(f"{where}.tenant_id: expected the tenant's id, a GUID such as 11111111-2222-3333-4444-555555555555")
        org.tenant_id = tenant_id.strip().strip("{}").lower()
        session_server = _str(body, "session_server", where, "")
        if session_server and org.server(session_server) is None:
            raise StateError(f"{where}.session_server: {session_server!r} is not a server of this organisation")
        org.session_server = session_server
        org.probe_timeouts = _int(body, "probe_timeouts", where, 0)
        org.probe_needs_health_manager_restart = _bool(body, "probe_needs_health_manager_restart", where, False)
        org.health_manager_stale = _bool(body, "health_manager_stale", where, False)
        org.max_concurrent_shells = _int(body, "max_concurrent_shells", where, 18, 1)
        auth_servers = body.get("auth_servers", [])
        if not isinstance(auth_servers, list):
            raise StateError(f"{where}.auth_servers: expected a list")
        org.auth_servers = [AuthServer.from_json(a, f"{where}.auth_servers[{i}]") for i, a in enumerate(auth_servers)]
        overrides = body.get("setting_overrides", [])
        if not isinstance(overrides, list):
            raise StateError(f"{where}.setting_overrides: expected a list")
        org.setting_overrides = [SettingOverride.from_json(o, f"{where}.setting_overrides[{i}]") for i, o in enumerate(overrides)]
        hybrid = body.get("hybrid_configuration")
        if hybrid is not None:
            features = hybrid.get("features", []) if isinstance(hybrid, dict) else None
            if not isinstance(features, list) or any(f not in HYBRID_FEATURES for f in features):
                raise StateError(f"{where}.hybrid_configuration.features: expected a list of {', '.join(HYBRID_FEATURES)}")
            org.hybrid_features = list(features)
        org.powershell_vdir = VirtualDirectoryAuth.from_json(
            body.get("powershell_virtual_directory"), f"{where}.powershell_virtual_directory", self.default_vdir)
        pp = body.get("push_proxy", {})
        if not isinstance(pp, dict):
            raise StateError(f"{where}.push_proxy: expected an object")
        org.push_proxy = PushProxy(
            enabled=bool(pp.get("enabled", False)),
            organization=str(pp.get("organization") or ""), uri=str(pp.get("uri") or PUSH_PROXY_URI),
            last_update=_parse_time(pp["last_update"], f"{where}.push_proxy.last_update") if pp.get("last_update") else None,
        )
        return org

    def _cert_from_json(self, c: Any, where: str, servers: list[Server], renamed: dict[str, str]) -> Certificate:
        if not isinstance(c, dict):
            raise StateError(f"{where}: expected an object")
        server_names = c.get("servers", [s.name for s in servers])
        if not isinstance(server_names, list) or not all(isinstance(s, str) for s in server_names):
            raise StateError(f"{where}.servers: expected a list of server names")
        known = {s.name.lower(): s.name for s in servers}
        for s in server_names:
            if s.lower() not in known:
                raise StateError(f"{where}.servers: {s!r} is not a server of this organisation")
        server_names = [known[s.lower()] for s in server_names]
        friendly_name = _str(c, "friendly_name", where, AUTH_FRIENDLY_NAME)
        services = _str(c, "services", where, "None")
        if c.get("der"):
            try:
                der = base64.b64decode(c["der"], validate=True)
                certificates.facts(der)
            except (binascii.Error, ValueError, TypeError) as exc:
                raise StateError(f"{where}.der: not a base64 DER certificate ({exc})") from exc
            cert = Certificate(der=der, servers=server_names, friendly_name=friendly_name, services=services)
        else:
            # No DER: make one from the given facts, so a test can write "expired" or "1024-bit" in plain JSON.
            key_size = c.get("key_size", 2048)
            if key_size not in (1024, 2048, 3072, 4096):
                raise StateError(f"{where}.key_size: expected 1024, 2048, 3072 or 4096")
            not_before = _parse_time(c["not_before"], f"{where}.not_before") if c.get("not_before") else _utcnow() - dt.timedelta(days=1)
            not_after = _parse_time(c["not_after"], f"{where}.not_after") if c.get("not_after") else not_before + dt.timedelta(days=5 * 365)
            if not_after <= not_before:
                raise StateError(f"{where}.not_after: must be later than not_before")
            cert = self.generate_certificate(
                _str(c, "subject", where, certificates.AUTH_CERTIFICATE_SUBJECT), not_before, not_after, key_size,
                server_names, shared=True, friendly_name=friendly_name, services=services,
            )
            if isinstance(c.get("thumbprint"), str) and c["thumbprint"]:
                renamed[c["thumbprint"]] = cert.thumbprint
        cert.exportable = bool(c.get("exportable", True))
        return cert

    # -- persistence ------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, default_vdir: VirtualDirectoryAuth | None = None) -> ExchangeState:
        """Load `--state FILE`; a missing file starts from the default state and is written on the first change."""
        state = cls.default(path, default_vdir)
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise StateError(f"--state {path}: not readable JSON ({exc})") from exc
            state.replace(data)
        return state

    def save(self) -> None:
        if self.path is None:
            return
        with self.lock:
            text = json.dumps(self.to_json(), indent=1)
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.path)
