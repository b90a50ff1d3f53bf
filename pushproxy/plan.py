"""Discovered state -> the onboarding plan: blocking problems, or only the changes still missing.

A pure function of the two discoveries' `to_dict()` shapes and the time (the orchestrator passes
`context.current_utc_datetime`), so it replays identically and is tested exhaustively without I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pushproxy.activity_names import Activity
from pushproxy.exchange.acs import auth_server_serves_realm
from pushproxy.exchange.models import (
    AUTH_METADATA_URL_TEMPLATE,
    COPY_ADVICE,
    MIN_AUTH_KEY_SIZE,
    AuthCertificate,
    ExchangeDiscovery,
)
from pushproxy.hybrid import HybridMode, classify, describe_targets, key_targets, organisation_certificates
from pushproxy.tenant.models import TenantDiscovery

Group = Literal["on_premises", "tenant"]
GROUPS: tuple[Group, ...] = ("on_premises", "tenant")  # approved in this order
AUTH_SERVER_NAME = "MicrosoftSts"  # the seed's name, used only when we create one

# The order changes are applied in. A new Auth certificate is on every Mailbox server (Exchange pushes it only
# within one AD site; we import it on the others) and its public key on the tenant's service principal BEFORE it
# becomes current: from that moment Exchange signs with it, and Entra ID must be able to check the signature.
# The AuthServer keeps the seed's place (after the certificate is made, before the tenant key).
KINDS: tuple[str, ...] = (
    Activity.CREATE_AUTH_CERTIFICATE,
    Activity.IMPORT_AUTH_CERTIFICATE,
    Activity.ENSURE_AUTH_SERVER,
    Activity.UPLOAD_TENANT_KEY,
    Activity.ASSIGN_AUTH_CERTIFICATE,
    Activity.ENABLE_PUSH_PROXY,
)
KIND_GROUP: dict[str, Group] = {
    Activity.CREATE_AUTH_CERTIFICATE: "on_premises",
    Activity.IMPORT_AUTH_CERTIFICATE: "on_premises",
    Activity.ASSIGN_AUTH_CERTIFICATE: "on_premises",
    Activity.ENSURE_AUTH_SERVER: "on_premises",
    Activity.UPLOAD_TENANT_KEY: "tenant",
    Activity.ENABLE_PUSH_PROXY: "on_premises",
}
# Problem codes computed here; the discoveries' own problems with other codes are passed through.
BLOCKING_CODES = (
    "tenant_domain_not_verified",
    "server_below_minimum",
    "no_exchange_service_principal",
    "auth_certificate_missing",
    "no_mailbox_server",
)


@dataclass(frozen=True)
class Change:
    """One change the workflow will make, once approved. `details` is plain JSON for the activity and the approver."""

    kind: str
    group: Group
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "group": self.group, "summary": self.summary, "details": dict(self.details)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Change:
        kind = str(d["kind"])
        if kind not in KIND_GROUP:
            raise ValueError(f"kind: unknown change {kind!r}")
        return cls(kind=kind, group=KIND_GROUP[kind], summary=str(d.get("summary", "")), details=dict(d.get("details") or {}))


@dataclass(frozen=True)
class Problem:
    """A reason to stop before changing anything; a person has to fix it."""

    code: str
    message: str
    server: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "server": self.server}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Problem:
        return cls(code=str(d["code"]), message=str(d.get("message", "")), server=d.get("server"))


@dataclass(frozen=True)
class OnboardingPlan:
    """What discovery found missing, in apply order, with the hash of the state it was computed from."""

    tenant_domain: str
    state_hash: str
    changes: tuple[Change, ...] = ()
    blocking: tuple[Problem, ...] = ()
    probe_server: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_blocked(self) -> bool:
        return bool(self.blocking)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def group(self, name: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.group == name)

    def kinds(self) -> list[str]:
        return [c.kind for c in self.changes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_domain": self.tenant_domain,
            "state_hash": self.state_hash,
            "changes": [c.to_dict() for c in self.changes],
            "blocking": [p.to_dict() for p in self.blocking],
            "probe_server": self.probe_server,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OnboardingPlan:
        return cls(
            tenant_domain=str(d["tenant_domain"]),
            state_hash=str(d["state_hash"]),
            changes=tuple(Change.from_dict(c) for c in d.get("changes", ())),
            blocking=tuple(Problem.from_dict(p) for p in d.get("blocking", ())),
            probe_server=d.get("probe_server"),
            notes=tuple(str(n) for n in d.get("notes", ())),
        )


def metadata_url(tenant_domain: str) -> str:
    """The AuthServer metadata URL of a realm (the tenant domain)."""
    return AUTH_METADATA_URL_TEMPLATE.format(realm=tenant_domain.lower())


def plan_onboarding(
    exchange: Mapping[str, Any],
    tenant: Mapping[str, Any],
    tenant_domain: str,
    now: datetime,
    *,
    tenant_id: str | None = None,
    shared_principal_key: str = "keep",
) -> OnboardingPlan:
    """The plan for `tenant_domain` given the discoveries (their `to_dict()` shapes) at time `now`.

    `shared_principal_key` (the spec's tenant.shared_principal_key) decides, with the organisation's hybrid mode
    (pushproxy.hybrid), whether a key goes on the shared principal as well as on a dedicated hybrid app.

    `tenant_id` (the spec's) lets an AuthServer naming the tenant by its id count as ours; without it, the id the
    tenant discovery read is used (the same tenant: Graph was signed in to the spec's tenant id).
    """
    ex = ExchangeDiscovery.from_dict(exchange)
    tn = TenantDiscovery.from_dict(tenant)
    domain = tenant_domain.lower()
    tid = tenant_id or tn.facts.tenant_id or None
    state_hash = state_fingerprint(exchange, tenant)
    blocking = list(_tenant_problems(tn, domain)) + list(_server_problems(ex))
    mailbox = sorted((s for s in ex.servers if s.is_mailbox), key=lambda s: s.name.lower())
    probe_server = mailbox[0].fqdn if mailbox else None
    notes: list[str] = list(ex.facts)

    cert, cert_reason = _current_certificate(ex, now)
    # Repair: a valid current certificate missing on some Mailbox server is imported there from one that has it
    # (Microsoft's own repair, MonitorExchangeAuthCertificate: export with its key, import). It is an approved change
    # like any other; a private key that can't be exported fails that step with Exchange's message.
    repair: Change | None = None
    if cert is not None:
        copies = [c for c in ex.auth_certificates if c.slot == "current" and c.thumbprint == cert.thumbprint]
        missing_on = sorted(_server_of(ex, c.server) for c in copies if not c.present)
        holder = next((_server_of(ex, c.server) for c in copies if c.present), None)
        if missing_on and holder:
            repair = Change(
                Activity.IMPORT_AUTH_CERTIFICATE,
                "on_premises",
                f"Copy the current Auth certificate {cert.thumbprint} from {holder} to {', '.join(missing_on)} (export "
                "with its key, import): a Mailbox server without it fails OAuth",
                {"thumbprint": cert.thumbprint, "source": "discovery", "from": holder, "servers": missing_on},
            )

    # Problems the discoveries report that we do not compute ourselves are kept (never silently dropped).
    for p in list(ex.blocking) + list(tn.blocking):
        if p.code not in BLOCKING_CODES:
            blocking.append(Problem(p.code, p.message, getattr(p, "server", None)))

    if blocking:
        return OnboardingPlan(domain, state_hash, (), tuple(blocking), probe_server, tuple(notes))

    changes: list[Change] = [repair] if repair else []
    if cert is None:
        server = mailbox[0].name
        others = [s.name for s in mailbox if s.name != server and not s.is_edge]
        changes.append(
            Change(
                Activity.CREATE_AUTH_CERTIFICATE,
                "on_premises",
                f"Create a new Auth certificate on {server} ({cert_reason})",
                {"server": server, "reason": cert_reason, "replaces": ex.auth_config.current_thumbprint},
            )
        )
        if others:
            changes.append(
                Change(
                    Activity.IMPORT_AUTH_CERTIFICATE,
                    "on_premises",
                    f"Copy the new Auth certificate from {server} to {', '.join(others)} (export with its key, import), "
                    "so every Mailbox server has it before it becomes current",
                    {"thumbprint": None, "source": "create_auth_certificate", "from": server, "servers": others},
                )
            )
        changes.append(
            Change(
                Activity.ASSIGN_AUTH_CERTIFICATE,
                "on_premises",
                "Make the new certificate the current Auth certificate (Set-AuthConfig -CertificateThumbprint), once it "
                "is on every Mailbox server and its key is on the tenant's service principal",
                {"thumbprint": None, "source": "create_auth_certificate", "replaces": ex.auth_config.current_thumbprint},
            )
        )

    url = metadata_url(domain)
    # The same test ensure_auth_server applies: by metadata URL and realm, whatever the name (Hybrid Wizard's
    # `ACS - {guid}` naming the tenant id counts), so an applied plan is empty on the next run.
    serving = [a for a in ex.auth_servers if auth_server_serves_realm(a, domain, tenant_id=tid)]
    if not any(a.enabled for a in serving):
        existing = serving[0] if serving else next((a for a in ex.auth_servers if a.name.lower() == AUTH_SERVER_NAME.lower()), None)
        if existing is None:
            summary = f"Create the AuthServer {AUTH_SERVER_NAME} for realm {domain}"
        elif serving:
            summary = f"Enable the AuthServer {existing.name!r}, which serves realm {domain}"
        else:
            summary = f"Point the AuthServer {existing.name!r} at realm {domain} (it points at {existing.auth_metadata_url})"
        changes.append(
            Change(
                Activity.ENSURE_AUTH_SERVER,
                "on_premises",
                summary,
                {
                    "action": "update" if existing else "create",
                    "name": existing.name if existing else AUTH_SERVER_NAME,
                    "auth_metadata_url": url,
                    "current_url": existing.auth_metadata_url if existing else None,
                },
            )
        )

    sp = tn.service_principal
    assert sp is not None  # no service principal is a blocking problem, handled above
    hybrid = hybrid_mode(ex, tn, tid)
    if hybrid is not None:
        notes.append(f"hybrid: {hybrid.mode}: {hybrid.summary}; push notifications: {hybrid.push}")
        notes.extend(f"hybrid: {p}" for p in hybrid.problems)

    def missing(thumbprint: str) -> bool:
        """Whether a collection this key belongs on (pushproxy.hybrid.key_targets) lacks it."""
        if hybrid is None:
            return not sp.has_key(thumbprint)
        targets = key_targets(hybrid, shared_principal_key, [thumbprint], organisation_certificates(ex.auth_config))
        app = hybrid.application
        return any(not (sp.has_key(thumbprint) if t.kind == "servicePrincipal" else app is not None and app.has_key(thumbprint))
                   for t, _ in targets)
    # Every key this run puts on the service principal goes in ONE change, so ONE PATCH: two read-modify-write
    # PATCHes in a row can drop the first one's key when the second reads a replica that hasn't caught up.
    uploads: list[dict[str, Any]] = []
    summaries: list[str] = []
    if cert is None:
        uploads.append({"thumbprint": None, "source": "create_auth_certificate"})
        summaries.append("the new Auth certificate's public key")
    elif missing(cert.thumbprint):
        uploads.append({"thumbprint": cert.thumbprint, "source": "discovery", "not_after": cert.not_after.isoformat()})
        summaries.append(f"the public key of Auth certificate {cert.thumbprint}")

    # A staged next certificate (Set-AuthConfig -NewCertificateThumbprint/-NewCertificateEffectiveDate) signs from
    # its effective date on: its key must be on the service principal by then, or the proxy breaks that day. One
    # that can't be uploaded (missing somewhere, expired, weak) is a person's to fix: a note, never a blocker.
    staged, staged_reason = staged_next_certificate(ex, now)
    if staged is not None and missing(staged.thumbprint):
        effective = ex.auth_config.next_effective_date
        when = f"takes effect {effective.isoformat()}" if effective else "has no effective date yet"
        uploads.append(
            {
                "thumbprint": staged.thumbprint,
                "source": "next",
                "not_after": staged.not_after.isoformat(),
                "effective": effective.isoformat() if effective else None,
            }
        )
        summaries.append(f"the public key of the staged next Auth certificate {staged.thumbprint} ({when})")
    elif staged_reason:
        notes.append(staged_reason)
    if uploads:
        target = sp.display_name or "the Exchange Online service principal"
        summary = f"Add {' and '.join(summaries)} to {target} in one write (keeping its {len(sp.key_credentials)} existing key(s))"
        if hybrid is not None and hybrid.application is not None and hybrid.override_set:
            where = describe_targets(key_targets(hybrid, shared_principal_key, ["0" * 40]))
            summary = (f"Add {' and '.join(summaries)} to {where} (one write each, every existing key kept: "
                       f"{len(sp.key_credentials)} on the shared principal, {len(hybrid.application.key_credentials)} on the app)")
            if hybrid.mode == "cleanup_run":
                summary += "; not to the shared principal for a key clean-up mode removed from it"
        # `thumbprint`/`source` repeat the first key for readers of one-key changes (reports, verification).
        details: dict[str, Any] = {**uploads[0], "service_principal_id": sp.id, "keys": uploads}
        changes.append(Change(Activity.UPLOAD_TENANT_KEY, "tenant", summary, details))

    proxy = ex.push_proxy
    if not (proxy.enabled and (proxy.organization or "").lower() == domain):
        if not proxy.present:
            why = "it has never been enabled"
        elif not proxy.enabled:
            why = "it is disabled"
        else:
            why = f"it points at organisation {proxy.organization!r}"
        changes.append(
            Change(
                Activity.ENABLE_PUSH_PROXY,
                "on_premises",
                f"Enable the push-notification proxy for organisation {domain} ({why})",
                {"organization": domain, "was": proxy.to_dict()},
            )
        )

    changes.sort(key=lambda c: KINDS.index(c.kind))
    return OnboardingPlan(domain, state_hash, tuple(changes), (), probe_server, tuple(notes))


def hybrid_mode(ex: ExchangeDiscovery, tn: TenantDiscovery, tenant_id: str | None) -> HybridMode | None:
    """The organisation's hybrid mode from the two discoveries (None when the Exchange discovery predates it)."""
    if not ex.hybrid.read:
        return None
    return classify(ex.hybrid, ex.auth_servers, ex.auth_config, tn.service_principal, tn.hybrid_applications,
                    tenant_id=tenant_id)


def _server_of(ex: ExchangeDiscovery, name: str) -> str:
    """A server's name from the name or FQDN a certificate copy was read with."""
    lowered = name.lower()
    return next((s.name for s in ex.servers if lowered in (s.name.lower(), (s.fqdn or "").lower())), name)


def _tenant_problems(tn: TenantDiscovery, domain: str) -> list[Problem]:
    problems = []
    if not (tn.domain_verified or tn.facts.is_verified(domain)):
        problems.append(
            Problem(
                "tenant_domain_not_verified",
                f"{domain} is not a verified domain of tenant {tn.facts.tenant_id or '?'} "
                f"(verified: {', '.join(tn.facts.verified_domains) or 'none'})",
            )
        )
    if tn.service_principal is None:
        problems.append(
            Problem(
                "no_exchange_service_principal",
                "the tenant has no Exchange Online service principal (appId 00000002-0000-0ff1-ce00-000000000000): "
                "the organisation needs an Exchange Online subscription",
            )
        )
    return problems


def _server_problems(ex: ExchangeDiscovery) -> list[Problem]:
    problems = []
    for s in sorted(ex.servers, key=lambda s: s.name.lower()):
        if s.gated and not s.meets_minimum:
            problems.append(
                Problem(
                    "server_below_minimum",
                    f"{s.name} runs {s.release or s.build or s.admin_display_version or 'an unknown build'}; "
                    "the push-notification proxy needs Exchange 2013 CU3 (15.0.775.38) or later on every server",
                    s.name,
                )
            )
    if not any(s.is_mailbox for s in ex.servers):
        problems.append(Problem("no_mailbox_server", "the organisation has no Mailbox server"))
    return problems


def _current_certificate(ex: ExchangeDiscovery, now: datetime) -> tuple[AuthCertificate | None, str]:
    """The current Auth certificate when it is worth keeping, else None and why it must be created."""
    thumbprint = ex.auth_config.current_thumbprint
    if not thumbprint:
        return None, "no Auth certificate is configured"
    cert = next(
        (c.certificate for c in ex.auth_certificates if c.slot == "current" and c.certificate and c.present),
        None,
    )
    if cert is None:
        return None, f"the configured Auth certificate {thumbprint} is on no server"
    if now >= cert.not_after:
        return None, f"the current Auth certificate {cert.thumbprint} expired on {cert.not_after.date().isoformat()}"
    if now < cert.not_before:
        return None, f"the current Auth certificate {cert.thumbprint} is not valid before {cert.not_before.isoformat()}"
    if (cert.key_size or 0) < MIN_AUTH_KEY_SIZE:
        return None, f"the current Auth certificate {cert.thumbprint} has a {cert.key_size}-bit key (< {MIN_AUTH_KEY_SIZE})"
    return cert, "the current Auth certificate is valid"


def staged_next_certificate(ex: ExchangeDiscovery, now: datetime) -> tuple[AuthCertificate | None, str | None]:
    """The staged next Auth certificate whose key the service principal needs before it takes effect.

    (certificate, None) when its key should be uploaded; (None, why not) when one is staged but can't be (a person
    must act, or Exchange is about to make it current, after which it is the current certificate's key); (None,
    None) when nothing is staged. Shared with verification, so what it calls remediable is what a plan uploads.
    """
    thumbprint = ex.auth_config.next_thumbprint
    if not thumbprint or thumbprint == ex.auth_config.current_thumbprint:
        return None, None
    effective = ex.auth_config.next_effective_date
    if effective is not None and effective < now:
        return None, (
            f"the staged next Auth certificate {thumbprint} took effect on {effective.isoformat()} but is still staged: "
            "its key is not uploaded as a next key (once Exchange makes it current, onboarding uploads it as the current one)"
        )
    copies = [c for c in ex.auth_certificates if c.slot == "next" and c.thumbprint == thumbprint]
    cert = next((c.certificate for c in copies if c.present and c.certificate), None)
    missing = sorted(c.server for c in copies if not c.present)
    publish = f"{COPY_ADVICE} before it takes effect"
    if cert is None:
        return None, (
            f"the staged next Auth certificate {thumbprint} is on no Mailbox server: stage one that is (Set-AuthConfig "
            "-NewCertificateThumbprint checks the session server's store); its key is not uploaded"
        )
    if missing:
        return None, (
            f"the staged next Auth certificate {thumbprint} is missing on {', '.join(missing)}: {publish}; "
            "its key is uploaded once it is on every Mailbox server"
        )
    if now >= cert.not_after:
        return None, (
            f"the staged next Auth certificate {thumbprint} expired on {cert.not_after.date().isoformat()}: "
            "stage another one; its key is not uploaded"
        )
    if effective is not None and effective >= cert.not_after:
        return None, (
            f"the staged next Auth certificate {thumbprint} expires ({cert.not_after.date().isoformat()}) before it takes "
            f"effect ({effective.date().isoformat()}): stage another one; its key is not uploaded"
        )
    if (cert.key_size or 0) < MIN_AUTH_KEY_SIZE:
        return None, (
            f"the staged next Auth certificate {thumbprint} has a {cert.key_size}-bit key (< {MIN_AUTH_KEY_SIZE}): "
            "stage a stronger one; its key is not uploaded"
        )
    return cert, None


def state_fingerprint(exchange: Mapping[str, Any], tenant: Mapping[str, Any]) -> str:
    """SHA-256 of the facts the plan depends on, so an approval is bound to the state it was given for.

    Only those facts: a fresh session id or a re-ordered list must not look like a changed state.
    """
    ex = ExchangeDiscovery.from_dict(exchange)
    tn = TenantDiscovery.from_dict(tenant)
    sp = tn.service_principal
    facts = {
        "servers": sorted([s.name.lower(), s.build, s.meets_minimum, s.is_mailbox] for s in ex.servers),
        "auth_config": [
            ex.auth_config.current_thumbprint,
            ex.auth_config.next_thumbprint,
            ex.auth_config.next_effective_date.isoformat() if ex.auth_config.next_effective_date else None,
        ],
        "auth_certificates": sorted(
            [
                c.server.lower(),
                c.slot,
                c.thumbprint,
                c.present,
                c.certificate.not_after.isoformat() if c.certificate else None,
                c.certificate.key_size if c.certificate else None,
            ]
            for c in ex.auth_certificates
        ),
        "auth_servers": sorted(
            [a.name, (a.auth_metadata_url or "").lower(), (a.realm or "").lower(), a.enabled] for a in ex.auth_servers
        ),
        "push_proxy": [ex.push_proxy.present, ex.push_proxy.enabled, (ex.push_proxy.organization or "").lower()],
        "tenant": [tn.facts.tenant_id, tn.domain_verified, sorted(d.lower() for d in tn.facts.verified_domains)],
        "service_principal": None
        if sp is None
        else [sp.id, sorted([k.key_id, k.thumbprint or ""] for k in sp.key_credentials)],
    }
    # Only when there is something hybrid to say, so that a state without it hashes as it always did.
    if ex.hybrid.override_enabled or tn.hybrid_applications:
        facts["hybrid"] = [
            sorted(o.name for o in ex.hybrid.overrides if o.enables),
            sorted((a.application_identifier or "").lower() for a in ex.auth_servers if a.application_identifier),
            sorted([a.app_id, a.found, a.admin_consent, sorted([k.key_id, k.thumbprint or ""] for k in a.key_credentials)]
                   for a in tn.hybrid_applications),
        ]
    return hashlib.sha256(json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
