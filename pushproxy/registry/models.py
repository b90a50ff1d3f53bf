"""What the registry keeps: onboarded tenants, each onboarding, the latest verification, fleet summaries.

Every record is a frozen dataclass whose `to_dict()` is plain JSON, so it can cross an activity boundary and be
stored as is. Datetimes are ISO 8601 strings with an offset. A tenant's spec is stored as the TenantSpec dict,
which names secrets by reference only; `TenantRecord` refuses a spec that looks like it carries a secret value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pushproxy.errors import SpecError

# DNS name rules (RFC 1123 labels), at least two labels; the registry keys on the lower-case form.
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
# Keys in a spec whose value must be a secret reference, never a secret (TenantSpec holds references only).
_SECRET_KEYS = re.compile(r"(password|secret|private_key|client_secret|token)$", re.IGNORECASE)

TENANT_STATES = ("healthy", "drifting", "failing")


def normalize_domain(value: object, field_name: str = "tenant") -> str:
    """The registry key for a tenant domain: lower case, DNS rules, at least two labels."""
    if not isinstance(value, str) or not value.strip():
        raise SpecError(field_name, "a tenant domain is required")
    domain = value.strip().lower().rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        raise SpecError(field_name, f"{value!r} is not a valid domain name")
    return domain


def parse_time(value: object, field_name: str) -> datetime:
    """An aware datetime from an ISO 8601 string (or a datetime); naive values are refused."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SpecError(field_name, f"{value!r} is not an ISO 8601 date-time") from None
    else:
        raise SpecError(field_name, "an ISO 8601 date-time is required")
    if parsed.tzinfo is None:
        raise SpecError(field_name, "the date-time must carry a UTC offset")
    return parsed


def _opt_time(value: object, field_name: str) -> datetime | None:
    return None if value is None else parse_time(value, field_name)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _check_no_secret_values(value: Any, path: str) -> None:
    """Refuse anything under a secret-ish key that is not a secret reference: specs never hold secrets."""
    from pushproxy.secrets import is_secret_ref

    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(key, str) and _SECRET_KEYS.search(key) and item not in (None, "") and not is_secret_ref(item):
                raise SpecError(where, "must be a secret reference (env:, file:, path: or keyvault:), not a secret")
            _check_no_secret_values(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_no_secret_values(item, f"{path}[{index}]")


@dataclass(frozen=True)
class TenantRecord:
    """A registered tenant: the operator's registration (`spec`, the TenantSpec dict, secrets by reference) and how
    its onboardings went.

    The spec changes only by a registration (`PUT /api/tenants/{tenant}`, `pushproxy onboard --spec` on one
    machine); an onboarding changes only `onboarded_at` and `last_onboarding_id`, and only when it was approved and
    ended done. A record without `registered_at` predates registrations: its spec is the one its last onboarding
    ran with, and it stands as the registration (migration: README, "Registrations").
    """

    domain: str
    spec: dict[str, Any]
    onboarded_at: datetime | None = None
    updated_at: datetime = field(default_factory=utc_now)
    last_onboarding_id: str | None = None
    registered_by: str | None = None
    registered_at: datetime | None = None
    # Offboarding keeps the tenant and its history, marked: when, who approved it (each group's approver), which run.
    # A later onboarding that succeeds clears the mark. Older records have none of these: read as not offboarded.
    offboarded_at: datetime | None = None
    offboarded_by: tuple[str, ...] = ()
    last_offboarding_id: str | None = None

    @property
    def is_offboarded(self) -> bool:
        return self.offboarded_at is not None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_domain(self.domain, "domain"))
        object.__setattr__(self, "offboarded_by", tuple(str(a) for a in self.offboarded_by or ()))
        if not isinstance(self.spec, dict):
            raise SpecError("spec", "must be an object")
        _check_no_secret_values(self.spec, "spec")

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "spec": self.spec,
            "onboarded_at": _iso(self.onboarded_at),
            "updated_at": _iso(self.updated_at),
            "last_onboarding_id": self.last_onboarding_id,
            "registered_by": self.registered_by,
            "registered_at": _iso(self.registered_at),
            "offboarded_at": _iso(self.offboarded_at),
            "offboarded_by": list(self.offboarded_by),
            "last_offboarding_id": self.last_offboarding_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TenantRecord:
        return cls(
            domain=data.get("domain"),  # type: ignore[arg-type]  # validated in __post_init__
            spec=data.get("spec") or {},
            onboarded_at=_opt_time(data.get("onboarded_at"), "onboarded_at"),
            updated_at=parse_time(data["updated_at"], "updated_at") if data.get("updated_at") else utc_now(),
            last_onboarding_id=data.get("last_onboarding_id"),
            registered_by=data.get("registered_by"),
            registered_at=_opt_time(data.get("registered_at"), "registered_at"),
            offboarded_at=_opt_time(data.get("offboarded_at"), "offboarded_at"),
            offboarded_by=tuple(data.get("offboarded_by") or ()),
            last_offboarding_id=data.get("last_offboarding_id"),
        )


@dataclass(frozen=True)
class OnboardingRecord:
    """One onboarding run: who asked, who approved what and when, what changed, how it ended.

    `approvals` and `changes` are lists of plain JSON objects as the onboarding workflow reports them
    (approvals: group, decision, approver, comment, time, state_hash; changes: kind, group, details, outcome).
    """

    domain: str
    instance_id: str
    started_at: datetime
    outcome: str  # the final phase: done | rejected | timed_out | failed | blocked
    requested_by: str | None = None
    remediation: bool = False
    finished_at: datetime | None = None
    approvals: tuple[dict[str, Any], ...] = ()
    changes: tuple[dict[str, Any], ...] = ()
    probe: dict[str, Any] | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_domain(self.domain, "domain"))
        if not isinstance(self.instance_id, str) or not self.instance_id:
            raise SpecError("instance_id", "is required")
        if not isinstance(self.outcome, str) or not self.outcome:
            raise SpecError("outcome", "is required")
        object.__setattr__(self, "approvals", tuple(self.approvals))
        object.__setattr__(self, "changes", tuple(self.changes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "instance_id": self.instance_id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "outcome": self.outcome,
            "requested_by": self.requested_by,
            "remediation": self.remediation,
            "approvals": list(self.approvals),
            "changes": list(self.changes),
            "probe": self.probe,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OnboardingRecord:
        return cls(
            domain=data.get("domain"),  # type: ignore[arg-type]
            instance_id=data.get("instance_id"),  # type: ignore[arg-type]
            started_at=parse_time(data.get("started_at"), "started_at"),
            finished_at=_opt_time(data.get("finished_at"), "finished_at"),
            outcome=data.get("outcome"),  # type: ignore[arg-type]
            requested_by=data.get("requested_by"),
            remediation=bool(data.get("remediation", False)),
            approvals=tuple(data.get("approvals") or ()),
            changes=tuple(data.get("changes") or ()),
            probe=data.get("probe"),
            error=data.get("error"),
        )


@dataclass(frozen=True)
class Finding:
    """One thing verification found wrong with a tenant. `kind` is one of pushproxy.verification.DRIFT_KINDS."""

    kind: str
    message: str
    severity: str = "drift"  # drift (fixable by onboarding again) | failure (can't tell, or can't be fixed by us)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "message": self.message, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            kind=str(data["kind"]),
            message=str(data.get("message", "")),
            severity=str(data.get("severity", "drift")),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True)
class VerificationRecord:
    """The result of verifying one tenant: healthy, drifting or failing, and why."""

    domain: str
    verified_at: datetime
    state: str  # healthy | drifting | failing
    findings: tuple[Finding, ...] = ()
    verification_id: str | None = None  # the verification instance that produced it
    remediation_id: str | None = None  # the remediation onboarding it started, if any
    facts: dict[str, Any] = field(default_factory=dict)  # what was seen: cert expiry, servers, probe result

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_domain(self.domain, "domain"))
        if self.state not in TENANT_STATES:
            raise SpecError("state", f"must be one of {', '.join(TENANT_STATES)}")
        object.__setattr__(self, "findings", tuple(self.findings))

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "verified_at": _iso(self.verified_at),
            "state": self.state,
            "findings": [f.to_dict() for f in self.findings],
            "verification_id": self.verification_id,
            "remediation_id": self.remediation_id,
            "facts": self.facts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerificationRecord:
        return cls(
            domain=data.get("domain"),  # type: ignore[arg-type]
            verified_at=parse_time(data.get("verified_at"), "verified_at"),
            state=data.get("state"),  # type: ignore[arg-type]
            findings=tuple(Finding.from_dict(f) for f in data.get("findings") or ()),
            verification_id=data.get("verification_id"),
            remediation_id=data.get("remediation_id"),
            facts=dict(data.get("facts") or {}),
        )


@dataclass(frozen=True)
class VerificationSummary:
    """One fleet verification run: how many tenants in each state, and the remediations it started."""

    verification_id: str
    started_at: datetime
    finished_at: datetime | None
    total: int
    healthy: int
    drifting: int
    failing: int
    remediations: tuple[str, ...] = ()  # tenant domains for which a remediation onboarding was started

    def __post_init__(self) -> None:
        object.__setattr__(self, "remediations", tuple(self.remediations))

    def to_dict(self) -> dict[str, Any]:
        return {
            "verification_id": self.verification_id,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "total": self.total,
            "healthy": self.healthy,
            "drifting": self.drifting,
            "failing": self.failing,
            "remediations": list(self.remediations),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VerificationSummary:
        return cls(
            verification_id=str(data["verification_id"]),
            started_at=parse_time(data.get("started_at"), "started_at"),
            finished_at=_opt_time(data.get("finished_at"), "finished_at"),
            total=int(data.get("total", 0)),
            healthy=int(data.get("healthy", 0)),
            drifting=int(data.get("drifting", 0)),
            failing=int(data.get("failing", 0)),
            remediations=tuple(data.get("remediations") or ()),
        )
