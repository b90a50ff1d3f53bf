"""Values of the tenant side that cross activity boundaries: plain JSON through to_dict/from_dict.

Datetimes are ISO 8601 strings with an offset, bytes are base64 strings. No value here ever holds a secret:
credentials are named by secret references (see pushproxy.secrets).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pushproxy.errors import SpecError
from pushproxy.secrets import bad_ref_reason, is_secret_ref

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# The application permission the dedicated Exchange hybrid app is created with: full_access_as_app on Office 365
# Exchange Online (CSS-Exchange ConfigureExchangeHybridApplication.ps1, $resourceAccessId; Type "Role").
FULL_ACCESS_AS_APP_ROLE_ID = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com"

CredentialMode = Literal["workload_identity", "certificate", "secret"]
CREDENTIAL_MODES: tuple[str, ...] = ("workload_identity", "certificate", "secret")
KeyAction = Literal["added", "removed", "none"]
# The two collections a certificate's key can be on: the shared Exchange Online service principal's keyCredentials
# (PATCH /servicePrincipals/{id}) and a dedicated Exchange hybrid application's (PATCH /applications/{id}).
TargetKind = Literal["servicePrincipal", "application"]
TARGET_KINDS: tuple[str, ...] = ("servicePrincipal", "application")

# re.fullmatch everywhere: `$` would let a trailing line break through.
_THUMBPRINT = re.compile(r"[0-9A-F]{40}")
# Entra client ids are GUIDs; the stand-in also accepts short names, so only refuse what could smuggle syntax.
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


# ----------------------------------------------------------------------------------------------- helpers


def thumbprint_of(der: bytes) -> str:
    """A certificate's thumbprint: SHA-1 of its DER bytes, upper-case hex (as Exchange and Windows show it)."""
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def normalize_thumbprint(value: str, field_name: str = "thumbprint") -> str:
    """Upper-case hex without separators; SpecError when it is not 40 hex digits."""
    cleaned = re.sub(r"[\s:]", "", value or "").upper()
    if not _THUMBPRINT.fullmatch(cleaned):
        raise SpecError(field_name, "must be 40 hexadecimal digits (the SHA-1 thumbprint)")
    return cleaned


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _parse_dt(value: Any, field_name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise SpecError(field_name, "must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(field_name, f"not an ISO 8601 date-time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _b64decode(value: str, field_name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SpecError(field_name, "must be base64") from None


def _str(d: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = d.get(key)
    if value is None or value == "":
        if required:
            raise SpecError(key, "is required")
        return None
    if not isinstance(value, str):
        raise SpecError(key, "must be a string")
    return value


def _mapping(d: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise SpecError(what, "must be a JSON object")
    return d


# ----------------------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class GraphCredentialSpec:
    """How we sign in to a customer's tenant. Holds references to secrets, never a secret.

    - `workload_identity`: the Function App's managed identity (user-assigned when `managed_identity_client_id`
      is set) gets a token for `api://AzureADTokenExchange`, presented as the client assertion of the
      multi-tenant app `client_id` (federated credential). No secret anywhere.
    - `certificate`: `certificate_ref` names a PEM holding the private key and the certificate.
    - `secret`: `secret_ref` names the client secret.
    """

    mode: CredentialMode
    client_id: str
    secret_ref: str | None = None
    certificate_ref: str | None = None
    certificate_password_ref: str | None = None
    managed_identity_client_id: str | None = None
    authority: str = DEFAULT_AUTHORITY
    graph_url: str = DEFAULT_GRAPH_URL
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in CREDENTIAL_MODES:
            raise SpecError("mode", f"must be one of {', '.join(CREDENTIAL_MODES)}")
        if not isinstance(self.client_id, str) or not _CLIENT_ID.fullmatch(self.client_id):
            raise SpecError("client_id", "must be the application (client) id")
        for name in ("secret_ref", "certificate_ref", "certificate_password_ref"):
            value = getattr(self, name)
            if value is not None and not is_secret_ref(value):
                # Never echo the value: it may be a secret someone pasted inline.
                raise SpecError(name, bad_ref_reason(value))
        if self.mode == "secret" and not self.secret_ref:
            raise SpecError("secret_ref", "is required when mode is 'secret'")
        if self.mode == "certificate" and not self.certificate_ref:
            raise SpecError("certificate_ref", "is required when mode is 'certificate'")
        if self.managed_identity_client_id is not None and not _CLIENT_ID.fullmatch(self.managed_identity_client_id):
            raise SpecError("managed_identity_client_id", "must be the managed identity's client id")
        for name in ("authority", "graph_url"):
            url = getattr(self, name)
            parts = urlsplit(url) if isinstance(url, str) else None
            # azure-identity refuses a non-https authority; Graph tokens must never travel in clear.
            if parts is None or parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
                raise SpecError(name, "must be an https URL without query or fragment")
            if "@" in parts.netloc:
                # A user:password@ would put a secret into the orchestration input, the registry and the WAL.
                raise SpecError(name, "must not carry a user name or password (user:password@)")
            if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
                raise SpecError(name, "must not contain spaces, line breaks or control characters")
            try:
                parts.port  # noqa: B018 - a malformed port raises here
            except ValueError:
                raise SpecError(name, "has a malformed port") from None
        if self.ca_bundle is not None and (not isinstance(self.ca_bundle, str) or not self.ca_bundle):
            raise SpecError("ca_bundle", "must be a file path")

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "client_id": self.client_id,
            "secret_ref": self.secret_ref,
            "certificate_ref": self.certificate_ref,
            "certificate_password_ref": self.certificate_password_ref,
            "managed_identity_client_id": self.managed_identity_client_id,
            "authority": self.authority,
            "graph_url": self.graph_url,
            "ca_bundle": self.ca_bundle,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphCredentialSpec:
        d = _mapping(data, "credential")
        known = {
            "mode",
            "client_id",
            "secret_ref",
            "certificate_ref",
            "certificate_password_ref",
            "managed_identity_client_id",
            "authority",
            "graph_url",
            "ca_bundle",
        }
        for key in d:
            if key not in known:
                # An unknown key is most often an inline secret ("client_secret": ...): refuse it by name only.
                raise SpecError(str(key), "unknown field (secrets are given by reference: secret_ref, certificate_ref)")
        return cls(
            mode=_str(d, "mode"),  # type: ignore[arg-type]  # checked in __post_init__
            client_id=_str(d, "client_id") or "",
            secret_ref=_str(d, "secret_ref", required=False),
            certificate_ref=_str(d, "certificate_ref", required=False),
            certificate_password_ref=_str(d, "certificate_password_ref", required=False),
            managed_identity_client_id=_str(d, "managed_identity_client_id", required=False),
            authority=(_str(d, "authority", required=False) or DEFAULT_AUTHORITY).rstrip("/"),
            graph_url=(_str(d, "graph_url", required=False) or DEFAULT_GRAPH_URL).rstrip("/"),
            ca_bundle=_str(d, "ca_bundle", required=False),
        )


# ----------------------------------------------------------------------------------------------- tenant


@dataclass(frozen=True)
class TenantFacts:
    """What `GET /v1.0/organization` says about the tenant."""

    tenant_id: str
    display_name: str
    verified_domains: tuple[str, ...]
    default_domain: str | None = None
    initial_domain: str | None = None

    def is_verified(self, domain: str) -> bool:
        """True when `domain` (any case, trailing dot ignored) is one of the tenant's verified domains."""
        wanted = domain.strip().rstrip(".").lower()
        return any(d.lower() == wanted for d in self.verified_domains)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "display_name": self.display_name,
            "verified_domains": list(self.verified_domains),
            "default_domain": self.default_domain,
            "initial_domain": self.initial_domain,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantFacts:
        d = _mapping(data, "tenant_facts")
        domains = d.get("verified_domains") or []
        if not isinstance(domains, list) or not all(isinstance(x, str) for x in domains):
            raise SpecError("verified_domains", "must be a list of domain names")
        return cls(
            tenant_id=_str(d, "tenant_id") or "",
            display_name=_str(d, "display_name", required=False) or "",
            verified_domains=tuple(domains),
            default_domain=_str(d, "default_domain", required=False),
            initial_domain=_str(d, "initial_domain", required=False),
        )


@dataclass(frozen=True)
class KeyCredentialInfo:
    """One key credential of a service principal, as Graph returns it (public data only).

    `thumbprint` is the SHA-1 of the certificate DER when Graph returned the key bytes, else taken from
    customKeyIdentifier when that is 20 bytes (it is the thumbprint by default), else None.
    """

    key_id: str
    type: str
    usage: str
    thumbprint: str | None = None
    display_name: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    custom_key_identifier_b64: str | None = None
    key_b64: str | None = None

    @property
    def key_der(self) -> bytes | None:
        """The certificate's DER bytes, when Graph returned them."""
        return base64.b64decode(self.key_b64) if self.key_b64 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "type": self.type,
            "usage": self.usage,
            "thumbprint": self.thumbprint,
            "display_name": self.display_name,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "custom_key_identifier_b64": self.custom_key_identifier_b64,
            "key_b64": self.key_b64,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyCredentialInfo:
        d = _mapping(data, "key_credential")
        key_b64 = _str(d, "key_b64", required=False)
        if key_b64 is not None:
            _b64decode(key_b64, "key_b64")
        thumbprint = _str(d, "thumbprint", required=False)
        return cls(
            key_id=_str(d, "key_id") or "",
            type=_str(d, "type") or "",
            usage=_str(d, "usage") or "",
            thumbprint=normalize_thumbprint(thumbprint) if thumbprint else None,
            display_name=_str(d, "display_name", required=False),
            start=_parse_dt(d.get("start"), "start"),
            end=_parse_dt(d.get("end"), "end"),
            custom_key_identifier_b64=_str(d, "custom_key_identifier_b64", required=False),
            key_b64=key_b64,
        )


@dataclass(frozen=True)
class ServicePrincipal:
    """The Exchange Online service principal (or another one) with its key credentials."""

    id: str
    app_id: str
    display_name: str
    key_credentials: tuple[KeyCredentialInfo, ...] = ()

    def find_key(self, thumbprint: str) -> KeyCredentialInfo | None:
        """The key whose certificate has this thumbprint, if present."""
        wanted = normalize_thumbprint(thumbprint)
        return next((k for k in self.key_credentials if k.thumbprint == wanted), None)

    def has_key(self, thumbprint: str) -> bool:
        return self.find_key(thumbprint) is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app_id": self.app_id,
            "display_name": self.display_name,
            "key_credentials": [k.to_dict() for k in self.key_credentials],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServicePrincipal:
        d = _mapping(data, "service_principal")
        keys = d.get("key_credentials") or []
        if not isinstance(keys, list):
            raise SpecError("key_credentials", "must be a list")
        return cls(
            id=_str(d, "id") or "",
            app_id=_str(d, "app_id") or "",
            display_name=_str(d, "display_name", required=False) or "",
            key_credentials=tuple(KeyCredentialInfo.from_dict(k) for k in keys),
        )


@dataclass(frozen=True)
class KeyTarget:
    """A keyCredentials collection we write: the service principal or the application with this appId."""

    kind: TargetKind
    app_id: str

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise SpecError("target.kind", f"must be one of {', '.join(TARGET_KINDS)}")
        if not isinstance(self.app_id, str) or not _CLIENT_ID.fullmatch(self.app_id):
            raise SpecError("target.app_id", "must be an application (client) id")

    @property
    def label(self) -> str:
        if self.kind == "servicePrincipal" and self.app_id == EXCHANGE_ONLINE_APP_ID:
            return "the shared Exchange Online service principal"
        return f"the {'application' if self.kind == 'application' else 'service principal'} {self.app_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "app_id": self.app_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyTarget:
        d = _mapping(data, "target")
        return cls(kind=_str(d, "kind") or "", app_id=_str(d, "app_id") or "")  # type: ignore[arg-type]


SHARED_PRINCIPAL = KeyTarget("servicePrincipal", EXCHANGE_ONLINE_APP_ID)


@dataclass(frozen=True)
class HybridApplication:
    """A dedicated Exchange hybrid application as the tenant shows it: its keys, its permission, its consent.

    `found` is False when Exchange names an appId the tenant has no application for (deleted with -DeleteApplication,
    or a typo in -CustomAppId). `permission` is whether requiredResourceAccess asks for full_access_as_app on Exchange
    Online; `admin_consent` whether its service principal holds that appRoleAssignment (CSS-Exchange
    Test-AzureApplicationPermission.ps1 checks the same two)."""

    app_id: str
    found: bool
    id: str = ""
    display_name: str = ""
    key_credentials: tuple[KeyCredentialInfo, ...] = ()
    permission: bool = False
    admin_consent: bool = False

    def has_key(self, thumbprint: str) -> bool:
        wanted = normalize_thumbprint(thumbprint)
        return any(k.thumbprint == wanted for k in self.key_credentials)

    @property
    def target(self) -> KeyTarget:
        return KeyTarget("application", self.app_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "found": self.found,
            "id": self.id,
            "display_name": self.display_name,
            "key_credentials": [k.to_dict() for k in self.key_credentials],
            "permission": self.permission,
            "admin_consent": self.admin_consent,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HybridApplication:
        d = _mapping(data, "hybrid_application")
        keys = d.get("key_credentials") or []
        if not isinstance(keys, list):
            raise SpecError("key_credentials", "must be a list")
        return cls(
            app_id=_str(d, "app_id") or "",
            found=bool(d.get("found")),
            id=_str(d, "id", required=False) or "",
            display_name=_str(d, "display_name", required=False) or "",
            key_credentials=tuple(KeyCredentialInfo.from_dict(k) for k in keys),
            permission=bool(d.get("permission")),
            admin_consent=bool(d.get("admin_consent")),
        )


@dataclass(frozen=True)
class KeyChange:
    """What an add or remove did to the service principal's keys.

    `action` is "none" when nothing had to change (idempotent re-run). `concurrent_changes` lists thumbprints
    of keys that another writer added or removed while we wrote (seen in our read-back after the PATCH); when
    it is not empty we planned and wrote again from a fresh read (see pushproxy.tenant.client).
    """

    action: KeyAction
    thumbprint: str
    service_principal_id: str
    key_id: str | None = None
    thumbprints: tuple[str, ...] = ()  # every key this change was about (one PATCH); `thumbprint` is the first
    kept: tuple[str, ...] = ()
    concurrent_changes: tuple[str, ...] = ()
    writes: int = 0
    keys_before: int = 0
    keys_after: int = 0
    target: KeyTarget = SHARED_PRINCIPAL  # which collection; `service_principal_id` is that object's id

    def __post_init__(self) -> None:
        if not self.thumbprints and self.thumbprint:
            object.__setattr__(self, "thumbprints", (self.thumbprint,))

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "thumbprint": self.thumbprint,
            "thumbprints": list(self.thumbprints),
            "service_principal_id": self.service_principal_id,
            "key_id": self.key_id,
            "kept": list(self.kept),
            "concurrent_changes": list(self.concurrent_changes),
            "writes": self.writes,
            "keys_before": self.keys_before,
            "keys_after": self.keys_after,
            "target": self.target.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyChange:
        d = _mapping(data, "key_change")
        action = _str(d, "action")
        if action not in ("added", "removed", "none"):
            raise SpecError("action", "must be added, removed or none")
        return cls(
            action=action,  # type: ignore[arg-type]
            thumbprint=normalize_thumbprint(_str(d, "thumbprint") or ""),
            thumbprints=tuple(normalize_thumbprint(str(t)) for t in d.get("thumbprints") or ()),
            service_principal_id=_str(d, "service_principal_id") or "",
            key_id=_str(d, "key_id", required=False),
            kept=tuple(d.get("kept") or ()),
            concurrent_changes=tuple(d.get("concurrent_changes") or ()),
            writes=int(d.get("writes") or 0),
            keys_before=int(d.get("keys_before") or 0),
            keys_after=int(d.get("keys_after") or 0),
            target=KeyTarget.from_dict(d["target"]) if d.get("target") else SHARED_PRINCIPAL,
        )


@dataclass(frozen=True)
class TenantProblem:
    """A reason the workflow must stop before changing anything, in plain words, with a stable code."""

    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantProblem:
        d = _mapping(data, "problem")
        return cls(code=_str(d, "code") or "", message=_str(d, "message") or "")


# Stable codes of TenantProblem, for the planner to branch on.
PROBLEM_DOMAIN_NOT_VERIFIED = "tenant_domain_not_verified"
PROBLEM_NO_EXCHANGE_SERVICE_PRINCIPAL = "no_exchange_service_principal"
PROBLEM_PERMISSION_MISSING = "graph_permission_missing"


@dataclass(frozen=True)
class TenantDiscovery:
    """Everything the onboarding workflow reads from the tenant, read-only."""

    tenant_domain: str
    facts: TenantFacts
    domain_verified: bool
    service_principal: ServicePrincipal | None
    blocking: tuple[TenantProblem, ...] = field(default_factory=tuple)
    # Application permissions in our Graph token (its roles claim); empty when the token carries none.
    granted_roles: tuple[str, ...] = ()
    # The dedicated Exchange hybrid application(s) Exchange's EvoSts AuthServers name (ApplicationIdentifier), as
    # the tenant shows them; one per appId looked up, `found` False when the tenant has none with that appId.
    hybrid_applications: tuple[HybridApplication, ...] = ()

    def hybrid_application(self) -> HybridApplication | None:
        """The dedicated hybrid application the tenant holds (the first found), if any."""
        return next((a for a in self.hybrid_applications if a.found), None)

    def has_key(self, thumbprint: str) -> bool:
        """True when the Exchange Online service principal already holds the certificate with this thumbprint."""
        return self.service_principal is not None and self.service_principal.has_key(thumbprint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_domain": self.tenant_domain,
            "facts": self.facts.to_dict(),
            "domain_verified": self.domain_verified,
            "service_principal": self.service_principal.to_dict() if self.service_principal else None,
            "blocking": [p.to_dict() for p in self.blocking],
            "granted_roles": list(self.granted_roles),
            "hybrid_applications": [a.to_dict() for a in self.hybrid_applications],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TenantDiscovery:
        d = _mapping(data, "tenant_discovery")
        sp = d.get("service_principal")
        blocking = d.get("blocking") or []
        if not isinstance(blocking, list):
            raise SpecError("blocking", "must be a list")
        return cls(
            tenant_domain=_str(d, "tenant_domain") or "",
            facts=TenantFacts.from_dict(d.get("facts") or {}),
            domain_verified=bool(d.get("domain_verified")),
            service_principal=ServicePrincipal.from_dict(sp) if sp else None,
            blocking=tuple(TenantProblem.from_dict(p) for p in blocking),
            granted_roles=tuple(str(r) for r in d.get("granted_roles") or ()),
            hybrid_applications=tuple(HybridApplication.from_dict(a) for a in d.get("hybrid_applications") or ()),
        )
