"""Activities at least once: claim work rows under a lease, run them, commit each result before anyone sees it.

A work row leaves the database in the same transaction that queues its result for the orchestrator, so a
completed activity never runs again. A host that dies mid-activity leaves its lease behind: another host takes
the row over when the lease expires or, on one machine, as soon as the owning process is gone.
"""

from __future__ import annotations

import concurrent.futures
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from pushproxy.local import history as h
from pushproxy.local.activities import ActivityOutcome, ActivityRunner
from pushproxy.local.app_index import AppIndex, RegisteredFunction
from pushproxy.local.store import Store

# How long results may keep arriving before the orchestrator is replayed on them (fan-in batching).
BATCH_WINDOW_S = 0.002
# While activities run, how often the host looks up for other work (new events, other instances).
IN_FLIGHT_POLL_S = 0.05
ORPHAN_CHECK_S = 1.0
# How long an activity whose host died stays untouched before another host runs it again. The dead host's last
# call may still be landing on Exchange or Graph (a slow New-ExchangeCertificate goes on after its client is
# gone): the step that runs again looks for that change before making it, and this gives it time to land.
# Azure is stricter still: a crashed worker's work item comes back only when its queue visibility timeout (five
# minutes by default) runs out.
ORPHAN_GRACE_S = 10.0

Enqueue = Callable[[sqlite3.Connection, str, str, str, dict[str, Any]], None]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ActivityDispatcher:
    """The activities this host has claimed and is running, bounded by `max_activities`."""

    def __init__(
        self,
        store: Store,
        index: AppIndex,
        now_text: Callable[[], str],
        max_activities: int,
        lease_seconds: float,
        bindings: Callable[[RegisteredFunction], dict[str, Any]] | None = None,
        orphan_grace_s: float = ORPHAN_GRACE_S,
    ) -> None:
        self.orphan_grace_s = orphan_grace_s
        self.store = store
        self.index = index
        self.now_text = now_text
        self.max_activities = max_activities
        self.lease_seconds = lease_seconds
        self.bindings = bindings or (lambda fn: {})
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex}"
        self.runner = ActivityRunner(max_activities)
        self.in_flight: dict[int, tuple[concurrent.futures.Future[ActivityOutcome], sqlite3.Row]] = {}
        self._last_reclaim = 0.0
        self._last_renew = time.monotonic()

    def claim_and_start(self) -> bool:
        """Claim work rows for this app's activities, up to capacity, and start them; True if any started."""
        capacity = self.max_activities - len(self.in_flight)
        names = list(self.index.activities)
        if capacity <= 0 or not names:
            return False
        self._reclaim_orphans()
        now = time.time()
        candidates = (
            self.store.read()
            .execute(
                "SELECT id FROM work WHERE (lease_owner IS NULL OR lease_until < ?) "
                f"AND name IN ({','.join('?' * len(names))}) ORDER BY id LIMIT ?",  # noqa: S608
                (now, *names, capacity + len(self.in_flight)),
            )
            .fetchall()
        )
        wanted = [r[0] for r in candidates if r[0] not in self.in_flight][:capacity]
        if not wanted:
            return False
        with self.store.transaction() as db:
            marks = ",".join("?" * len(wanted))
            # Re-check inside the write lock: another host may have claimed some since the read.
            rows = db.execute(
                f"SELECT * FROM work WHERE id IN ({marks}) AND (lease_owner IS NULL OR lease_until < ?)",  # noqa: S608
                (*wanted, now),
            ).fetchall()
            db.executemany(
                "UPDATE work SET lease_owner = ?, lease_pid = ?, lease_until = ? WHERE id = ?",
                [(self.owner, os.getpid(), now + self.lease_seconds, r["id"]) for r in rows],
            )
        for r in rows:
            fn = self.index.activities[r["name"]]
            self.in_flight[r["id"]] = (self.runner.start(fn, r["input"], self.bindings(fn)), r)
        return bool(rows)

    def commit_finished(self, enqueue: Enqueue) -> bool:
        """Store the results of finished activities (one transaction); True if there were any."""
        done = [(wid, fut, row) for wid, (fut, row) in self.in_flight.items() if fut.done()]
        if not done:
            return False
        stamp = self.now_text()
        with self.store.transaction() as db:
            for wid, fut, row in done:
                # Gone when the instance ended meanwhile, or another host ran it after our lease expired.
                if db.execute("DELETE FROM work WHERE id = ?", (wid,)).rowcount == 0:
                    continue
                outcome = _outcome(fut, row["name"])
                if outcome.ok:
                    ev = h.event(h.TASK_COMPLETED, stamp, TaskScheduledId=row["task_id"], Result=outcome.result_text)
                else:
                    ev = h.event(
                        h.TASK_FAILED,
                        stamp,
                        TaskScheduledId=row["task_id"],
                        Reason=outcome.reason,
                        Details=outcome.details,
                    )
                enqueue(db, row["instance_id"], row["execution_id"], stamp, ev)
        for wid, _, _ in done:
            del self.in_flight[wid]
        return True

    def settle(self) -> bool:
        """Wait a moment for in-flight activities; True if one finished. A replay costs more than this wait."""
        return self._wait(BATCH_WINDOW_S)

    def wait(self) -> None:
        """Wait for an activity to finish, or a poll interval; keep our leases alive meanwhile."""
        self._wait(IN_FLIGHT_POLL_S)
        self._renew_leases()

    def _wait(self, timeout: float) -> bool:
        if not self.in_flight:
            return False
        futures = [f for f, _ in self.in_flight.values()]
        done, _ = concurrent.futures.wait(futures, timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED)
        return bool(done)

    def _renew_leases(self) -> None:
        if not self.in_flight or time.monotonic() - self._last_renew < self.lease_seconds / 3:
            return
        self._last_renew = time.monotonic()
        with self.store.transaction() as db:
            db.execute(
                "UPDATE work SET lease_until = ? WHERE lease_owner = ?", (time.time() + self.lease_seconds, self.owner)
            )

    def _reclaim_orphans(self) -> None:
        # A host killed mid-activity leaves its lease behind; on one machine we can see that its process is gone.
        if time.monotonic() - self._last_reclaim < ORPHAN_CHECK_S:
            return
        self._last_reclaim = time.monotonic()
        pids = (
            self.store.read()
            .execute(
                "SELECT DISTINCT lease_pid FROM work WHERE lease_owner IS NOT NULL AND lease_pid != ?", (os.getpid(),)
            )
            .fetchall()
        )
        dead = [pid for (pid,) in pids if pid is not None and not pid_alive(pid)]
        if dead:
            # Not at once: the lease now ends `orphan_grace_s` from the moment the death was seen (see above).
            until = time.time() + self.orphan_grace_s
            with self.store.transaction() as db:
                db.executemany(
                    "UPDATE work SET lease_pid = NULL, lease_until = MIN(lease_until, ?) WHERE lease_pid = ?",
                    [(until, p) for p in dead],
                )

    def close(self) -> None:
        self.runner.close()


def _outcome(future: concurrent.futures.Future[ActivityOutcome], name: str) -> ActivityOutcome:
    try:
        return future.result()
    except BaseException as exc:  # cancelled, or the runner itself broke
        return ActivityOutcome(ok=False, reason=f"Activity function '{name}' failed: {exc!r}", details=None)
