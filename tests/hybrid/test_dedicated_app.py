"""The dedicated Exchange hybrid application end to end through both stand-ins (real pypsrp, real msgraph-sdk):
discovery finds it, a renewal's key goes on the shared principal AND the app before publish with every foreign key
kept on both, and clean-up mode's removal of our key is reported and never fought."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pushproxy.registry import open_registry
from tests.fleet.fleet_support import EXCHANGE_ONLINE_APP_ID, OrgPlan, build_fleet, tenant_id_of

ORG = "hybrid-contoso.com"
APP_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "dedicated-hybrid-app"))
APP_OBJECT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "dedicated-hybrid-app-object"))
APP_SP_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "dedicated-hybrid-app-sp"))
FULL_ACCESS_AS_APP = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"


def foreign_certificate(name: str) -> str:
    """A certificate that is not ours (another tool's key): base64 DER."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def key(der_b64: str) -> dict[str, Any]:
    return {"keyId": str(uuid.uuid4()), "type": "AsymmetricX509Cert", "usage": "Verify", "key": der_b64}


def make_hybrid(exchange: Any, graph: Any, *, cleanup_run: bool = False, consent: bool = True) -> dict[str, Any]:
    """Turn the organisation into one on the dedicated app (ConfigureExchangeHybridApplication.ps1
    -FullyConfigureExchangeHybridApplication): the override, the EvoSts AuthServer naming the app, the app in the
    tenant holding the current Auth certificate's key and a foreign one; `cleanup_run`: clean-up mode removed every
    key from the shared principal. Returns the foreign keys' DERs by collection."""
    state = exchange.state()
    org = state["organizations"][ORG]
    tid = tenant_id_of(ORG)
    org["setting_overrides"] = [{"name": "EnableExchangeHybrid3PAppFeature", "component": "Global",
                                 "section": "ExchangeOnpremAsThirdPartyAppId", "parameters": ["Enabled=true"]}]
    org["hybrid_configuration"] = {"features": ["FreeBusy", "Mailtips", "Photos"]}
    org["auth_servers"].append({"name": f"EvoSts - {tid}", "type": "AzureAD", "realm": tid,
                                "auth_metadata_url": f"https://login.windows.net/{tid}/federationmetadata/2007-06/federationmetadata.xml",
                                "application_identifier": APP_ID, "domain_name": [ORG]})
    exchange.put_state(state)
    current = next(c["der"] for c in org["certificates"] if c["thumbprint"] == org["auth_config"]["current"])

    gstate = graph.state()
    tenant = gstate["tenants"][tid]
    shared = next(sp for sp in tenant["servicePrincipals"] if sp["appId"] == EXCHANGE_ONLINE_APP_ID)
    foreign = {"shared": foreign_certificate("CN=someone else's app"), "app": foreign_certificate("CN=another key")}
    shared["keyCredentials"] = [] if cleanup_run else [*shared["keyCredentials"], key(foreign["shared"])]
    tenant["servicePrincipals"].append({
        "id": APP_SP_ID, "appId": APP_ID, "displayName": f"ExchangeServerApp-{uuid.uuid4()}",
        "appRoleAssignments": [{"appRoleId": FULL_ACCESS_AS_APP, "resourceId": shared["id"]}] if consent else []})
    tenant["applications"] = [{
        "id": APP_OBJECT_ID, "appId": APP_ID, "displayName": "ExchangeServerApp",
        "keyCredentials": [key(current), key(foreign["app"])],
        "requiredResourceAccess": [{"resourceAppId": EXCHANGE_ONLINE_APP_ID,
                                    "resourceAccess": [{"id": FULL_ACCESS_AS_APP, "type": "Role"}]}]}]
    graph.put_state(gstate)
    return foreign


def keys_of(graph: Any, kind: str) -> list[str]:
    tenant = graph.state()["tenants"][tenant_id_of(ORG)]
    if kind == "app":
        holder = tenant["applications"][0]
    else:
        holder = next(sp for sp in tenant["servicePrincipals"] if sp["appId"] == EXCHANGE_ONLINE_APP_ID)
    return [k["key"] for k in holder["keyCredentials"]]


@pytest.fixture
def spec(fleet_env: dict[str, str], exchange: Any, graph: Any) -> dict[str, Any]:
    registry = open_registry()
    try:
        return build_fleet(exchange, graph, [OrgPlan.onboarded(ORG)], registry)[ORG]
    finally:
        registry.close()


def test_tenant_discovery_finds_the_app_exchange_names_with_its_keys_permission_and_consent(
        spec: dict[str, Any], exchange: Any, graph: Any) -> None:
    from pushproxy.onboarding import steps

    make_hybrid(exchange, graph)
    found = asyncio.run(steps.discover_tenant({"spec": spec, "hybrid_app_ids": [APP_ID]}))
    assert found["ok"], found
    (app,) = found["result"]["hybrid_applications"]
    assert app["found"] and app["app_id"] == APP_ID and app["id"] == APP_OBJECT_ID
    assert app["permission"] and app["admin_consent"] and len(app["key_credentials"]) == 2


def test_a_renewal_puts_the_new_key_on_the_principal_and_the_app_before_publish_keeping_every_foreign_key(
        spec: dict[str, Any], exchange: Any, graph: Any) -> None:
    from pushproxy import rotation_steps
    from pushproxy.onboarding import steps

    foreign = make_hybrid(exchange, graph)
    before = {"shared": keys_of(graph, "shared"), "app": keys_of(graph, "app")}
    now = dt.datetime.now(dt.UTC)
    server = exchange.state()["organizations"][ORG]["servers"][0]["name"]
    # The rotation's own order (orchestrators/rotation.py prepare): create, import, upload; stage and publish come
    # after, so what the tenant holds here is what it holds before publish.
    created = rotation_steps.create_next_certificate({"spec": spec, "server": server, "lifetime_days": 1826,
                                                      "started_at": now.isoformat(), "now": now.isoformat()})
    assert created["ok"], created
    cert = created["result"]["certificate"]
    uploaded = asyncio.run(steps.upload_tenant_key({"spec": spec, "keys": [
        {"source": "rotation", "thumbprint": cert["thumbprint"], "der_b64": cert["der_b64"]}]}))
    assert uploaded["ok"], uploaded
    targets = {t["target"]["kind"]: t["action"] for t in uploaded["result"]["targets"]}
    assert targets == {"servicePrincipal": "added", "application": "added"}
    after = {"shared": keys_of(graph, "shared"), "app": keys_of(graph, "app")}
    for kind in ("shared", "app"):
        assert cert["der_b64"] in after[kind]
        assert set(before[kind]) <= set(after[kind])  # every existing key kept, ours and foreign
        assert foreign[kind] in after[kind]
    # Idempotent by thumbprint: again, nothing is written anywhere.
    again = asyncio.run(steps.upload_tenant_key({"spec": spec, "keys": [
        {"source": "rotation", "thumbprint": cert["thumbprint"], "der_b64": cert["der_b64"]}]}))
    assert again["action"] == "none" and {t["action"] for t in again["result"]["targets"]} == {"none"}


def test_after_clean_up_mode_the_shared_principal_is_not_refilled_and_the_app_still_gets_the_key(
        spec: dict[str, Any], exchange: Any, graph: Any) -> None:
    from pushproxy.onboarding import steps

    make_hybrid(exchange, graph, cleanup_run=True)
    org = exchange.state()["organizations"][ORG]
    current = next(c for c in org["certificates"] if c["thumbprint"] == org["auth_config"]["current"])
    # Clean-up removed the current Auth certificate's key from the shared principal: an upload of it (an
    # onboarding's plan would make one) goes to the app only.
    gstate = graph.state()
    app = gstate["tenants"][tenant_id_of(ORG)]["applications"][0]
    app["keyCredentials"] = [k for k in app["keyCredentials"] if k["key"] != current["der"]]
    graph.put_state(gstate)
    result = asyncio.run(steps.upload_tenant_key({"spec": spec, "keys": [
        {"source": "discovery", "thumbprint": current["thumbprint"], "der_b64": current["der"]}]}))
    assert result["ok"], result
    assert result["result"]["hybrid"]["mode"] == "cleanup_run"
    assert [t["target"]["kind"] for t in result["result"]["targets"]] == ["application"]
    assert "does not re-add" in result["result"]["shared_principal"]
    assert keys_of(graph, "shared") == [] and current["der"] in keys_of(graph, "app")


def test_verification_reports_clean_up_mode_and_never_remediates_it(
        spec: dict[str, Any], exchange: Any, graph: Any) -> None:
    from pushproxy import fleet
    from pushproxy.verification import HYBRID_CLEANUP_RUN, remediation_workflow

    make_hybrid(exchange, graph, cleanup_run=True)
    registry = open_registry()
    try:
        record, _ = asyncio.run(fleet.verify_tenant(registry, ORG, now=dt.datetime.now(dt.UTC), expiry_warning_days=30,
                                                    verification_id=None))
    finally:
        registry.close()
    kinds = {f.kind for f in record.findings}
    assert HYBRID_CLEANUP_RUN in kinds, record.findings
    finding = next(f for f in record.findings if f.kind == HYBRID_CLEANUP_RUN)
    assert "shared_principal_key" in finding.message and "does not re-add" in finding.message
    assert record.facts["hybrid"]["mode"] == "cleanup_run"
    assert remediation_workflow(record) is None  # never fought: no onboarding started to put it back


def test_verification_names_the_dedicated_app_mode(spec: dict[str, Any], exchange: Any, graph: Any) -> None:
    from pushproxy import fleet

    make_hybrid(exchange, graph)
    registry = open_registry()
    try:
        record, _ = asyncio.run(fleet.verify_tenant(registry, ORG, now=dt.datetime.now(dt.UTC), expiry_warning_days=30,
                                                    verification_id=None))
    finally:
        registry.close()
    # HCW's key of the current certificate is still on the shared principal and the registry records no upload
    # of ours: clean-up mode has not run yet.
    assert record.facts["hybrid"]["mode"] == "moving"
    assert record.facts["hybrid"]["application"]["app_id"] == APP_ID
