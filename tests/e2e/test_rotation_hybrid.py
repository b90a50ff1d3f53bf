"""A renewal on an organisation that uses the dedicated Exchange hybrid application (issue 16), through the
rotation orchestrator on the local host and both stand-ins: the approver is told the key goes on both
collections, the new key is on the shared principal AND the app before publish, and every foreign key stays on
both through publish and retirement."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.conftest import TENANT_ID, World, approver
from tests.e2e.test_rotation import _thumbprint, index, ok_op, onboarded, rotate, rotation_spec, synced_clock
from tests.hybrid.test_dedicated_app import FULL_ACCESS_AS_APP, foreign_certificate, key

__all__ = ["onboarded"]  # the fixture, imported for pytest

APP_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "e2e-dedicated-hybrid-app"))
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"


def make_dedicated_app_organisation(world: World) -> dict[str, str]:
    """ConfigureExchangeHybridApplication.ps1 -FullyConfigureExchangeHybridApplication, as the stand-ins model it:
    the override, an EvoSts AuthServer naming the app, the app holding the current certificate's key and a foreign
    one. Returns the foreign keys by collection."""
    org = world.org()
    org["setting_overrides"] = [{"name": "EnableExchangeHybrid3PAppFeature", "component": "Global",
                                 "section": "ExchangeOnpremAsThirdPartyAppId", "parameters": ["Enabled=true"]}]
    org["hybrid_configuration"] = {"features": ["FreeBusy", "Mailtips", "Photos"]}
    org["auth_servers"].append({"name": f"EvoSts - {TENANT_ID}", "type": "AzureAD", "realm": TENANT_ID,
                                "auth_metadata_url": f"https://login.windows.net/{TENANT_ID}/federationmetadata/"
                                                     "2007-06/federationmetadata.xml",
                                "application_identifier": APP_ID, "domain_name": [world.spec().tenant_domain]})
    world.put_org(org)
    current = next(c["der"] for c in org["certificates"] if c["thumbprint"] == org["auth_config"]["current"])
    state = world.graph.state()
    tenant = state["tenants"][TENANT_ID]
    shared = next(sp for sp in tenant["servicePrincipals"] if sp["appId"] == EXCHANGE_ONLINE_APP_ID)
    foreign = {"shared": foreign_certificate("CN=someone else's app"), "app": foreign_certificate("CN=another key")}
    shared["keyCredentials"] = [*shared["keyCredentials"], key(foreign["shared"])]
    tenant["servicePrincipals"].append({
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "e2e-app-sp")), "appId": APP_ID, "displayName": "ExchangeServerApp",
        "appRoleAssignments": [{"appRoleId": FULL_ACCESS_AS_APP, "resourceId": shared["id"]}]})
    tenant["applications"] = [{
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "e2e-app-object")), "appId": APP_ID, "displayName": "ExchangeServerApp",
        "keyCredentials": [key(current), key(foreign["app"])],
        "requiredResourceAccess": [{"resourceAppId": EXCHANGE_ONLINE_APP_ID,
                                    "resourceAccess": [{"id": FULL_ACCESS_AS_APP, "type": "Role"}]}]}]
    world.graph.put_state(state)
    return foreign


def app_keys(world: World) -> list[str]:
    return [k["key"] for k in world.graph.state()["tenants"][TENANT_ID]["applications"][0]["keyCredentials"]]


def test_a_renewal_on_a_dedicated_app_organisation_puts_the_key_on_both_before_publish(
        onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    foreign = make_dedicated_app_organisation(world)
    world.exchange.clear_journal()
    world.graph.clear_journal()
    clock = synced_clock(world)
    shown: list[list[str]] = []
    alice = approver("alice")

    def decide(status: dict[str, Any]) -> dict[str, Any]:
        if status["awaiting"]["group"] == "plan":
            shown.append(list(status["awaiting"].get("steps") or []))
        return alice(status)

    view = rotate(world, rotation_spec(world, approval={"policy": "required"}), clock, decide)

    assert view["outcome"] == "done", view
    new = view["new_certificate"]["thumbprint"]
    # The approver read where the key goes: both collections.
    (steps,) = shown
    upload = next(s for s in steps if s.startswith("Upload its public key"))
    assert "application" in upload.lower() and "service principal" in upload.lower(), upload
    # Both uploads landed before staging, so before publish (journal order, as the whole-chain test proves it).
    patches = [e for e in world.graph.journal()
               if str(e.get("operation", "")).startswith("PATCH") and e.get("outcome") == "ok"]
    to_app = [e for e in patches if "/applications/" in str(e.get("operation", "")) + str(e.get("path", ""))]
    to_sp = [e for e in patches if "/servicePrincipals/" in str(e.get("operation", "")) + str(e.get("path", ""))]
    assert to_app and to_sp, patches
    journal = world.exchange.journal()
    (staged,) = index(journal, ok_op("Set-AuthConfig", NewCertificateThumbprint=1))
    stage_time = journal[staged]["wall_time"]
    assert max(e["time"] for e in (to_app[0], to_sp[0])) < stage_time
    # After publish and retirement: the new key on both, every foreign key on both.
    shared = [k["key"] for k in world.service_principal()["keyCredentials"]]
    on_app = app_keys(world)
    assert new in {_thumbprint(k) for k in shared} and new in {_thumbprint(k) for k in on_app}
    assert foreign["shared"] in shared and foreign["app"] in on_app
    # Our old key came off the shared principal (the registry says we put it there); the app's copy of the old
    # certificate was put there by the hybrid tool, not by us, so it stays.
    assert old not in {_thumbprint(k) for k in shared}
    assert old in {_thumbprint(k) for k in on_app}
