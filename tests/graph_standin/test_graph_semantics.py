"""Graph's real semantics for servicePrincipals and keyCredentials, spoken over HTTPS."""

from __future__ import annotations

import base64
import copy

import httpx

from tests.support.graph_standin import EXCHANGE_ONLINE_APP_ID, StandIn, make_certificate

SP = f"/v1.0/servicePrincipals(appId='{EXCHANGE_ONLINE_APP_ID}')"
SP_ID = "5e4c0d1a-9f0b-4d8e-8c61-2a7d6b1e0f31"


def keys(http: httpx.Client) -> list[dict[str, object]]:
    return http.get(SP, params={"$select": "id,keyCredentials"}).json()["keyCredentials"]


def new_key(der: bytes) -> dict[str, str]:
    return {"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(der).decode()}


def assert_graph_error(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    assert err["innerError"]["request-id"] == r.headers["request-id"] and err["innerError"]["date"]
    return err


def test_organization(authed: httpx.Client) -> None:
    org = authed.get("/v1.0/organization").json()["value"][0]
    assert org["id"] == "11111111-2222-3333-4444-555555555555" and org["displayName"] == "Fabrikam"
    assert {"name": "fabrikam.com", "isDefault": False, "isInitial": False} in [
        {k: d[k] for k in ("name", "isDefault", "isInitial")} for d in org["verifiedDomains"]
    ]


def test_key_bytes_only_on_a_single_object_get_selecting_keycredentials(authed: httpx.Client) -> None:
    assert keys(authed)[0]["key"]
    assert authed.get(SP).json()["keyCredentials"][0]["key"] is None
    listed = authed.get(
        "/v1.0/servicePrincipals",
        params={"$filter": f"appId eq '{EXCHANGE_ONLINE_APP_ID}'", "$select": "id,keyCredentials"},
    ).json()
    assert listed["value"][0]["id"] == SP_ID and listed["value"][0]["keyCredentials"][0]["key"] is None
    assert authed.get(f"/v1.0/servicePrincipals/{SP_ID}", params={"$select": "keyCredentials"}).json()[
        "keyCredentials"
    ][0]["key"]


def test_patch_replaces_the_whole_collection_and_answers_204(authed: httpx.Client) -> None:
    der, _ = make_certificate()
    r = authed.patch(f"/v1.0/servicePrincipals/{SP_ID}", json={"keyCredentials": [new_key(der)]})
    assert r.status_code == 204 and r.content == b""
    now = keys(authed)
    assert len(now) == 1 and base64.b64decode(now[0]["key"]) == der  # the other party's key is gone
    assert now[0]["displayName"] == "CN=Microsoft Exchange Server Auth Certificate"  # derived from the certificate
    assert now[0]["startDateTime"] and now[0]["endDateTime"] and now[0]["customKeyIdentifier"]


def test_a_keyid_resent_unchanged_is_accepted_changed_is_refused(authed: httpx.Client) -> None:
    existing = keys(authed)[0]
    assert authed.patch(SP, json={"keyCredentials": [existing]}).status_code == 204
    changed = copy.deepcopy(existing)
    changed["displayName"] = "renamed"
    err = assert_graph_error(authed.patch(SP, json={"keyCredentials": [changed]}), 400, "Request_BadRequest")
    assert "Update to existing credential with KeyId" in str(err["message"])
    assert keys(authed)[0]["displayName"] != "renamed"


def test_a_key_that_is_not_base64_is_refused(authed: httpx.Client) -> None:
    bad = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": "not base64 !!"}
    err = assert_graph_error(authed.patch(SP, json={"keyCredentials": [bad]}), 400, "Request_BadRequest")
    assert "'key'" in str(err["message"])
    not_cert = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(b"hello").decode()}
    assert_graph_error(authed.patch(SP, json={"keyCredentials": [not_cert]}), 400, "Request_BadRequest")
    assert len(keys(authed)) == 1  # nothing changed


def test_patch_without_application_readwrite_all_is_403(graph: StandIn, http: httpx.Client) -> None:
    from tests.graph_standin.conftest import token_for

    state = graph.state()
    state["applications"][graph.client_id]["roles"] = ["Application.Read.All"]
    graph.put_state(state)
    http.headers["Authorization"] = "Bearer " + token_for(graph)
    assert http.get(SP).status_code == 200
    err = assert_graph_error(http.patch(SP, json={"keyCredentials": []}), 403, "Authorization_RequestDenied")
    assert err["message"] == "Insufficient privileges to complete the operation."
    assert_graph_error(http.get("/v1.0/organization"), 403, "Authorization_RequestDenied")


def test_tokens_are_checked_for_audience_and_presence(graph: StandIn, http: httpx.Client) -> None:
    assert_graph_error(http.get("/v1.0/organization"), 401, "InvalidAuthenticationToken")
    mi = http.get(
        "/msi/token",
        params={"resource": "api://AzureADTokenExchange", "api-version": "2019-08-01"},
        headers={"X-IDENTITY-HEADER": graph.identity_header},
    )
    assert mi.status_code == 200
    err = assert_graph_error(
        http.get("/v1.0/organization", headers={"Authorization": "Bearer " + mi.json()["access_token"]}),
        401,
        "InvalidAuthenticationToken",
    )
    assert "audience" in str(err["message"])


def test_unknown_service_principal_is_404(authed: httpx.Client) -> None:
    assert_graph_error(
        authed.get("/v1.0/servicePrincipals(appId='00000000-0000-0000-0000-000000000000')"),
        404,
        "Request_ResourceNotFound",
    )


def test_policies_refuse_long_certificates_and_locked_keys(graph: StandIn, authed: httpx.Client) -> None:
    state = graph.state()
    state["tenants"][graph.tenant_id]["policies"] = {"maxCertificateLifetimeDays": 730, "locked": False}
    graph.put_state(state)
    long_der, _ = make_certificate(days=5 * 365)
    existing = keys(authed)
    kept = {k: existing[0][k] for k in ("key", "type", "usage")}
    assert_graph_error(
        authed.patch(SP, json={"keyCredentials": [kept, new_key(long_der)]}),
        400,
        "CredentialInvalidLifetimeAsPerAppPolicy",
    )
    # Re-sending a key that is already there is not a new credential: the policy does not apply to it.
    assert authed.patch(SP, json={"keyCredentials": [kept]}).status_code == 204
    state["tenants"][graph.tenant_id]["policies"] = {"maxCertificateLifetimeDays": None, "locked": True}
    graph.put_state(state)
    short_der, _ = make_certificate(days=30)
    assert_graph_error(
        authed.patch(SP, json={"keyCredentials": [kept, new_key(short_der)]}),
        400,
        "CannotUpdateLockedServicePrincipalProperty",
    )
