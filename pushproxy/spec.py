"""TenantSpec: everything needed to onboard one organisation, validated before anything reaches Exchange or Graph.

A spec is JSON in, JSON out. It holds references to secrets (`env:`, `file:`, `keyvault:`), never secrets, so it
may go into orchestration input, the registry and logs. Every bad field raises SpecError naming the field (dotted
path) and the reason; the offending value is never echoed when it could be a secret.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from pushproxy.errors import SpecError
from pushproxy.exchange.endpoint import ExchangeEndpoint
from pushproxy.input_rules import check_address, check_name_text, check_strings, parse_json
from pushproxy.principals import PrincipalError, canonical_principal
from pushproxy.tenant.models import GraphCredentialSpec

# One DNS label: letters, digits and hyphens, not starting or ending with a hyphen (RFC 1035 / 1123).
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")  # re.fullmatch: `$` would let a trailing line break through
# Characters that mean something to PowerShell or a shell: refused with a reason of their own, so the user
# sees why, even though the label rule would refuse them too.
_METACHARACTERS = set(" \t\r\n'\"`$;&|<>(){}[]@,%*?!#=+\\/")

APPROVAL_POLICIES = ("required", "auto")
# The spec's URLs and file paths (check_address: no shell or PowerShell metacharacter in any of them).
ADDRESS_FIELDS = ("exchange.url", "exchange.windows_powershell_url", "exchange.tls.ca_bundle",
                  "exchange.windows_powershell_tls.ca_bundle", "graph.authority", "graph.graph_url", "graph.ca_bundle")


def _check_addresses(d: dict[str, Any]) -> None:
    for path in ADDRESS_FIELDS:
        node: Any = d
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str):
            check_address(node, path)


def validate_domain(value: object, field_name: str = "tenant_domain") -> str:
    """A DNS domain name, lower-cased. Refuses PowerShell metacharacters and malformed names with SpecError."""
    if not isinstance(value, str) or not value:
        raise SpecError(field_name, "must be a non-empty string (a DNS domain such as fabrikam.com)")
    # NFKC first: `fabri\u212aam.com` (a Kelvin sign) must not pass as fabrikam.com, nor a full-width dot as a dot.
    check_name_text(value, field_name)
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
        if not _LABEL.fullmatch(label):
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
    if value != value or value in (float("inf"), float("-inf")):  # NaN, Infinity: refused before any arithmetic
        raise SpecError(name, "must be a finite number")
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


def _exchange(d: object) -> ExchangeEndpoint:
    d = _obj(d, "exchange")
    tls = d.get("tls")
    if isinstance(tls, dict):
        # A stray "verify": false must not look as if it had switched verification off: refuse it.
        _unknown(tls, {"mode", "ca_bundle", "pinned_sha256"}, "exchange.tls.")
    return ExchangeEndpoint.from_dict(d, field_prefix="exchange")


def _graph(d: object) -> GraphCredentialSpec:
    d = _obj(d, "graph")
    try:
        spec = GraphCredentialSpec.from_dict(d)
    except SpecError as exc:
        # The tenant model names its own fields; in a TenantSpec they live under "graph".
        raise SpecError(f"graph.{exc.field}", exc.reason) from None
    # Entra application ids are GUIDs; refusing anything else here keeps URLs and logs clean.
    _guid(spec.client_id, "graph.client_id", required=True)
    if spec.managed_identity_client_id is not None:
        _guid(spec.managed_identity_client_id, "graph.managed_identity_client_id", required=True)
    return spec


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
            try:
                # The form every approval is compared in (NFKC, case-folded); invisible characters refused.
                canonical_principal(a, f"{prefix}approvers[{i}]")
            except PrincipalError as exc:
                field_name, _, reason = str(exc).partition(": ")
                raise SpecError(field_name, reason) from None
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


REMEDIATION_POLICIES = ("off", "onboard")


@dataclass(frozen=True)
class RemediationSpec:
    """What verification does about drift it can fix: `onboard` starts a remediation onboarding (which asks for
    approval again), `off` only reports."""

    policy: str = "onboard"

    @classmethod
    def from_dict(cls, d: object, prefix: str = "remediation.") -> RemediationSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {"policy"}, prefix)
        return cls(policy=_choice(d, "policy", prefix + "policy", REMEDIATION_POLICIES, "onboard"))

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy}


@dataclass(frozen=True)
class CertificateSpec:
    """The Auth certificates pushproxy creates: their lifetime (Exchange's New-ExchangeCertificate makes 5 years)."""

    lifetime_days: int = 1826

    @classmethod
    def from_dict(cls, d: object, prefix: str = "certificate.") -> CertificateSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {"lifetime_days"}, prefix)
        return cls(int(_number(d, "lifetime_days", prefix + "lifetime_days", 1826, minimum=2, maximum=1826, integer=True)))

    def to_dict(self) -> dict[str, Any]:
        return {"lifetime_days": self.lifetime_days}


@dataclass(frozen=True)
class RotationSpec:
    """When the Auth certificate is renewed, how long the next one is staged, when the old one is retired."""

    renew_before_days: float = 60.0
    staging_days: float = 30.0
    retire_after_days: float = 7.0

    @classmethod
    def from_dict(cls, d: object, prefix: str = "rotation.") -> RotationSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {"renew_before_days", "staging_days", "retire_after_days"}, prefix)
        spec = cls(
            renew_before_days=_number(d, "renew_before_days", prefix + "renew_before_days", 60.0, minimum=3, maximum=1800),
            staging_days=_number(d, "staging_days", prefix + "staging_days", 30.0, minimum=2, maximum=365),
            retire_after_days=_number(d, "retire_after_days", prefix + "retire_after_days", 7.0, minimum=0, maximum=365),
        )
        if spec.staging_days >= spec.renew_before_days:
            raise SpecError(prefix + "staging_days", "must be shorter than renew_before_days (the next certificate must "
                            "take effect before the current one expires)")
        return spec

    def to_dict(self) -> dict[str, Any]:
        return {"renew_before_days": self.renew_before_days, "staging_days": self.staging_days,
                "retire_after_days": self.retire_after_days}


# What pushproxy does with the shared Exchange Online service principal's key when the organisation uses the dedicated
# Exchange hybrid application (pushproxy.hybrid): `keep` puts and keeps the proxy's key there (the push proxy is
# only documented through the shared principal), `leave_to_cleanup` leaves that principal to hybrid clean-up mode.
SHARED_PRINCIPAL_KEY_POLICIES = ("keep", "leave_to_cleanup")


@dataclass(frozen=True)
class TenantKeysSpec:
    """Where the tenant's keys go besides the dedicated hybrid application: `shared_principal_key` (see above)."""

    shared_principal_key: str = "keep"

    @classmethod
    def from_dict(cls, d: object, prefix: str = "tenant.") -> TenantKeysSpec:
        d = _obj(d, prefix.rstrip("."))
        _unknown(d, {"shared_principal_key"}, prefix)
        return cls(_choice(d, "shared_principal_key", prefix + "shared_principal_key", SHARED_PRINCIPAL_KEY_POLICIES, "keep"))

    def to_dict(self) -> dict[str, Any]:
        return {"shared_principal_key": self.shared_principal_key}


@dataclass(frozen=True)
class TenantSpec:
    """One organisation to onboard: its tenant, its Exchange, its Graph credentials, approval and verification."""

    tenant_domain: str
    tenant_id: str
    exchange: ExchangeEndpoint
    graph: GraphCredentialSpec
    approval: ApprovalSpec = ApprovalSpec()
    verification: VerificationSpec = VerificationSpec()
    retry: RetrySpec = RetrySpec()
    # None: verification remediates when every change needs a person's approval anyway, never under `auto`.
    remediation: RemediationSpec | None = None
    certificate: CertificateSpec = CertificateSpec()
    rotation: RotationSpec = RotationSpec()
    tenant: TenantKeysSpec = TenantKeysSpec()

    @classmethod
    def from_dict(cls, d: object) -> TenantSpec:
        """Validate a spec (parsed JSON). Raises SpecError naming the first bad field."""
        d = _obj(d, "spec")
        _unknown(d, {f.name for f in cls.__dataclass_fields__.values()}, "")
        # The rules every string and number obeys (pushproxy.input_rules), before the rules of each field.
        check_strings(d, "")
        _check_addresses(d)
        domain = validate_domain(d.get("tenant_domain"), "tenant_domain")
        tenant_id = _guid(d.get("tenant_id"), "tenant_id", required=True)
        if "exchange" not in d:
            raise SpecError("exchange", "is required")
        if "graph" not in d:
            raise SpecError("graph", "is required")
        return cls(
            tenant_domain=domain,
            tenant_id=str(tenant_id),
            exchange=_exchange(d["exchange"]),
            graph=_graph(d["graph"]),
            approval=ApprovalSpec.from_dict(d.get("approval", {})),
            verification=VerificationSpec.from_dict(d.get("verification", {})),
            retry=RetrySpec.from_dict(d.get("retry", {})),
            remediation=RemediationSpec.from_dict(d["remediation"]) if d.get("remediation") is not None else None,
            certificate=CertificateSpec.from_dict(d.get("certificate", {})),
            rotation=RotationSpec.from_dict(d.get("rotation", {})),
            tenant=TenantKeysSpec.from_dict(d.get("tenant", {})),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> TenantSpec:
        """Parse and validate a JSON document (bounded size and nesting, no NaN or Infinity)."""
        return cls.from_dict(parse_json(text, "spec"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_domain": self.tenant_domain,
            "tenant_id": self.tenant_id,
            "exchange": self.exchange.to_dict(),
            "graph": self.graph.to_dict(),
            "approval": self.approval.to_dict(),
            "verification": self.verification.to_dict(),
            "retry": self.retry.to_dict(),
            **({"remediation": self.remediation.to_dict()} if self.remediation else {}),
            "certificate": self.certificate.to_dict(),
            "rotation": self.rotation.to_dict(),
            "tenant": self.tenant.to_dict(),
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
    return workflow_instance_id("onboarding", tenant_domain)


def workflow_instance_id(workflow: str, tenant_domain: str) -> str:
    """`<workflow>-<tenant domain>` (lower case): onboarding, rotation and offboarding are singletons per tenant."""
    return f"{workflow}-{tenant_domain.lower()}"
