"""The three credential modes, each through azure-identity for real against the stand-in's token endpoint."""

from __future__ import annotations

import pytest

from pushproxy.errors import SecretError, TenantError
from tests.support.graph_standin import DEFAULT_MI_CLIENT_ID, StandIn, make_certificate
from tests.tenant.conftest import client_for, run


def _facts(graph: StandIn, mode: str, **extra: object) -> str:
    async def go() -> str:
        async with client_for(graph, mode, **extra) as c:
            return (await c.get_tenant_facts()).tenant_id

    return run(go())


def test_client_secret(graph: StandIn) -> None:
    assert _facts(graph, "secret") == graph.tenant_id
    token = [e for e in graph.journal() if e["endpoint"].endswith("/token")]
    assert token[0]["parameters"]["client_secret"] == "***"
    assert graph.client_secret not in str(graph.journal())


def test_client_certificate(graph: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    der, pem = make_certificate("CN=pushproxy graph client")
    state = graph.state()
    cert_pem = pem[pem.index("-----BEGIN CERTIFICATE") :]
    state["applications"][graph.client_id]["certificates"] = [cert_pem]
    graph.put_state(state)
    monkeypatch.setenv("GRAPH_CERT", pem)
    assert _facts(graph, "certificate", certificate_ref="env:GRAPH_CERT") == graph.tenant_id
    token = next(e for e in graph.journal() if e["endpoint"].endswith("/token"))
    assert token["auth"] == "assertion" and token["parameters"]["client_assertion"] == "***"


def test_client_certificate_not_registered_is_refused_clearly(graph: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    _, pem = make_certificate("CN=someone else")
    monkeypatch.setenv("GRAPH_CERT", pem)
    with pytest.raises(TenantError) as err:
        _facts(graph, "certificate", certificate_ref="env:GRAPH_CERT")
    assert err.value.code == "AADSTS700027"
    assert "is not registered on the application" in str(err.value)
    assert "PRIVATE KEY" not in str(err.value)


def test_workload_identity_federation(graph: StandIn) -> None:
    # ManagedIdentityCredential (App Service protocol: IDENTITY_ENDPOINT/IDENTITY_HEADER) gets the assertion,
    # ClientAssertionCredential presents it; the app's federated credential names the managed identity.
    assert _facts(graph, "workload_identity") == graph.tenant_id
    ops = [(e["endpoint"], e.get("parameters", {})) for e in graph.journal()]
    assert ops[0][0] == "/msi/token" and ops[0][1]["resource"] == "api://AzureADTokenExchange"
    assert ops[1][0].endswith("/oauth2/v2.0/token") and ops[1][1]["client_assertion"] == "***"


def test_workload_identity_with_user_assigned_identity(graph: StandIn) -> None:
    assert _facts(graph, "workload_identity", managed_identity_client_id=DEFAULT_MI_CLIENT_ID) == graph.tenant_id
    assert graph.journal()[0]["parameters"]["client_id"] == DEFAULT_MI_CLIENT_ID


def test_workload_identity_without_federated_credential(graph: StandIn) -> None:
    state = graph.state()
    state["applications"][graph.client_id]["federatedCredentials"][0]["subject"] = "another-identity"
    graph.put_state(state)
    with pytest.raises(TenantError) as err:
        _facts(graph, "workload_identity")
    assert err.value.code == "AADSTS70021"
    assert "federated credential" in str(err.value)


def test_wrong_secret_is_explained_without_the_secret(graph: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_STANDIN_SECRET", "wrong-secret-value-1234")
    with pytest.raises(TenantError) as err:
        _facts(graph, "secret")
    assert err.value.code == "AADSTS7000215"
    assert "client secret is not valid" in str(err.value)
    assert "wrong-secret-value-1234" not in str(err.value) and "wrong-secret-value-1234" not in repr(err.value)


def test_application_not_consented_in_tenant(graph: StandIn) -> None:
    state = graph.state()
    state["tenants"]["22222222-0000-4000-8000-000000000002"] = {
        "id": "22222222-0000-4000-8000-000000000002",
        "displayName": "Contoso",
        "verifiedDomains": [{"name": "contoso.com", "isDefault": True, "isInitial": False}],
    }
    state["applications"][graph.client_id]["tenants"] = [graph.tenant_id]
    graph.put_state(state)
    with pytest.raises(TenantError) as err:
        _facts(graph, "secret", tenant="contoso.com")
    assert err.value.code == "AADSTS700016"
    assert "consent" in str(err.value)


def test_missing_secret_reference(graph: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAPH_STANDIN_SECRET")
    with pytest.raises(SecretError) as err:
        _facts(graph, "secret")
    assert "GRAPH_STANDIN_SECRET" in str(err.value)


def test_one_process_serves_several_tenants(graph: StandIn) -> None:
    state = graph.state()
    other = "33333333-0000-4000-8000-000000000003"
    state["tenants"][other] = {
        "id": other,
        "displayName": "Northwind",
        "verifiedDomains": [{"name": "northwind.example", "isDefault": True, "isInitial": False}],
        "servicePrincipals": [
            {"appId": "00000002-0000-0ff1-ce00-000000000000", "displayName": "Office 365 Exchange Online"}
        ],
    }
    graph.put_state(state)
    assert _facts(graph, "secret", tenant="northwind.example") == other
    assert _facts(graph, "secret", tenant=graph.tenant_id) == graph.tenant_id


def test_bad_tenant_id_is_refused_before_any_request(graph: StandIn) -> None:
    from pushproxy.errors import SpecError

    with pytest.raises(SpecError) as err:
        client_for(graph, tenant="fabrikam.com/../evil")
    assert err.value.field == "tenant_id"
    assert graph.journal() == []


def test_key_changes_are_logged_without_secrets(
    graph: StandIn, certs: list[tuple[bytes, str]], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)

    async def go() -> None:
        async with client_for(graph) as c:
            await c.add_certificate_key(certs[0][0])

    run(go())
    lines = [r.getMessage() for r in caplog.records if r.name == "pushproxy.tenant.client"]
    assert any("keyCredentials of service principal" in line for line in lines)
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert graph.client_secret and graph.client_secret not in everything
