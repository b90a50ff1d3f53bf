"""Each hybrid mode is discovered right (pushproxy.hybrid.classify, pure): shared principal, dedicated app, moving,
clean-up run; and where a key goes in each (key_targets)."""

from __future__ import annotations

from typing import Any

import pytest

from pushproxy.exchange.models import AuthConfig, AuthServer, HybridFacts, SettingOverride
from pushproxy.hybrid import classify, evo_sts_app_ids, key_targets
from pushproxy.tenant.models import (
    EXCHANGE_ONLINE_APP_ID,
    SHARED_PRINCIPAL,
    HybridApplication,
    KeyCredentialInfo,
    ServicePrincipal,
)

TENANT = "11111111-2222-3333-4444-555555555555"
APP = "6f1c0a2e-4b7d-4c1e-9a3b-2d5e8f7a9b10"
CURRENT, NEXT, HCW_OTHER = "A" * 40, "B" * 40, "C" * 40
OVERRIDE = SettingOverride("EnableExchangeHybrid3PAppFeature", "Global", "ExchangeOnpremAsThirdPartyAppId", ("Enabled=true",))
EVO = AuthServer(name=f"EvoSts - {TENANT}", auth_metadata_url="https://login.windows.net/x", realm=TENANT, enabled=True,
                 type="AzureAD", application_identifier=APP, domain_names=("contoso.com",))
CONFIG = AuthConfig.from_dict({"current_thumbprint": CURRENT})


def key(thumbprint: str) -> KeyCredentialInfo:
    return KeyCredentialInfo(key_id=thumbprint[:8], type="AsymmetricX509Cert", usage="Verify", thumbprint=thumbprint)


def shared(*thumbprints: str) -> ServicePrincipal:
    return ServicePrincipal("sp", EXCHANGE_ONLINE_APP_ID, "Office 365 Exchange Online", tuple(key(t) for t in thumbprints))


def app(*thumbprints: str, consent: bool = True) -> HybridApplication:
    return HybridApplication(APP, True, "app-object", "ExchangeServerApp", tuple(key(t) for t in thumbprints),
                             permission=True, admin_consent=consent)


def mode(override: bool = True, servers: tuple[AuthServer, ...] = (EVO,), sp: ServicePrincipal | None = None,
         apps: Any = (), ours: tuple[str, ...] = ()) -> Any:
    facts = HybridFacts(overrides=(OVERRIDE,) if override else (), hybrid_configuration=True, features=("FreeBusy",))
    return classify(facts, servers, CONFIG, sp if sp is not None else shared(CURRENT), apps, ours=ours, tenant_id=TENANT)


def test_without_the_override_it_is_the_shared_principal_even_if_an_authserver_names_an_app() -> None:
    found = mode(override=False, apps=[app(CURRENT)])
    assert found.mode == "shared_principal" and "override is not set" in found.summary
    assert key_targets(found, "leave_to_cleanup", [NEXT]) == [(SHARED_PRINCIPAL, (NEXT,))]


def test_override_app_consented_and_only_our_key_on_the_shared_principal_is_the_dedicated_app() -> None:
    found = mode(apps=[app(CURRENT)], ours=(CURRENT,))
    assert found.mode == "dedicated_app" and found.application is not None and found.problems == ()
    assert [t.kind for t, _ in key_targets(found, "keep", [NEXT])] == ["servicePrincipal", "application"]
    assert [t.kind for t, _ in key_targets(found, "leave_to_cleanup", [NEXT])] == ["application"]


@pytest.mark.parametrize("case", ["hcw_keys_still_there", "no_app_in_tenant", "no_consent", "no_authserver_app"])
def test_moving(case: str) -> None:
    if case == "hcw_keys_still_there":
        found = mode(apps=[app(CURRENT)])  # HCW's upload of the current key, not ours: clean-up has not run
        assert "clean-up mode has not run" in found.summary
    elif case == "no_app_in_tenant":
        found = mode(apps=[HybridApplication(APP, False)])
        assert "does not have" in found.summary
    elif case == "no_consent":
        found = mode(apps=[app(CURRENT, consent=False)])
        assert "admin consent" in found.summary
    else:
        found = mode(servers=(AuthServer(name="EvoSTS", auth_metadata_url="x", realm=TENANT, enabled=True, type="AzureAD"),),
                     apps=[])
        assert "no enabled EvoSts AuthServer names an application" in found.summary
    assert found.mode == "moving"


def test_clean_up_run_is_told_and_what_it_removed_is_never_put_back() -> None:
    found = mode(sp=shared(), apps=[app(CURRENT)])
    assert found.mode == "cleanup_run" and "does not re-add" in found.push and "shared_principal_key" in found.push
    # The current certificate (clean-up removed its key) goes to the app only; a new certificate to both (keep).
    assert [(t.kind, k) for t, k in key_targets(found, "keep", [CURRENT], organisation=[CURRENT])] == [
        ("application", (CURRENT,))]
    assert [t.kind for t, _ in key_targets(found, "keep", [NEXT], organisation=[CURRENT])] == [
        "servicePrincipal", "application"]


def test_foreign_other_keys_on_the_shared_principal_do_not_count_as_on_premises() -> None:
    found = mode(sp=shared(HCW_OTHER), apps=[app(CURRENT)])
    assert found.mode == "cleanup_run" and found.on_premises_keys == ()


def test_the_tenants_evosts_is_preferred_and_exchange_onlines_own_id_is_not_a_dedicated_app() -> None:
    other = AuthServer(name="EvoSts - other", auth_metadata_url="x", realm="99999999-2222-3333-4444-555555555555",
                       enabled=True, type="AzureAD", application_identifier="7" * 8 + "-1111-2222-3333-444444444444")
    first_party = AuthServer(name="EvoSTS", auth_metadata_url="x", realm=TENANT, enabled=True, type="AzureAD",
                             application_identifier=EXCHANGE_ONLINE_APP_ID)
    assert evo_sts_app_ids([other, EVO, first_party], TENANT) == (APP, other.application_identifier)


def test_the_spec_field_defaults_to_keep_and_refuses_anything_else_by_name() -> None:
    from pushproxy.errors import SpecError
    from pushproxy.spec import TenantSpec

    base = {"tenant_domain": "contoso.com", "tenant_id": TENANT,
            "exchange": {"url": "https://mail.contoso.com/PowerShell", "auth": "ntlm", "username": "svc",
                         "password_ref": "env:X"},
            "graph": {"mode": "secret", "client_id": APP, "secret_ref": "env:Y"}}
    assert TenantSpec.from_dict(base).tenant.shared_principal_key == "keep"
    spec = TenantSpec.from_dict({**base, "tenant": {"shared_principal_key": "leave_to_cleanup"}})
    assert spec.tenant.shared_principal_key == "leave_to_cleanup"
    assert TenantSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(SpecError) as bad:
        TenantSpec.from_dict({**base, "tenant": {"shared_principal_key": "remove"}})
    assert bad.value.field == "tenant.shared_principal_key" and "keep, leave_to_cleanup" in str(bad.value)
    with pytest.raises(SpecError) as unknown:
        TenantSpec.from_dict({**base, "tenant": {"shared_key": "keep"}})
    assert unknown.value.field == "tenant.shared_key"
