"""Drift classification: what one tenant's re-discovery says about it. Pure: no I/O, no clock, no environment.

Verification re-reads a tenant (Exchange discovery, tenant discovery, the probe on each Mailbox server) into a
`TenantObservation`, and `classify()` turns it into a `VerificationRecord`: healthy, drifting or failing, with one
`Finding` per thing that is wrong. Drift is configuration an onboarding put in place that is no longer there;
failing means we could not check, the probe fails, or a person must act (a server below the gate).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pushproxy.errors import SpecError
from pushproxy.exchange.acs import acs_url_realms, auth_server_serves_realm
from pushproxy.exchange.models import AUTH_METADATA_URL_TEMPLATE, ExchangeDiscovery, ProbeResult
from pushproxy.plan import staged_next_certificate
from pushproxy.registry.models import (
    Finding,
    OnboardingRecord,
    VerificationRecord,
    VerificationSummary,
    normalize_domain,
    parse_time,
)
from pushproxy.spec import REMEDIATION_POLICIES
from pushproxy.tenant.models import TenantDiscovery, normalize_thumbprint

# Every kind of finding, in the order a report lists them.
UNVERIFIABLE = "unverifiable"
EXCHANGE_UNREACHABLE = "exchange_unreachable"
TENANT_UNREACHABLE = "tenant_unreachable"
TENANT_BLOCKED = "tenant_blocked"
EXCHANGE_BLOCKED = "exchange_blocked"
SERVER_BELOW_GATE = "server_below_gate"
PROXY_DISABLED = "proxy_disabled"
AUTH_SERVER_MISSING = "auth_server_missing"
AUTH_SERVER_WRONG = "auth_server_wrong"
CERT_MISSING = "cert_missing"
CERT_NOT_EVERYWHERE = "cert_not_everywhere"  # valid, but missing on some Mailbox server: an onboarding imports it
CERT_EXPIRED = "cert_expired"
CERT_EXPIRING = "cert_expiring"
KEY_MISSING = "key_missing"
KEY_REMOVED = "key_removed"
NEXT_CERT_KEY_MISSING = "next_cert_key_missing"
EXPIRED_KEY = "expired_key"
PROBE_FAILED = "probe_failed"
# The dedicated Exchange hybrid application (pushproxy.hybrid): clean-up mode removed the on-premises keys from the
# shared principal (push notifications need one there), or the dedicated app lacks the current certificate's key
# (hybrid free/busy and MailTips fail).
HYBRID_CLEANUP_RUN = "hybrid_cleanup_run"
HYBRID_APP_KEY_MISSING = "hybrid_app_key_missing"

DRIFT_KINDS: tuple[str, ...] = (
    UNVERIFIABLE,
    EXCHANGE_UNREACHABLE,
    TENANT_UNREACHABLE,
    TENANT_BLOCKED,
    EXCHANGE_BLOCKED,
    SERVER_BELOW_GATE,
    PROXY_DISABLED,
    AUTH_SERVER_MISSING,
    AUTH_SERVER_WRONG,
    CERT_MISSING,
    CERT_NOT_EVERYWHERE,
    CERT_EXPIRED,
    CERT_EXPIRING,
    KEY_MISSING,
    KEY_REMOVED,
    NEXT_CERT_KEY_MISSING,
    HYBRID_CLEANUP_RUN,
    HYBRID_APP_KEY_MISSING,
    EXPIRED_KEY,
    PROBE_FAILED,
)

# What an onboarding run puts back (its plan creates a certificate only when none is valid, so an expiring but
# still valid one is for a person or a later rotation workflow, not for remediation). A staged next certificate's
# missing key is, when the plan would upload it (pushproxy.plan.staged_next_certificate; the finding's detail says
# `uploadable`): one staged but unpublished, expired or weak is a person's to fix, and remediating it would loop.
REMEDIABLE_KINDS: frozenset[str] = frozenset(
    {PROXY_DISABLED, AUTH_SERVER_MISSING, AUTH_SERVER_WRONG, CERT_MISSING, CERT_NOT_EVERYWHERE, CERT_EXPIRED,
     KEY_MISSING, NEXT_CERT_KEY_MISSING, HYBRID_APP_KEY_MISSING}
)
# The finding details remediable_findings() reads: the verification workflow keeps them when it slims a record.
DECISION_DETAIL: frozenset[str] = frozenset({"uploadable"})
# While any of these stands, an onboarding can't help (can't reach, or the plan would block): don't start one.
# KEY_REMOVED too: any onboarding plans the missing key again, and re-adding a key that the tenant's own clean-up
# (Exchange hybrid clean-up mode) removed, every day, is the loop DOMAIN.md forbids; a person decides instead.
PREVENTS_REMEDIATION: frozenset[str] = frozenset(
    {UNVERIFIABLE, EXCHANGE_UNREACHABLE, TENANT_UNREACHABLE, TENANT_BLOCKED, EXCHANGE_BLOCKED, SERVER_BELOW_GATE,
     KEY_REMOVED, HYBRID_CLEANUP_RUN}
)
# Findings that make a tenant "failing" rather than "drifting" (we could not check, it is broken, or a person
# must decide: a removed key is the last two).
FAILURE_KINDS: frozenset[str] = frozenset(
    {UNVERIFIABLE, EXCHANGE_UNREACHABLE, TENANT_UNREACHABLE, TENANT_BLOCKED, EXCHANGE_BLOCKED, SERVER_BELOW_GATE,
     CERT_EXPIRED, KEY_REMOVED, PROBE_FAILED, HYBRID_CLEANUP_RUN}
)

UPLOAD_CHANGE = "upload_tenant_key"  # the onboarding change that puts a key on the service principal (pushproxy.plan)


@dataclass(frozen=True)
class KeyUpload:
    """A key one of our onboardings put on the Exchange Online service principal, as the registry recorded it.

    `thumbprint` is None when the record does not say which key it was (it still says we uploaded one).
    """

    thumbprint: str | None
    instance_id: str
    uploaded_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "instance_id": self.instance_id,
            "uploaded_at": self.uploaded_at.isoformat() if self.uploaded_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyUpload:
        thumbprint = data.get("thumbprint")
        uploaded_at = data.get("uploaded_at")
        return cls(
            thumbprint=_thumbprint(thumbprint),
            instance_id=str(data.get("instance_id") or ""),
            uploaded_at=parse_time(uploaded_at, "uploaded_at") if uploaded_at else None,
        )


def _thumbprint(value: Any) -> str | None:
    """A thumbprint as the tenant side compares them (upper-case hex), or None when there is none to compare."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalize_thumbprint(value)
    except SpecError:  # a record we can't read still says we uploaded a key: it counts, unmatched
        return None


def key_uploads(onboardings: Iterable[OnboardingRecord]) -> tuple[KeyUpload, ...]:
    """The keys our onboardings put on the service principal: each `upload_tenant_key` change that did not fail.

    An outcome of "none" counts too: the step found the key already there, which after a retry of its own
    write (or a concurrent writer) still means the key was there because this onboarding wanted it. A change
    without an outcome never ran (the run stopped before it), so it does not count.
    """
    uploads: list[KeyUpload] = []
    for record in onboardings:
        for change in record.changes:
            if not isinstance(change, dict) or change.get("kind") != UPLOAD_CHANGE:
                continue
            if change.get("outcome") in (None, "failed"):
                continue
            result = change.get("result") if isinstance(change.get("result"), dict) else {}
            details = change.get("details") if isinstance(change.get("details"), dict) else {}
            # One change carries every key of its run (result `thumbprints`, details `keys`); older records one.
            listed = (result or {}).get("thumbprints") or [k.get("thumbprint") for k in (details or {}).get("keys") or []
                                                           if isinstance(k, dict)]
            thumbprints = [_thumbprint(t) for t in listed] or [
                _thumbprint((result or {}).get("thumbprint")) or _thumbprint((details or {}).get("thumbprint"))
            ]
            for thumbprint in thumbprints:
                uploads.append(KeyUpload(thumbprint, record.instance_id, record.finished_at or record.started_at))
    # Newest first: a finding names the latest upload of the key.
    uploads.sort(key=lambda u: u.uploaded_at.timestamp() if u.uploaded_at else 0.0, reverse=True)
    return tuple(uploads)



@dataclass(frozen=True)
class TenantObservation:
    """What one verification read about a tenant. A part that could not be read carries its error instead."""

    domain: str
    exchange: ExchangeDiscovery | None = None
    exchange_error: str | None = None
    tenant: TenantDiscovery | None = None
    tenant_error: str | None = None
    probes: tuple[ProbeResult, ...] = ()
    probe_error: str | None = None
    durations_ms: dict[str, int] | None = None  # how long each side took to read (operational figure)
    # From the registry, not the tenant: the keys our onboardings uploaded, so that a missing one we put there
    # (removed since, maybe by hybrid clean-up mode) is told apart from one we never uploaded.
    key_uploads: tuple[KeyUpload, ...] = ()
    # The spec's tenant id: an AuthServer naming the tenant by id (Hybrid Wizard's `ACS - {guid}`) is ours too.
    # None: the id the tenant discovery read, if any.
    tenant_id: str | None = None
    # The spec's tenant.shared_principal_key: under leave_to_cleanup, a dedicated-app organisation's shared
    # principal lacking our key is the operator's decision, not drift.
    shared_principal_key: str = "keep"

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "tenant_id": self.tenant_id,
            "exchange": self.exchange.to_dict() if self.exchange else None,
            "exchange_error": self.exchange_error,
            "tenant": self.tenant.to_dict() if self.tenant else None,
            "tenant_error": self.tenant_error,
            "probes": [p.to_dict() for p in self.probes],
            "probe_error": self.probe_error,
            "durations_ms": self.durations_ms,
            "key_uploads": [u.to_dict() for u in self.key_uploads],
            "shared_principal_key": self.shared_principal_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TenantObservation:
        return cls(
            domain=normalize_domain(data.get("domain"), "domain"),
            exchange=ExchangeDiscovery.from_dict(data["exchange"]) if data.get("exchange") else None,
            exchange_error=data.get("exchange_error"),
            tenant=TenantDiscovery.from_dict(data["tenant"]) if data.get("tenant") else None,
            tenant_error=data.get("tenant_error"),
            probes=tuple(ProbeResult.from_dict(p) for p in data.get("probes") or ()),
            probe_error=data.get("probe_error"),
            durations_ms=data.get("durations_ms"),
            key_uploads=tuple(KeyUpload.from_dict(u) for u in data.get("key_uploads") or ()),
            tenant_id=data.get("tenant_id") or None,
            shared_principal_key=str(data.get("shared_principal_key") or "keep"),
        )


def _finding(kind: str, message: str, **detail: Any) -> Finding:
    return Finding(kind=kind, message=message, severity="failure" if kind in FAILURE_KINDS else "drift", detail=detail)


def classify(
    observation: TenantObservation,
    *,
    now: datetime,
    expiry_warning_days: int,
    verification_id: str | None = None,
) -> VerificationRecord:
    """The verification result of one tenant: its findings, and healthy / drifting / failing."""
    findings: list[Finding] = []
    facts: dict[str, Any] = {"durations_ms": observation.durations_ms} if observation.durations_ms else {}
    ex, tn = observation.exchange, observation.tenant

    if ex is None:
        findings.append(_finding(EXCHANGE_UNREACHABLE, f"Exchange could not be read: {observation.exchange_error or 'unknown error'}"))
    if tn is None:
        findings.append(_finding(TENANT_UNREACHABLE, f"the tenant could not be read: {observation.tenant_error or 'unknown error'}"))
    else:
        for problem in tn.blocking:
            findings.append(_finding(TENANT_BLOCKED, problem.message, code=problem.code))

    if ex is not None:
        tenant_id = observation.tenant_id or (tn.facts.tenant_id if tn is not None else None) or None
        findings += _exchange_findings(ex, observation.domain, facts, tenant_id)
        findings += _certificate_findings(ex, tn, now, expiry_warning_days, facts, observation.key_uploads)
        hybrid = _hybrid_findings(ex, tn, facts, observation.key_uploads, tenant_id)
        if observation.shared_principal_key == "leave_to_cleanup" and (facts.get("hybrid") or {}).get("application") \
                and facts["hybrid"]["mode"] != "shared_principal":
            # The operator gave the shared principal up to clean-up mode: its missing keys are not drift.
            facts["hybrid"]["shared_principal_key"] = "leave_to_cleanup"
            findings = [f for f in findings if f.kind not in (KEY_MISSING, KEY_REMOVED, NEXT_CERT_KEY_MISSING)]
            hybrid = [f for f in hybrid if f.kind != HYBRID_CLEANUP_RUN]
        findings += hybrid

        findings += _probe_findings(observation, facts)

    findings.sort(key=lambda f: DRIFT_KINDS.index(f.kind) if f.kind in DRIFT_KINDS else len(DRIFT_KINDS))
    if any(f.severity == "failure" for f in findings):
        state = "failing"
    elif findings:
        state = "drifting"
    else:
        state = "healthy"
    return VerificationRecord(
        domain=observation.domain,
        verified_at=now,
        state=state,
        findings=tuple(findings),
        verification_id=verification_id,
        facts=facts,
    )


def _exchange_findings(ex: ExchangeDiscovery, domain: str, facts: dict[str, Any], tenant_id: str | None = None) -> list[Finding]:
    findings: list[Finding] = []
    # Discovery's own blocking problems; the two it shares with us are reported by kind below.
    for problem in ex.blocking:
        if problem.code not in ("server_below_minimum", "auth_certificate_missing"):
            findings.append(_finding(EXCHANGE_BLOCKED, problem.message, code=problem.code, server=problem.server))
    facts["servers"] = [{"name": s.name, "build": s.build, "meets_minimum": s.meets_minimum} for s in ex.servers]
    for server in ex.servers:
        if server.gated and not server.meets_minimum:
            findings.append(
                _finding(
                    SERVER_BELOW_GATE,
                    f"{server.name} runs {server.build or server.admin_display_version}, below Exchange 2013 CU3 (15.0.775.38)",
                    server=server.name,
                    build=server.build,
                )
            )

    proxy = ex.push_proxy
    facts["push_proxy"] = {"enabled": proxy.enabled, "organization": proxy.organization}
    if not proxy.present:
        findings.append(_finding(PROXY_DISABLED, "the push-notification proxy app (OnPrem-Proxy) is gone"))
    elif not proxy.enabled:
        findings.append(_finding(PROXY_DISABLED, "the push-notification proxy is disabled"))
    elif proxy.organization and proxy.organization.lower() != domain:
        findings.append(
            _finding(PROXY_DISABLED, f"the push-notification proxy is enabled for {proxy.organization}, not {domain}",
                     organization=proxy.organization)
        )

    expected = AUTH_METADATA_URL_TEMPLATE.format(realm=domain).lower()
    # The same test as the onboarding plan's (acs.auth_server_serves_realm), or a server the plan leaves in place
    # would be reported wrong on every run: by URL and realm, query or path form, tenant domain or id, any name.
    matching = [a for a in ex.auth_servers if auth_server_serves_realm(a, domain, tenant_id=tenant_id)]
    if any(a.enabled for a in matching):
        pass
    elif matching:
        findings.append(_finding(AUTH_SERVER_WRONG, f"the AuthServer {matching[0].name} is disabled", name=matching[0].name))
    else:
        # One named as ours, or on the ACS metadata endpoint for another realm, is "wrong". EvoSts servers (Azure AD,
        # hybrid modern auth) are neither ours nor wrong: they are not the ACS issuer the proxy needs.
        suspects = [
            a for a in ex.auth_servers
            if a.name.lower() == "microsoftsts" or acs_url_realms(a.auth_metadata_url) is not None
        ]
        if suspects:
            findings.append(
                _finding(AUTH_SERVER_WRONG, f"the AuthServer {suspects[0].name} points at {suspects[0].auth_metadata_url}, not {expected}",
                         name=suspects[0].name, url=suspects[0].auth_metadata_url, expected=expected)
            )
        else:
            findings.append(_finding(AUTH_SERVER_MISSING, f"no AuthServer points at {expected}", expected=expected))
    return findings


def _certificate_findings(
    ex: ExchangeDiscovery, tn: TenantDiscovery | None, now: datetime, warning_days: int, facts: dict[str, Any],
    uploads: tuple[KeyUpload, ...],
) -> list[Finding]:
    findings: list[Finding] = []
    current = ex.current_certificate
    thumbprint = ex.auth_config.current_thumbprint
    if current is None:
        if thumbprint:
            findings.append(_finding(CERT_MISSING, f"the Auth certificate {thumbprint} is on no server", thumbprint=thumbprint))
        else:
            findings.append(_finding(CERT_MISSING, "no Auth certificate is configured (Get-AuthConfig)"))
    else:
        days_left = (current.not_after - now).total_seconds() / 86400
        facts["auth_certificate"] = {
            "thumbprint": current.thumbprint,
            "not_after": current.not_after.isoformat(),
            "days_left": round(days_left, 1),
        }
        lacking = sorted(c.server for c in ex.auth_certificates
                         if c.slot == "current" and c.thumbprint == current.thumbprint and not c.present)
        if lacking and now < current.not_after:
            # Repair (issue 15): Microsoft's export/import, planned by the onboarding a remediation starts.
            findings.append(_finding(CERT_NOT_EVERYWHERE, f"the Auth certificate {current.thumbprint} is missing on "
                                     f"{', '.join(lacking)}", thumbprint=current.thumbprint, servers=lacking))
        if now >= current.not_after:
            findings.append(
                _finding(CERT_EXPIRED, f"the Auth certificate {current.thumbprint} expired on {current.not_after.date()}",
                         thumbprint=current.thumbprint, not_after=current.not_after.isoformat())
            )
        staged = _staged_rotation(ex, tn, current, now) if now < current.not_after else None
        if staged is not None:
            # A usable next certificate is staged (ours or anyone's): it takes over before the current one expires,
            # so the nearing expiry is not drift; `pushproxy verify` says when it publishes instead.
            facts["rotation"] = staged
        if now < current.not_after and staged is None and days_left <= warning_days:
            findings.append(
                _finding(CERT_EXPIRING,
                         f"the Auth certificate {current.thumbprint} expires in {int(days_left)} days ({current.not_after.date()})",
                         thumbprint=current.thumbprint, not_after=current.not_after.isoformat(), days_left=int(days_left))
            )
        if tn is not None and tn.service_principal is not None and not tn.has_key(current.thumbprint):
            findings.append(_missing_key_finding(current.thumbprint, tn, uploads))

    if tn is not None and tn.service_principal is not None:
        findings += _key_hygiene(tn, now, facts, uploads)

    next_thumbprint = ex.auth_config.next_thumbprint
    if next_thumbprint and next_thumbprint != thumbprint:  # a renewal is staged: expiry warnings can stop
        staged_on = ex.auth_config.next_effective_date
        facts["next_certificate"] = {"thumbprint": next_thumbprint,
                                     "effective": staged_on.isoformat() if staged_on else None}
    if (next_thumbprint and next_thumbprint != thumbprint and tn is not None and tn.service_principal is not None
            and not tn.has_key(next_thumbprint)):
        findings.append(_next_key_finding(ex, next_thumbprint, tn, now, uploads))
    return findings


def _hybrid_findings(ex: ExchangeDiscovery, tn: TenantDiscovery | None, facts: dict[str, Any],
                     uploads: tuple[KeyUpload, ...], tenant_id: str | None) -> list[Finding]:
    """Which hybrid mode the organisation is in (a fact, always), clean-up mode reported as such, and a dedicated
    app lacking the current certificate's key (which an onboarding puts there)."""
    from pushproxy.hybrid import classify

    if not ex.hybrid.read:
        return []
    shared = tn.service_principal if tn is not None else None
    mode = classify(ex.hybrid, ex.auth_servers, ex.auth_config, shared,
                    tn.hybrid_applications if tn is not None else None,
                    ours=[u.thumbprint for u in uploads if u.thumbprint], tenant_id=tenant_id)
    facts["hybrid"] = {"mode": mode.mode, "summary": mode.summary, "push": mode.push,
                       "application": {"app_id": mode.application.app_id, "id": mode.application.id}
                       if mode.application else None, "problems": list(mode.problems)}
    findings: list[Finding] = []
    if mode.mode == "cleanup_run":
        findings.append(_finding(HYBRID_CLEANUP_RUN, f"{mode.summary}: {mode.push}", mode=mode.mode,
                                 app_id=mode.application.app_id if mode.application else None))
    current = ex.auth_config.current_thumbprint
    if mode.application is not None and mode.override_set and current and not mode.application.has_key(current):
        findings.append(_finding(HYBRID_APP_KEY_MISSING, f"the dedicated Exchange hybrid application "
                                 f"{mode.application.app_id} lacks the key of the current Auth certificate {current}: "
                                 "free/busy, MailTips and the other hybrid features fail", thumbprint=current,
                                 app_id=mode.application.app_id))
    return findings


def _key_hygiene(tn: TenantDiscovery, now: datetime, facts: dict[str, Any], uploads: tuple[KeyUpload, ...]) -> list[Finding]:
    """EXPIRED_KEY for each key we uploaded whose certificate has expired (a prune removes them, after approval).
    Keys we did not upload are counted, with the expired among them, and never reported as ours to remove."""
    assert tn.service_principal is not None
    ours = {u.thumbprint for u in uploads if u.thumbprint}
    keys = tn.service_principal.key_credentials
    mine = [k for k in keys if k.thumbprint in ours]
    foreign = [k for k in keys if k.thumbprint not in ours]
    expired = [k for k in mine if k.end is not None and k.end <= now]
    facts["keys"] = {"ours": len(mine), "ours_expired": len(expired), "foreign": len(foreign),
                     "foreign_expired": sum(1 for k in foreign if k.end is not None and k.end <= now)}
    return [
        _finding(EXPIRED_KEY, f"the key of {k.thumbprint}, which we uploaded, expired on {k.end.date() if k.end else '?'}: "
                 "`pushproxy prune` (or a prune remediation) removes it after approval",
                 thumbprint=k.thumbprint, key_id=k.key_id, end=k.end.isoformat() if k.end else None)
        for k in expired
    ]
def _staged_rotation(ex: ExchangeDiscovery, tn: TenantDiscovery | None, current: Any, now: datetime) -> dict[str, Any] | None:
    """The staged next certificate and its effective date when it is usable (pushproxy.rotation.usable_next)."""
    from pushproxy.rotation import Facts, usable_next

    if tn is None:
        return None
    staged, _ = usable_next(Facts(ex, tn), now, current)
    effective = ex.auth_config.next_effective_date
    if staged is None or effective is None:
        return None
    return {"staged": staged.thumbprint, "publishes_on": effective.isoformat(),
            "message": f"rotation staged, publishes on {effective.date().isoformat()}"}


def _next_key_finding(
    ex: ExchangeDiscovery, thumbprint: str, tn: TenantDiscovery, now: datetime, uploads: tuple[KeyUpload, ...]
) -> Finding:
    """NEXT_CERT_KEY_MISSING for a staged next certificate whose key is not on the service principal, remediable
    (`uploadable`) when an onboarding's plan would upload it; KEY_REMOVED, as for the current key, when we uploaded
    it (or another key of ours is gone too): never fight clean-up mode over the next key either."""
    removed = _removed_upload(thumbprint, tn, uploads)
    if removed is not None:
        return _key_removed_finding(thumbprint, removed, what="staged next Auth certificate")
    staged, why_not = staged_next_certificate(ex, now)
    effective = ex.auth_config.next_effective_date
    when = f", taking effect {effective.isoformat()}" if effective else ""
    message = f"the next Auth certificate {thumbprint} is staged{when} but its key is not on the service principal"
    if why_not:
        message += f" ({why_not})"
    return _finding(NEXT_CERT_KEY_MISSING, message, thumbprint=thumbprint,
                    effective=effective.isoformat() if effective else None, uploadable=staged is not None,
                    reason=why_not)


def _removed_upload(thumbprint: str, tn: TenantDiscovery, uploads: tuple[KeyUpload, ...]) -> KeyUpload | None:
    """The upload of ours that says a missing key was removed rather than never there, if any."""
    wanted = _thumbprint(thumbprint)
    same = next((u for u in uploads if u.thumbprint == wanted), None)
    # Without a match, another upload of ours counts when it is gone as well (or the record can't say which key
    # it was): keys disappearing is what clean-up mode does. If every key we uploaded is still there, the Auth
    # certificate was changed outside pushproxy and its key is simply new to the service principal.
    return same or next((u for u in uploads if u.thumbprint is None or not tn.has_key(u.thumbprint)), None)


def _missing_key_finding(thumbprint: str, tn: TenantDiscovery, uploads: tuple[KeyUpload, ...]) -> Finding:
    """KEY_REMOVED when the missing key is one we put there (or, failing a thumbprint match, a key we uploaded
    for this tenant is gone too); KEY_MISSING, which an onboarding may put back, when we never uploaded it."""
    removed = _removed_upload(thumbprint, tn, uploads)
    if removed is None:
        return _finding(KEY_MISSING, f"the Exchange Online service principal lacks the key of {thumbprint}",
                        thumbprint=thumbprint)
    return _key_removed_finding(thumbprint, removed, what="Auth certificate")


def _key_removed_finding(thumbprint: str, removed: KeyUpload, *, what: str) -> Finding:
    same = removed.thumbprint is not None and removed.thumbprint == _thumbprint(thumbprint)
    uploaded = f"onboarding {removed.instance_id}" + (f" on {removed.uploaded_at.date()}" if removed.uploaded_at else "")
    consequence = (
        ", possibly by Exchange hybrid clean-up mode (the dedicated Exchange hybrid app). pushproxy will not re-add it "
        "automatically: a person should decide whether to start an onboarding by hand or move to the dedicated hybrid app"
    )
    if same:
        message = (f"the key of {what} {thumbprint}, which we uploaded ({uploaded}), was removed from the "
                   f"shared Exchange Online service principal{consequence}")
    else:
        earlier = f" ({removed.thumbprint}, {uploaded})" if removed.thumbprint else f" ({uploaded})"
        message = (f"the key of {what} {thumbprint} is not on the shared Exchange Online service principal, "
                   f"and the key we uploaded earlier{earlier} was removed from it{consequence}")
    return _finding(
        KEY_REMOVED,
        message,
        thumbprint=thumbprint,
        uploaded_thumbprint=removed.thumbprint,
        onboarding_id=removed.instance_id,
        uploaded_at=removed.uploaded_at.isoformat() if removed.uploaded_at else None,
    )


def _probe_findings(observation: TenantObservation, facts: dict[str, Any]) -> list[Finding]:
    facts["probes"] = [{"server": p.server, "result_type": p.result_type} for p in observation.probes]
    if observation.probe_error:
        return [_finding(PROBE_FAILED, f"the probe could not run: {observation.probe_error}")]
    return [
        _finding(PROBE_FAILED, f"the probe failed on {p.server}: {p.error or p.result_type}", server=p.server,
                 result_type=p.result_type, error=p.error)
        for p in observation.probes
        if not p.succeeded
    ]


def unverifiable(domain: str, reason: str, *, now: datetime, verification_id: str | None = None) -> VerificationRecord:
    """The record of a tenant that could not be verified at all (no spec, a bad spec, a crash in verification)."""
    return VerificationRecord(
        domain=domain,
        verified_at=now,
        state="failing",
        findings=(_finding(UNVERIFIABLE, reason),),
        verification_id=verification_id,
    )


def remediation_policy(spec: dict[str, Any]) -> str:
    """A tenant's remediation policy: `spec["remediation"]["policy"]` when set, else "onboard" when every change
    needs a person's approval anyway, and "off" when the spec auto-approves (no unattended change from a timer)."""
    remediation = spec.get("remediation")
    if isinstance(remediation, dict) and remediation.get("policy") in REMEDIATION_POLICIES:
        return str(remediation["policy"])
    approval = spec.get("approval")
    policy = approval.get("policy") if isinstance(approval, dict) else None
    return "off" if policy == "auto" else "onboard"


def remediable_findings(record: VerificationRecord) -> list[Finding]:
    """The findings an onboarding would put right, or none when something stands in its way."""
    kinds = {f.kind for f in record.findings}
    if kinds & PREVENTS_REMEDIATION:
        return []
    # A staged next certificate's missing key counts only when the plan would upload it (see REMEDIABLE_KINDS).
    return [
        f for f in record.findings
        if f.kind in REMEDIABLE_KINDS and not (f.kind == NEXT_CERT_KEY_MISSING and not f.detail.get("uploadable"))
    ]


# What a rotation puts right (issue 15): an Auth certificate nearing expiry with no usable next one staged.
ROTATION_KINDS: frozenset[str] = frozenset({CERT_EXPIRING})


def remediation_workflow(record: VerificationRecord, policy: str = "onboard") -> str | None:
    """Which workflow a remediation starts, one at a time: "rotation" for an expiring certificate, "onboarding" for
    the rest of what an onboarding puts right; else "prune" when our keys of expired certificates are all there is
    to tidy (a prune asks for approval too; the next verification starts it); None when nothing can (the policy is
    off, or something stands in the way)."""
    if policy != "onboard":
        return None
    kinds = {f.kind for f in record.findings}
    if kinds & PREVENTS_REMEDIATION:
        return None
    if kinds & ROTATION_KINDS:
        return "rotation"
    if remediable_findings(record):
        return "onboarding"
    if EXPIRED_KEY in kinds:
        return "prune"
    return None


def should_remediate(record: VerificationRecord, policy: str) -> bool:
    """Whether verification should start a remediation onboarding or rotation for this tenant (a prune of expired
    keys of ours is tidying, started through remediation_workflow the same way)."""
    return remediation_workflow(record, policy) in ("onboarding", "rotation")


def summarize(verification_id: str, started_at: str, finished_at: str, records: list[dict[str, Any]],
              remediations: list[str]) -> VerificationSummary:
    """The fleet summary from the per-tenant records (as plain JSON, as they come back from activities)."""
    states = [r["state"] for r in records]
    return VerificationSummary(
        verification_id=verification_id,
        started_at=parse_time(started_at, "started_at"),
        finished_at=parse_time(finished_at, "finished_at"),
        total=len(states),
        healthy=states.count("healthy"),
        drifting=states.count("drifting"),
        failing=states.count("failing"),
        remediations=tuple(sorted(remediations)),
    )
