"""The SQLite file that holds every instance, its history, its inbox and its pending activities.

Several processes share one file (`pushproxy onboard` waits while `pushproxy approve` raises an event), so all
state lives here: WAL for concurrent readers, a busy timeout for writers, and `BEGIN IMMEDIATE` so an episode
reads and writes an instance under the one write lock, never interleaved with another host's episode.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pushproxy.errors import SpecError
from pushproxy.settings import setting

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    signature TEXT NOT NULL DEFAULT '[]',
    last_ts TEXT,
    history_len INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, seq)
);
-- Events not yet seen by the orchestrator: results, fired timers (visible from their fire time), raised events.
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    visible_at TEXT NOT NULL,
    timer_id INTEGER,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_time ON inbox (visible_at);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (instance_id, visible_at);
-- Activities scheduled and not yet answered. A row leaves in the transaction that stores its result.
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    lease_owner TEXT,
    lease_pid INTEGER,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS work_by_instance ON work (instance_id);
"""


class Store:
    """One database file; one connection per thread (sqlite3 connections are not shared across threads)."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self.path = str(Path(path).expanduser()) if str(path) != ":memory:" else ":memory:"
        if self.path == ":memory:" or self.path.startswith("file:"):
            # Each thread has its own connection, and other processes read the same file: it must be a real file.
            raise SpecError("database", "must be a file path (threads and other processes share it), not :memory:")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        # executescript commits on its own; CREATE ... IF NOT EXISTS makes concurrent first opens harmless.
        self.connection().executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the write lock is taken up front.
            db = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process kill (only an OS crash can lose the last commits).
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        """The connection for reads outside a transaction (each statement sees the latest commit)."""
        return self.connection()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def default_database_path() -> Path:
    """PUSHPROXY_LOCAL_DB, else ~/.local/share/pushproxy/local.sqlite: the file `pushproxy` commands share."""
    configured = setting("PUSHPROXY_LOCAL_DB")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".local" / "share" / "pushproxy" / "local.sqlite"
