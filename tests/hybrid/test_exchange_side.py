"""Exchange's side of the dedicated hybrid app, read through real pypsrp from the stand-in: the setting override
(Get-SettingOverride), the EvoSts AuthServer's ApplicationIdentifier and DomainName, Get-HybridConfiguration."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pushproxy.exchange import client
from pushproxy.exchange.session import ExchangeSession
from tests.exchange.standin import endpoint_for, with_org
from tests.support.exchange_standin import start_exchange_standin

REALM = "fabrikam.com"
APP_ID = "6f1c0a2e-4b7d-4c1e-9a3b-2d5e8f7a9b10"
TENANT_ID = "11111111-2222-3333-4444-555555555555"


def dedicated(org: dict[str, Any]) -> None:
    """An organisation after ConfigureExchangeHybridApplication.ps1 -FullyConfigureExchangeHybridApplication."""
    org["tenant_id"] = TENANT_ID
    org["setting_overrides"] = [{"name": "EnableExchangeHybrid3PAppFeature", "component": "Global",
                                 "section": "ExchangeOnpremAsThirdPartyAppId", "parameters": ["Enabled=true"],
                                 "reason": "Created by ConfigureExchangeHybridApplication.ps1"}]
    org["hybrid_configuration"] = {"features": ["FreeBusy", "MoveMailbox", "Mailtips", "OnlineArchive", "Photos"]}
    org.setdefault("auth_servers", []).append({
        "name": f"EvoSts - {TENANT_ID}", "type": "AzureAD", "realm": TENANT_ID,
        "auth_metadata_url": f"https://login.windows.net/{TENANT_ID}/federationmetadata/2007-06/federationmetadata.xml",
        "application_identifier": APP_ID, "domain_name": ["fabrikam.com", "mail.fabrikam.com"]})


@pytest.fixture(scope="module")
def standin() -> Iterator[Any]:
    with start_exchange_standin() as s:
        original = s.state()
        yield s
        s.put_state(original)


def discover(standin: Any) -> Any:
    with ExchangeSession(endpoint_for(standin), standin.password) as session:
        return client.discover_exchange(session, REALM)


def test_a_dedicated_app_organisation_shows_its_override_auth_server_and_features(standin: Any) -> None:
    original = standin.state()
    standin.put_state(with_org(original, dedicated))
    try:
        found = discover(standin)
    finally:
        standin.put_state(original)
    hybrid = found.hybrid
    # The stand-in's servers run 2019 CU15 RTM (15.2.1748.10): before the April 2025 HU (15.2.1748.24).
    assert hybrid.unsupported_servers == ("FABRIKAM-EX1", "FABRIKAM-EX2")
    assert hybrid.override_enabled and [o.name for o in hybrid.overrides] == ["EnableExchangeHybrid3PAppFeature"]
    assert hybrid.hybrid_configuration and "FreeBusy" in hybrid.features and "Photos" in hybrid.features
    evo = next(a for a in found.auth_servers if a.type == "AzureAD")
    assert evo.application_identifier == APP_ID and evo.domain_names == ("fabrikam.com", "mail.fabrikam.com")


def test_servers_on_the_april_2025_hu_or_later_support_the_dedicated_app(standin: Any) -> None:
    original = standin.state()

    def updated(org: dict[str, Any]) -> None:
        dedicated(org)
        for server in org["servers"]:
            server["version"] = "15.2.1748.24"  # Exchange 2019 CU15 Apr25HU

    standin.put_state(with_org(original, updated))
    try:
        found = discover(standin)
    finally:
        standin.put_state(original)
    assert found.hybrid.unsupported_servers == ()


def test_an_organisation_without_hybrid_shows_none_of_it(standin: Any) -> None:
    found = discover(standin)
    assert found.hybrid.read and not found.hybrid.override_enabled and found.hybrid.overrides == ()
    assert not found.hybrid.hybrid_configuration and found.hybrid.features == ()


def test_exchange_2013_has_no_setting_overrides_and_discovery_goes_on(standin: Any) -> None:
    original = standin.state()

    def downgrade(org: dict[str, Any]) -> None:
        for server in org["servers"]:
            server["version"] = "15.0.1497.2"  # Exchange 2013 CU23

    standin.put_state(with_org(original, downgrade))
    try:
        found = discover(standin)
    finally:
        standin.put_state(original)
    assert found.hybrid.overrides == () and not found.hybrid.override_enabled
    assert found.hybrid.unsupported_servers == ("FABRIKAM-EX1", "FABRIKAM-EX2")  # 2013 never gets the dedicated app
