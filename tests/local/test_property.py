"""Random workflows of activities, timers, events and fan-outs give the same result whatever crashes interrupt them.

A crash is simulated by aborting the host at its n-th transaction, before or after the commit, and carrying on
with a fresh LocalHost on the same file (the crashed one is abandoned with whatever it had in memory).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushproxy.local import LocalHost
from tests.local.apps.sample_app import app
from tests.local.conftest import FakeClock


class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the host may catch it, like a kill."""


def install_crash(host: LocalHost, at: int, after_commit: bool) -> Any:
    """Arm a crash at the host's `at`-th transaction; returns the original, to disarm."""
    original = host.store.transaction
    count = 0

    @contextmanager
    def transaction() -> Iterator[Any]:
        nonlocal count
        count += 1
        n = count
        with original() as db:
            yield db
            if n == at and not after_commit:
                raise SimulatedCrash  # rolled back: as if killed just before COMMIT
        if n == at and after_commit:
            raise SimulatedCrash  # committed, then killed

    host.store.transaction = transaction  # type: ignore[method-assign]
    return original


step = st.one_of(
    st.tuples(st.just("act"), st.integers(0, 9)),
    st.tuples(st.just("timer"), st.integers(1, 3)),
    st.tuples(st.just("event"), st.booleans()),  # True: raised before the orchestrator waits for it
    st.tuples(st.just("fan"), st.integers(0, 4)),
)
crash = st.tuples(st.integers(1, 8), st.booleans())


def expected(steps: list[list[Any]]) -> list[Any]:
    out: list[Any] = []
    for i, (kind, arg) in enumerate(steps):
        out.append({"act": 2 * arg, "timer": "t", "event": f"payload-{i}", "fan": sum(2 * j for j in range(arg))}[kind])
    return out


def run_workflow(db: Path, steps: list[tuple[str, Any]], crashes: list[tuple[int, bool]]) -> tuple[Any, list[dict]]:  # type: ignore[type-arg]
    clock = FakeClock()
    workflow = [[kind, f"e{i}" if kind == "event" else arg] for i, (kind, arg) in enumerate(steps)]
    host = LocalHost(app, database=db, clock=clock, lease_seconds=0.0)
    iid = host.start_new("workflow", "wf", workflow)
    late_events = []
    for i, (kind, arg) in enumerate(steps):
        if kind == "event":
            if arg:
                host.raise_event(iid, f"e{i}", f"payload-{i}")
            else:
                late_events.append(i)
    pending_crashes = list(crashes)
    for _ in range(200):
        original = install_crash(host, *pending_crashes.pop(0)) if pending_crashes else None
        try:
            host.run_until_idle()
        except SimulatedCrash:
            host = LocalHost(app, database=db, clock=clock, lease_seconds=0.0)  # the old one is abandoned
            continue
        if original is not None:
            host.store.transaction = original  # type: ignore[method-assign]
        status = host.get_status(iid)
        if status.runtime_status.value != "Running" and status.runtime_status.value != "Pending":
            return status.output, status.history
        if late_events:
            i = late_events.pop(0)
            host.raise_event(iid, f"e{i}", f"payload-{i}")
        clock.advance(seconds=2)
    raise AssertionError("the workflow never finished")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=6), crashes=st.lists(crash, max_size=5))
def test_same_result_whatever_the_crashes(
    tmp_path_factory: Any, steps: list[tuple[str, Any]], crashes: list[tuple[int, bool]]
) -> None:
    db = tmp_path_factory.mktemp("prop") / "local.sqlite"
    output, history = run_workflow(db, steps, crashes)
    assert output == expected([list(s) for s in steps])
    # No result was delivered twice and every scheduled activity has exactly one result in history.
    scheduled = Counter(e["EventId"] for e in history if e["EventType"] == "TaskScheduled")
    completed = Counter(e["TaskScheduledId"] for e in history if e["EventType"] == "TaskCompleted")
    assert scheduled == completed
    assert all(n == 1 for n in scheduled.values())
    fired = Counter(e["TimerId"] for e in history if e["EventType"] == "TimerFired")
    assert all(n == 1 for n in fired.values())
