"""The onboarding plan on dedicated-app organisations (pure): the mode in its notes, a key missing on the app
planned, and nothing planned for the shared principal that clean-up mode removed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pushproxy.exchange.models import AuthServer, ExchangeDiscovery, HybridFacts, SettingOverride
from pushproxy.plan import plan_onboarding
from pushproxy.tenant.models import HybridApplication, TenantDiscovery
from tests.unit.test_plan import DOMAIN, NOW, THUMB, exchange, key, tenant

APP = "6f1c0a2e-4b7d-4c1e-9a3b-2d5e8f7a9b10"
TENANT = "11111111-2222-3333-4444-555555555555"


def hybrid_exchange() -> dict[str, Any]:
    ex = ExchangeDiscovery.from_dict(exchange())
    evo = AuthServer(f"EvoSts - {TENANT}", "https://login.windows.net/x", TENANT, True, type="AzureAD",
                     application_identifier=APP)
    facts = HybridFacts(overrides=(SettingOverride("EnableExchangeHybrid3PAppFeature", "Global",
                                                   "ExchangeOnpremAsThirdPartyAppId", ("Enabled=true",)),),
                        hybrid_configuration=True, features=("FreeBusy",))
    return replace(ex, auth_servers=(*ex.auth_servers, evo), hybrid=facts).to_dict()


def hybrid_tenant(shared: tuple[str, ...], app: tuple[str, ...]) -> dict[str, Any]:
    tn = TenantDiscovery.from_dict(tenant(keys=shared))
    found = HybridApplication(APP, True, "app-object", "ExchangeServerApp", tuple(key(t, f"a{i}") for i, t in enumerate(app)),
                              permission=True, admin_consent=True)
    return replace(tn, hybrid_applications=(found,)).to_dict()


def test_a_current_key_missing_on_the_dedicated_app_is_planned_for_it() -> None:
    plan = plan_onboarding(hybrid_exchange(), hybrid_tenant((THUMB,), ()), DOMAIN, NOW, tenant_id=TENANT)
    (upload,) = [c for c in plan.changes if c.kind == "upload_tenant_key"]
    assert "the application" in upload.summary and APP in upload.summary
    assert any(n.startswith("hybrid: moving") for n in plan.notes)  # the key on the shared principal is HCW's


def test_nothing_to_plan_when_both_collections_hold_the_key() -> None:
    plan = plan_onboarding(hybrid_exchange(), hybrid_tenant((THUMB,), (THUMB,)), DOMAIN, NOW, tenant_id=TENANT)
    assert plan.is_empty


def test_after_clean_up_mode_the_removed_key_is_not_planned_for_the_shared_principal() -> None:
    # Clean-up removed the current key from the shared principal; the app holds it: nothing to do.
    plan = plan_onboarding(hybrid_exchange(), hybrid_tenant((), (THUMB,)), DOMAIN, NOW, tenant_id=TENANT)
    assert plan.is_empty
    assert any(n.startswith("hybrid: cleanup_run") and "does not re-add" in n for n in plan.notes)


def test_a_shared_principal_organisation_plans_as_before() -> None:
    plan = plan_onboarding(exchange(), tenant(keys=()), DOMAIN, NOW)
    (upload,) = [c for c in plan.changes if c.kind == "upload_tenant_key"]
    assert "Office 365 Exchange Online" in upload.summary


def test_verification_of_clean_up_mode_depends_on_the_tenants_decision() -> None:
    from pushproxy.verification import HYBRID_CLEANUP_RUN, KEY_MISSING, KEY_REMOVED, TenantObservation, classify

    ex = ExchangeDiscovery.from_dict(hybrid_exchange())
    tn = TenantDiscovery.from_dict(hybrid_tenant((), (THUMB,)))  # clean-up removed the key; the app holds it
    kinds = {}
    for policy in ("keep", "leave_to_cleanup"):
        observation = TenantObservation(domain=DOMAIN, exchange=ex, tenant=tn, tenant_id=TENANT, shared_principal_key=policy)
        record = classify(observation, now=NOW, expiry_warning_days=30)
        kinds[policy] = {f.kind for f in record.findings}
        assert record.facts["hybrid"]["mode"] == "cleanup_run"
    assert HYBRID_CLEANUP_RUN in kinds["keep"] and (KEY_MISSING in kinds["keep"] or KEY_REMOVED in kinds["keep"])
    # The operator gave the shared principal up: its missing key is their decision, not drift or failure.
    assert not kinds["leave_to_cleanup"] & {HYBRID_CLEANUP_RUN, KEY_MISSING, KEY_REMOVED}
