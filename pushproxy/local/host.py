"""LocalHost: runs the orchestrators and activities of any DFApp on one machine, with history in SQLite.

Each episode (replay of one instance on its new events) is one `BEGIN IMMEDIATE` transaction, so two hosts on
the same file never run the same instance at once. An activity's result is committed, in the transaction that
deletes its work row, before any episode can see it: after a crash, only activities that were in flight run again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.utils.df_serialization import df_dumps

from pushproxy.errors import SpecError
from pushproxy.local import history as h
from pushproxy.local.app_index import AppIndex, index_app
from pushproxy.local.dispatch import ActivityDispatcher
from pushproxy.local.episode import EpisodeResult, run_episode
from pushproxy.local.errors import (
    InstanceAlreadyRunning,
    InstanceNotFound,
    InstanceNotRunning,
    NonDeterminismError,
    TimerTooLong,
    UnknownOrchestrator,
    UnsupportedAction,
    WaitTimeout,
)
from pushproxy.local.store import Store, default_database_path

ACTIVE = ("Pending", "Running")
FINAL = ("Completed", "Failed", "Terminated")
# Characters the Durable extension refuses in instance ids.
_BAD_ID_CHARS = set("/\\#?")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, UTC and aware."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class LocalHost:
    """A Durable Functions host for one machine. Method names and meanings are the Durable client's."""

    def __init__(
        self,
        app: Any,
        database: str | Path | None = None,
        clock: Clock | None = None,
        *,
        max_activities: int = 16,
        lease_seconds: float = 300.0,
        task_hub: str = "pushproxy",
        orphan_grace_s: float | None = None,
        default_version: str | None = None,
        version_match: str = "None",
        version_failure: str = "Reject",
    ) -> None:
        if max_activities < 1:
            raise SpecError("max_activities", "must be at least 1")
        if version_match not in VERSION_MATCH or version_failure not in VERSION_FAILURE:
            raise SpecError("versioning", f"versionMatchStrategy is one of {', '.join(VERSION_MATCH)}, "
                            f"versionFailureStrategy one of {', '.join(VERSION_FAILURE)}")
        # Orchestration versioning as host.json's extensions.durableTask sets it (defaultVersion,
        # versionMatchStrategy, versionFailureStrategy): new instances get `default_version`, recorded in their
        # ExecutionStarted; an instance this host's version must not run is rejected (left for a host that may,
        # retried later) or failed, as the extension does.
        self.default_version = default_version or None
        self.version_match = version_match
        self.version_failure = version_failure
        self.app = app
        self.index: AppIndex = index_app(app)
        self.clock: Clock = clock or SystemClock()
        self.store = Store(database if database is not None else default_database_path())
        self.max_activities = max_activities
        self.lease_seconds = lease_seconds
        self.task_hub = task_hub
        # Where activities' durableClient bindings point: `pushproxy serve` sets its own address; otherwise the
        # host serves its management API on a loopback port of its own the first time an activity needs a client.
        self.client_base_url: str | None = None
        self._management: Any = None
        self._management_lock = threading.Lock()
        self.activities = ActivityDispatcher(
            self.store, self.index, self._visible_now, max_activities, lease_seconds, self._activity_bindings,
            **({} if orphan_grace_s is None else {"orphan_grace_s": orphan_grace_s}),
        )
        # instance -> (execution, history length, events, the same events parsed by the SDK)
        self._history_cache: dict[str, tuple[str, int, list[dict[str, Any]], list[Any] | None]] = {}
        self._run_lock = threading.Lock()
        # Set when this process adds work; `pushproxy serve` waits on it instead of polling blindly.
        self.wakeup = threading.Event()

    # -- the client's API -------------------------------------------------------------------------------------

    def start_new(
        self, orchestration_function_name: str, instance_id: str | None = None, client_input: Any = None,
        version: str | None = None,
    ) -> str:
        """Create an instance (status Pending until the next `run_until_idle`) and return its id. `version`: the
        orchestration version it gets (default: the host's default_version), as the SDK's start_new(version=)."""
        try:
            input_text = df_dumps(client_input) if client_input is not None else None
        except TypeError as exc:
            raise SpecError("client_input", f"is not JSON-serializable ({type(client_input).__name__})") from exc
        return self.start_new_with_input_text(orchestration_function_name, instance_id, input_text, version)

    def start_new_with_input_text(
        self, name: str, instance_id: str | None, input_text: str | None, version: str | None = None
    ) -> str:
        """`start_new` with the input already serialized (the HTTP API receives it as JSON text)."""
        if name not in self.index.orchestrators:
            raise UnknownOrchestrator(name, list(self.index.orchestrators))
        instance_id = instance_id if instance_id is not None else uuid.uuid4().hex
        _check_instance_id(instance_id)
        with self.store.transaction() as db:
            row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is not None and row["status"] in ACTIVE:
                raise InstanceAlreadyRunning(instance_id, row["status"])
            self._create_instance(db, name, instance_id, input_text, parent=None, version=version)
        self.wakeup.set()
        return instance_id

    def raise_event(self, instance_id: str, event_name: str, event_data: Any = None) -> None:
        """Store an event for the instance; it is delivered at its next episode, even if nobody waits yet."""
        if not isinstance(event_name, str) or not event_name:
            raise SpecError("event_name", "must be a non-empty string")
        try:
            data_text = json.dumps(event_data)
        except TypeError as exc:
            raise SpecError("event_data", f"is not JSON-serializable ({type(event_data).__name__})") from exc
        with self.store.transaction() as db:
            row = self._instance(db, instance_id)
            if row["status"] not in ACTIVE:
                raise InstanceNotRunning(instance_id, row["status"])
            now = h.format_time(self.clock.now())
            ev = h.event(h.EVENT_RAISED, now, Name=event_name, Input=data_text)
            self._enqueue(db, instance_id, row["execution_id"], now, ev)
        self.wakeup.set()

    def terminate(self, instance_id: str, reason: str) -> None:
        """End a running instance now; results of its in-flight activities are dropped."""
        with self.store.transaction() as db:
            row = self._instance(db, instance_id)
            if row["status"] not in ACTIVE:
                raise InstanceNotRunning(instance_id, row["status"])
            ts = self._next_timestamp(row)
            stamp = h.format_time(ts)
            events = [
                h.event(h.ORCHESTRATOR_STARTED, stamp),
                h.event(h.EXECUTION_TERMINATED, stamp, Input=json.dumps(reason)),
                h.event(h.EXECUTION_COMPLETED, stamp, OrchestrationStatus="Terminated", Result=json.dumps(reason)),
                h.event(h.ORCHESTRATOR_COMPLETED, stamp),
            ]
            self._append_history(db, row, events)
            self._finish(db, row, "Terminated", json.dumps(reason), row["custom_status"], stamp, notify_parent=False)

    def get_status(
        self,
        instance_id: str,
        show_history: bool = True,
        show_history_output: bool = True,
        show_input: bool = True,
    ) -> DurableOrchestrationStatus:
        """The SDK's status object; falsy for an unknown id, as the real client returns."""
        db = self.store.read()
        row = db.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
        if row is None:
            return DurableOrchestrationStatus()
        return DurableOrchestrationStatus(**self.status_payload(row, show_history, show_history_output, show_input))

    def get_status_all(self) -> list[DurableOrchestrationStatus]:
        return self.get_status_by()

    def get_status_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[str] | None = None,
        instance_id_prefix: str | None = None,
    ) -> list[DurableOrchestrationStatus]:
        return [
            DurableOrchestrationStatus(**self.status_payload(row, False, False, True))
            for row in self.query_instances(created_time_from, created_time_to, runtime_status, instance_id_prefix)
        ]

    def query_instances(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[str] | None = None,
        instance_id_prefix: str | None = None,
    ) -> list[sqlite3.Row]:
        sql = "SELECT * FROM instances WHERE 1=1"
        args: list[Any] = []
        if created_time_from is not None:
            sql += " AND created >= ?"
            args.append(h.format_time(created_time_from))
        if created_time_to is not None:
            sql += " AND created <= ?"
            args.append(h.format_time(created_time_to))
        if runtime_status:
            sql += f" AND status IN ({','.join('?' * len(runtime_status))})"
            args.extend(str(s) for s in runtime_status)
        if instance_id_prefix:
            sql += " AND substr(instance_id, 1, ?) = ?"
            args.extend([len(instance_id_prefix), instance_id_prefix])
        return list(self.store.read().execute(sql + " ORDER BY created", args).fetchall())

    def purge_instance_history(self, instance_id: str) -> int:
        """Delete a finished instance and everything stored about it; returns how many instances went."""
        with self.store.transaction() as db:
            row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None:
                return 0
            if row["status"] in ACTIVE:
                raise InstanceAlreadyRunning(instance_id, row["status"])
            self._delete_instance(db, instance_id)
        return 1

    def status_payload(
        self, row: sqlite3.Row, show_history: bool, show_history_output: bool, show_input: bool
    ) -> dict[str, Any]:
        """The extension's status JSON (StatusResponsePayload), as the HTTP API also returns it."""
        payload: dict[str, Any] = {
            "name": row["name"],
            "instanceId": row["instance_id"],
            "runtimeStatus": row["status"],
            "input": _loads(row["input"]) if show_input else None,
            "customStatus": _loads(row["custom_status"]),
            "output": _loads(row["output"]),
            "createdTime": row["created"],
            "lastUpdatedTime": row["updated"],
        }
        if show_history:
            events = self.store.read().execute(
                "SELECT event FROM history WHERE instance_id = ? AND execution_id = ? ORDER BY seq",
                (row["instance_id"], row["execution_id"]),
            )
            payload["history"] = [_public_event(json.loads(e[0]), show_history_output) for e in events]
        return payload

    # -- running ----------------------------------------------------------------------------------------------

    def run_until_idle(self) -> int:
        """Run every episode and activity that is due now; return when only future timers or events are left.

        Returns the number of episodes run. Cheap when there is nothing to do: a few indexed SELECTs.
        """
        with self._run_lock:
            episodes = 0
            while True:
                # Results and new work first, episodes when nothing else moves: a fan-out's results then reach
                # the orchestrator in a few large batches instead of one replay per handful of results.
                committed = self.activities.commit_finished(self._enqueue)
                if self.activities.claim_and_start() or committed:
                    continue
                if self.activities.settle():
                    continue  # more results arrived within the batch window: commit them before replaying
                ran = self._run_due_episodes()
                episodes += ran
                if ran:
                    continue
                if not self.activities.in_flight:
                    return episodes
                self.activities.wait()

    def wait_for(
        self,
        instance_id: str,
        until: Callable[[DurableOrchestrationStatus], bool] | None = None,
        timeout: float = 60.0,
        poll_interval: float = 0.1,
    ) -> DurableOrchestrationStatus:
        """Run the instance until it ends or its status satisfies `until`, picking up events other processes store."""
        deadline = time.monotonic() + timeout
        while True:
            self.run_until_idle()
            status = self.get_status(instance_id, show_history=False)
            if not status:
                raise InstanceNotFound(instance_id)
            runtime = status.runtime_status.value if status.runtime_status else "Unknown"
            if runtime in FINAL or (until is not None and until(status)):
                return status
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(instance_id, timeout, runtime)
            self.wakeup.wait(min(poll_interval, remaining))
            self.wakeup.clear()

    def next_due(self) -> datetime | None:
        """When the earliest stored event (a timer, usually) becomes due; None when the inbox is empty."""
        row = self.store.read().execute("SELECT MIN(visible_at) FROM inbox").fetchone()
        return h.parse_time(row[0]) if row and row[0] else None

    def close(self) -> None:
        self.activities.close()
        if self._management is not None:
            self._management.close()
        self.store.close()

    # -- bindings ---------------------------------------------------------------------------------------------

    def durable_client_binding(self, task_hub: str | None = None) -> str:
        """The durableClient binding JSON the extension hands a function, pointing at this host's management API."""
        from pushproxy.local.http_api import client_binding

        with self._management_lock:
            base_url = self.client_base_url
            if base_url is None:
                if self._management is None:
                    from pushproxy.local.embedded import EmbeddedManagementServer

                    self._management = EmbeddedManagementServer(self, self.task_hub)
                    self._management.start()
                base_url = self._management.base_url
        return json.dumps(client_binding(base_url, task_hub or self.task_hub))

    def _activity_bindings(self, fn: Any) -> dict[str, Any]:
        """Values of an activity's input bindings besides its trigger (app_index refuses any we cannot serve)."""
        return {b["name"]: self.durable_client_binding(b.get("taskHub")) for b in fn.bindings
                if b.get("type") == "durableClient"}

    # -- episodes ---------------------------------------------------------------------------------------------

    def _run_due_episodes(self) -> int:
        # Only instances of orchestrators this app defines: hosts of different apps may share one database file
        # (`pushproxy verify` and `pushproxy onboard`), and each leaves the others' instances alone.
        names = list(self.index.orchestrators)
        if not names:
            return 0
        now = h.format_time(self.clock.now())
        due = (
            self.store.read()
            .execute(
                "SELECT DISTINCT inbox.instance_id FROM inbox JOIN instances USING (instance_id) "
                f"WHERE inbox.visible_at <= ? AND instances.name IN ({','.join('?' * len(names))})",  # noqa: S608
                (now, *names),
            )
            .fetchall()
        )
        return sum(1 for (instance_id,) in due if self._episode(instance_id))

    def _episode(self, instance_id: str) -> bool:
        with self.store.transaction() as db:
            now = self.clock.now()
            rows = db.execute(
                "SELECT id, execution_id, event FROM inbox WHERE instance_id = ? AND visible_at <= ? ORDER BY id",
                (instance_id, h.format_time(now)),
            ).fetchall()
            if not rows:
                return False  # another host took them
            db.execute(
                "DELETE FROM inbox WHERE instance_id = ? AND id <= ? AND visible_at <= ?",
                (instance_id, rows[-1]["id"], h.format_time(now)),
            )
            row = db.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None or row["status"] not in ACTIVE:
                return True
            # Results addressed to an earlier execution (before a continue-as-new) are dropped.
            new_events = [json.loads(r["event"]) for r in rows if r["execution_id"] == row["execution_id"]]
            if not new_events:
                return True
            new_events.sort(key=lambda e: e["EventType"] != h.EXECUTION_STARTED)
            history, parsed = self._load_history(db, row)
            ts = self._next_timestamp(row)
            refused = self._version_refused(history, new_events)
            if refused is not None:
                if self.version_failure == "Reject":
                    # Left for a host running a version that may run it; looked at again later.
                    later = h.format_time(now + VERSION_REJECT_RETRY)
                    for ev in new_events:
                        self._enqueue(db, instance_id, row["execution_id"], later, ev)
                    return True
                self._apply(db, row, _failed_episode(row["name"], ts, new_events, UnsupportedAction(refused)), ts)
                return True
            orchestrator = self.index.orchestrators.get(row["name"])
            try:
                if orchestrator is None:
                    raise UnsupportedAction(f"orchestrator {row['name']!r} is not registered in this app")
                result = run_episode(
                    orchestrator.user_function,
                    row["name"],
                    instance_id,
                    row["execution_id"],
                    history,
                    new_events,
                    ts,
                    row["parent_instance_id"],
                    json.loads(row["signature"]),
                    parsed,
                )
            except (NonDeterminismError, UnsupportedAction, TimerTooLong) as exc:
                result = _failed_episode(row["name"], ts, new_events, exc)
            except Exception as exc:  # anything else would wedge the instance: its events would never be consumed
                result = _failed_episode(row["name"], ts, new_events, exc)
            self._apply(db, row, result, ts)
            return True

    def _version_refused(self, history: list[dict[str, Any]], new_events: list[dict[str, Any]]) -> str | None:
        """Why this host must not run the instance (versionMatchStrategy), or None."""
        if self.version_match == "None":
            return None
        started = next((e for e in [*history, *new_events] if e.get("EventType") == h.EXECUTION_STARTED), None)
        version = str((started or {}).get("Version") or "")
        mine = self.default_version or ""
        if self.version_match == "Strict" and version != mine:
            return f"the instance has orchestration version {version or 'none'}; this host runs {mine or 'none'} (Strict)"
        if self.version_match == "CurrentOrOlder" and _version_key(version) > _version_key(mine):
            return (f"the instance has orchestration version {version}, newer than this host's {mine or 'none'} "
                    "(CurrentOrOlder)")
        return None

    def _apply(self, db: sqlite3.Connection, row: sqlite3.Row, result: EpisodeResult, ts: datetime) -> None:
        instance_id, execution_id = row["instance_id"], row["execution_id"]
        stamp = h.format_time(ts)
        self._append_history(db, row, result.appended, result.parsed_history or None)
        known = [a for a in result.activities if a.name in self.index.activities]
        db.executemany(
            "INSERT INTO work (instance_id, execution_id, task_id, name, input) VALUES (?, ?, ?, ?, ?)",
            [(instance_id, execution_id, a.task_id, a.name, a.input_text) for a in known],
        )
        for a in result.activities:
            if a.name not in self.index.activities:
                # Fail now, as the worker does for a function it cannot find, rather than wait for a host that has it.
                ev = h.event(
                    h.TASK_FAILED,
                    stamp,
                    TaskScheduledId=a.task_id,
                    Reason=f"Activity function '{a.name}' failed: no activity named {a.name!r} in this app",
                    Details="",
                )
                self._enqueue(db, instance_id, execution_id, self._visible_now(), ev)
        for timer in result.timers:
            fire = h.format_time(timer.fire_at)
            ev = h.event(h.TIMER_FIRED, fire, TimerId=timer.timer_id, FireAt=fire)
            self._enqueue(db, instance_id, execution_id, fire, ev, timer_id=timer.timer_id)
        for timer_id in result.cancelled_timers:
            db.execute(
                "DELETE FROM inbox WHERE instance_id = ? AND execution_id = ? AND timer_id = ?",
                (instance_id, execution_id, timer_id),
            )
        for sub in result.sub_orchestrations:
            self._start_sub_orchestration(db, row, sub.task_id, sub.name, sub.instance_id, sub.input_text, stamp)
        if result.status == "Running":
            db.execute(
                "UPDATE instances SET status = 'Running', custom_status = ?, updated = ?, signature = ?, last_ts = ? "
                "WHERE instance_id = ?",
                (result.custom_status_text, stamp, json.dumps(result.signature), stamp, instance_id),
            )
        elif result.status == "ContinuedAsNew":
            new_execution = uuid.uuid4().hex
            self._clear_pending(db, instance_id)
            db.execute(
                "UPDATE instances SET execution_id = ?, input = ?, custom_status = ?, updated = ?, signature = '[]', "
                "last_ts = ? WHERE instance_id = ?",
                (new_execution, result.continue_input_text, result.custom_status_text, stamp, stamp, instance_id),
            )
            parent = _parent_ref(row)
            started = h.execution_started(
                stamp, row["name"], instance_id, new_execution, result.continue_input_text, parent
            )
            self._enqueue(db, instance_id, new_execution, self._visible_now(), started)
            self._history_cache.pop(instance_id, None)
        else:
            self._finish(db, row, result.status, result.output_text, result.custom_status_text, stamp)
            db.execute(
                "UPDATE instances SET signature = ? WHERE instance_id = ?", (json.dumps(result.signature), instance_id)
            )

    def _finish(
        self,
        db: sqlite3.Connection,
        row: sqlite3.Row,
        status: str,
        output_text: str | None,
        custom_status_text: str | None,
        stamp: str,
        notify_parent: bool = True,
    ) -> None:
        instance_id = row["instance_id"]
        db.execute(
            "UPDATE instances SET status = ?, output = ?, custom_status = ?, updated = ?, last_ts = ? "
            "WHERE instance_id = ?",
            (status, output_text, custom_status_text, stamp, stamp, instance_id),
        )
        self._clear_pending(db, instance_id)
        if notify_parent and row["parent_instance_id"]:
            if status == "Completed":
                ev = h.event(
                    h.SUB_ORCHESTRATION_COMPLETED, stamp, TaskScheduledId=row["parent_task_id"], Result=output_text
                )
            else:
                reason = _loads(output_text)
                ev = h.event(
                    h.SUB_ORCHESTRATION_FAILED,
                    stamp,
                    TaskScheduledId=row["parent_task_id"],
                    Reason=reason if isinstance(reason, str) else f"sub-orchestration {instance_id!r} {status}",
                    Details="",
                )
            self._enqueue(db, row["parent_instance_id"], row["parent_execution_id"], self._visible_now(), ev)

    def _start_sub_orchestration(
        self,
        db: sqlite3.Connection,
        parent: sqlite3.Row,
        task_id: int,
        name: str,
        child_id: str,
        input_text: str | None,
        stamp: str,
    ) -> None:
        existing = db.execute("SELECT status FROM instances WHERE instance_id = ?", (child_id,)).fetchone()
        problem = None
        if name not in self.index.orchestrators:
            problem = f"no orchestrator named {name!r} in this app"
        elif existing is not None and existing["status"] in ACTIVE:
            problem = f"an instance {child_id!r} already exists and is {existing['status']}"
        if problem is not None:
            ev = h.event(
                h.SUB_ORCHESTRATION_FAILED,
                stamp,
                TaskScheduledId=task_id,
                Reason=f"Orchestrator function '{name}' could not start: {problem}",
                Details=None,
            )
            self._enqueue(db, parent["instance_id"], parent["execution_id"], self._visible_now(), ev)
            return
        ref = {
            "Name": parent["name"],
            "OrchestrationInstance": {"InstanceId": parent["instance_id"], "ExecutionId": parent["execution_id"]},
            "TaskScheduleId": task_id,
        }
        self._create_instance(db, name, child_id, input_text, parent=ref)

    def _create_instance(
        self,
        db: sqlite3.Connection,
        name: str,
        instance_id: str,
        input_text: str | None,
        parent: dict[str, Any] | None,
        version: str | None = None,
    ) -> None:
        self._delete_instance(db, instance_id)  # a finished instance's id may be reused, as in Azure
        execution_id = uuid.uuid4().hex
        stamp = h.format_time(self.clock.now())
        parent_instance = parent["OrchestrationInstance"] if parent else {}
        db.execute(
            "INSERT INTO instances (instance_id, name, execution_id, status, input, created, updated, "
            "parent_instance_id, parent_execution_id, parent_task_id) VALUES (?, ?, ?, 'Pending', ?, ?, ?, ?, ?, ?)",
            (
                instance_id,
                name,
                execution_id,
                input_text,
                stamp,
                stamp,
                parent_instance.get("InstanceId"),
                parent_instance.get("ExecutionId"),
                parent["TaskScheduleId"] if parent else None,
            ),
        )
        started = h.execution_started(stamp, name, instance_id, execution_id, input_text, parent,
                                      version or self.default_version)
        self._enqueue(db, instance_id, execution_id, stamp, started)

    def _delete_instance(self, db: sqlite3.Connection, instance_id: str) -> None:
        for table in ("instances", "history", "inbox", "work"):
            db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))  # noqa: S608 - fixed names
        self._history_cache.pop(instance_id, None)

    def _clear_pending(self, db: sqlite3.Connection, instance_id: str) -> None:
        db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
        db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))

    def _enqueue(
        self,
        db: sqlite3.Connection,
        instance_id: str,
        execution_id: str,
        visible_at: str,
        ev: dict[str, Any],
        timer_id: int | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO inbox (instance_id, execution_id, visible_at, timer_id, event) VALUES (?, ?, ?, ?, ?)",
            (instance_id, execution_id, visible_at, timer_id, json.dumps(ev)),
        )

    def _visible_now(self) -> str:
        # Episode timestamps may run a tick ahead of the clock; what they enqueue must be due now, not then.
        return h.format_time(self.clock.now())

    def _instance(self, db: sqlite3.Connection, instance_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
        if row is None:
            raise InstanceNotFound(instance_id)
        return row

    def _next_timestamp(self, row: sqlite3.Row) -> datetime:
        # OrchestratorStarted times are the orchestration's only clock: keep them strictly increasing.
        now = self.clock.now().astimezone(UTC)
        if row["last_ts"]:
            floor = h.parse_time(row["last_ts"]) + h.ONE_TICK
            if now < floor:
                return floor
        return now

    def _load_history(self, db: sqlite3.Connection, row: sqlite3.Row) -> tuple[list[dict[str, Any]], list[Any] | None]:
        instance_id, execution_id, length = row["instance_id"], row["execution_id"], row["history_len"]
        cached = self._history_cache.get(instance_id)
        if cached is not None and cached[0] == execution_id and cached[1] == length:
            return cached[2], cached[3]
        events = [
            json.loads(e[0])
            for e in db.execute(
                "SELECT event FROM history WHERE instance_id = ? AND execution_id = ? ORDER BY seq",
                (instance_id, execution_id),
            )
        ]
        self._history_cache[instance_id] = (execution_id, length, events, None)
        return events, None

    def _append_history(
        self,
        db: sqlite3.Connection,
        row: sqlite3.Row,
        events: list[dict[str, Any]],
        parsed_history: list[Any] | None = None,
    ) -> None:
        instance_id, execution_id, start = row["instance_id"], row["execution_id"], row["history_len"]
        db.executemany(
            "INSERT INTO history (instance_id, seq, execution_id, event) VALUES (?, ?, ?, ?)",
            [(instance_id, start + i, execution_id, json.dumps(ev)) for i, ev in enumerate(events)],
        )
        length = start + len(events)
        db.execute("UPDATE instances SET history_len = ? WHERE instance_id = ?", (length, instance_id))
        cached = self._history_cache.get(instance_id)
        if cached is not None and cached[0] == execution_id and cached[1] == start:
            # The cache only advances if the transaction commits; a rollback leaves history_len behind it.
            merged = cached[2] + events
            if parsed_history is None or len(parsed_history) != len(merged):
                parsed_history = None
            self._history_cache[instance_id] = (execution_id, length, merged, parsed_history)
        else:
            self._history_cache.pop(instance_id, None)


VERSION_MATCH = ("None", "Strict", "CurrentOrOlder")
VERSION_FAILURE = ("Reject", "Fail")
VERSION_REJECT_RETRY = timedelta(seconds=30)


def _version_key(version: str) -> tuple[int, tuple[Any, ...]]:
    """Versions compared as the extension does: dotted numbers numerically, else as text; none is the oldest."""
    if not version:
        return (0, ())
    parts = version.split(".")
    if all(p.isdigit() for p in parts):
        return (1, tuple(int(p) for p in parts))
    return (2, (version,))


def _failed_episode(name: str, ts: datetime, new_events: list[dict[str, Any]], exc: Exception) -> EpisodeResult:
    stamp = h.format_time(ts)
    message = json.dumps(f"Orchestrator function '{name}' failed: {type(exc).__name__}: {exc}")
    return EpisodeResult(
        appended=[
            h.event(h.ORCHESTRATOR_STARTED, stamp),
            *new_events,
            h.event(h.EXECUTION_COMPLETED, stamp, OrchestrationStatus="Failed", Result=message),
            h.event(h.ORCHESTRATOR_COMPLETED, stamp),
        ],
        status="Failed",
        output_text=message,
    )


def _parent_ref(row: sqlite3.Row) -> dict[str, Any] | None:
    if not row["parent_instance_id"]:
        return None
    return {
        "Name": None,
        "OrchestrationInstance": {"InstanceId": row["parent_instance_id"], "ExecutionId": row["parent_execution_id"]},
        "TaskScheduleId": row["parent_task_id"],
    }


def _public_event(ev: dict[str, Any], with_output: bool) -> dict[str, Any]:
    out = dict(ev)
    out["EventType"] = h.EVENT_NAMES.get(ev["EventType"], str(ev["EventType"]))
    if not with_output:
        out.pop("Result", None)
        out.pop("Input", None)
    return out


def _check_instance_id(instance_id: Any) -> None:
    if not isinstance(instance_id, str) or not instance_id:
        raise SpecError("instance_id", "must be a non-empty string")
    if len(instance_id) > 256:
        raise SpecError("instance_id", "must be at most 256 characters")
    if any(c in _BAD_ID_CHARS or ord(c) < 32 for c in instance_id):
        raise SpecError("instance_id", "must not contain '/', '\\', '#', '?' or control characters")
