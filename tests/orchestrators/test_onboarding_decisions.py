"""Every decision of the onboarding orchestrator, with stub activities on the local host and a fake clock: fast,
no stand-in. Whatever ends a run ends it through the same finish: recorded once, custom status final."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrators.onboarding import MAX_APPROVAL_ROUNDS
from pushproxy.exchange.models import PushProxyState
from pushproxy.local import LocalHost
from pushproxy.outcome import error, ok
from tests.orchestrators import stub_app
from tests.orchestrators.stub_app import Crash
from tests.support.approvals import awaiting_event
from tests.unit.test_plan import NOW, exchange, tenant
from tests.unit.test_spec import GOOD

IID = "onboarding-fabrikam.com"
PROXY_OFF = PushProxyState(False, False, None, None)
FINAL_PHASES = ("done", "blocked", "rejected", "timed_out", "failed")


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def now(self) -> datetime:
        return self.t


@pytest.fixture(scope="module")
def app() -> Any:
    return stub_app.build_stub_app()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def host(app: Any, clock: Clock, tmp_path: Path) -> Iterator[LocalHost]:
    stub_app.SCRIPT.clear()
    stub_app.CALLS.clear()
    h = LocalHost(app, database=tmp_path / "local.sqlite", clock=clock)
    yield h
    h.close()


def spec(**changes: Any) -> dict[str, Any]:
    s = copy.deepcopy(GOOD)
    for section, values in changes.items():
        s[section] = {**s.get(section, {}), **values}
    return s


def script(**answers: Any) -> None:
    """Defaults: a tenant whose only gap is the proxy, every step succeeding, the probe too, the registry up."""
    defaults: dict[str, Any] = {
        "discover_exchange": [ok(exchange(proxy=PROXY_OFF), "none")],
        "discover_tenant": [ok(tenant(), "none")],
        "enable_push_proxy": [ok({"enabled": True}, "enabled")],
        "restart_health_manager": [ok({"server": "ex1"}, "restarted")],
        "run_probe": [ok({"server": "ex1", "result_type": "Success", "succeeded": True}, "probed")],
        "record_onboarding": [ok({"outcome": "x"}, "recorded")],
    }
    defaults.update(answers)
    stub_app.SCRIPT.update({k: list(v) for k, v in defaults.items()})


def calls(name: str) -> list[dict]:
    return [p for n, p in stub_app.CALLS if n == name]


def run(host: LocalHost, clock: Clock, s: dict[str, Any] | None = None, *, approve: bool | None = True,
        max_steps: int = 200) -> Any:
    """Start, then drive: approve (or reject) when asked, let timers fire by moving the clock, until it ends."""
    host.start_new("onboarding", IID, {"spec": s or spec(), "requested_by": "carol"})
    for _ in range(max_steps):
        host.run_until_idle()
        status = host.get_status(IID, show_history=False)
        if status.runtime_status.value not in ("Pending", "Running"):
            return status
        custom = status.custom_status or {}
        if custom.get("phase") == "awaiting_approval" and approve is not None and custom.get("awaiting"):
            host.raise_event(IID, awaiting_event(host, IID), {"decision": "approve" if approve else "reject", "approver": "alice",
                                               "group": custom["awaiting"]["group"],
                                               "state_hash": custom["awaiting"]["state_hash"]})
            continue
        due = host.next_due()
        assert due is not None, f"stuck in {custom.get('phase')}"
        clock.t = max(clock.t, due) + timedelta(milliseconds=1)
    raise AssertionError("did not end")


def ended(status: Any, phase: str) -> dict[str, Any]:
    """The one finish: Completed, the custom status final and the same as the output, recorded exactly once."""
    assert status.runtime_status.value == "Completed", status.output
    assert status.custom_status["phase"] == phase == status.output["outcome"], (status.custom_status, status.output)
    assert status.custom_status["awaiting"] is None and status.custom_status["current"] is None
    recorded = calls("record_onboarding")
    assert recorded and recorded[-1]["report"]["outcome"] == phase
    return dict(status.output)


def test_a_run_that_needs_nothing_verifies_and_is_done(host: LocalHost, clock: Clock) -> None:
    script(discover_exchange=[ok(exchange(), "none")])
    out = ended(run(host, clock), "done")
    assert out["probe"]["succeeded"] and out["changed"] == []
    assert calls("enable_push_proxy") == []


def test_an_approved_change_is_applied_then_verified(host: LocalHost, clock: Clock) -> None:
    script()
    out = ended(run(host, clock), "done")
    assert out["changed"] == ["enable_push_proxy"] and out["approvals"][0]["approver"] == "alice"
    assert len(calls("discover_exchange")) == 2  # discovered again after the approval


def test_blocked_changes_nothing(host: LocalHost, clock: Clock) -> None:
    script(discover_tenant=[ok(tenant(verified=False), "none")])
    out = ended(run(host, clock), "blocked")
    assert out["blocking"] and calls("enable_push_proxy") == []


def test_rejected_changes_nothing(host: LocalHost, clock: Clock) -> None:
    script()
    ended(run(host, clock, approve=False), "rejected")
    assert calls("enable_push_proxy") == []


def test_no_decision_before_the_deadline_times_out(host: LocalHost, clock: Clock) -> None:
    script()
    ended(run(host, clock, approve=None), "timed_out")
    assert calls("enable_push_proxy") == []


def test_a_state_that_changed_after_approval_is_approved_again(host: LocalHost, clock: Clock) -> None:
    changed = exchange(proxy=PushProxyState(True, False, "other.com", None))  # another plan than the approved one
    script(discover_exchange=[ok(exchange(proxy=PROXY_OFF), "none"), ok(changed, "none"), ok(changed, "none")])
    out = ended(run(host, clock), "done")
    assert len(out["approvals"]) == 2
    assert any("needs approval again" in n for n in out["notes"])


def test_a_state_that_keeps_changing_ends_after_the_round_limit(host: LocalHost, clock: Clock) -> None:
    states = [exchange(proxy=PushProxyState(True, False, f"other{i}.com", None)) for i in range(MAX_APPROVAL_ROUNDS + 2)]
    script(discover_exchange=[ok(s, "none") for s in states])
    out = ended(run(host, clock), "failed")
    assert out["error"] == "the state kept changing between approval and apply"
    assert calls("enable_push_proxy") == []


@pytest.mark.parametrize("step", ["discover_exchange", "discover_tenant", "enable_push_proxy"])
def test_a_permanent_failure_of_a_step_ends_at_once_with_its_message(host: LocalHost, clock: Clock, step: str) -> None:
    script(**{step: [error("ExchangeError", f"{step}: access denied", transient=False)]})
    out = ended(run(host, clock), "failed")
    assert f"{step}: access denied" in out["error"]
    assert len(calls(step)) == 1  # not retried


@pytest.mark.parametrize("step", ["discover_exchange", "discover_tenant", "enable_push_proxy"])
def test_a_transient_failure_of_a_step_is_retried_and_the_run_goes_on(host: LocalHost, clock: Clock, step: str) -> None:
    script()
    good = stub_app.SCRIPT[step][0]
    stub_app.SCRIPT[step] = [error("ExchangeError", "503", transient=True), good]
    ended(run(host, clock), "done")


def test_a_transient_failure_that_lasts_ends_after_the_spec_s_attempts(host: LocalHost, clock: Clock) -> None:
    script(enable_push_proxy=[error("ExchangeError", "still 503", transient=True)])
    out = ended(run(host, clock), "failed")
    assert len(calls("enable_push_proxy")) == GOOD["retry"]["max_attempts"]
    assert "still 503" in out["error"]


@pytest.mark.parametrize("step", ["discover_exchange", "enable_push_proxy", "run_probe", "restart_health_manager"])
def test_an_activity_that_crashes_past_its_wrapper_still_ends_through_finish(host: LocalHost, clock: Clock, step: str) -> None:
    script(**{step: [Crash("worker died")]})
    status = run(host, clock)
    # restart_health_manager is optional: noted, and the probe decides.
    ended(status, "done" if step == "restart_health_manager" else "failed")


def test_an_activity_that_returns_no_outcome_fails_the_run(host: LocalHost, clock: Clock) -> None:
    script(enable_push_proxy=[{"enabled": True}])
    out = ended(run(host, clock), "failed")
    assert "not an outcome" in out["error"]


def test_the_probe_failing_then_succeeding_is_done(host: LocalHost, clock: Clock) -> None:
    failing = ok({"server": "ex1", "result_type": "Failure", "succeeded": False}, "probed")
    script(run_probe=[failing, error("ExchangeError", "probe could not run", transient=True),
                      ok({"server": "ex1", "result_type": "Success", "succeeded": True}, "probed")])
    out = ended(run(host, clock, spec(verification={"probe_deadline_s": 300})), "done")
    assert out["probe"]["attempts"] == 3


def test_the_probe_never_succeeding_fails_at_its_deadline_never_frozen_at_verifying(host: LocalHost, clock: Clock) -> None:
    script(run_probe=[error("ExchangeError", "probe could not run", transient=False)])
    out = ended(run(host, clock), "failed")
    assert out["error"].startswith("the connectivity probe did not succeed")
    # GOOD's deadline is 60 s, the interval 30 s: it tries until another attempt would start past the deadline.
    assert len(calls("run_probe")) == 2


def test_the_registry_down_at_the_end_is_noted_and_the_result_kept(host: LocalHost, clock: Clock) -> None:
    script(record_onboarding=[error("RegistryError", "table storage unavailable", transient=True)])
    status = run(host, clock)
    assert status.runtime_status.value == "Completed"
    assert status.custom_status["phase"] == "done" == status.output["outcome"]
    assert any("could not record the onboarding" in n for n in status.output["notes"])
    assert len(calls("record_onboarding")) == GOOD["retry"]["max_attempts"]


def test_a_bug_in_deciding_ends_through_finish(host: LocalHost, clock: Clock) -> None:
    bad = exchange(proxy=PROXY_OFF)
    bad["servers"] = "not a list"  # plan_onboarding cannot read it
    script(discover_exchange=[ok(bad, "none")])
    out = ended(run(host, clock), "failed")
    assert out["error"].startswith("internal error:")


def test_inputs_and_outputs_cross_the_host_as_json(host: LocalHost, clock: Clock) -> None:
    script(discover_exchange=[ok(exchange(), "none")])
    status = run(host, clock)
    history = host.get_status(IID).history
    scheduled = [e for e in history if e["EventType"] == "TaskScheduled"]
    completed = [e for e in history if e["EventType"] == "TaskCompleted"]
    assert scheduled and all(isinstance(e["Input"], str) for e in scheduled)
    assert completed and all(isinstance(e["Result"], str) for e in completed)
    assert status.output["outcome"] == "done"


def test_a_result_that_is_not_json_fails_the_activity_as_in_azure(host: LocalHost, clock: Clock) -> None:
    script(enable_push_proxy=[ok({"when": datetime(2026, 1, 1, tzinfo=UTC)}, "enabled")])
    out = ended(run(host, clock), "failed")
    # The worker's activityTrigger converter refuses it; the task fails, and after the retries the run ends.
    assert "json serializable" in out["error"]
