"""Which hybrid mode an organisation is in, and where a certificate's key must go. Pure: no I/O.

Since the April 2025 HU, Exchange can use a dedicated Exchange hybrid application in the tenant instead of the
shared Office 365 Exchange Online service principal (CSS-Exchange ConfigureExchangeHybridApplication.ps1). What
switches it on is the setting override in component Global, section ExchangeOnpremAsThirdPartyAppId; which app it
uses is the ApplicationIdentifier of the EvoSts (AzureAD) AuthServer; the app's keyCredentials must then hold the
Auth certificate's key. Clean-up mode (-ResetFirstPartyServicePrincipalKeyCredentials) removes the on-premises keys
from the shared principal.

Microsoft documents the OWA-for-devices push proxy only through the shared principal, and nothing says whether it
works through the dedicated app (/work/briefs/research/hybrid-app-notes.md). So the shared principal stays the
proxy's key target; the dedicated app gets every key too, so that no certificate change of ours breaks free/busy.

Modes:
- `shared_principal`: no override: Exchange uses the shared principal for hybrid (and for the proxy).
- `dedicated_app`: the override is set, the AuthServer names the app, the tenant holds it, and the shared principal
  holds no on-premises key but the ones pushproxy keeps there for the proxy.
- `moving`: the override is set but something is not there yet (the AuthServer names no app, the tenant has no such
  app, no consent), or on-premises keys other than ours are still on the shared principal (clean-up not run yet).
- `cleanup_run`: the override is set and the shared principal holds no on-premises key at all: clean-up mode ran.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pushproxy.exchange.models import AuthConfig, AuthServer, HybridFacts
from pushproxy.tenant.models import (
    EXCHANGE_ONLINE_APP_ID,
    SHARED_PRINCIPAL,
    HybridApplication,
    KeyTarget,
    ServicePrincipal,
)

Mode = Literal["shared_principal", "dedicated_app", "moving", "cleanup_run"]
MODES: tuple[str, ...] = ("shared_principal", "dedicated_app", "moving", "cleanup_run")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Features that need the dedicated app (rich coexistence: CSS-Exchange issue #2346); SecureMail alone does not.
RICH_COEXISTENCE = ("FreeBusy", "Mailtips", "Photos")

PUSH_NEEDS_SHARED = (
    "the push-notification proxy authenticates with the Auth certificate's key on the shared Exchange Online service "
    "principal (Microsoft documents no other route)"
)


@dataclass(frozen=True)
class HybridMode:
    """The organisation's hybrid mode, the dedicated app (if any), and what it means for push notifications."""

    mode: Mode
    summary: str
    push: str  # what the mode means for push notifications
    app_ids: tuple[str, ...] = ()  # named by Exchange's EvoSts AuthServers
    application: HybridApplication | None = None
    on_premises_keys: tuple[str, ...] = ()  # Auth certificates' keys still on the shared principal
    problems: tuple[str, ...] = ()  # what is missing for the dedicated app to work (a person's to fix)
    features: tuple[str, ...] = ()

    @property
    def override_set(self) -> bool:
        return self.mode != "shared_principal"

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "summary": self.summary,
            "push": self.push,
            "app_ids": list(self.app_ids),
            "application": self.application.to_dict() if self.application else None,
            "on_premises_keys": list(self.on_premises_keys),
            "problems": list(self.problems),
            "features": list(self.features),
        }


def evo_sts_app_ids(auth_servers: Iterable[AuthServer], tenant_id: str | None = None) -> tuple[str, ...]:
    """The dedicated app's appId as Exchange names it: the ApplicationIdentifier (a GUID, not Exchange Online's own)
    of each enabled AzureAD AuthServer, the tenant's (Realm = its id) first when it has several (multi-tenant)."""
    found: list[tuple[bool, str]] = []
    for a in auth_servers:
        app_id = (a.application_identifier or "").strip().lower()
        if (a.type or "").lower() != "azuread" or not a.enabled or not _GUID.fullmatch(app_id):
            continue
        if app_id == EXCHANGE_ONLINE_APP_ID:
            continue
        found.append(((a.realm or "").lower() != (tenant_id or "").lower(), app_id))
    return tuple(dict.fromkeys(app_id for _, app_id in sorted(found)))


def organisation_certificates(auth_config: AuthConfig) -> tuple[str, ...]:
    """The Auth certificates the organisation signs with or will (current, next, previous): its on-premises keys."""
    return tuple(dict.fromkeys(t for t in (auth_config.current_thumbprint, auth_config.next_thumbprint,
                                           auth_config.previous_thumbprint) if t))


def classify(
    facts: HybridFacts,
    auth_servers: Sequence[AuthServer],
    auth_config: AuthConfig,
    shared: ServicePrincipal | None,
    applications: Sequence[HybridApplication] | None,
    *,
    ours: Iterable[str] = (),
    tenant_id: str | None = None,
) -> HybridMode:
    """The mode from Exchange's side (`facts`, the AuthServers, the AuthConfig) and, when read, the tenant's (the
    shared principal and the dedicated apps: `applications` None when the tenant was not read). `ours`: thumbprints
    the registry says pushproxy uploaded, so that the key we keep for the proxy is not taken for one clean-up
    has yet to remove."""
    app_ids = evo_sts_app_ids(auth_servers, tenant_id)
    features = facts.features
    certificates = set(organisation_certificates(auth_config))
    on_premises = tuple(k.thumbprint for k in (shared.key_credentials if shared else ()) if k.thumbprint in certificates)
    base: dict[str, Any] = {"app_ids": app_ids, "on_premises_keys": on_premises, "features": features}
    if not facts.override_enabled:
        note = (f"; an EvoSts AuthServer names the app {app_ids[0]} but the override is not set, so Exchange does not "
                "use it") if app_ids else ""
        return HybridMode("shared_principal", f"Exchange uses the shared Exchange Online service principal{note}",
                          f"{PUSH_NEEDS_SHARED}: pushproxy puts it there, as hybrid does", **base)
    problems: list[str] = []
    blocker: str | None = None  # why the dedicated app can't be in use yet, if it can't
    if facts.unsupported_servers:
        problems.append(f"{', '.join(facts.unsupported_servers)} run a build before the April 2025 HU: they keep using "
                        "the shared principal")
    if features and not any(f in RICH_COEXISTENCE for f in features):
        problems.append(f"the hybrid configuration has no rich-coexistence feature ({', '.join(features)}): the "
                        "dedicated app is not needed for it")
    app = next((a for a in applications or () if a.found), None)
    if not app_ids:
        blocker = ("the override is set but no enabled EvoSts AuthServer names an application "
                   "(ConfigureExchangeHybridApplication.ps1 -ConfigureAuthServer)")
        problems.append(blocker)
    elif applications is not None and app is None:
        blocker = f"the EvoSts AuthServer names the application {app_ids[0]}, which the tenant does not have"
        problems.append(blocker)
    if app is not None:
        if not app.permission:
            problems.append(f"the application {app.app_id} does not ask for full_access_as_app on Office 365 Exchange Online")
        if not app.admin_consent:
            blocker = f"admin consent for the application {app.app_id} was not granted"
            problems.append(blocker)
        current = auth_config.current_thumbprint
        if current and not app.has_key(current):
            problems.append(f"the application {app.app_id} lacks the key of the current Auth certificate {current}")
    base["application"] = app
    base["problems"] = tuple(problems)
    push_both = (f"{PUSH_NEEDS_SHARED}; hybrid uses the dedicated app: pushproxy puts every key on both (unless "
                 "tenant.shared_principal_key is leave_to_cleanup)")
    if applications is None:  # Exchange's side only (exchange inspect)
        mode: Mode = "dedicated_app" if app_ids else "moving"
        return HybridMode(mode, f"the override is set; Exchange uses the dedicated app {app_ids[0]}" if app_ids else
                          "the override is set but no AuthServer names the dedicated app", push_both, **base)
    if blocker is not None or app is None:
        why = blocker or "the tenant has no dedicated Exchange hybrid application"
        return HybridMode("moving", "moving to the dedicated Exchange hybrid application: " + why, push_both, **base)
    if not on_premises:
        return HybridMode(
            "cleanup_run",
            f"hybrid uses the dedicated app {app.app_id}, and clean-up mode has removed the on-premises keys from the "
            "shared principal",
            f"{PUSH_NEEDS_SHARED}, and it is gone: push notifications through the proxy fail until it is back. "
            "pushproxy does not re-add what clean-up removed; a person decides (tenant.shared_principal_key: keep "
            "puts each new certificate's key there, leave_to_cleanup gives the shared principal up)",
            **base,
        )
    theirs = [t for t in on_premises if t not in set(ours)]
    if theirs:
        return HybridMode(
            "moving",
            f"hybrid uses the dedicated app {app.app_id}, but on-premises keys ({', '.join(theirs)}) are still on the "
            "shared principal: clean-up mode has not run yet",
            f"{push_both}; when clean-up mode runs it removes the proxy's key too, and push notifications stop",
            **base,
        )
    return HybridMode("dedicated_app", f"hybrid uses the dedicated app {app.app_id}; the shared principal holds only "
                      "the key pushproxy keeps there for the proxy", push_both, **base)


def key_targets(
    mode: HybridMode, policy: str, thumbprints: Sequence[str], organisation: Iterable[str] = ()
) -> list[tuple[KeyTarget, tuple[str, ...]]]:
    """Which collections get which of these keys: the shared principal (for the proxy) and, when the organisation
    uses one, the dedicated app's keyCredentials. The shared principal gets none of them under `leave_to_cleanup`
    once a dedicated app exists, and, after clean-up mode ran, none of the organisation's existing Auth
    certificates (`organisation`): what clean-up removed is never re-added. A new certificate's key goes there
    under `keep`."""
    wanted = tuple(dict.fromkeys(thumbprints))
    app = mode.application
    removed = set(organisation) if mode.mode == "cleanup_run" else set()
    out: list[tuple[KeyTarget, tuple[str, ...]]] = []
    if not (app is not None and mode.override_set and policy == "leave_to_cleanup"):
        shared = tuple(t for t in wanted if t not in removed)
        if shared:
            out.append((SHARED_PRINCIPAL, shared))
    if app is not None and mode.override_set:
        out.append((app.target, wanted))
    return out


def describe_targets(targets: Sequence[tuple[KeyTarget, tuple[str, ...]]]) -> str:
    """`the shared Exchange Online service principal and the application X`, for plans."""
    labels = [t.label for t, _ in targets]
    return " and ".join(labels) if labels else "no collection"


def tenant_with_hybrid_apps(
    context: Any, exchange: dict[str, Any], tenant: dict[str, Any], spec: dict[str, Any], retry: Any = None
) -> Generator[Any, Any, dict[str, Any]]:
    """The tenant discovery with the dedicated hybrid app(s) Exchange's discovery names: the two discoveries run in
    parallel, and the app is known only once Exchange has named it, so an organisation whose EvoSts AuthServer names
    one has its tenant read again with those appIds (an orchestrator step; the others pay nothing)."""
    from pushproxy.activity_names import Activity
    from pushproxy.exchange.models import ExchangeDiscovery
    from pushproxy.workflow import call_step

    app_ids = evo_sts_app_ids(ExchangeDiscovery.from_dict(exchange).auth_servers, spec.get("tenant_id"))
    if not app_ids:
        return tenant
    again = yield from call_step(context, Activity.DISCOVER_TENANT, {"spec": spec, "hybrid_app_ids": list(app_ids)}, retry)
    return again["result"] if again["ok"] else tenant
