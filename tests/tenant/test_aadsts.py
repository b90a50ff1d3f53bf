"""Each Entra token error, in its real body shape, through azure-identity: one sentence saying what to fix, and
the ids Microsoft support asks for (trace id, correlation id)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pushproxy.errors import TenantError
from tests.support.graph_standin import StandIn
from tests.tenant.conftest import client_for, run


def _sign_in(graph: StandIn, mode: str = "secret", tenant: str = "fabrikam.com") -> None:
    async def go() -> None:
        async with client_for(graph, mode, tenant) as c:
            await c.get_tenant_facts()

    run(go())


def _wrong_secret(graph: StandIn, mp: pytest.MonkeyPatch) -> tuple[str, str]:
    mp.setenv("GRAPH_STANDIN_SECRET", "not-the-secret-0000")
    return "secret", "fabrikam.com"


def _expired_secret(graph: StandIn, mp: pytest.MonkeyPatch) -> tuple[str, str]:
    state = graph.state()
    state["applications"][graph.client_id]["secretExpired"] = True
    graph.put_state(state)
    return "secret", "fabrikam.com"


def _not_consented(graph: StandIn, mp: pytest.MonkeyPatch) -> tuple[str, str]:
    state = graph.state()
    state["tenants"]["22222222-0000-4000-8000-000000000002"] = {
        "id": "22222222-0000-4000-8000-000000000002",
        "displayName": "Contoso",
        "verifiedDomains": [{"name": "contoso.com", "isDefault": True, "isInitial": False}],
    }
    state["applications"][graph.client_id]["tenants"] = [graph.tenant_id]
    graph.put_state(state)
    return "secret", "contoso.com"


def _federation_mismatch(graph: StandIn, mp: pytest.MonkeyPatch) -> tuple[str, str]:
    state = graph.state()
    state["applications"][graph.client_id]["federatedCredentials"][0]["subject"] = "another-identity"
    graph.put_state(state)
    return "workload_identity", "fabrikam.com"


def _clock_off(graph: StandIn, mp: pytest.MonkeyPatch) -> tuple[str, str]:
    state = graph.state()
    state["settings"]["tokenLifetimeS"] = -600  # the managed identity's assertion is already expired
    graph.put_state(state)
    return "workload_identity", "fabrikam.com"


def _no_tenant(graph: StandIn, mp: pytest.MonkeyPatch) -> tuple[str, str]:
    return "secret", "nowhere.example"


CASES: list[tuple[str, Callable[[StandIn, pytest.MonkeyPatch], tuple[str, str]], str]] = [
    ("AADSTS7000215", _wrong_secret, "the client secret is not valid"),
    ("AADSTS7000222", _expired_secret, "the client secret has expired"),
    ("AADSTS700016", _not_consented, "the application is not consented in this tenant"),
    ("AADSTS70021", _federation_mismatch, "federated credential does not match this managed identity"),
    ("AADSTS700024", _clock_off, "the clock is off"),
    ("AADSTS90002", _no_tenant, "the tenant does not exist"),
]


@pytest.mark.parametrize(("code", "arrange", "sentence"), CASES, ids=[c[0] for c in CASES])
def test_each_token_error_gives_its_sentence_and_ids(
    graph: StandIn,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    arrange: Callable[[StandIn, pytest.MonkeyPatch], tuple[str, str]],
    sentence: str,
) -> None:
    mode, tenant = arrange(graph, monkeypatch)
    with pytest.raises(TenantError) as err:
        _sign_in(graph, mode, tenant)
    e = err.value
    assert e.code == code and not e.transient
    assert sentence in str(e)
    token_calls = [x for x in graph.journal() if x["endpoint"].endswith("/oauth2/v2.0/token")]
    assert token_calls and e.request_id == token_calls[-1]["request_id"]  # Entra's trace id: what support asks for
    assert f"trace id {e.request_id}" in str(e)
    assert "not-the-secret-0000" not in str(e)


def test_token_error_body_has_entra_shape(graph: StandIn) -> None:
    import httpx

    r = httpx.post(
        f"{graph.url}/fabrikam.com/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": graph.client_id, "client_secret": "wrong",
              "scope": "https://graph.microsoft.com/.default"},
        verify=graph.cert_path or True,
    )
    body = r.json()
    assert r.status_code == 401
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id",
                         "error_uri"}
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: ") and f"Trace ID: {body['trace_id']}" in body[
        "error_description"]
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=7000215"
