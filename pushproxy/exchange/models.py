"""What the Exchange client reads and changes, as plain values.

Every value here crosses an activity boundary (Durable history), so each is a frozen dataclass with an explicit
`to_dict()` / `from_dict()` producing plain JSON: datetimes as ISO 8601 strings with an offset, bytes as base64.
Collections are tuples, sorted where order carries no meaning, so two discoveries of the same state are equal
(the workflow hashes `to_dict()` to detect a state that changed under an approval).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# The realm's AuthServer points here (DOMAIN.md); the realm is the tenant domain.
AUTH_METADATA_URL_TEMPLATE = "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm={realm}"
# How to put a certificate on a server that lacks it (Set-AuthConfig -PublishCertificate copies nothing: it only
# makes the staged next certificate current). Microsoft's own repair, MonitorExchangeAuthCertificate in
# microsoft/CSS-Exchange, exports it with its private key where it is and imports it where it isn't.
COPY_ADVICE = (
    "copy it there: Export-ExchangeCertificate -Thumbprint <T> -Server <a server that has it> -BinaryEncoded "
    "-Password <P>, then Import-ExchangeCertificate -Server <this server> -FileData <the FileData> -Password <P> "
    "-PrivateKeyExportable $true"
)
# Auth certificates below this key size are treated as unusable (the plan replaces them).
MIN_AUTH_KEY_SIZE = 2048


def _dt_out(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # never emit a naive time: Durable history must be unambiguous
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _dt_in(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@dataclass(frozen=True)
class ExchangeServer:
    """One server of the organisation, from Get-ExchangeServer."""

    name: str
    fqdn: str
    roles: tuple[str, ...]  # e.g. ("Mailbox",), ("ClientAccess", "Mailbox"), ("Edge",)
    is_mailbox: bool
    is_client_access: bool
    is_edge: bool
    build: str | None  # "15.2.986.5"; None when AdminDisplayVersion could not be parsed
    admin_display_version: str  # as Exchange printed it, e.g. "Version 15.2 (Build 986.5)"
    release: str | None  # "Exchange 2019 CU15 Feb26SU"; None for a build not in the table
    meets_minimum: bool  # at or above 15.0.775.38 (Exchange 2013 CU3)

    @property
    def gated(self) -> bool:
        """Whether the CU3 gate applies: it concerns Mailbox and Client Access servers, not Edge."""
        return (self.is_mailbox or self.is_client_access) and not self.is_edge

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fqdn": self.fqdn,
            "roles": list(self.roles),
            "is_mailbox": self.is_mailbox,
            "is_client_access": self.is_client_access,
            "is_edge": self.is_edge,
            "build": self.build,
            "admin_display_version": self.admin_display_version,
            "release": self.release,
            "meets_minimum": self.meets_minimum,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExchangeServer:
        return cls(
            name=str(d["name"]),
            fqdn=str(d.get("fqdn") or d["name"]),
            roles=tuple(str(r) for r in d.get("roles", ())),
            is_mailbox=bool(d.get("is_mailbox", False)),
            is_client_access=bool(d.get("is_client_access", False)),
            is_edge=bool(d.get("is_edge", False)),
            build=_str_or_none(d.get("build")),
            admin_display_version=str(d.get("admin_display_version") or ""),
            release=_str_or_none(d.get("release")),
            meets_minimum=bool(d.get("meets_minimum", False)),
        )


@dataclass(frozen=True)
class AuthConfig:
    """The organisation's OAuth signing configuration, from Get-AuthConfig (thumbprints upper-case hex)."""

    current_thumbprint: str | None
    next_thumbprint: str | None
    next_effective_date: datetime | None
    previous_thumbprint: str | None
    service_name: str | None
    realm: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "current_thumbprint": self.current_thumbprint,
            "next_thumbprint": self.next_thumbprint,
            "next_effective_date": _dt_out(self.next_effective_date),
            "previous_thumbprint": self.previous_thumbprint,
            "service_name": self.service_name,
            "realm": self.realm,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuthConfig:
        return cls(
            current_thumbprint=_str_or_none(d.get("current_thumbprint")),
            next_thumbprint=_str_or_none(d.get("next_thumbprint")),
            next_effective_date=_dt_in(d.get("next_effective_date")),
            previous_thumbprint=_str_or_none(d.get("previous_thumbprint")),
            service_name=_str_or_none(d.get("service_name")),
            realm=_str_or_none(d.get("realm")),
        )


@dataclass(frozen=True)
class AuthCertificate:
    """An Auth certificate as parsed from its DER (RawData): public facts only, never key material."""

    thumbprint: str  # SHA-1 of the DER, upper-case hex, as Exchange shows it
    subject: str
    not_before: datetime
    not_after: datetime
    key_size: int | None  # None for a key type without a size (should not happen for Exchange)
    signature_algorithm: str  # e.g. "sha256WithRSAEncryption"
    der_b64: str = field(repr=False)  # the public certificate, for the tenant key upload

    def is_expired(self, at: datetime) -> bool:
        return at >= self.not_after

    def is_usable(self, at: datetime) -> bool:
        """Valid now and strong enough to keep (the seed: reuse a working certificate, never replace it)."""
        return self.not_before <= at < self.not_after and (self.key_size or 0) >= MIN_AUTH_KEY_SIZE

    def to_dict(self) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "not_before": _dt_out(self.not_before),
            "not_after": _dt_out(self.not_after),
            "key_size": self.key_size,
            "signature_algorithm": self.signature_algorithm,
            "der_b64": self.der_b64,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuthCertificate:
        not_before, not_after = _dt_in(d["not_before"]), _dt_in(d["not_after"])
        assert not_before is not None and not_after is not None
        return cls(
            thumbprint=str(d["thumbprint"]).upper(),
            subject=str(d.get("subject") or ""),
            not_before=not_before,
            not_after=not_after,
            key_size=None if d.get("key_size") is None else int(d["key_size"]),
            signature_algorithm=str(d.get("signature_algorithm") or ""),
            der_b64=str(d.get("der_b64") or ""),
        )


@dataclass(frozen=True)
class ServerCertificate:
    """Whether one Mailbox server holds a given Auth certificate (current or next)."""

    server: str
    thumbprint: str
    slot: Literal["current", "next"]
    present: bool
    certificate: AuthCertificate | None  # None when missing
    error: str | None = None  # Exchange's message when missing (e.g. "object not found")

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "thumbprint": self.thumbprint,
            "slot": self.slot,
            "present": self.present,
            "certificate": self.certificate.to_dict() if self.certificate else None,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ServerCertificate:
        slot = d.get("slot", "current")
        if slot not in ("current", "next"):
            raise ValueError(f"slot: must be 'current' or 'next', not {slot!r}")
        cert = d.get("certificate")
        return cls(
            server=str(d["server"]),
            thumbprint=str(d["thumbprint"]).upper(),
            slot=slot,
            present=bool(d.get("present", cert is not None)),
            certificate=AuthCertificate.from_dict(cert) if cert else None,
            error=_str_or_none(d.get("error")),
        )


@dataclass(frozen=True)
class AuthServer:
    """A trusted token issuer, from Get-AuthServer. Matched on metadata URL and realm, never on name."""

    name: str
    auth_metadata_url: str | None
    realm: str | None
    enabled: bool
    issuer_identifier: str | None = None
    type: str | None = None  # Exchange's AuthServerType, e.g. "MicrosoftACS", "AzureAD"
    identity: str | None = None
    # The EvoSts (AzureAD) AuthServer of a dedicated-hybrid-app organisation carries the app's appId here and the
    # tenant's domains in DomainName (ConfigureExchangeHybridApplication.ps1 -ConfigureAuthServer: Set-AuthServer
    # -ApplicationIdentifier $appId -DomainName $domainsToAdd).
    application_identifier: str | None = None
    domain_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "auth_metadata_url": self.auth_metadata_url,
            "realm": self.realm,
            "enabled": self.enabled,
            "issuer_identifier": self.issuer_identifier,
            "type": self.type,
            "identity": self.identity,
            "application_identifier": self.application_identifier,
            "domain_names": list(self.domain_names),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuthServer:
        return cls(
            name=str(d["name"]),
            auth_metadata_url=_str_or_none(d.get("auth_metadata_url")),
            realm=_str_or_none(d.get("realm")),
            enabled=bool(d.get("enabled", True)),
            issuer_identifier=_str_or_none(d.get("issuer_identifier")),
            type=_str_or_none(d.get("type")),
            identity=_str_or_none(d.get("identity")),
            application_identifier=_str_or_none(d.get("application_identifier")),
            domain_names=tuple(str(x) for x in d.get("domain_names") or ()),
        )


@dataclass(frozen=True)
class SettingOverride:
    """One Get-SettingOverride object, the fields that say what it switches (Parameters as Exchange lists them)."""

    name: str
    component: str
    section: str
    parameters: tuple[str, ...] = ()
    status: str | None = None

    @property
    def enables(self) -> bool | None:
        """Whether its Parameters say Enabled=true (True), Enabled=false (False), or neither (None): the script's own
        test, `Enabled = true|false` in any case and spacing (ConfigureExchangeHybridApplication.ps1)."""
        for parameter in self.parameters:
            m = _ENABLED.fullmatch(parameter)
            if m:
                return m.group(1).lower() == "true"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "component": self.component, "section": self.section,
                "parameters": list(self.parameters), "status": self.status}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SettingOverride:
        return cls(name=str(d.get("name") or ""), component=str(d.get("component") or ""),
                   section=str(d.get("section") or ""), parameters=tuple(str(x) for x in d.get("parameters") or ()),
                   status=_str_or_none(d.get("status")))


_ENABLED = re.compile(r"\s*Enabled\s*=\s*(true|false)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class HybridFacts:
    """What Exchange says about the dedicated Exchange hybrid application, read-only.

    - `overrides`: the setting overrides in component Global, section ExchangeOnpremAsThirdPartyAppId (the feature
      switch; the script creates `EnableExchangeHybrid3PAppFeature` with Enabled=true);
    - `hybrid_configuration`: whether Get-HybridConfiguration returned an object, and its Features (CSS-Exchange
      issue #2346: rich coexistence, FreeBusy/MailTips/Photos, is what needs the dedicated app);
    - `unsupported_servers`: Mailbox servers whose build predates the April 2025 HU (they keep using the shared
      principal even with the override set: the script's own warning).
    The EvoSts AuthServers with their ApplicationIdentifier are in ExchangeDiscovery.auth_servers."""

    overrides: tuple[SettingOverride, ...] = ()
    hybrid_configuration: bool = False
    features: tuple[str, ...] = ()
    unsupported_servers: tuple[str, ...] = ()
    read: bool = True  # False: an older discovery that did not read these

    @property
    def override_enabled(self) -> bool:
        return any(o.enables for o in self.overrides)

    def to_dict(self) -> dict[str, Any]:
        return {"overrides": [o.to_dict() for o in self.overrides], "hybrid_configuration": self.hybrid_configuration,
                "features": list(self.features), "unsupported_servers": list(self.unsupported_servers),
                "read": self.read}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> HybridFacts:
        if not d:
            return cls(read=False)
        return cls(overrides=tuple(SettingOverride.from_dict(o) for o in d.get("overrides") or ()),
                   hybrid_configuration=bool(d.get("hybrid_configuration")),
                   features=tuple(str(f) for f in d.get("features") or ()),
                   unsupported_servers=tuple(str(s) for s in d.get("unsupported_servers") or ()),
                   read=bool(d.get("read", True)))


@dataclass(frozen=True)
class AuthServerChange:
    """What ensure_auth_server did: nothing, created one, or corrected an existing one."""

    action: Literal["none", "created", "updated"]
    auth_server: AuthServer
    reason: str  # one line for the audit trail, e.g. "matched existing 'ACS - {guid}' on metadata URL"

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "auth_server": self.auth_server.to_dict(), "reason": self.reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuthServerChange:
        action = d["action"]
        if action not in ("none", "created", "updated"):
            raise ValueError(f"action: must be none, created or updated, not {action!r}")
        return cls(action=action, auth_server=AuthServer.from_dict(d["auth_server"]), reason=str(d.get("reason", "")))


@dataclass(frozen=True)
class PushProxyState:
    """The push-notification proxy app (OnPrem-Proxy), from Get-PushNotificationApp / Enable-PushNotificationProxy."""

    present: bool  # False: the app has never been created
    enabled: bool
    organization: str | None
    uri: str | None
    name: str | None = None
    display_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "enabled": self.enabled,
            "organization": self.organization,
            "uri": self.uri,
            "name": self.name,
            "display_name": self.display_name,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PushProxyState:
        return cls(
            present=bool(d.get("present", False)),
            enabled=bool(d.get("enabled", False)),
            organization=_str_or_none(d.get("organization")),
            uri=_str_or_none(d.get("uri")),
            name=_str_or_none(d.get("name")),
            display_name=_str_or_none(d.get("display_name")),
        )


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of PushNotificationsEnterpriseConnectivityProbe on one server."""

    server: str
    result_type: str  # "Succeeded", "Failed", ... as Exchange reports it
    error: str | None
    exception: str | None
    succeeded: bool
    warnings: tuple[str, ...] = ()  # what Exchange wrote to the warning stream (a timed-out probe says only that)

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "result_type": self.result_type,
            "error": self.error,
            "exception": self.exception,
            "succeeded": self.succeeded,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProbeResult:
        return cls(
            server=str(d["server"]),
            result_type=str(d.get("result_type") or ""),
            error=_str_or_none(d.get("error")),
            exception=_str_or_none(d.get("exception")),
            succeeded=bool(d.get("succeeded", False)),
            warnings=tuple(str(w) for w in d.get("warnings") or ()),
        )


@dataclass(frozen=True)
class BlockingProblem:
    """Something that must be fixed by a person before any change is made (the workflow stops on it)."""

    code: Literal["server_below_minimum", "auth_certificate_missing", "no_mailbox_server"]
    message: str
    server: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "server": self.server}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BlockingProblem:
        return cls(code=d["code"], message=str(d.get("message", "")), server=_str_or_none(d.get("server")))


@dataclass(frozen=True)
class ExchangeDiscovery:
    """Everything onboarding needs to know about one organisation, read in one session without changing anything."""

    realm: str
    servers: tuple[ExchangeServer, ...]
    auth_config: AuthConfig
    auth_certificates: tuple[ServerCertificate, ...]  # current (and next, if staged) on every Mailbox server
    auth_servers: tuple[AuthServer, ...]
    push_proxy: PushProxyState
    blocking: tuple[BlockingProblem, ...]
    facts: tuple[str, ...] = ()  # not blocking, worth telling: expired or short-key certificate, etc.
    hybrid: HybridFacts = HybridFacts(read=False)

    @property
    def mailbox_servers(self) -> tuple[ExchangeServer, ...]:
        return tuple(s for s in self.servers if s.is_mailbox)

    @property
    def current_certificate(self) -> AuthCertificate | None:
        """The current Auth certificate, from whichever server holds it."""
        return next((c.certificate for c in self.auth_certificates if c.slot == "current" and c.certificate), None)

    @property
    def next_certificate(self) -> AuthCertificate | None:
        return next((c.certificate for c in self.auth_certificates if c.slot == "next" and c.certificate), None)

    @property
    def expected_auth_server_url(self) -> str:
        return AUTH_METADATA_URL_TEMPLATE.format(realm=self.realm)

    def to_dict(self) -> dict[str, Any]:
        return {
            "realm": self.realm,
            "servers": [s.to_dict() for s in self.servers],
            "auth_config": self.auth_config.to_dict(),
            "auth_certificates": [c.to_dict() for c in self.auth_certificates],
            "auth_servers": [a.to_dict() for a in self.auth_servers],
            "push_proxy": self.push_proxy.to_dict(),
            "blocking": [b.to_dict() for b in self.blocking],
            "facts": list(self.facts),
            "hybrid": self.hybrid.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExchangeDiscovery:
        return cls(
            realm=str(d["realm"]),
            servers=tuple(ExchangeServer.from_dict(s) for s in d.get("servers", ())),
            auth_config=AuthConfig.from_dict(d.get("auth_config") or {}),
            auth_certificates=tuple(ServerCertificate.from_dict(c) for c in d.get("auth_certificates", ())),
            auth_servers=tuple(AuthServer.from_dict(a) for a in d.get("auth_servers", ())),
            push_proxy=PushProxyState.from_dict(d.get("push_proxy") or {}),
            blocking=tuple(BlockingProblem.from_dict(b) for b in d.get("blocking", ())),
            facts=tuple(str(f) for f in d.get("facts", ())),
            hybrid=HybridFacts.from_dict(d.get("hybrid")),
        )
