"""Fleet verification end to end on the local host: both stand-ins host the fleet, each drift kind is found,
an unreachable tenant is reported and the rest of the fleet is still verified, remediation starts an onboarding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pushproxy.registry import VerificationRecord, open_registry
from tests.fleet import fleet_support as fs


@pytest.fixture
def host(fleet_env: dict[str, str]) -> Any:
    import function_app
    from pushproxy.local import LocalHost

    local = LocalHost(function_app.app, database=Path(fleet_env["PUSHPROXY_LOCAL_DB"]))
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
    "probefail.example": ("failing", ["probe_failed"]),
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
    # Default policy (approval required): remediate what an onboarding puts back, nothing it can't.
    assert summary.remediations == ("expired.example", "noauthserver.example", "nokey.example", "proxyoff.example",
                                    "wrongauthserver.example")


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
