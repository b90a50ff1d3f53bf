"""The offboarding orchestrator's decisions with stub activities on the local host: approval re-checked against
the state, a failed step ends the run recorded, a check that finds another key changed fails loudly; and the
verification orchestrator starts a prune where our expired keys are the only drift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pushproxy.exchange.models import PushProxyState
from pushproxy.local import LocalHost
from pushproxy.offboarding_plan import OurFootprint
from pushproxy.outcome import error, ok
from tests.orchestrators import stub_app
from tests.orchestrators.test_onboarding_decisions import Clock, spec
from tests.support.approvals import awaiting_event
from tests.unit.test_offboarding_plan import MINE, tenant
from tests.unit.test_plan import OTHER, THUMB, exchange

IID = "offboarding-fabrikam.com"


@pytest.fixture(scope="module")
def app() -> Any:
    return stub_app.build_stub_app()


@pytest.fixture
def host(app: Any, tmp_path: Path) -> Iterator[LocalHost]:
    stub_app.SCRIPT.clear()
    stub_app.CALLS.clear()
    h = LocalHost(app, database=tmp_path / "local.sqlite", clock=Clock())
    yield h
    h.close()


def approve(host: LocalHost, times: int) -> None:
    for _ in range(times):
        host.run_until_idle()
        status = host.get_status(IID, show_history=False)
        awaiting = (status.custom_status or {}).get("awaiting")
        assert awaiting, status.custom_status
        host.raise_event(IID, awaiting_event(host, IID), {"decision": "approve", "approver": "alice", "group": awaiting["group"],
                                           "state_hash": awaiting["state_hash"]})
    host.run_until_idle()


OFF = exchange(proxy=PushProxyState(True, False, "fabrikam.com", None, "OnPrem-Proxy"))


def script(tenants: list[Any], exchanges: int = 2, **extra: Any) -> None:
    """Discovery answers: `tenants` in turn; Exchange with the proxy on `exchanges` times, then off."""
    stub_app.SCRIPT.update({
        "discover_exchange": [ok(exchange(), "none")] * exchanges + [ok(OFF, "none")],
        "discover_tenant": [ok(t, "none") for t in tenants],
        "discover_ours": [ok(MINE.to_dict(), "none")],
        "disable_push_proxy": [ok({"enabled": False}, "disabled")],
        "remove_tenant_keys": [ok({"thumbprints": [THUMB]}, "removed")],
        "record_offboarding": [ok({}, "recorded")],
        **extra,
    })


def without(t: dict[str, Any], thumbprint: str) -> dict[str, Any]:
    """The same tenant discovery without the key of `thumbprint` (every other key as it was)."""
    sp = t["service_principal"]
    return {**t, "service_principal": {**sp, "key_credentials": [k for k in sp["key_credentials"] if k["thumbprint"] != thumbprint]}}


def start(host: LocalHost) -> None:
    host.start_new("offboarding", IID, {"spec": spec(approval={"policy": "required"}), "requested_by": "carol"})


def calls(name: str) -> int:
    return sum(1 for n, _ in stub_app.CALLS if n == name)


def test_applied_after_both_approvals_and_checked(host: LocalHost) -> None:
    before = tenant((THUMB, False), (OTHER, False))
    script([before, before, without(before, THUMB)])
    start(host)
    approve(host, 2)
    status = host.get_status(IID, show_history=False)
    assert status.output["outcome"] == "done", status.output
    assert [c["kind"] for c in status.output["changes"]] == ["disable_push_proxy", "remove_tenant_keys"]
    assert calls("disable_push_proxy") == calls("remove_tenant_keys") == calls("record_offboarding") == 1


def test_a_state_changed_after_approval_is_asked_again(host: LocalHost) -> None:
    before, moved = tenant((THUMB, False), (OTHER, False)), tenant((THUMB, False), (OTHER, False), ("C" * 40, False))
    script([before, moved, moved, without(moved, THUMB)], exchanges=3)
    start(host)
    approve(host, 2)  # approved for the first state; the re-read differs
    status = host.get_status(IID, show_history=False)
    assert status.custom_status["phase"] == "awaiting_approval"
    assert calls("remove_tenant_keys") == 0
    approve(host, 2)
    assert host.get_status(IID, show_history=False).output["outcome"] == "done"


def test_a_failed_removal_ends_the_run_failed_and_recorded(host: LocalHost) -> None:
    before = tenant((THUMB, False), (OTHER, False))
    script([before], remove_tenant_keys=[error("TenantError", "Insufficient privileges", transient=False)])
    start(host)
    approve(host, 2)
    output = host.get_status(IID, show_history=False).output
    assert output["outcome"] == "failed" and "Insufficient privileges" in output["error"]
    assert calls("record_offboarding") == 1


def test_a_check_that_finds_someone_else_s_key_gone_fails(host: LocalHost) -> None:
    before = tenant((THUMB, False), (OTHER, False))
    script([before, before, tenant()])
    start(host)
    approve(host, 2)
    for _ in range(5):  # the check reads again on durable timers before giving up
        host.clock.t += timedelta(seconds=10)  # type: ignore[attr-defined]
        host.run_until_idle()
    output = host.get_status(IID, show_history=False).output
    assert output["outcome"] == "failed", output
    assert "which is not ours, is gone" in output["error"]


def test_never_onboarded_is_blocked_and_nothing_is_called(host: LocalHost) -> None:
    script([tenant((THUMB, False))], discover_ours=[ok(OurFootprint(False).to_dict(), "none")])
    start(host)
    host.run_until_idle()
    output = host.get_status(IID, show_history=False).output
    assert output["outcome"] == "blocked" and output["blocking"][0]["code"] == "not_onboarded"
    assert calls("disable_push_proxy") == calls("remove_tenant_keys") == 0


def test_verification_starts_a_prune_where_our_expired_keys_are_the_only_drift(host: LocalHost) -> None:
    def verified(payload: dict) -> dict:
        findings = [{"kind": "expired_key", "severity": "drift", "message": "expired", "detail": {}}]
        return ok({"record": {"domain": payload["tenant"], "verified_at": "2026-11-27T06:00:00+00:00", "state": "drifting",
                              "findings": findings}, "policy": "onboard"}, "verified")

    stub_app.SCRIPT.update({
        "list_fleet": [ok({"tenants": ["a.example"]}, "none")],
        "verify_tenant": [verified],
        "start_remediation": [lambda p: ok({"tenant": p["tenant"], "started": True}, "started")],
        "record_verification_summary": [ok({}, "recorded")],
    })
    host.start_new("verification", "verification-x", {"tenants": None, "batch_size": 2, "expiry_warning_days": 60})
    host.run_until_idle()
    starts = [p for n, p in stub_app.CALLS if n == "start_remediation"]
    assert starts == [{"tenant": "a.example", "workflow": "prune"}]
