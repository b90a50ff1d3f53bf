"""The tenant values that cross activity boundaries: plain JSON both ways, and bad input named by field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pushproxy.errors import SpecError
from pushproxy.tenant.models import (
    GraphCredentialSpec,
    KeyChange,
    KeyCredentialInfo,
    ServicePrincipal,
    TenantDiscovery,
    TenantFacts,
    TenantProblem,
)

THUMB = "2B85E3B4CC406CBE86F3E35C960BEF8DE6286B7D"


def roundtrip(value: object) -> None:
    d = value.to_dict()  # type: ignore[attr-defined]
    assert json.loads(json.dumps(d)) == d
    assert type(value).from_dict(d) == value  # type: ignore[attr-defined]


def test_every_value_roundtrips_through_json() -> None:
    key = KeyCredentialInfo(
        key_id="k1",
        type="AsymmetricX509Cert",
        usage="Verify",
        thumbprint=THUMB,
        display_name="CN=x",
        start=datetime(2024, 3, 1, tzinfo=UTC),
        end=datetime(2029, 3, 1, tzinfo=UTC),
        key_b64="AAEC",
    )
    sp = ServicePrincipal(
        id="sp", app_id="00000002-0000-0ff1-ce00-000000000000", display_name="EXO", key_credentials=(key,)
    )
    facts = TenantFacts(
        tenant_id="t", display_name="Fabrikam", verified_domains=("fabrikam.com",), default_domain="fabrikam.com"
    )
    for value in (
        key,
        sp,
        facts,
        KeyChange(action="added", thumbprint=THUMB, service_principal_id="sp", key_id="k", kept=(THUMB,), writes=1),
        TenantDiscovery(
            tenant_domain="fabrikam.com",
            facts=facts,
            domain_verified=True,
            service_principal=sp,
            blocking=(TenantProblem("c", "m"),),
            granted_roles=("Application.ReadWrite.All",),
        ),
        TenantDiscovery(tenant_domain="fabrikam.com", facts=facts, domain_verified=False, service_principal=None),
        GraphCredentialSpec.from_dict(
            {"mode": "workload_identity", "client_id": "3f1c2d4e-0000-4000-8000-000000000001"}
        ),
        GraphCredentialSpec.from_dict(
            {"mode": "certificate", "client_id": "app", "certificate_ref": "keyvault:graph-cert"}
        ),
    ):
        roundtrip(value)


def test_find_key_by_thumbprint_in_any_case() -> None:
    key = KeyCredentialInfo(key_id="k1", type="AsymmetricX509Cert", usage="Verify", thumbprint=THUMB)
    sp = ServicePrincipal(id="sp", app_id="a", display_name="", key_credentials=(key,))
    assert sp.find_key(THUMB.lower()) == key
    assert sp.has_key("2b:85:e3:b4:cc:40:6c:be:86:f3:e3:5c:96:0b:ef:8d:e6:28:6b:7d")


def test_verified_domain_check_ignores_case_and_trailing_dot() -> None:
    facts = TenantFacts(tenant_id="t", display_name="F", verified_domains=("Fabrikam.com",))
    assert facts.is_verified("fabrikam.COM.") and not facts.is_verified("contoso.com")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"mode": "password", "client_id": "a"}, "mode"),
        ({"mode": "secret", "client_id": "a"}, "secret_ref"),
        ({"mode": "secret", "client_id": "a", "secret_ref": "hunter2-inline-secret"}, "secret_ref"),
        ({"mode": "certificate", "client_id": "a"}, "certificate_ref"),
        ({"mode": "secret", "client_id": "a b", "secret_ref": "env:X"}, "client_id"),
        ({"mode": "secret", "client_id": "a", "secret_ref": "env:X", "authority": "http://login.example"}, "authority"),
        ({"mode": "secret", "client_id": "a", "secret_ref": "env:X", "graph_url": "graph.microsoft.com"}, "graph_url"),
        ({"mode": "secret", "client_id": "a", "client_secret": "hunter2-inline-secret"}, "client_secret"),
        ({"client_id": "a"}, "mode"),
    ],
)
def test_bad_credential_spec_names_the_field_and_never_echoes_a_secret(spec: dict[str, str], field: str) -> None:
    with pytest.raises(SpecError) as err:
        GraphCredentialSpec.from_dict(spec)
    assert err.value.field == field
    assert "hunter2" not in str(err.value)


def test_bad_thumbprint_in_key_change() -> None:
    with pytest.raises(SpecError) as err:
        KeyChange.from_dict({"action": "added", "thumbprint": "xyz", "service_principal_id": "sp"})
    assert err.value.field == "thumbprint"
