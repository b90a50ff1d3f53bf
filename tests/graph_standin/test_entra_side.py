"""The stand-in's Entra ID side: discovery documents, the token endpoint, the managed identity endpoint."""

from __future__ import annotations

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientSecretCredential

from tests.support.graph_standin import StandIn, make_certificate


def test_openid_configuration_for_tenant_id_and_domain(graph: StandIn, http: httpx.Client) -> None:
    for ref in (graph.tenant_id, "fabrikam.com", "fabrikam.onmicrosoft.com"):
        doc = http.get(f"/{ref}/v2.0/.well-known/openid-configuration").json()
        assert doc["token_endpoint"] == f"{graph.url}/{ref}/oauth2/v2.0/token"
        assert doc["authorization_endpoint"] and doc["issuer"] == f"{graph.url}/{graph.tenant_id}/v2.0"
        assert http.get(doc["jwks_uri"].removeprefix(graph.url)).json()["keys"][0]["kty"] == "RSA"
    r = http.get("/nowhere.example/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400 and "AADSTS90002" in r.json()["error_description"]


def test_token_claims(graph: StandIn) -> None:
    from tests.graph_standin.conftest import token_for

    claims = jwt.decode(token_for(graph), options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com" and claims["tid"] == graph.tenant_id
    assert claims["appid"] == graph.client_id and set(claims["roles"]) == {
        "Application.ReadWrite.All",
        "Organization.Read.All",
    }
    assert claims["exp"] > claims["iat"]


def test_msal_based_credentials_work_too(graph: StandIn) -> None:
    # The sync credentials go through MSAL, which reads the discovery document first.
    assert graph.client_id and graph.client_secret
    cred = ClientSecretCredential(
        "fabrikam.com",
        graph.client_id,
        graph.client_secret,
        authority=graph.authority,
        disable_instance_discovery=True,
        connection_verify=graph.cert_path,
    )
    assert cred.get_token("https://graph.microsoft.com/.default").token
    der, pem = make_certificate("CN=msal client")
    state = graph.state()
    state["applications"][graph.client_id]["certificates"] = [pem[pem.index("-----BEGIN CERTIFICATE") :]]
    graph.put_state(state)
    cert_cred = CertificateCredential(
        "fabrikam.com",
        graph.client_id,
        certificate_data=pem.encode(),
        authority=graph.authority,
        disable_instance_discovery=True,
        connection_verify=graph.cert_path,
    )
    assert cert_cred.get_token("https://graph.microsoft.com/.default").token
    assert any(e["endpoint"].endswith("openid-configuration") for e in graph.journal())


def test_bad_secret_and_unknown_client(graph: StandIn, http: httpx.Client) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": graph.client_id,
        "client_secret": "nope",
        "scope": "https://graph.microsoft.com/.default",
    }
    r = http.post("/fabrikam.com/oauth2/v2.0/token", data=form)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client" and r.json()["error_codes"] == [7000215]
    r = http.post("/fabrikam.com/oauth2/v2.0/token", data=dict(form, client_id="someone-else"))
    assert r.status_code == 400 and "AADSTS700016" in r.json()["error_description"]
    r = http.post(
        "/fabrikam.com/oauth2/v2.0/token",
        data=dict(form, client_secret=graph.client_secret, scope="https://management.azure.com/.default"),
    )
    assert r.json()["error"] == "invalid_scope"
    with pytest.raises(ClientAuthenticationError):
        ClientSecretCredential(
            "fabrikam.com",
            graph.client_id or "",
            "nope",
            authority=graph.authority,
            disable_instance_discovery=True,
            connection_verify=graph.cert_path,
        ).get_token("https://graph.microsoft.com/.default")


def test_managed_identity_endpoint(graph: StandIn, http: httpx.Client) -> None:
    params = {"api-version": "2019-08-01", "resource": "api://AzureADTokenExchange"}
    assert http.get("/msi/token", params=params).status_code == 401
    assert http.get("/msi/token", params=params, headers={"X-IDENTITY-HEADER": "wrong"}).status_code == 401
    ok = http.get("/msi/token", params=params, headers={"X-IDENTITY-HEADER": graph.identity_header}).json()
    claims = jwt.decode(ok["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "api://AzureADTokenExchange" and claims["sub"] == "a1a1a1a1-0000-4000-8000-0000000000aa"
    assert int(ok["expires_on"]) > claims["iat"]
    other = http.get(
        "/msi/token",
        params=dict(params, resource="https://vault.azure.net"),
        headers={"X-IDENTITY-HEADER": graph.identity_header},
    )
    assert other.status_code == 400


def test_assertion_signed_by_someone_else_is_refused(graph: StandIn, http: httpx.Client) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    forged = jwt.encode(
        {
            "iss": "https://login.microsoftonline.com/99999999-aaaa-4bbb-8ccc-000000000001/v2.0",
            "sub": "a1a1a1a1-0000-4000-8000-0000000000aa",
            "aud": "api://AzureADTokenExchange",
            "exp": 4102444800,
        },
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
    )
    form = {
        "grant_type": "client_credentials",
        "client_id": graph.client_id,
        "scope": "https://graph.microsoft.com/.default",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": forged,
    }
    r = http.post("/fabrikam.com/oauth2/v2.0/token", data=form)
    assert r.status_code == 401 and "AADSTS700027" in r.json()["error_description"]
