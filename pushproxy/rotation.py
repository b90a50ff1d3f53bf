"""The Auth certificate's renewal, decided: whether a rotation is due, and what it will do. Pure.

A function of the two discoveries' `to_dict()` shapes, the spec and the time (the orchestrator passes
`context.current_utc_datetime`), so it replays identically and is tested without I/O. The rotation workflow
(orchestrators/rotation.py) asks it at the start, after every wait and before every change.

The modes:
- `renew`: the current certificate expires within `rotation.renew_before_days` and no usable next one is staged:
  create, import, upload, stage for `rotation.staging_days` ahead (shorter when less time is left, never under
  48 h), wait, publish, retire.
- `emergency`: the current certificate is expired, too weak, missing, or expires before a 48-hour staging could take
  effect: create, import, upload, make it current at once, restart the services.
- `repair`: the current certificate is fine but missing on some Mailbox server: import it there.
- `none`: nothing to do (and why), `blocked`: a person must act first (and what).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pushproxy.exchange.models import MIN_AUTH_KEY_SIZE, AuthCertificate, ExchangeDiscovery
from pushproxy.hybrid import describe_targets, key_targets
from pushproxy.plan import hybrid_mode, state_fingerprint
from pushproxy.spec import TenantSpec
from pushproxy.tenant.models import TenantDiscovery

Mode = Literal["none", "renew", "emergency", "repair", "blocked"]
# Exchange asks for confirmation below 48 h (and a remote session can't answer); the extra hour covers the time
# between deciding the date and the Set-AuthConfig call.
MIN_STAGING_LEAD = timedelta(hours=49)
# A staged certificate should take effect a day before the current one expires, not in its last minute.
EXPIRY_MARGIN = timedelta(days=1)
# What the admin must do on the server when the Auth certificate has expired and remote PowerShell itself fails.
# Sources: Microsoft Learn "Configure certificate signing of PowerShell serialization payloads in Exchange Server"
# (the lead's research, /work/briefs/research/serialization-signing.md): with signing on (the default since the
# November 2023 SU on 2016/2019 and SE) the Auth certificate signs Exchange Management Shell payloads and must be
# valid on every server; CSS-Exchange docs/Admin/MonitorExchangeAuthCertificate.md (must run in an elevated EMS on a
# Mailbox server) and its New-ExchangeAuthCertificate.ps1 (stages with -NewCertificateEffectiveDate (Get-Date),
# -PublishCertificate, -ClearPreviousCertificate, restarts MSExchangeServiceHost and the OWA/ECP pools). That remote
# sessions fail with an expired certificate is an inference from the first source, not a documented error text.
EXPIRED_CERTIFICATE_ADVICE = (
    "With PowerShell serialization payload signing (on by default since the November 2023 Security Update), Exchange "
    "signs remote PowerShell payloads with the Auth certificate, so an expired Auth certificate can break remote "
    "PowerShell itself and pushproxy cannot repair it remotely. On a Mailbox server, in an elevated Exchange "
    "Management Shell, run MonitorExchangeAuthCertificate.ps1 -ValidateAndRenewAuthCertificate $true "
    "(https://aka.ms/MonitorExchangeAuthCertificate): it creates a new Auth certificate, makes it current "
    "(Set-AuthConfig -NewCertificateThumbprint T -NewCertificateEffectiveDate (Get-Date), then -PublishCertificate) "
    "and restarts MSExchangeServiceHost and the MSExchangeOWAAppPool/MSExchangeECPAppPool app pools; then run "
    "`pushproxy onboard` again, which copies it to the other Mailbox servers and puts its key on the tenant."
)
# What New-ExchangeCertificate makes (5 years): it has no lifetime parameter.
EXCHANGE_DEFAULT_LIFETIME_DAYS = 1826


@dataclass(frozen=True)
class RotationPlan:
    """What a rotation will do, for the approver and the activities; plain JSON in `to_dict`."""

    tenant_domain: str
    mode: Mode
    reason: str
    state_hash: str
    current: dict[str, Any] | None = None  # thumbprint, not_after of the certificate being replaced or repaired
    create: dict[str, Any] | None = None  # server, lifetime_days, key_size
    import_to: tuple[str, ...] = ()  # Mailbox servers that get the new (or, repairing, the current) certificate
    import_from: str | None = None
    effective: str | None = None  # ISO 8601; None: made current at once (emergency)
    keys_kept: int = 0  # keys on the service principal kept as they are
    # Where the new key goes, as the approver reads it (pushproxy.hybrid.key_targets): the shared principal, and the
    # dedicated hybrid app too when the organisation uses one. Empty: the shared principal only (older plans).
    key_to: str = ""
    blocking: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    probe_server: str | None = None

    @property
    def needs_work(self) -> bool:
        return self.mode in ("renew", "emergency", "repair")

    def summary(self) -> list[str]:
        """The plan as an approver reads it: one line per step."""
        lines: list[str] = []
        if self.mode == "repair":
            lines.append(f"Import the current Auth certificate {self.current and self.current['thumbprint']} from "
                         f"{self.import_from} on {', '.join(self.import_to)}")
            return lines
        if self.create:
            lines.append(f"Create a new Auth certificate on {self.create['server']} ({self.create['key_size']} bits, "
                         f"{self.create['lifetime_days']} days)")
        if self.import_to:
            lines.append(f"Import it on {', '.join(self.import_to)} (exported from {self.import_from} with a one-time "
                         "password)")
        if self.create:
            lines.append(f"Upload its public key to {self.key_to or 'the Exchange Online service principal'} (every "
                         f"existing key kept: {self.keys_kept} on the service principal)")
        if self.mode == "renew":
            lines.append(f"Stage it: Set-AuthConfig -NewCertificateThumbprint -NewCertificateEffectiveDate {self.effective}")
            lines.append("Then, on that date: Set-AuthConfig -PublishCertificate, restart MSExchangeServiceHost and the "
                         "OWA/ECP app pools, run the probe; later retire the old certificate (asks again)")
        elif self.mode == "emergency":
            lines.append("Make it current at once (Set-AuthConfig -CertificateThumbprint), restart MSExchangeServiceHost "
                         "and the OWA/ECP app pools, run the probe")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_domain": self.tenant_domain,
            "mode": self.mode,
            "reason": self.reason,
            "state_hash": self.state_hash,
            "current": self.current,
            "create": self.create,
            "import_to": list(self.import_to),
            "import_from": self.import_from,
            "effective": self.effective,
            "keys_kept": self.keys_kept,
            "key_to": self.key_to,
            "blocking": list(self.blocking),
            "notes": list(self.notes),
            "probe_server": self.probe_server,
            "steps": self.summary(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RotationPlan:
        return cls(
            tenant_domain=str(d["tenant_domain"]),
            mode=d["mode"],
            reason=str(d.get("reason") or ""),
            state_hash=str(d.get("state_hash") or ""),
            current=d.get("current"),
            create=d.get("create"),
            import_to=tuple(d.get("import_to") or ()),
            import_from=d.get("import_from"),
            effective=d.get("effective"),
            keys_kept=int(d.get("keys_kept") or 0),
            key_to=str(d.get("key_to") or ""),
            blocking=tuple(d.get("blocking") or ()),
            notes=tuple(d.get("notes") or ()),
            probe_server=d.get("probe_server"),
        )


@dataclass(frozen=True)
class Facts:
    """The discoveries, parsed once."""

    ex: ExchangeDiscovery
    tn: TenantDiscovery
    mailbox: tuple[str, ...] = field(default=())

    @classmethod
    def of(cls, exchange: Mapping[str, Any], tenant: Mapping[str, Any]) -> Facts:
        ex = ExchangeDiscovery.from_dict(exchange)
        tn = TenantDiscovery.from_dict(tenant)
        mailbox = tuple(sorted((s.name for s in ex.servers if s.is_mailbox and not s.is_edge), key=str.lower))
        return cls(ex, tn, mailbox)

    def copies(self, slot: str, thumbprint: str | None) -> list[Any]:
        return [c for c in self.ex.auth_certificates if c.slot == slot and c.thumbprint == thumbprint]

    def has_key(self, thumbprint: str) -> bool:
        """Whether the tenant holds the key: on the shared principal, or on the dedicated hybrid app (after clean-up
        mode, or under tenant.shared_principal_key leave_to_cleanup, the upload puts it only there)."""
        sp = self.tn.service_principal
        app = self.tn.hybrid_application()
        return bool(sp and sp.has_key(thumbprint)) or bool(app and app.has_key(thumbprint))


def short_name(server: str, ex: ExchangeDiscovery | None = None) -> str:
    """Discovery names certificate copies by FQDN; servers by name."""
    if ex is not None:
        lowered = server.lower()
        for s in ex.servers:
            if lowered in (s.name.lower(), (s.fqdn or "").lower()):
                return s.name
    return server.split(".", 1)[0]


def current_problem(f: Facts, now: datetime) -> tuple[AuthCertificate | None, str | None]:
    """The current certificate, and why it is unusable (None when it is usable)."""
    thumbprint = f.ex.auth_config.current_thumbprint
    if not thumbprint:
        return None, "no Auth certificate is configured"
    cert = next((c.certificate for c in f.copies("current", thumbprint) if c.present and c.certificate), None)
    if cert is None:
        return None, f"the configured Auth certificate {thumbprint} is on no Mailbox server"
    if now >= cert.not_after:
        return cert, f"the current Auth certificate {thumbprint} expired on {cert.not_after.date().isoformat()}"
    if now < cert.not_before:
        return cert, f"the current Auth certificate {thumbprint} is not valid before {cert.not_before.isoformat()}"
    if (cert.key_size or 0) < MIN_AUTH_KEY_SIZE:
        return cert, f"the current Auth certificate {thumbprint} has a {cert.key_size}-bit key (< {MIN_AUTH_KEY_SIZE})"
    return cert, None


def usable_next(f: Facts, now: datetime, current: AuthCertificate | None) -> tuple[AuthCertificate | None, str | None]:
    """The staged next certificate when it is usable (valid, >= 2048 bits, on every Mailbox server, its key in the
    tenant, effective before the current one expires); else None and why not (None: nothing staged)."""
    cfg = f.ex.auth_config
    thumbprint = cfg.next_thumbprint
    if not thumbprint or thumbprint == cfg.current_thumbprint:
        return None, None
    copies = f.copies("next", thumbprint)
    cert = next((c.certificate for c in copies if c.present and c.certificate), None)
    missing = sorted(short_name(c.server, f.ex) for c in copies if not c.present)
    if cert is None:
        return None, f"the staged next certificate {thumbprint} is on no Mailbox server"
    if missing:
        return None, f"the staged next certificate {thumbprint} is missing on {', '.join(missing)}"
    if not cert.is_usable(now):
        return None, f"the staged next certificate {thumbprint} is not valid now or has a weak key"
    if not f.has_key(thumbprint):
        return None, f"the staged next certificate {thumbprint} has no key on the tenant's service principal"
    effective = cfg.next_effective_date
    if current is not None and effective is not None and effective >= current.not_after:
        return None, f"the staged next certificate {thumbprint} takes effect only after the current one expires"
    if effective is not None and effective >= cert.not_after:
        return None, f"the staged next certificate {thumbprint} expires before it takes effect"
    return cert, None


def staging_date(now: datetime, current_not_after: datetime, staging_days: float) -> datetime | None:
    """The next certificate's effective date: `staging_days` ahead, shorter when the current one expires sooner
    (a day before it does), never under 48 h. None when even 48 h is too late (the current one expires first)."""
    lead = timedelta(days=staging_days)
    latest = current_not_after - EXPIRY_MARGIN - now
    lead = max(min(lead, latest), MIN_STAGING_LEAD)
    effective = now + lead
    if effective >= current_not_after:
        return None
    return effective.replace(microsecond=0)


def plan_rotation(
    exchange: Mapping[str, Any],
    tenant: Mapping[str, Any],
    spec: TenantSpec,
    now: datetime,
    *,
    key_lifetime_limit_days: int | None = None,
    key_policy_unread: str | None = None,
    force: bool = False,
) -> RotationPlan:
    """Whether a rotation is due for this state at `now`, and what it will do.

    `key_lifetime_limit_days`: the tenant's key-credential lifetime policy, when Graph exposes one;
    `key_policy_unread`: why it could not be read (the plan then says what happens if the tenant refuses the key). `force`: renew
    even when the current certificate is not within `renew_before_days` (an operator's explicit request)."""
    f = Facts.of(exchange, tenant)
    domain = spec.tenant_domain
    state_hash = state_fingerprint(exchange, tenant)
    probe_server = next((s.fqdn for s in sorted(f.ex.servers, key=lambda s: s.name.lower()) if s.is_mailbox), None)
    base: dict[str, Any] = {"tenant_domain": domain, "state_hash": state_hash, "probe_server": probe_server}
    sp = f.tn.service_principal
    blocking = [p.message for p in f.ex.blocking if p.code != "auth_certificate_missing"] + [p.message for p in f.tn.blocking]
    if sp is None:
        blocking.append("the tenant has no Exchange Online service principal")
    if not f.mailbox:
        blocking.append("the organisation has no Mailbox server")
    if blocking:
        return RotationPlan(mode="blocked", reason=blocking[0], blocking=tuple(blocking), **base)

    cert, problem = current_problem(f, now)
    current = None if cert is None else {"thumbprint": cert.thumbprint, "not_after": cert.not_after.isoformat()}
    notes: list[str] = []
    reason = problem or ""
    effective: datetime | None = None
    if problem is None and cert is not None:
        missing = sorted(short_name(c.server, f.ex) for c in f.copies("current", cert.thumbprint) if not c.present)
        holder = next(short_name(c.server, f.ex) for c in f.copies("current", cert.thumbprint) if c.present)
        left = cert.not_after - now
        staged, staged_why = usable_next(f, now, cert)
        if staged is not None:
            return RotationPlan(mode="none", reason=f"the next certificate {staged.thumbprint} is staged and usable",
                                current=current, **base)
        if staged_why:
            # Someone staged a next certificate that can't take over: it is theirs to fix or clear. Overwriting it
            # would fight them (and their tooling would put it back).
            return RotationPlan(mode="blocked", reason=f"{staged_why}: not replacing a next certificate someone else "
                                "staged; fix it or clear it (Set-AuthConfig -NewCertificateThumbprint) first",
                                current=current, blocking=(staged_why,), **base)
        due = force or left <= timedelta(days=spec.rotation.renew_before_days)
        if not due:
            if missing:
                return RotationPlan(mode="repair", reason=f"the current Auth certificate is missing on {', '.join(missing)}",
                                    current=current, import_from=holder, import_to=tuple(missing), notes=tuple(notes), **base)
            return RotationPlan(mode="none", reason=f"the current Auth certificate is valid until {cert.not_after.date().isoformat()}",
                                current=current, notes=tuple(notes), **base)
        effective = staging_date(now, cert.not_after, spec.rotation.staging_days)
        if effective is None:
            problem = (f"the current Auth certificate {cert.thumbprint} expires on {cert.not_after.isoformat()}, before a "
                       "next one staged 48 hours ahead could take effect")
        else:
            reason = (f"the current Auth certificate {cert.thumbprint} expires on {cert.not_after.date().isoformat()} "
                      f"(in {left.days} days)")
            if missing:
                notes.append(f"the current Auth certificate is missing on {', '.join(missing)} (the new one is imported there)")
    mode: Mode = "renew" if problem is None else "emergency"
    reason = problem or reason
    lifetime = spec.certificate.lifetime_days
    if key_lifetime_limit_days is not None and key_lifetime_limit_days < lifetime:
        notes.append(f"the tenant's key-credential lifetime policy allows {key_lifetime_limit_days} days: the new "
                     f"certificate lives {key_lifetime_limit_days} days instead of {lifetime}")
        lifetime = key_lifetime_limit_days
    if key_policy_unread:
        notes.append(f"the tenant's key-lifetime policy could not be read ({key_policy_unread}): should it refuse a "
                     f"{lifetime}-day key, the upload fails and the certificate made for it is removed from the servers "
                     "again; grant Policy.Read.All to check it before anything is created")
    if mode == "emergency":
        notes.append(f"if a step fails on Exchange: {EXPIRED_CERTIFICATE_ADVICE}")
    creator = f.mailbox[0]
    return RotationPlan(
        mode=mode,
        reason=reason,
        current=current,
        create={"server": creator, "lifetime_days": lifetime, "key_size": 2048},
        import_from=creator,
        import_to=tuple(s for s in f.mailbox if s != creator),
        effective=effective.isoformat() if mode == "renew" and effective is not None else None,
        keys_kept=len(sp.key_credentials) if sp else 0,
        key_to=_key_destination(f, spec),
        notes=tuple(notes),
        **base,
    )


def _key_destination(f: Facts, spec: TenantSpec) -> str:
    """Where a new certificate's key goes, for the plan's reader: the same rule the upload step applies
    (pushproxy.hybrid.key_targets); a new thumbprint is never one clean-up mode removed."""
    hybrid = hybrid_mode(f.ex, f.tn, spec.tenant_id)
    if hybrid is None:
        return "the Exchange Online service principal"
    return describe_targets(key_targets(hybrid, spec.tenant.shared_principal_key, ["0" * 40]))


def restage_date(approved: datetime, now: datetime, current_not_after: datetime | None) -> datetime | None:
    """The effective date to stage with now: the approved one while it is still 48 h ahead, else 48 h from now if
    that is still before the current certificate expires (the approval took long); None: re-plan."""
    if approved - now >= MIN_STAGING_LEAD:
        return approved
    later = (now + MIN_STAGING_LEAD).replace(microsecond=0)
    if current_not_after is not None and later >= current_not_after:
        return None
    return later


def is_ours_staged(exchange: Mapping[str, Any], thumbprint: str) -> bool:
    cfg = ExchangeDiscovery.from_dict(exchange).auth_config
    return cfg.next_thumbprint == thumbprint


def where_is(exchange: Mapping[str, Any], thumbprint: str) -> str:
    """Where our certificate stands in Get-AuthConfig: current, next, previous or absent."""
    cfg = ExchangeDiscovery.from_dict(exchange).auth_config
    if cfg.current_thumbprint == thumbprint:
        return "current"
    if cfg.next_thumbprint == thumbprint:
        return "next"
    if cfg.previous_thumbprint == thumbprint:
        return "previous"
    return "absent"
