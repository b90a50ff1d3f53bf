"""Fleet verification end to end on the local host: both stand-ins host the fleet, each drift kind is found,
an unreachable tenant is reported and the rest of the fleet is still verified, remediation starts an onboarding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pushproxy.registry import VerificationRecord, open_registry
from tests.fleet import fleet_support as fs
from tests.support.approvals import awaiting_event


@pytest.fixture
def host(fleet_env: dict[str, str]) -> Any:
    from pushproxy.local import LocalHost
    from pushproxy.onboarding.runner import product_app

    local = LocalHost(product_app(), database=Path(fleet_env["PUSHPROXY_LOCAL_DB"]))
    yield local
    local.close()


def latest(registry: Any, domain: str) -> VerificationRecord:
    record = registry.latest_verification(domain)
    assert record is not None, domain
    return record


def run_verification(host: Any, tenants: list[str] | None = None, batch_size: int = 4) -> Any:
    host.start_new("verification", "verification",
                   {"tenants": tenants, "batch_size": batch_size, "expiry_warning_days": 60})
    host.wait_for("verification", timeout=120)
    return host.get_status("verification")


DRIFTS: dict[str, list[fs.Drift]] = {
    "healthy.example": [],
    "proxyoff.example": [fs.proxy_disabled],
    "nokey.example": [fs.key_missing],
    "noauthserver.example": [fs.auth_server_gone],
    "wrongauthserver.example": [fs.auth_server_wrong],
    "expiring.example": [fs.cert_expiring],
    "expired.example": [fs.cert_expired],
    "nextkey.example": [fs.next_key_missing],
    "oldserver.example": [fs.server_below_gate],
    "probefail.example": [fs.probe_fails],
    "unreachable.example": [fs.unreachable],
}

EXPECTED = {
    "healthy.example": ("healthy", []),
    "proxyoff.example": ("failing", ["proxy_disabled", "probe_failed"]),
    "nokey.example": ("failing", ["key_missing", "probe_failed"]),
    "noauthserver.example": ("failing", ["auth_server_missing", "probe_failed"]),
    "wrongauthserver.example": ("failing", ["auth_server_wrong", "probe_failed"]),
    "expiring.example": ("drifting", ["cert_expiring"]),
    "expired.example": ("failing", ["cert_expired", "probe_failed"]),
    "nextkey.example": ("drifting", ["next_cert_key_missing"]),
    "oldserver.example": ("failing", ["server_below_gate"]),
    # The certificate missing on the second server is now seen as such (issue 15's repair), not only as a failed probe.
    "probefail.example": ("failing", ["cert_not_everywhere", "probe_failed"]),
    "unreachable.example": ("failing", ["exchange_unreachable"]),
}


def test_each_drift_kind_is_found_and_one_unreachable_tenant_does_not_stop_the_fleet(
    exchange: Any, graph: Any, host: Any
) -> None:
    plans = []
    for name, drifts in DRIFTS.items():
        plan = fs.OrgPlan.onboarded(name)
        for drift in drifts:
            drift(plan)
        plans.append(plan)
    registry = open_registry()
    fs.build_fleet(exchange, graph, plans, registry)

    status = run_verification(host)
    assert status.runtime_status.value == "Completed", status.output
    # One finding per kind, except the probe, which reports each server that failed.
    found = {v.domain: (v.state, list(dict.fromkeys(f.kind for f in v.findings))) for v in registry.list_verifications()}
    assert found == EXPECTED

    summary = registry.latest_verification_summary()
    assert summary is not None
    assert (summary.total, summary.healthy, summary.drifting, summary.failing) == (11, 1, 2, 8)
    assert status.custom_status["phase"] == "done"
    assert status.custom_status["total"] == 11
    assert "connection" in latest(registry, "unreachable.example").findings[0].message.lower()
    # Default policy (approval required): remediate what an onboarding puts back, nothing it can't (a staged,
    # published, valid next certificate's key is uploaded by the plan, so it is remediated too); an expiring
    # certificate is renewed by a rotation (issue 15), started through the same policy.
    assert summary.remediations == ("expired.example", "expiring.example", "nextkey.example", "noauthserver.example",
                                    "nokey.example", "probefail.example", "proxyoff.example", "wrongauthserver.example")
    rotation = host.get_status("rotation-expiring.example", show_history=False)
    assert rotation is not None and rotation.name == "rotation"


def test_hybrid_wizard_acs_servers_in_the_path_form_are_ours_another_tenants_is_not(
    exchange: Any, graph: Any, host: Any
) -> None:
    drifts = {"hcwid.example": fs.hcw_acs_by_tenant_id, "hcwdomain.example": fs.hcw_acs_by_domain,
              "hcwother.example": fs.hcw_acs_of_another_tenant}
    plans = []
    for name, drift in drifts.items():
        plan = fs.OrgPlan.onboarded(name)
        drift(plan)
        plans.append(plan)
    registry = open_registry()
    fs.build_fleet(exchange, graph, plans, registry)

    status = run_verification(host)
    assert status.runtime_status.value == "Completed", status.output
    found = {v.domain: (v.state, list(dict.fromkeys(f.kind for f in v.findings))) for v in registry.list_verifications()}
    assert found == {
        "hcwid.example": ("healthy", []),  # the probe on every server succeeded too
        "hcwdomain.example": ("healthy", []),
        "hcwother.example": ("failing", ["auth_server_wrong", "probe_failed"]),
    }
    wrong = latest(registry, "hcwother.example").findings[0]
    assert wrong.detail["name"] == f"ACS - {fs.tenant_id_of('someone-else.example')}"
    assert status.output["remediations"] == ["hcwother.example"]


def test_remediation_starts_an_onboarding_that_asks_for_approval_again(exchange: Any, graph: Any, host: Any) -> None:
    nokey = fs.OrgPlan.onboarded("nokey.example")
    fs.key_missing(nokey)
    fs.remediate(nokey)
    optout = fs.OrgPlan.onboarded("optout.example")
    fs.key_missing(optout)
    optout.spec_changes["remediation"] = {"policy": "off"}
    registry = open_registry()
    fs.build_fleet(exchange, graph, [nokey, optout], registry)

    status = run_verification(host)
    assert status.output["remediations"] == ["nokey.example"]
    assert latest(registry, "nokey.example").remediation_id == "onboarding-nokey.example"
    assert latest(registry, "optout.example").remediation_id is None
    assert not host.get_status("onboarding-optout.example")

    onboarding = host.get_status("onboarding-nokey.example", show_input=True)
    assert onboarding.input_["remediation"] is True
    assert onboarding.input_["requested_by"] == "verification"
    # The TenantSpec itself (references only), valid as it stands.
    from pushproxy.spec import TenantSpec

    assert TenantSpec.from_dict(onboarding.input_["spec"]).to_dict() == onboarding.input_["spec"]
    host.wait_for("onboarding-nokey.example", until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval",
                  timeout=60)
    custom = host.get_status("onboarding-nokey.example").custom_status
    assert [c["kind"] for c in custom["plan"]] == ["upload_tenant_key"]


def test_only_the_named_tenants_are_verified(exchange: Any, graph: Any, host: Any) -> None:
    plans = [fs.OrgPlan.onboarded("one.example"), fs.OrgPlan.onboarded("two.example")]
    registry = open_registry()
    fs.build_fleet(exchange, graph, plans, registry)
    status = run_verification(host, tenants=["two.example"])
    assert [t["tenant"] for t in status.output["tenants"]] == ["two.example"]
    assert registry.latest_verification("one.example") is None
    assert latest(registry, "two.example").state == "healthy"


def test_a_tenant_missing_from_the_registry_is_reported_not_fatal(exchange: Any, graph: Any, host: Any) -> None:
    registry = open_registry()
    fs.build_fleet(exchange, graph, [fs.OrgPlan.onboarded("one.example")], registry)
    status = run_verification(host, tenants=["one.example", "ghost.example"])
    states = {t["tenant"]: t["state"] for t in status.output["tenants"]}
    assert states == {"one.example": "healthy", "ghost.example": "failing"}
    assert latest(registry, "ghost.example").findings[0].kind == "unverifiable"


def _onboard(host: Any, spec: dict[str, Any]) -> Any:
    """A person's onboarding of one tenant, approved by a second person, run to its end on the local host."""
    instance_id = f"onboarding-{spec['tenant_domain']}"
    host.start_new("onboarding", instance_id, {"spec": spec, "requested_by": "alice", "remediation": False})
    waiting = host.wait_for(instance_id, timeout=60,
                            until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval")
    assert [c["kind"] for c in waiting.custom_status["plan"]] == ["upload_tenant_key"], waiting.custom_status
    host.raise_event(instance_id, awaiting_event(host, instance_id), {"decision": "approve", "approver": "bob",
                                               "group": waiting.custom_status["awaiting"]["group"],
                                               "state_hash": waiting.custom_status["awaiting"]["state_hash"]})
    return host.wait_for(instance_id, timeout=60)


def _remove_every_key(graph: Any, domain: str) -> None:
    """What Exchange hybrid clean-up mode does to the shared Exchange Online service principal, through the Graph
    stand-in's admin API (PUT /_emulator/state)."""
    state = graph.state()
    for sp in state["tenants"][fs.tenant_id_of(domain)]["servicePrincipals"]:
        if sp["appId"] == fs.EXCHANGE_ONLINE_APP_ID:
            sp["keyCredentials"] = []
    graph.put_state(state)


def test_a_key_we_uploaded_that_was_removed_is_reported_and_never_re_added(exchange: Any, graph: Any, host: Any) -> None:
    # cleanedup.example: onboarded by us (the key upload recorded), then its key removed, as clean-up mode does.
    # fresh.example: its key is missing too, but we never uploaded it: that one is still remediated.
    cleaned, fresh = fs.OrgPlan.onboarded("cleanedup.example"), fs.OrgPlan.onboarded("fresh.example")
    for plan in (cleaned, fresh):
        fs.key_missing(plan)
        fs.remediate(plan)  # policy "onboard": remediation would start if the finding allowed it
    registry = open_registry()
    specs = fs.build_fleet(exchange, graph, [cleaned, fresh], registry)

    onboarded = _onboard(host, specs["cleanedup.example"])
    assert onboarded.output["outcome"] == "done", onboarded.output
    [record] = registry.list_onboardings("cleanedup.example")
    upload = next(c for c in record.changes if c["kind"] == "upload_tenant_key")
    assert upload["outcome"] == "added"
    uploaded = upload["result"]["thumbprint"]
    assert run_verification(host, tenants=["cleanedup.example"]).output["remediations"] == []
    assert latest(registry, "cleanedup.example").state == "healthy"

    _remove_every_key(graph, "cleanedup.example")
    status = run_verification(host)
    assert status.runtime_status.value == "Completed", status.output

    removed = latest(registry, "cleanedup.example")
    assert removed.state == "failing"
    finding = next(f for f in removed.findings if f.kind in ("key_removed", "key_missing"))
    assert finding.kind == "key_removed"
    assert (finding.detail["thumbprint"], finding.detail["onboarding_id"]) == (uploaded, "onboarding-cleanedup.example")
    assert "clean-up mode" in finding.message and "will not re-add it automatically" in finding.message
    assert "key_removed" in [f["kind"] for f in
                             next(t for t in views_of(registry)["tenants"] if t["tenant"] == "cleanedup.example")["findings"]]
    assert [f.kind for f in latest(registry, "fresh.example").findings][:1] == ["key_missing"]

    # No remediation for the removed key, even with policy "onboard": the onboarding we ran is the only one.
    assert status.output["remediations"] == ["fresh.example"]
    assert latest(registry, "cleanedup.example").remediation_id is None
    assert len(registry.list_onboardings("cleanedup.example")) == 1
    again = host.get_status("onboarding-cleanedup.example")
    assert (again.runtime_status.value, again.custom_status["phase"]) == ("Completed", "done")
    assert latest(registry, "fresh.example").remediation_id == "onboarding-fresh.example"
    # And the key stays off the service principal: nothing re-added it.
    sps = graph.state()["tenants"][fs.tenant_id_of("cleanedup.example")]["servicePrincipals"]
    assert [sp["keyCredentials"] for sp in sps if sp["appId"] == fs.EXCHANGE_ONLINE_APP_ID] == [[]]


def views_of(registry: Any) -> dict[str, Any]:
    """The fleet as GET /api/tenants shows it."""
    from pushproxy.api import views

    return views.fleet_view(registry.list_tenants(), registry.list_verifications(),
                            registry.latest_verification_summary())


def _sp_thumbprints(graph: Any, domain: str) -> set[str]:
    import base64
    import hashlib

    sps = graph.state()["tenants"][fs.tenant_id_of(domain)]["servicePrincipals"]
    keys = next(sp["keyCredentials"] for sp in sps if sp["appId"] == fs.EXCHANGE_ONLINE_APP_ID)
    return {hashlib.sha1(base64.b64decode(k["key"]), usedforsecurity=False).hexdigest().upper() for k in keys}


def test_a_staged_next_certificate_without_its_key_starts_a_remediation_that_uploads_it(
    exchange: Any, graph: Any, host: Any
) -> None:
    plan = fs.OrgPlan.onboarded("rotating.example")
    fs.next_key_missing(plan)
    registry = open_registry()
    fs.build_fleet(exchange, graph, [plan], registry)
    auth_config = exchange.state()["organizations"]["rotating.example"]["auth_config"]
    current, staged = auth_config["current"], auth_config["next"]
    assert _sp_thumbprints(graph, "rotating.example") == {current}

    status = run_verification(host)
    assert status.output["remediations"] == ["rotating.example"]
    finding = latest(registry, "rotating.example").findings[0]
    assert (finding.kind, finding.detail["thumbprint"], finding.detail["uploadable"]) == ("next_cert_key_missing", staged, True)

    # The remediation asks for approval again (the default policy), with the next certificate's upload as its plan.
    instance_id = "onboarding-rotating.example"
    waiting = host.wait_for(instance_id, timeout=60,
                            until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval")
    assert [(c["kind"], c["details"]["source"], c["details"]["thumbprint"]) for c in waiting.custom_status["plan"]] == [
        ("upload_tenant_key", "next", staged)]
    host.raise_event(instance_id, awaiting_event(host, instance_id), {"decision": "approve", "approver": "bob",
                                               "group": waiting.custom_status["awaiting"]["group"],
                                               "state_hash": waiting.custom_status["awaiting"]["state_hash"]})
    done = host.wait_for(instance_id, timeout=60)
    assert done.output["outcome"] == "done", done.output
    assert done.output["remediation"] is True

    assert _sp_thumbprints(graph, "rotating.example") == {current, staged}
    again = run_verification(host, tenants=["rotating.example"])
    assert again.output["remediations"] == []
    assert latest(registry, "rotating.example").state == "healthy"

    # Then clean-up mode removes the keys: the next key is one we uploaded, so it is reported, never re-added.
    _remove_every_key(graph, "rotating.example")
    removed = run_verification(host, tenants=["rotating.example"])
    assert removed.output["remediations"] == []
    kinds = [(f.kind, f.detail["thumbprint"]) for f in latest(registry, "rotating.example").findings if f.kind != "probe_failed"]
    assert kinds == [("key_removed", current), ("key_removed", staged)]
