"""Non-determinism is caught, never misrouted; two hosts on one file continue each other's work."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pushproxy.local import LocalHost, WaitTimeout
from tests.local.apps import sample_app
from tests.local.apps.sample_app import app
from tests.local.conftest import FakeClock


@pytest.fixture
def switch() -> Iterator[dict[str, str]]:
    yield sample_app.NONDETERMINISTIC_SWITCH
    sample_app.NONDETERMINISTIC_SWITCH["second"] = "hello"


def _step(host: LocalHost, instance_id: str) -> None:
    """One episode, then its activities, committed: the orchestrator has not yet seen their results."""
    host._episode(instance_id)
    host.activities.claim_and_start()
    while host.activities.in_flight:
        host.activities.commit_finished(host._enqueue)


def test_changed_orchestrator_code_fails_with_non_determinism_error(host: LocalHost, switch: dict[str, str]) -> None:
    iid = host.start_new("nondeterministic")
    _step(host, iid)  # schedules hello("one")
    _step(host, iid)  # records hello("two") as action #2
    switch["second"] = "double"  # the code changes under the running instance
    host.run_until_idle()
    status = host.get_status(iid)
    assert status.runtime_status.value == "Failed"
    assert "NonDeterminismError" in status.output
    assert (
        "action #2 is CallActivity 'double', but the recorded history has CallActivity 'hello' there" in status.output
    )
    # Nothing was delivered to the wrong task: double never ran for this instance's "two".
    assert not any(e["EventType"] == "TaskScheduled" and e["Name"] == "double" for e in host.get_status(iid).history)


def test_a_change_after_the_recorded_actions_is_legal(host: LocalHost, switch: dict[str, str]) -> None:
    iid = host.start_new("nondeterministic")
    _step(host, iid)
    switch["second"] = "double"
    host.run_until_idle()
    assert host.get_status(iid).output == "done"


def test_a_second_host_sees_an_event_raised_through_another(db_path: Path, clock: FakeClock) -> None:
    waiting = LocalHost(app, database=db_path, clock=clock)
    approver = LocalHost(app, database=db_path, clock=clock)
    iid = waiting.start_new("approval", "shared-1")
    waiting.run_until_idle()

    def approve_later() -> None:
        approver.raise_event(iid, "Approval", "yes")

    timer = threading.Timer(0.2, approve_later)
    timer.start()
    status = waiting.wait_for(iid, timeout=10, poll_interval=0.05)
    timer.join()
    assert status.runtime_status.value == "Completed"
    assert status.output == {"decision": "yes"}


def test_wait_for_stops_at_a_custom_status(host: LocalHost) -> None:
    iid = host.start_new("approval")
    status = host.wait_for(iid, until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval", timeout=5)
    assert status.runtime_status.value == "Running"
    with pytest.raises(WaitTimeout, match="still Running"):
        host.wait_for(iid, timeout=0.2, poll_interval=0.05)


def test_a_new_host_continues_where_the_last_one_stopped(db_path: Path, clock: FakeClock) -> None:
    first = LocalHost(app, database=db_path, clock=clock)
    iid = first.start_new("with_retry", client_input={"key": "handover", "fail": 1, "attempts": 3})
    first.run_until_idle()
    first.close()
    clock.advance(seconds=6)
    second = LocalHost(app, database=db_path, clock=clock)
    second.run_until_idle()
    assert second.get_status(iid).output == "ok on attempt 2"


def test_hosts_of_different_apps_leave_each_others_instances_alone(db_path: Path, clock: FakeClock) -> None:
    from tests.local.apps import other_app

    ours = LocalHost(app, database=db_path, clock=clock)
    theirs = LocalHost(other_app.app, database=db_path, clock=clock)
    mine = ours.start_new("sequence")
    other = theirs.start_new("other")
    theirs.run_until_idle()
    assert theirs.get_status(other).output == "other"
    assert ours.get_status(mine).runtime_status.value == "Pending"  # not failed by a host that lacks it
    ours.run_until_idle()
    assert ours.get_status(mine).runtime_status.value == "Completed"


def test_an_unknown_activity_fails_its_task_with_a_clear_message(host: LocalHost) -> None:
    iid = host.start_new("calls_missing")
    host.run_until_idle()
    assert host.get_status(iid).output.startswith(
        "Activity function 'no_such_activity' failed: no activity named 'no_such_activity' in this app"
    )


def test_a_long_activity_does_not_hold_up_other_instances(host: LocalHost, tmp_path: Path) -> None:
    block = tmp_path / "block"
    block.touch()
    slow_one = host.start_new("crashy", client_input={"key": "long", "block": str(block)})
    runner = threading.Thread(target=host.run_until_idle)
    runner.start()
    try:
        quick = host.start_new("sequence")  # started while the long activity runs
        status = host.get_status(quick)
        for _ in range(600):
            status = host.get_status(quick)
            if status.runtime_status.value == "Completed":
                break
            threading.Event().wait(0.05)
        assert status.runtime_status.value == "Completed"
        assert host.get_status(slow_one).runtime_status.value == "Running"
    finally:
        block.unlink()
        runner.join(timeout=60)
    assert host.get_status(slow_one).output == [2, "unblocked long", 4]
