"""plan_offboarding / plan_prune and what the registry says is ours: pure functions, no I/O."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pushproxy.exchange.models import AuthServer, PushProxyState
from pushproxy.offboarding_plan import OurFootprint, footprint, plan_offboarding, plan_prune
from pushproxy.plan import metadata_url
from pushproxy.registry.models import OnboardingRecord
from pushproxy.tenant.models import KeyCredentialInfo, ServicePrincipal, TenantDiscovery, TenantFacts
from tests.unit.test_plan import DOMAIN, NOW, OTHER, THUMB, exchange

MINE = OurFootprint(True, (THUMB,), ({"name": "MicrosoftSts", "auth_metadata_url": metadata_url(DOMAIN), "instance_id": "onboarding-x"},))


def tenant(*keys: tuple[str, bool], with_bytes: bool = True) -> dict[str, Any]:
    """Keys as (thumbprint, expired)."""
    facts = TenantFacts("11111111-2222-3333-4444-555555555555", "Fabrikam", (DOMAIN,))
    creds = tuple(
        KeyCredentialInfo(f"k{i}", "AsymmetricX509Cert", "Verify", thumbprint=t, end=NOW - timedelta(days=1) if old else NOW + timedelta(days=9),
                          key_b64="TUlJQg==" if with_bytes else None)
        for i, (t, old) in enumerate(keys)
    )
    return TenantDiscovery(DOMAIN, facts, True, ServicePrincipal("sp-1", "00000002-0000-0ff1-ce00-000000000000", "EXO", creds), ()).to_dict()


def record(instance_id: str, minutes: int, *changes: dict[str, Any]) -> OnboardingRecord:
    return OnboardingRecord(DOMAIN, instance_id, NOW + timedelta(minutes=minutes), "done",
                            finished_at=NOW + timedelta(minutes=minutes + 1), changes=changes)


def upload(*thumbs: str) -> dict[str, Any]:
    return {"kind": "upload_tenant_key", "outcome": "added", "result": {"thumbprints": list(thumbs)}}


def removal(*thumbs: str) -> dict[str, Any]:
    return {"kind": "remove_tenant_keys", "outcome": "removed", "result": {"thumbprints": list(thumbs)}}


def test_a_key_is_ours_from_its_upload_until_our_removal_and_again_after_a_new_upload() -> None:
    first = record("onboarding-1", 0, upload(THUMB, OTHER),
                   {"kind": "ensure_auth_server", "outcome": "created", "result": {"auth_server": {"name": "MicrosoftSts", "auth_metadata_url": "u"}}})
    removed = record("offboarding-1", 10, removal(THUMB, OTHER))
    again = record("onboarding-2", 20, upload(THUMB), {"kind": "ensure_auth_server", "outcome": "updated"})
    assert footprint(True, [first], []).key_thumbprints == tuple(sorted((THUMB, OTHER)))
    assert footprint(True, [first], [removed]).key_thumbprints == ()
    later = footprint(True, [first, again], [removed])
    assert later.key_thumbprints == (THUMB,)
    # Only an AuthServer an onboarding created is ours; one it corrected ("updated") is not.
    assert [a["name"] for a in later.auth_servers] == ["MicrosoftSts"]
    assert footprint(True, [again], []).auth_servers == ()


def test_everything_ours_is_planned_in_order_and_the_auth_certificate_stays() -> None:
    p = plan_offboarding(exchange(), tenant((THUMB, False), (OTHER, False)), MINE, DOMAIN, NOW, remove_auth_server=True)
    assert p.kinds() == ["disable_push_proxy", "remove_auth_server", "remove_tenant_keys"]
    assert [c.group for c in p.changes] == ["on_premises", "on_premises", "tenant"]
    assert p.changes[2].details["thumbprints"] == [THUMB] and p.changes[2].details["kept"] == 1
    assert any("stays" in n and THUMB in n for n in p.notes)


def test_an_auth_server_is_removed_only_when_asked_and_only_while_it_points_where_we_pointed_it() -> None:
    assert "remove_auth_server" not in plan_offboarding(exchange(), tenant(), MINE, DOMAIN, NOW).kinds()
    moved = exchange(auth_servers=(AuthServer("MicrosoftSts", "https://elsewhere.example/metadata", DOMAIN, True),))
    p = plan_offboarding(moved, tenant(), MINE, DOMAIN, NOW, remove_auth_server=True)
    assert "remove_auth_server" not in p.kinds() and any("someone changed it" in n for n in p.notes)
    found = OurFootprint(True, (THUMB,), ())
    assert "remove_auth_server" not in plan_offboarding(exchange(), tenant(), found, DOMAIN, NOW, remove_auth_server=True).kinds()


def test_a_proxy_enabled_for_another_organisation_is_left_alone() -> None:
    other = exchange(proxy=PushProxyState(True, True, "contoso.com", None, "OnPrem-Proxy"))
    p = plan_offboarding(other, tenant(), MINE, DOMAIN, NOW)
    assert "disable_push_proxy" not in p.kinds()
    assert any("contoso.com" in n for n in p.notes)


def test_never_onboarded_is_nothing_to_undo() -> None:
    p = plan_offboarding(exchange(), tenant((THUMB, False)), OurFootprint(False), DOMAIN, NOW)
    assert p.is_blocked and p.blocking[0].code == "not_onboarded" and not p.changes


def test_a_key_without_its_bytes_blocks_a_removal_but_not_the_rest() -> None:
    p = plan_offboarding(exchange(), tenant((THUMB, False), (OTHER, False), with_bytes=False), MINE, DOMAIN, NOW)
    assert p.is_blocked and p.blocking[0].code == "key_bytes_missing"
    # Nothing of ours on the principal: no write there, so another key's missing bytes don't matter.
    nothing_ours = plan_offboarding(exchange(), tenant((OTHER, False), with_bytes=False), MINE, DOMAIN, NOW)
    assert not nothing_ours.is_blocked and nothing_ours.kinds() == ["disable_push_proxy"]


def test_a_certificate_someone_else_uploaded_too_is_left_alone() -> None:
    p = plan_offboarding(exchange(), tenant((THUMB, False), (THUMB, False)), MINE, DOMAIN, NOW)
    assert "remove_tenant_keys" not in p.kinds() and any("more than once" in n for n in p.notes)


def test_prune_removes_only_our_expired_keys() -> None:
    ours = OurFootprint(True, (THUMB, OTHER))
    p = plan_prune(tenant((THUMB, True), (OTHER, False), ("C" * 40, True)), ours, DOMAIN, NOW)
    assert p.kinds() == ["remove_tenant_keys"] and p.changes[0].details["thumbprints"] == [THUMB]
    assert any("never pruned: 1 (of which 1 expired)" in n for n in p.notes)
    assert plan_prune(tenant((OTHER, False)), ours, DOMAIN, NOW).is_empty


def test_the_state_hash_binds_the_options_and_what_is_ours() -> None:
    base = plan_offboarding(exchange(), tenant((THUMB, False)), MINE, DOMAIN, NOW)
    asked = plan_offboarding(exchange(), tenant((THUMB, False)), MINE, DOMAIN, NOW, remove_auth_server=True)
    fewer = plan_offboarding(exchange(), tenant((THUMB, False)), OurFootprint(True), DOMAIN, NOW)
    assert len({base.state_hash, asked.state_hash, fewer.state_hash}) == 3
