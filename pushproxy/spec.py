"""TenantSpec: everything needed to onboard one organisation, validated before anything reaches Exchange or Graph.

A spec is JSON in, JSON out. It holds references to secrets (`env:`, `file:`, `keyvault:`), never secrets, so it
may go into orchestration input, the registry and logs. Every bad field raises SpecError naming the field (dotted
path) and the reason; the offending value is never echoed when it could be a secret.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pushproxy.errors import SpecError
from pushproxy.secrets import is_secret_ref

# One DNS label: letters, digits and hyphens, not starting or ending with a hyphen (RFC 1035 / 1123).
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Characters that mean something to PowerShell or a shell: refused with a reason of their own, so the user
# sees why, even though the label rule would refuse them too.
_METACHARACTERS = set(" \t\r\n'\"`$;&|<>(){}[]@,%*?!#=+\\/")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

EXCHANGE_AUTH = ("negotiate", "ntlm", "kerberos", "basic")
TLS_MODES = ("system", "ca_bundle", "pinned")
GRAPH_MODES = ("workload_identity", "certificate", "secret")
APPROVAL_POLICIES = ("required", "auto")


def validate_domain(value: object, field_name: str = "tenant_domain") -> str:
    """A DNS domain name, lower-cased. Refuses PowerShell metacharacters and malformed names with SpecError."""
    if not isinstance(value, str) or not value:
        raise SpecError(field_name, "must be a non-empty string (a DNS domain such as fabrikam.com)")
    bad = sorted({c for c in value if c in _METACHARACTERS})
    if bad:
        shown = " ".join("space" if c == " " else repr(c) for c in bad)
        raise SpecError(field_name, f"must be a DNS domain name; it contains {shown}")
    domain = value.lower()
    if domain.endswith("."):
        domain = domain[:-1]
    if len(domain) > 253:
        raise SpecError(field_name, "must be at most 253 characters")
    labels = domain.split(".")
    if len(labels) < 2:
        raise SpecError(field_name, "must have at least two labels (e.g. fabrikam.com)")
    for label in labels:
        if not _LABEL.match(label):
            raise SpecError(
                field_name,
                f"label {label!r} is not a DNS label (1-63 letters, digits or hyphens, no hyphen at either end)",
            )
    if labels[-1].isdigit():
        raise SpecError(field_name, "the last label must not be all digits")
    return domain


def _obj(d: object, name: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise SpecError(name, "must be a JSON object")
    return d


def _unknown(d: dict[str, Any], allowed: set[str], prefix: str) -> None:
    # A misspelt key silently ignored is how a spec does something its author did not mean: refuse it.
    for key in d:
        if key not in allowed:
            raise SpecError(f"{prefix}{key}", "unknown field")


def _str(d: dict[str, Any], key: str, name: str, *, required: bool = True, default: str | None = None) -> str | None:
    value = d.get(key, default)
    if value is None:
        if required:
            raise SpecError(name, "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(name, "must be a non-empty string")
    if any(c in value for c in "\r\n\x00"):
        raise SpecError(name, "must not contain line breaks or NUL")
    return value


def _ref(d: dict[str, Any], key: str, name: str, *, required: bool = True) -> str | None:
    value = d.get(key)
    if value is None:
        if required:
            raise SpecError(name, "is required (a secret reference: env:NAME, file:NAME or keyvault:NAME)")
        return None
    if not is_secret_ref(value):
        # Never echo the value: someone may have pasted the secret itself.
        raise SpecError(name, "must be a secret reference (env:NAME, file:NAME or keyvault:NAME), not a secret")
    return str(value)


def _choice(d: dict[str, Any], key: str, name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = d.get(key, default)
    if value not in choices:
        raise SpecError(name, f"must be one of {', '.join(choices)}")
    return str(value)


def _number(
    d: dict[str, Any], key: str, name: str, default: float, *, minimum: float, maximum: float, integer: bool = False
) -> float:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(name, "must be a number")
    if integer and int(value) != value:
        raise SpecError(name, "must be a whole number")
    if not minimum <= value <= maximum:
        raise SpecError(name, f"must be between {minimum:g} and {maximum:g}")
    return int(value) if integer else float(value)


def _bool(d: dict[str, Any], key: str, name: str, default: bool) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise SpecError(name, "must be true or false")
    return value


def _https_url(value: str, name: str, *, allow_http: bool = False) -> str:
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise SpecError(name, f"must be an absolute {' or '.join(schemes)} URL")
    if parts.username or parts.password:
        raise SpecError(name, "must not carry credentials")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            validate_domain(host, name)
    try:
        _ = parts.port
    except ValueError:
        raise SpecError(name, "has an invalid port") from None
    return value


@dataclass(frozen=True)
class ExchangeSpec:
    """How to reach the organisation's Exchange remote PowerShell (the shape of pushproxy.exchange.ExchangeEndpoint)."""

    url: str
    username: str
    password_ref: str
    auth: str = "negotiate"
    tls: dict[str, Any] = field(default_factory=lambda: {"mode": "system"})
    operation_timeout_s: float = 60.0
    call_deadline_s: float = 300.0
    servers: tuple[str, ...] = ()
    windows_powershell_url: str | None = None

    @classmethod
    def from_dict(cls, d: object, prefix: str = "exchange.") -> ExchangeSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {f.name for f in cls.__dataclass_fields__.values()}, prefix)
        url = _https_url(str(_str(d, "url", prefix + "url")), prefix + "url", allow_http=True)
        auth = _choice(d, "auth", prefix + "auth", EXCHANGE_AUTH, "negotiate")
        # Basic and NTLM over plain HTTP would send the password (or a crackable hash) in the clear.
        if urlsplit(url).scheme == "http" and auth in ("basic", "ntlm"):
            raise SpecError(prefix + "url", f"must be https with auth {auth} (credentials would travel in the clear)")
        username = str(_str(d, "username", prefix + "username"))
        password_ref = str(_ref(d, "password_ref", prefix + "password_ref"))
        tls = _obj(d.get("tls", {"mode": "system"}), prefix + "tls")
        _unknown(tls, {"mode", "ca_bundle", "pinned_sha256"}, prefix + "tls.")
        mode = _choice(tls, "mode", prefix + "tls.mode", TLS_MODES, "system")
        clean_tls: dict[str, Any] = {"mode": mode}
        if mode == "ca_bundle":
            clean_tls["ca_bundle"] = _str(tls, "ca_bundle", prefix + "tls.ca_bundle")
        if mode == "pinned":
            pin = tls.get("pinned_sha256")
            if not isinstance(pin, str) or not _HEX64.match(pin.replace(":", "")):
                raise SpecError(prefix + "tls.pinned_sha256", "must be the certificate's SHA-256 as 64 hex digits")
            clean_tls["pinned_sha256"] = pin.replace(":", "").lower()
        servers = d.get("servers", [])
        if not isinstance(servers, list):
            raise SpecError(prefix + "servers", "must be a list of server names")
        for i, server in enumerate(servers):
            if isinstance(server, str) and "." in server:
                validate_domain(server, f"{prefix}servers[{i}]")
            else:
                _netbios(server, f"{prefix}servers[{i}]")
        wps = _str(d, "windows_powershell_url", prefix + "windows_powershell_url", required=False)
        if wps is not None:
            _https_url(wps, prefix + "windows_powershell_url", allow_http=True)
        return cls(
            url=url,
            username=username,
            password_ref=password_ref,
            auth=auth,
            tls=clean_tls,
            operation_timeout_s=_number(d, "operation_timeout_s", prefix + "operation_timeout_s", 60, minimum=1, maximum=3600),
            call_deadline_s=_number(d, "call_deadline_s", prefix + "call_deadline_s", 300, minimum=1, maximum=86400),
            servers=tuple(s.lower() for s in servers),
            windows_powershell_url=wps,
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "url": self.url,
            "auth": self.auth,
            "username": self.username,
            "password_ref": self.password_ref,
            "tls": dict(self.tls),
            "operation_timeout_s": self.operation_timeout_s,
            "call_deadline_s": self.call_deadline_s,
            "servers": list(self.servers),
        }
        if self.windows_powershell_url:
            d["windows_powershell_url"] = self.windows_powershell_url
        return d


def _netbios(value: object, name: str) -> None:
    if not isinstance(value, str) or not re.match(r"^(?!-)[A-Za-z0-9-]{1,15}(?<!-)$", value):
        raise SpecError(name, "must be a server name (NetBIOS name or FQDN)")


@dataclass(frozen=True)
class GraphSpec:
    """How to reach the tenant through Microsoft Graph (the shape of pushproxy.tenant.GraphCredentialSpec)."""

    mode: str
    client_id: str | None = None
    secret_ref: str | None = None
    certificate_ref: str | None = None
    managed_identity_client_id: str | None = None
    authority: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    ca_bundle: str | None = None

    @classmethod
    def from_dict(cls, d: object, prefix: str = "graph.") -> GraphSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {f.name for f in cls.__dataclass_fields__.values()}, prefix)
        mode = _choice(d, "mode", prefix + "mode", GRAPH_MODES)
        client_id = _guid(d.get("client_id"), prefix + "client_id", required=mode != "workload_identity")
        secret_ref = _ref(d, "secret_ref", prefix + "secret_ref", required=mode == "secret")
        certificate_ref = _ref(d, "certificate_ref", prefix + "certificate_ref", required=mode == "certificate")
        mi = _guid(d.get("managed_identity_client_id"), prefix + "managed_identity_client_id", required=False)
        authority = _https_url(
            str(_str(d, "authority", prefix + "authority", default=cls.authority)), prefix + "authority"
        ).rstrip("/")
        graph_url = _https_url(
            str(_str(d, "graph_url", prefix + "graph_url", default=cls.graph_url)), prefix + "graph_url"
        ).rstrip("/")
        return cls(
            mode=mode,
            client_id=client_id,
            secret_ref=secret_ref,
            certificate_ref=certificate_ref,
            managed_identity_client_id=mi,
            authority=authority,
            graph_url=graph_url,
            ca_bundle=_str(d, "ca_bundle", prefix + "ca_bundle", required=False),
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mode": self.mode, "authority": self.authority, "graph_url": self.graph_url}
        for key in ("client_id", "secret_ref", "certificate_ref", "managed_identity_client_id", "ca_bundle"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d


def _guid(value: object, name: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise SpecError(name, "is required (a GUID)")
        return None
    try:
        return str(uuid.UUID(str(value))) if isinstance(value, str) and len(value) == 36 else _bad_guid(name)
    except ValueError:
        return _bad_guid(name)


def _bad_guid(name: str) -> str:
    raise SpecError(name, "must be a GUID such as 11111111-2222-3333-4444-555555555555")


@dataclass(frozen=True)
class ApprovalSpec:
    """Who approves each group of changes, and how long the workflow waits for them."""

    policy: str = "required"
    timeout_s: float = 72 * 3600.0
    approvers: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: object, prefix: str = "approval.") -> ApprovalSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {"policy", "timeout_s", "approvers"}, prefix)
        approvers = d.get("approvers", [])
        if not isinstance(approvers, list):
            raise SpecError(prefix + "approvers", "must be a list of names")
        for i, a in enumerate(approvers):
            _str({"a": a}, "a", f"{prefix}approvers[{i}]")
        return cls(
            policy=_choice(d, "policy", prefix + "policy", APPROVAL_POLICIES, "required"),
            timeout_s=_number(d, "timeout_s", prefix + "timeout_s", 72 * 3600.0, minimum=1, maximum=30 * 86400),
            approvers=tuple(approvers),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "timeout_s": self.timeout_s, "approvers": list(self.approvers)}


@dataclass(frozen=True)
class VerificationSpec:
    """How the workflow checks its work: the optional health-manager restart, the wait, the probe's deadline."""

    restart_health_manager: bool = False
    wait_s: float = 120.0
    probe_deadline_s: float = 600.0
    probe_interval_s: float = 30.0

    @classmethod
    def from_dict(cls, d: object, prefix: str = "verification.") -> VerificationSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {f.name for f in cls.__dataclass_fields__.values()}, prefix)
        return cls(
            restart_health_manager=_bool(d, "restart_health_manager", prefix + "restart_health_manager", False),
            wait_s=_number(d, "wait_s", prefix + "wait_s", 120.0, minimum=0, maximum=86400),
            probe_deadline_s=_number(d, "probe_deadline_s", prefix + "probe_deadline_s", 600.0, minimum=0, maximum=86400),
            probe_interval_s=_number(d, "probe_interval_s", prefix + "probe_interval_s", 30.0, minimum=0.1, maximum=3600),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "restart_health_manager": self.restart_health_manager,
            "wait_s": self.wait_s,
            "probe_deadline_s": self.probe_deadline_s,
            "probe_interval_s": self.probe_interval_s,
        }


@dataclass(frozen=True)
class RetrySpec:
    """Retry options of the apply activities (Durable's RetryOptions)."""

    first_retry_interval_s: float = 5.0
    max_attempts: int = 5

    @classmethod
    def from_dict(cls, d: object, prefix: str = "retry.") -> RetrySpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {"first_retry_interval_s", "max_attempts"}, prefix)
        return cls(
            first_retry_interval_s=_number(
                d, "first_retry_interval_s", prefix + "first_retry_interval_s", 5.0, minimum=0.001, maximum=3600
            ),
            max_attempts=int(_number(d, "max_attempts", prefix + "max_attempts", 5, minimum=1, maximum=100, integer=True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"first_retry_interval_s": self.first_retry_interval_s, "max_attempts": self.max_attempts}


@dataclass(frozen=True)
class TenantSpec:
    """One organisation to onboard: its tenant, its Exchange, its Graph credentials, approval and verification."""

    tenant_domain: str
    tenant_id: str
    exchange: ExchangeSpec
    graph: GraphSpec
    approval: ApprovalSpec = ApprovalSpec()
    verification: VerificationSpec = VerificationSpec()
    retry: RetrySpec = RetrySpec()

    @classmethod
    def from_dict(cls, d: object) -> TenantSpec:
        """Validate a spec (parsed JSON). Raises SpecError naming the first bad field."""
        d = _obj(d, "spec")
        _unknown(d, {f.name for f in cls.__dataclass_fields__.values()}, "")
        domain = validate_domain(d.get("tenant_domain"), "tenant_domain")
        tenant_id = _guid(d.get("tenant_id"), "tenant_id", required=True)
        if "exchange" not in d:
            raise SpecError("exchange", "is required")
        if "graph" not in d:
            raise SpecError("graph", "is required")
        return cls(
            tenant_domain=domain,
            tenant_id=str(tenant_id),
            exchange=ExchangeSpec.from_dict(d["exchange"]),
            graph=GraphSpec.from_dict(d["graph"]),
            approval=ApprovalSpec.from_dict(d.get("approval", {})),
            verification=VerificationSpec.from_dict(d.get("verification", {})),
            retry=RetrySpec.from_dict(d.get("retry", {})),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TenantSpec:
        """Parse and validate a JSON document."""
        import json

        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SpecError("spec", f"is not valid JSON ({exc.__class__.__name__} at line {getattr(exc, 'lineno', '?')})") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_domain": self.tenant_domain,
            "tenant_id": self.tenant_id,
            "exchange": self.exchange.to_dict(),
            "graph": self.graph.to_dict(),
            "approval": self.approval.to_dict(),
            "verification": self.verification.to_dict(),
            "retry": self.retry.to_dict(),
        }

    def to_json(self) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2)

    @property
    def instance_id(self) -> str:
        """The Durable instance id of this tenant's onboarding: one per tenant, so a rerun resumes it."""
        return onboarding_instance_id(self.tenant_domain)


def onboarding_instance_id(tenant_domain: str) -> str:
    """`onboarding-<tenant domain>` (lower case), as docs/interfaces.md fixes it."""
    return f"onboarding-{tenant_domain.lower()}"
