"""The verification orchestrator's decisions with stub activities: a tenant whose verification crashes is that
tenant's failing result, remediations start where policy allows, every failure of a step is reported, not raised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pushproxy.local import LocalHost
from pushproxy.outcome import error, ok
from tests.orchestrators import stub_app
from tests.orchestrators.stub_app import Crash
from tests.orchestrators.test_onboarding_decisions import Clock


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


def record(domain: str, state: str, kind: str | None = None) -> dict[str, Any]:
    findings = [{"kind": kind, "severity": "drift", "message": f"{kind} on {domain}", "detail": {}}] if kind else []
    return {"domain": domain, "verified_at": "2026-11-27T06:00:00+00:00", "state": state, "findings": findings,
            "verification_id": "verification"}


def verified(payload: dict) -> dict:
    domain = payload["tenant"]
    if domain == "crash.example":
        raise Crash("worker died")
    if domain == "drift.example":
        return ok({"record": record(domain, "drifting", "proxy_disabled"), "policy": "onboard"}, "verified")
    return ok({"record": record(domain, "healthy"), "policy": "onboard"}, "verified")


def run(host: LocalHost, tenants: list[str] | None = None) -> Any:
    host.start_new("verification", "verification", {"tenants": tenants, "batch_size": 2, "expiry_warning_days": 60})
    host.run_until_idle()
    status = host.get_status("verification", show_history=False)
    assert status.runtime_status.value == "Completed", status.output
    return status


def test_each_tenant_gets_its_result_and_a_crash_is_that_tenant_s_alone(host: LocalHost) -> None:
    stub_app.SCRIPT.update({
        "list_fleet": [ok({"tenants": ["a.example", "crash.example", "drift.example"]}, "none")],
        "verify_tenant": [verified],
        "start_remediation": [lambda p: ok({"tenant": p["tenant"], "started": True}, "started")],
        "record_verification_summary": [ok({}, "recorded")],
    })
    status = run(host)
    states = {row["tenant"]: row["state"] for row in status.output["tenants"]}
    assert states == {"a.example": "healthy", "crash.example": "failing", "drift.example": "drifting"}
    assert status.output["remediations"] == ["drift.example"]
    assert status.custom_status["phase"] == "done"


def test_a_fleet_that_cannot_be_listed_ends_failed_with_the_reason(host: LocalHost) -> None:
    stub_app.SCRIPT.update({"list_fleet": [error("RegistryError", "registry unavailable", transient=False)]})
    status = run(host)
    assert status.custom_status["phase"] == "failed"
    assert "registry unavailable" in status.output["error"]


def test_a_summary_that_cannot_be_recorded_is_noted(host: LocalHost) -> None:
    stub_app.SCRIPT.update({
        "list_fleet": [ok({"tenants": ["a.example"]}, "none")],
        "verify_tenant": [verified],
        "record_verification_summary": [error("RegistryError", "registry unavailable", transient=False)],
    })
    status = run(host)
    assert any("summary could not be recorded" in n for n in status.output["notes"])


def test_a_remediation_that_cannot_start_is_noted(host: LocalHost) -> None:
    stub_app.SCRIPT.update({
        "list_fleet": [ok({"tenants": ["drift.example"]}, "none")],
        "verify_tenant": [verified],
        "start_remediation": [error("ActivityFailed", "no client", transient=False)],
        "record_verification_summary": [ok({}, "recorded")],
    })
    status = run(host)
    assert status.output["remediations"] == []
    assert status.output["notes"] == ["drift.example: remediation not started (no client)"]
