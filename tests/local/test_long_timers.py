"""Timers longer than Azure Storage allows one timer: refused by the local host as by Azure, chained by the product."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pushproxy.local import LocalHost
from pushproxy.timers import MAX_INTERVAL, next_fire
from tests.local.apps.long_timer_app import app
from tests.local.conftest import FakeClock


@pytest.fixture
def timers_host(tmp_path: Path, clock: FakeClock) -> Iterator[LocalHost]:
    h = LocalHost(app, database=tmp_path / "timers.sqlite", clock=clock)
    yield h
    h.close()


def step_days(host: LocalHost, clock: FakeClock, days: int) -> None:
    for _ in range(days):
        clock.advance(days=1)
        host.run_until_idle()


def timers_created(history: list[dict]) -> list[tuple[datetime, datetime]]:
    """(episode time, fireAt) of each TimerCreated."""
    out, now = [], None
    for e in history:
        if e["EventType"] == "OrchestratorStarted":
            now = datetime.fromisoformat(e["Timestamp"].replace("Z", "+00:00"))
        if e["EventType"] == "TimerCreated":
            out.append((now, datetime.fromisoformat(e["FireAt"].replace("Z", "+00:00"))))
    return out


def test_next_fire_is_the_deadline_within_three_days_else_three_days_on() -> None:
    now = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
    assert next_fire(now, now + timedelta(hours=72)) == now + timedelta(hours=72)
    assert next_fire(now, now + timedelta(days=30)) == now + MAX_INTERVAL
    assert next_fire(now, now) is None and next_fire(now, now - timedelta(seconds=1)) is None


def test_a_single_seven_day_timer_fails_with_the_azure_storage_message(timers_host: LocalHost) -> None:
    iid = timers_host.start_new("one_timer", client_input=7)
    timers_host.run_until_idle()
    status = timers_host.get_status(iid)
    assert status.runtime_status.value == "Failed"
    assert "The Azure Storage provider supports a maximum of 6 days for time-based delays" in str(status.output)


def test_a_six_day_timer_is_still_one_timer(timers_host: LocalHost, clock: FakeClock) -> None:
    iid = timers_host.start_new("one_timer", client_input=6)
    timers_host.run_until_idle()
    step_days(timers_host, clock, 6)
    assert timers_host.get_status(iid).runtime_status.value == "Completed"


def test_a_thirty_day_wait_is_a_chain_of_timers_of_at_most_three_days(timers_host: LocalHost, clock: FakeClock) -> None:
    iid = timers_host.start_new("chained", client_input=30)
    timers_host.run_until_idle()
    step_days(timers_host, clock, 29)
    assert timers_host.get_status(iid).runtime_status.value == "Running"  # not a day early
    step_days(timers_host, clock, 1)
    status = timers_host.get_status(iid)
    assert status.runtime_status.value == "Completed", status.output
    assert status.output["woke_at"] >= status.output["when"]
    created = timers_created(status.history)
    assert len(created) == 10
    assert all(fire - at <= MAX_INTERVAL for at, fire in created)


def test_an_approval_wins_on_day_eight_of_a_ten_day_deadline(timers_host: LocalHost, clock: FakeClock) -> None:
    iid = timers_host.start_new("deadline", client_input=10)
    timers_host.run_until_idle()
    step_days(timers_host, clock, 8)
    custom = timers_host.get_status(iid).custom_status
    timers_host.raise_event(iid, custom["event"], {"decision": "approve", "approver": "alice", "group": "plan",
                                                   "state_hash": custom["state_hash"]})
    timers_host.run_until_idle()
    status = timers_host.get_status(iid)
    # The event wins at once (the pending interval timer is cancelled): no waiting out the deadline.
    assert status.runtime_status.value == "Completed", status.output
    assert status.output["decision"] == "approve" and status.output["approver"] == "alice"
    assert all(fire - at <= MAX_INTERVAL for at, fire in timers_created(status.history))


def test_a_ten_day_deadline_times_out_after_ten_days_not_three(timers_host: LocalHost, clock: FakeClock) -> None:
    iid = timers_host.start_new("deadline", client_input=10)
    timers_host.run_until_idle()
    step_days(timers_host, clock, 9)
    assert timers_host.get_status(iid).runtime_status.value == "Running"
    step_days(timers_host, clock, 1)
    status = timers_host.get_status(iid)
    assert status.output["decision"] == "timed_out"
    assert len(timers_created(status.history)) == 4


def test_an_instance_waiting_on_one_long_timer_of_the_old_code_finishes_on_the_chained_code(
    timers_host: LocalHost, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the chained timers needed no new orchestration version (docs/deploy.md): the old code's single 28-day
    timer (made before this host refused it) and the new code's first interval share the timer id."""
    from pushproxy.local import episode
    from tests.local.apps import long_timer_app

    monkeypatch.setitem(long_timer_app.CODE, "wait", "single")
    monkeypatch.setattr(episode, "STORAGE_MAX_DELAY", timedelta(days=365))  # the host as it was
    iid = timers_host.start_new("upgraded")
    timers_host.run_until_idle()
    monkeypatch.setattr(episode, "STORAGE_MAX_DELAY", timedelta(days=6))
    monkeypatch.setitem(long_timer_app.CODE, "wait", "chained")  # the deployment, while it waits
    step_days(timers_host, clock, 3)
    assert timers_host.get_status(iid).runtime_status.value == "Running"  # replayed without a mismatch
    step_days(timers_host, clock, 25)
    status = timers_host.get_status(iid)
    assert status.runtime_status.value == "Completed", status.output
    assert status.output == "Hello after the wait!"
    assert len(timers_created(status.history)) == 1


def first_actions(orchestrator: str, days: int) -> list[dict]:
    """The actions the SDK asks for in a first episode given the context the extension sends with Azure Storage
    (OrchestrationTriggerAttributeBindingProvider: upperSchemaVersionNew V3, maximumShortTimerDuration 6 days,
    longRunningTimerIntervalDuration 3 days)."""
    import json

    from azure.durable_functions import DurableOrchestrationContext
    from azure.durable_functions.orchestrator import Orchestrator

    from pushproxy.local import history as h
    from pushproxy.local.app_index import index_app

    ts = h.format_time(datetime.fromisoformat("2024-01-01T12:00:00+00:00"))
    context = json.dumps({
        "history": [h.event(h.ORCHESTRATOR_STARTED, ts),
                    h.execution_started(ts, orchestrator, "i", "e", json.dumps(days), None)],
        "input": json.dumps(days), "instanceId": "i", "isReplaying": False, "parentInstanceId": None,
        "upperSchemaVersion": 1, "upperSchemaVersionNew": 2,
        "maximumShortTimerDuration": "6.00:00:00", "longRunningTimerIntervalDuration": "3.00:00:00",
    })
    handle = index_app(app).orchestrators[orchestrator].user_function
    state = json.loads(Orchestrator(handle.orchestrator_function).handle(DurableOrchestrationContext.from_json(context)))
    actions: list[dict] = state["actions"]
    return actions


def test_in_azure_the_chain_hands_the_sdk_plain_timers_not_its_long_timer() -> None:
    """Under the payload Azure sends, a single 10-day create_timer becomes the SDK's LongTimerTask (a compound
    action, the one #573 cannot cancel); the product's 10-day deadline is one plain CreateTimer of 3 days."""
    start = datetime.fromisoformat("2024-01-01T12:00:00+00:00")
    (race,) = first_actions("deadline", 10)[0]
    assert race["actionType"] == 11  # WhenAny: the approval event against one plain 3-day timer
    assert [a["actionType"] for a in race["compoundActions"]] == [6, 5]
    fire = datetime.fromisoformat(race["compoundActions"][1]["fireAt"].replace("Z", "+00:00"))
    assert fire - start == MAX_INTERVAL
    (single,) = first_actions("one_timer", 10)[0]
    assert single["actionType"] == 12 and single["compoundActions"][0]["actionType"] == 5  # the SDK's LongTimerTask

