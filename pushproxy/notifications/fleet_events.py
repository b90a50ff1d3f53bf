"""Which of a verification's results are news. Pure: one tenant's latest record and what was already told about
it (its NoticeState, kept in the registry) in; the events to raise and the new state out.

- `drift.found`: the findings that were not there at the previous verification (each finding is told once while
  it stands; once it is gone and comes back, it is news again). A finding is itself by its kind and the details
  that say which thing is wrong (a server, a thumbprint, an AuthServer), not by its message, whose wording (a
  probe's error text, days left) changes from day to day.
- `certificate.expiring`: at 60, 30, 14, 7 and 1 days ahead, once per threshold and certificate, unless a next
  certificate is staged (Set-AuthConfig -NewCertificateThumbprint: a renewal is under way). A first sighting
  already inside several thresholds tells the nearest one only.
- `key.removed`: a key our onboarding uploaded is gone from the service principal; once per key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pushproxy.notifications import events

EXPIRY_THRESHOLDS: tuple[int, ...] = (60, 30, 14, 7, 1)
# Told by events of their own, not as drift.
OWN_EVENTS = frozenset({"cert_expiring", "key_removed"})
# The details that say which thing a finding is about (pushproxy.verification's findings carry these).
IDENTITY_DETAIL: tuple[str, ...] = ("thumbprint", "server", "name", "code", "organization", "expected", "url")


def fingerprint(finding: Mapping[str, Any]) -> str:
    detail = finding.get("detail") if isinstance(finding.get("detail"), Mapping) else {}
    parts = [str(finding.get("kind"))]
    parts += [f"{k}={str(detail[k]).lower()}" for k in IDENTITY_DETAIL if detail and detail.get(k) not in (None, "")]
    return "|".join(parts)


@dataclass
class NoticeState:
    """What has been told about one tenant: the findings standing at the last telling, the nearest expiry
    threshold told per certificate, the removed keys told."""

    findings: list[str] = field(default_factory=list)
    expiry: dict[str, int] = field(default_factory=dict)
    keys_removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"findings": sorted(self.findings), "expiry": dict(sorted(self.expiry.items())),
                "keys_removed": sorted(self.keys_removed)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> NoticeState:
        d = d or {}
        return cls(findings=[str(x) for x in d.get("findings") or ()],
                   expiry={str(k): int(v) for k, v in (d.get("expiry") or {}).items()},
                   keys_removed=[str(x) for x in d.get("keys_removed") or ()])


def threshold_for(days_left: float) -> int | None:
    """The nearest threshold `days_left` is within (60, 30, 14, 7, 1), or None when further than the first."""
    within = [t for t in EXPIRY_THRESHOLDS if days_left <= t]
    return min(within) if within else None


def tenant_events(
    record: Mapping[str, Any], state: NoticeState, *, verification_id: str, occurred_at: str,
) -> tuple[list[events.Event], NoticeState]:
    """The events one tenant's verification record calls for, and the state after telling them."""
    tenant = str(record["domain"])
    findings = [f for f in record.get("findings") or () if isinstance(f, Mapping)]
    raised: list[events.Event] = []

    drift = [f for f in findings if f.get("kind") not in OWN_EVENTS]
    standing = {fingerprint(f): f for f in drift}
    new = [fp for fp in standing if fp not in set(state.findings)]
    if new:
        raised.append(events.drift_found(
            tenant=tenant, verification_id=verification_id, state=str(record.get("state") or "drifting"),
            findings=[standing[fp] for fp in new], fingerprints=new, occurred_at=occurred_at))

    removed = [f for f in findings if f.get("kind") == "key_removed"]
    removed_prints = {fingerprint(f): f for f in removed}
    for fp, f in removed_prints.items():
        if fp in set(state.keys_removed):
            continue
        detail = f.get("detail") or {}
        raised.append(events.key_removed(
            tenant=tenant, verification_id=verification_id, thumbprint=str(detail.get("thumbprint") or ""),
            message=str(f.get("message") or ""), onboarding_id=detail.get("onboarding_id"),
            uploaded_at=detail.get("uploaded_at"), occurred_at=occurred_at))

    expiry = dict(state.expiry)
    expiring = _expiring(record)
    if expiring is not None:
        thumbprint, not_after, days_left = expiring
        threshold = threshold_for(days_left)
        told = expiry.get(thumbprint)
        if threshold is not None and (told is None or threshold < told):
            raised.append(events.certificate_expiring(
                tenant=tenant, verification_id=verification_id, thumbprint=thumbprint, not_after=not_after,
                days_left=int(days_left), threshold=threshold, occurred_at=occurred_at))
            expiry[thumbprint] = threshold
    # A certificate no longer current needs no more warnings: forget it, so the state stays small.
    current = expiring[0] if expiring else _current_thumbprint(record)
    expiry = {k: v for k, v in expiry.items() if k == current}
    return raised, NoticeState(findings=sorted(standing), expiry=expiry, keys_removed=sorted(removed_prints))


def _current_thumbprint(record: Mapping[str, Any]) -> str | None:
    cert = (record.get("facts") or {}).get("auth_certificate")
    return str(cert["thumbprint"]).upper() if isinstance(cert, Mapping) and cert.get("thumbprint") else None


def _expiring(record: Mapping[str, Any]) -> tuple[str, str, float] | None:
    """(thumbprint, not_after, days left) of a current certificate that has not expired and has no staged
    successor; None otherwise (an expired one is drift: cert_expired)."""
    facts = record.get("facts") or {}
    cert = facts.get("auth_certificate")
    if not isinstance(cert, Mapping) or cert.get("days_left") is None or not cert.get("thumbprint"):
        return None
    days_left = float(cert["days_left"])
    if days_left <= 0:
        return None
    thumbprint = str(cert["thumbprint"]).upper()
    staged = facts.get("next_certificate")
    if isinstance(staged, Mapping) and staged.get("thumbprint") and str(staged["thumbprint"]).upper() != thumbprint:
        return None
    return thumbprint, str(cert.get("not_after") or ""), days_left


def fleet_events(
    records: Iterable[Mapping[str, Any]], states: Mapping[str, NoticeState], summary: Mapping[str, Any],
    *, occurred_at: str,
) -> tuple[list[events.Event], dict[str, NoticeState]]:
    """Every tenant's events, then the fleet's verification.completed; and each tenant's new state."""
    verification_id = str(summary.get("verification_id") or "verification")
    raised: list[events.Event] = []
    new_states: dict[str, NoticeState] = {}
    for record in records:
        domain = str(record["domain"])
        tenant_raised, new_states[domain] = tenant_events(
            record, states.get(domain) or NoticeState(), verification_id=verification_id, occurred_at=occurred_at)
        raised += tenant_raised
    raised.append(events.verification_completed(summary=summary, occurred_at=occurred_at))
    return raised, new_states
