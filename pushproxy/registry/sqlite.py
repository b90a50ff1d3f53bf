"""The registry on one machine: one SQLite file, shared safely by several processes (WAL, busy timeout)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pushproxy.registry.base import Registry, dumps

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    partition TEXT NOT NULL,
    row TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (partition, row)
) WITHOUT ROWID
"""


class SqliteRegistry(Registry):
    """Registry in a SQLite file. One connection, guarded by a lock, so activities on threads can share it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The local host, `pushproxy verify` and `pushproxy serve` may all open the file at once: wait, don't fail.
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"SqliteRegistry({str(self.path)!r})"

    def _put(self, partition: str, row: str, document: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO documents (partition, row, data) VALUES (?, ?, ?)",
                (partition, row, dumps(document)),
            )

    def _get(self, partition: str, row: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._conn.execute(
                "SELECT data FROM documents WHERE partition = ? AND row = ?", (partition, row)
            ).fetchone()
        return None if found is None else json.loads(found[0])

    def _list(self, partition: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT data FROM documents WHERE partition = ? ORDER BY row", (partition,)
            ).fetchall()
        return (json.loads(data) for (data,) in rows)

    def _delete(self, partition: str, row: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM documents WHERE partition = ? AND row = ?", (partition, row))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
