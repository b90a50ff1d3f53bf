"""The AuthServer matcher: (metadata URL, realm) in the query or the path form, tenant domain or id, never name."""

from __future__ import annotations

import pytest

from pushproxy.errors import SpecError
from pushproxy.exchange.acs import acs_url_realms, auth_server_serves_realm, tenant_id_or_none, tenant_identities
from pushproxy.exchange.models import AuthServer

DOMAIN = "fabrikam.com"
TENANT = "11111111-2222-3333-4444-555555555555"
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
ACS = "https://accounts.accesscontrol.windows.net"


def server(url: str | None, realm: str | None = None, name: str = "ACS - 6f1d0b62-8d2b-4c4e-9b1e-2a3f4c5d6e7f") -> AuthServer:
    return AuthServer(name, url, realm, True)


@pytest.mark.parametrize(
    "url",
    [
        f"{ACS}/metadata/json/1/?realm={DOMAIN}",  # the seed's form
        f"{ACS}/metadata/json/1?realm={DOMAIN}",
        f"{ACS.upper().replace('HTTPS', 'https')}/METADATA/json/1/?realm=FABRIKAM.COM",
        f"{ACS}/metadata/json/1/?Realm={DOMAIN}",
        f"{ACS}/{TENANT}/metadata/json/1",  # the path form, as the Hybrid Configuration Wizard writes it
        f"{ACS}/{TENANT.upper()}/metadata/json/1/",
        f"{ACS}/{{{TENANT}}}/metadata/json/1",
        f"{ACS}/{DOMAIN}/metadata/json/1",  # the path form naming the tenant domain
        f"{ACS}/metadata/json/1/?realm={TENANT}",  # the query form naming the tenant id
        f"  {ACS}/{TENANT}/metadata/json/1  ",
    ],
)
def test_forms_naming_the_tenant_are_recognised(url: str) -> None:
    assert auth_server_serves_realm(server(url), DOMAIN, tenant_id=TENANT)


def test_the_onmicrosoft_domain_form_counts_when_that_domain_is_the_tenant_domain() -> None:
    url = f"{ACS}/contoso.onmicrosoft.com/metadata/json/1"
    assert auth_server_serves_realm(server(url), "contoso.onmicrosoft.com")
    assert auth_server_serves_realm(server(url), "Contoso.OnMicrosoft.com", tenant_id=TENANT)
    assert not auth_server_serves_realm(server(url), "contoso.com", tenant_id=TENANT)


@pytest.mark.parametrize(
    "url",
    [
        f"http://accounts.accesscontrol.windows.net/{TENANT}/metadata/json/1",  # not https
        f"https://accounts.accesscontrol.windows.net.evil.example/{TENANT}/metadata/json/1",
        f"https://evil.example/{TENANT}/metadata/json/1?realm={DOMAIN}",
        f"{ACS}/{TENANT}/metadata/json/2",
        f"{ACS}/{TENANT}/extra/metadata/json/1",
        f"{ACS}/{TENANT}/tokens/OAuth/2",
        # EvoSts (Azure AD, hybrid modern auth): not the ACS server the proxy needs, even naming the tenant.
        f"https://login.windows.net/{DOMAIN}/federationmetadata/2007-06/federationmetadata.xml",
        f"https://login.microsoftonline.com/{TENANT}/federationmetadata/2007-06/federationmetadata.xml",
        "",
        None,
    ],
)
def test_other_urls_are_not_the_tenants_acs_server(url: str | None) -> None:
    assert not auth_server_serves_realm(server(url, realm=TENANT), DOMAIN, tenant_id=TENANT)


@pytest.mark.parametrize(
    "url",
    [
        f"{ACS}/{OTHER_TENANT}/metadata/json/1",  # another tenant's ACS server
        f"{ACS}/contoso.onmicrosoft.com/metadata/json/1",
        f"{ACS}/metadata/json/1/?realm=contoso.com",
    ],
)
def test_another_tenants_acs_url_is_foreign_unless_its_realm_is_ours(url: str) -> None:
    assert not auth_server_serves_realm(server(url, realm=OTHER_TENANT), DOMAIN, tenant_id=TENANT)
    # Exchange refuses a second AuthServer of the same type, issuer and Realm (ErrorExistingAuthServerWithSameRealm):
    # one whose Realm is ours blocks creating ours, so it counts as serving the tenant, whatever its URL says.
    assert auth_server_serves_realm(server(url, realm=TENANT), DOMAIN, tenant_id=TENANT)


def test_a_url_naming_no_realm_is_decided_by_the_realm_property() -> None:
    url = f"{ACS}/metadata/json/1/"
    assert auth_server_serves_realm(server(url, realm=TENANT.upper()), DOMAIN, tenant_id=TENANT)
    assert auth_server_serves_realm(server(url, realm=DOMAIN), DOMAIN)
    assert not auth_server_serves_realm(server(url, realm=TENANT), DOMAIN)  # the id is not known
    assert not auth_server_serves_realm(server(url, realm=OTHER_TENANT), DOMAIN, tenant_id=TENANT)
    assert not auth_server_serves_realm(server(url, realm=None), DOMAIN, tenant_id=TENANT)


def test_either_the_url_or_the_realm_property_naming_the_tenant_is_enough() -> None:
    # HCW's Realm is the tenant GUID even for a URL naming the domain; a Realm that is ours is ours (see above).
    assert auth_server_serves_realm(server(f"{ACS}/{DOMAIN}/metadata/json/1", realm=OTHER_TENANT), DOMAIN, tenant_id=TENANT)
    assert auth_server_serves_realm(server(f"{ACS}/{OTHER_TENANT}/metadata/json/1", realm=TENANT), DOMAIN, tenant_id=TENANT)


def test_the_name_never_matters() -> None:
    url = f"{ACS}/{TENANT}/metadata/json/1"
    for name in ("MicrosoftSts", "ACS - 1", "EvoSts - 2", "anything"):
        assert auth_server_serves_realm(server(url, name=name), DOMAIN, tenant_id=TENANT)
    assert not auth_server_serves_realm(server("https://login.windows.net/x/federationmetadata", name="MicrosoftSts"), DOMAIN)


def test_the_tenant_id_is_optional_and_backward_compatible() -> None:
    assert auth_server_serves_realm(server(f"{ACS}/metadata/json/1/?realm={DOMAIN}"), DOMAIN)
    assert not auth_server_serves_realm(server(f"{ACS}/{TENANT}/metadata/json/1"), DOMAIN)
    assert not auth_server_serves_realm(server(f"{ACS}/{TENANT}/metadata/json/1"), DOMAIN, tenant_id=None)


def test_acs_url_realms() -> None:
    assert acs_url_realms(f"{ACS}/metadata/json/1/?realm=A.com&realm=b.com") == ("a.com", "b.com")
    assert acs_url_realms(f"{ACS}/metadata/json/1/") == ()
    assert acs_url_realms(f"{ACS}/metadata/json/1/?realm=") == ()
    assert acs_url_realms(f"{ACS}/{TENANT.upper()}/metadata/json/1") == (TENANT,)
    assert acs_url_realms("https://login.windows.net/common/federationmetadata/2007-06/federationmetadata.xml") is None


def test_tenant_identities_and_validation() -> None:
    assert tenant_identities("Fabrikam.com", f"{{{TENANT.upper()}}}") == {DOMAIN, TENANT}
    assert tenant_identities(DOMAIN, None) == {DOMAIN}
    assert tenant_id_or_none(None) is None and tenant_id_or_none("") is None
    assert tenant_id_or_none(f" {TENANT.upper()} ") == TENANT
    with pytest.raises(SpecError) as err:
        tenant_id_or_none("fabrikam.com")
    assert err.value.field == "tenant_id" and "GUID" in str(err.value)
