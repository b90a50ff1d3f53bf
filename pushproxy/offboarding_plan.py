"""Discovered state + what the registry says we made -> the offboarding (or prune) plan. Pure: no I/O, no clock.

Offboarding undoes an onboarding, touching only what we made:
- the push-notification proxy of the organisation is disabled (Disable-PushNotificationProxy -Confirm:$false),
  when it is enabled for this tenant's domain (enabled for another organisation, it is not ours to touch);
- every key our registry says we uploaded for this tenant is removed from the Exchange Online service principal,
  in one PATCH that sends every other key back exactly as read; a key we did not upload is never touched;
- the AuthServer is removed only when asked AND our registry says an onboarding of ours created it (never one we
  found, e.g. Hybrid Wizard's `ACS - {guid}`, nor our `MicrosoftSts` that an onboarding only corrected).
The Auth certificate stays: OAuth with Exchange Online (hybrid free/busy, the Hybrid Agent, MRS) signs with it.

Pruning removes only our keys whose certificates have expired (key hygiene on the shared principal).

The plan reuses the onboarding's `OnboardingPlan`/`Change` shapes, so the approval wait, the custom status and the
terminal rendering are the onboarding's own (pushproxy.onboarding.progress, render).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pushproxy.activity_names import Activity
from pushproxy.errors import SpecError
from pushproxy.exchange.models import ExchangeDiscovery
from pushproxy.plan import Change, OnboardingPlan, Problem, state_fingerprint
from pushproxy.registry.models import OnboardingRecord
from pushproxy.tenant.models import KeyCredentialInfo, TenantDiscovery, normalize_thumbprint
from pushproxy.verification import key_uploads

# Apply order: stop using the proxy first, then the AuthServer, then the keys (the tenant group is approved last).
KINDS: tuple[str, ...] = (Activity.DISABLE_PUSH_PROXY, Activity.REMOVE_AUTH_SERVER, Activity.REMOVE_TENANT_KEYS)
AUTH_CERTIFICATE_STAYS = (
    "The Auth certificate {thumbprint} stays: Exchange's other OAuth features (hybrid free/busy, the Hybrid Agent, "
    "mailbox moves, other partner applications) sign with it. Offboarding never removes or replaces it."
)


@dataclass(frozen=True)
class OurFootprint:
    """What the registry says our workflows made for one tenant, read by the `discover_ours` activity.

    `key_thumbprints`: keys we uploaded and have not removed since (a key is ours from its latest upload until a
    later removal of ours). `auth_servers`: AuthServers an onboarding of ours created, each {name, auth_metadata_url}.
    `registered`: the registry knows the tenant at all.
    """

    registered: bool
    key_thumbprints: tuple[str, ...] = ()
    auth_servers: tuple[dict[str, Any], ...] = ()
    offboarded_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "registered": self.registered,
            "key_thumbprints": list(self.key_thumbprints),
            "auth_servers": [dict(a) for a in self.auth_servers],
            "offboarded_at": self.offboarded_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OurFootprint:
        return cls(
            registered=bool(data.get("registered")),
            key_thumbprints=tuple(normalize_thumbprint(str(t)) for t in data.get("key_thumbprints") or ()),
            auth_servers=tuple(dict(a) for a in data.get("auth_servers") or () if isinstance(a, Mapping)),
            offboarded_at=data.get("offboarded_at"),
        )


def _time(record: OnboardingRecord) -> float:
    stamp = record.finished_at or record.started_at
    return stamp.timestamp()


def removed_keys(records: Iterable[OnboardingRecord]) -> dict[str, float]:
    """Thumbprint -> when one of our offboarding/prune runs last removed its key (a removal that did not fail)."""
    out: dict[str, float] = {}
    for record in records:
        for change in record.changes:
            if not isinstance(change, dict) or change.get("kind") != Activity.REMOVE_TENANT_KEYS:
                continue
            if change.get("outcome") in (None, "failed"):
                continue
            result = change.get("result") if isinstance(change.get("result"), dict) else {}
            details = change.get("details") if isinstance(change.get("details"), dict) else {}
            for t in (result or {}).get("thumbprints") or (details or {}).get("thumbprints") or ():
                try:
                    thumbprint = normalize_thumbprint(str(t))
                except SpecError:
                    continue
                out[thumbprint] = max(out.get(thumbprint, 0.0), _time(record))
    return out


def created_auth_servers(onboardings: Iterable[OnboardingRecord]) -> tuple[dict[str, Any], ...]:
    """The AuthServers our onboardings created (`ensure_auth_server` with outcome "created"), newest name once."""
    found: dict[str, dict[str, Any]] = {}
    for record in onboardings:
        for change in record.changes:
            if not isinstance(change, dict) or change.get("kind") != Activity.ENSURE_AUTH_SERVER:
                continue
            if change.get("outcome") != "created":  # "updated" or "none": we found it, so it is not ours to remove
                continue
            server = ((change.get("result") or {}).get("auth_server") or {}) if isinstance(change.get("result"), dict) else {}
            name = server.get("name") or (change.get("details") or {}).get("name")
            if name:
                found[str(name).lower()] = {
                    "name": str(name),
                    "auth_metadata_url": server.get("auth_metadata_url") or (change.get("details") or {}).get("auth_metadata_url"),
                    "instance_id": record.instance_id,
                }
    return tuple(found.values())


def footprint(
    registered: bool,
    onboardings: Iterable[OnboardingRecord],
    offboardings: Iterable[OnboardingRecord],
    offboarded_at: datetime | None = None,
) -> OurFootprint:
    """What is ours, from a tenant's onboarding and offboarding records."""
    onboardings = list(onboardings)
    removed = removed_keys(offboardings)
    ours: dict[str, None] = {}
    for upload in key_uploads(onboardings):
        if upload.thumbprint is None:
            continue
        uploaded = upload.uploaded_at.timestamp() if upload.uploaded_at else 0.0
        if uploaded > removed.get(upload.thumbprint, -1.0):
            ours.setdefault(upload.thumbprint)
    return OurFootprint(
        registered=registered,
        key_thumbprints=tuple(sorted(ours)),
        auth_servers=created_auth_servers(onboardings),
        offboarded_at=offboarded_at.isoformat() if offboarded_at else None,
    )


# ------------------------------------------------------------------------------------------------ keys


@dataclass(frozen=True)
class KeySelection:
    """The service principal's keys split into the ones a plan removes and every other (kept exactly as read)."""

    remove: tuple[KeyCredentialInfo, ...]
    keep: tuple[KeyCredentialInfo, ...]
    ambiguous: tuple[str, ...] = ()  # our thumbprints held by more than one credential: left alone, noted

    @property
    def thumbprints(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k.thumbprint for k in self.remove if k.thumbprint))


def select_keys(keys: Iterable[KeyCredentialInfo], ours: Iterable[str], *, expired_before: datetime | None = None) -> KeySelection:
    """Which keys to remove: ours (by thumbprint), and with `expired_before` only those whose end is before it.

    A thumbprint of ours held by two or more credentials (someone else uploaded the same certificate too, under
    another keyId) is left alone: the registry records our keys by thumbprint, and removing both would remove
    someone else's credential."""
    keys = list(keys)
    wanted = {normalize_thumbprint(t) for t in ours}
    counts: dict[str, int] = {}
    for k in keys:
        if k.thumbprint:
            counts[k.thumbprint] = counts.get(k.thumbprint, 0) + 1
    ambiguous = tuple(sorted(t for t in wanted if counts.get(t, 0) > 1))
    remove: list[KeyCredentialInfo] = []
    keep: list[KeyCredentialInfo] = []
    for k in keys:
        targeted = (
            k.thumbprint in wanted
            and k.thumbprint not in ambiguous
            and (expired_before is None or (k.end is not None and k.end <= expired_before))
        )
        (remove if targeted else keep).append(k)
    return KeySelection(tuple(remove), tuple(keep), ambiguous)


def key_census(tenant: TenantDiscovery, ours: Iterable[str], now: datetime) -> dict[str, Any]:
    """Counts for reports: our keys on the principal (and expired among them), everyone else's (and expired)."""
    sp = tenant.service_principal
    keys = sp.key_credentials if sp else ()
    wanted = {normalize_thumbprint(t) for t in ours}
    mine = [k for k in keys if k.thumbprint in wanted]
    foreign = [k for k in keys if k.thumbprint not in wanted]

    def expired(ks: list[KeyCredentialInfo]) -> int:
        return sum(1 for k in ks if k.end is not None and k.end <= now)

    return {"ours": len(mine), "ours_expired": expired(mine), "foreign": len(foreign), "foreign_expired": expired(foreign)}


def _remove_keys_change(tenant: TenantDiscovery, selection: KeySelection, why: str) -> Change:
    sp = tenant.service_principal
    assert sp is not None
    target = sp.display_name or "the Exchange Online service principal"
    listed = ", ".join(selection.thumbprints)
    summary = (f"Remove {len(selection.remove)} key(s) we uploaded ({why}: {listed}) from {target} in one write, "
               f"sending back its {len(selection.keep)} other key(s) exactly as read")
    return Change(
        Activity.REMOVE_TENANT_KEYS,
        "tenant",
        summary,
        {
            "service_principal_id": sp.id,
            "thumbprints": list(selection.thumbprints),
            "keys": [{"thumbprint": k.thumbprint, "key_id": k.key_id, "display_name": k.display_name,
                      "end": k.end.isoformat() if k.end else None} for k in selection.remove],
            "kept": len(selection.keep),
        },
    )


def _state_hash(exchange: Mapping[str, Any] | None, tenant: Mapping[str, Any], ours: OurFootprint, options: Mapping[str, Any]) -> str:
    """An approval is bound to this: the discovered facts (as onboarding hashes them; a prune reads no Exchange,
    so only the principal's keys), what the registry says is ours, and the options asked for."""
    if exchange is not None:
        base: Any = state_fingerprint(exchange, tenant)
    else:
        sp = TenantDiscovery.from_dict(tenant).service_principal
        base = None if sp is None else [sp.id, sorted([k.key_id, k.thumbprint or "", k.end.isoformat() if k.end else ""]
                                                      for k in sp.key_credentials)]
    facts = {"state": base, "ours": ours.to_dict(), "options": dict(options)}
    return hashlib.sha256(json.dumps(facts, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _tenant_blockers(tn: TenantDiscovery, selection: KeySelection) -> list[Problem]:
    """A removal that can't be written safely: only when there is something to remove."""
    if tn.service_principal is None or not selection.remove:
        return []
    missing = [k.key_id for k in selection.keep if k.key_der is None]
    if missing:
        # Every write sends every key back; without one's bytes the PATCH would delete it (pushproxy.tenant.keys).
        return [Problem("key_bytes_missing", f"Graph did not return the key bytes of key(s) {', '.join(missing)}: "
                        "removing a key would delete them too, so nothing is removed")]
    return []


def plan_offboarding(
    exchange: Mapping[str, Any],
    tenant: Mapping[str, Any],
    ours: OurFootprint,
    tenant_domain: str,
    now: datetime,
    *,
    remove_auth_server: bool = False,
) -> OnboardingPlan:
    """The offboarding plan: only what is there to undo, in apply order, with the hash of the state it is for."""
    ex = ExchangeDiscovery.from_dict(exchange)
    tn = TenantDiscovery.from_dict(tenant)
    domain = tenant_domain.lower()
    state_hash = _state_hash(exchange, tenant, ours, {"remove_auth_server": remove_auth_server})
    mailbox = sorted((s for s in ex.servers if s.is_mailbox), key=lambda s: s.name.lower())
    probe_server = mailbox[0].fqdn if mailbox else None
    if not ours.registered:
        problem = Problem("not_onboarded", f"pushproxy has no record of {domain} (it was never onboarded here): nothing to undo")
        return OnboardingPlan(domain, state_hash, (), (problem,), probe_server, ())
    sp = tn.service_principal
    selection = select_keys(sp.key_credentials if sp else (), ours.key_thumbprints)
    blocking = _tenant_blockers(tn, selection)
    notes: list[str] = []
    current = ex.auth_config.current_thumbprint
    notes.append(AUTH_CERTIFICATE_STAYS.format(thumbprint=current or "(none configured)"))
    if blocking:
        return OnboardingPlan(domain, state_hash, (), tuple(blocking), probe_server, tuple(notes))
    changes: list[Change] = []

    proxy = ex.push_proxy
    if proxy.enabled and (proxy.organization or "").lower() == domain:
        changes.append(Change(Activity.DISABLE_PUSH_PROXY, "on_premises",
                              f"Disable the push-notification proxy for organisation {domain} "
                              "(Disable-PushNotificationProxy -Confirm:$false)",
                              {"organization": domain, "was": proxy.to_dict()}))
    elif proxy.enabled:
        notes.append(f"the push-notification proxy is enabled for {proxy.organization!r}, not {domain}: left as it is")
    else:
        notes.append("the push-notification proxy is already disabled")

    created = {str(a.get("name", "")).lower(): a for a in ours.auth_servers}
    for server in ex.auth_servers:
        mine = created.get(server.name.lower())
        if mine is None:
            continue
        same_url = (server.auth_metadata_url or "").rstrip("/").lower() == str(mine.get("auth_metadata_url") or "").rstrip("/").lower()
        if not remove_auth_server:
            notes.append(f"the AuthServer {server.name!r}, which we created, stays (remove_auth_server was not asked)")
        elif not same_url:
            notes.append(f"the AuthServer {server.name!r} we created now points at {server.auth_metadata_url}: someone "
                         "changed it since, so it stays")
        else:
            changes.append(Change(Activity.REMOVE_AUTH_SERVER, "on_premises",
                                  f"Remove the AuthServer {server.name!r}, which onboarding {mine.get('instance_id')} "
                                  "created (Remove-AuthServer -Confirm:$false)",
                                  {"name": server.name, "auth_metadata_url": server.auth_metadata_url}))
    others = [a.name for a in ex.auth_servers if a.name.lower() not in created]
    if others:
        notes.append(f"AuthServer(s) we did not create stay: {', '.join(sorted(others))}")

    if sp is not None:
        census = key_census(tn, ours.key_thumbprints, now)
        notes.append(f"keys we did not upload stay: {census['foreign']} (of which {census['foreign_expired']} expired)")
        for t in selection.ambiguous:
            notes.append(f"the key of {t} is on the service principal more than once (someone else uploaded it too): "
                         "left alone")
        if selection.remove:
            changes.append(_remove_keys_change(tn, selection, "every key of ours"))
    changes.sort(key=lambda c: KINDS.index(c.kind))
    return OnboardingPlan(domain, state_hash, tuple(changes), (), probe_server, tuple(notes))


def plan_prune(tenant: Mapping[str, Any], ours: OurFootprint, tenant_domain: str, now: datetime) -> OnboardingPlan:
    """The prune plan: remove our keys whose certificates have expired; nobody else's key is touched."""
    tn = TenantDiscovery.from_dict(tenant)
    domain = tenant_domain.lower()
    state_hash = _state_hash(None, tenant, ours, {"prune": True})
    if not ours.registered:
        problem = Problem("not_onboarded", f"pushproxy has no record of {domain}: none of its keys is ours to prune")
        return OnboardingPlan(domain, state_hash, (), (problem,), None, ())
    sp = tn.service_principal
    if sp is None:
        return OnboardingPlan(domain, state_hash, (), (), None, ("the tenant has no Exchange Online service principal",))
    selection = select_keys(sp.key_credentials, ours.key_thumbprints, expired_before=now)
    blocking = _tenant_blockers(tn, selection)
    if blocking:
        return OnboardingPlan(domain, state_hash, (), tuple(blocking), None, ())
    census = key_census(tn, ours.key_thumbprints, now)
    notes = [f"keys we did not upload are never pruned: {census['foreign']} (of which {census['foreign_expired']} expired)"]
    changes: tuple[Change, ...] = ()
    if selection.remove:
        change = _remove_keys_change(tn, selection, "their certificates have expired")
        # A prune also takes these expired keys off the dedicated hybrid app where we put them (offboarding does
        # not: the app's keys serve hybrid, not the proxy).
        changes = (Change(change.kind, change.group, change.summary, {**change.details, "prune": True}),)
    return OnboardingPlan(domain, state_hash, changes, (), None, tuple(notes))


# ------------------------------------------------------------------------------------------------ checking


def _same_key(a: KeyCredentialInfo, b: KeyCredentialInfo) -> bool:
    return a.to_dict() == b.to_dict()


def check_keys(before: Mapping[str, Any], after: Mapping[str, Any], removed: Iterable[str]) -> list[str]:
    """What is wrong after a removal: a removed key still there, or any other key gone or changed in any field."""
    gone = {normalize_thumbprint(t) for t in removed}
    b, a = TenantDiscovery.from_dict(before), TenantDiscovery.from_dict(after)
    before_keys = b.service_principal.key_credentials if b.service_principal else ()
    after_keys = a.service_principal.key_credentials if a.service_principal else ()
    problems = [f"the key of {k.thumbprint} is still on the service principal" for k in after_keys if k.thumbprint in gone]
    by_id = {k.key_id: k for k in after_keys}
    for k in before_keys:
        if k.thumbprint in gone:
            continue
        now_k = by_id.get(k.key_id)
        if now_k is None:
            problems.append(f"the key {k.key_id} ({k.thumbprint}), which is not ours, is gone")
        elif not _same_key(k, now_k):
            problems.append(f"the key {k.key_id} ({k.thumbprint}), which is not ours, was changed")
    return problems


def check_offboarded(exchange: Mapping[str, Any] | None, tenant_domain: str, plan: OnboardingPlan) -> list[str]:
    """What is wrong on the Exchange side after the plan was applied: the proxy still on, a removed AuthServer back."""
    if exchange is None:
        return []
    ex = ExchangeDiscovery.from_dict(exchange)
    problems = []
    if any(c.kind == Activity.DISABLE_PUSH_PROXY for c in plan.changes) and ex.push_proxy.enabled \
            and (ex.push_proxy.organization or "").lower() == tenant_domain.lower():
        problems.append("the push-notification proxy is still enabled")
    for change in plan.changes:
        if change.kind == Activity.REMOVE_AUTH_SERVER:
            name = str(change.details.get("name", "")).lower()
            if any(a.name.lower() == name for a in ex.auth_servers):
                problems.append(f"the AuthServer {change.details.get('name')!r} is still there")
    return problems


def not_onboarded_plan(tenant_domain: str, workflow: str) -> OnboardingPlan:
    """The plan for a tenant the registry doesn't know: blocked, nothing to undo, before anything is read from
    Exchange or Graph (no registration binds its secrets to any host)."""
    domain = tenant_domain.lower()
    what = "nothing to undo" if workflow == "offboarding" else "none of its keys is ours to prune"
    problem = Problem("not_onboarded", f"pushproxy has no record of {domain} (it was never onboarded here): {what}")
    state_hash = hashlib.sha256(f"not_onboarded|{domain}|{workflow}".encode()).hexdigest()
    return OnboardingPlan(domain, state_hash, (), (problem,), None, ())
