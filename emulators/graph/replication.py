"""Replication lag: Entra ID is eventually consistent, so a read may not show a write that already succeeded.

Model: writes land on the primary at once (the directory's state, what `GET /_emulator/state` shows and what
PATCH validation checks against). Reads of keyCredentials are served by replicas, chosen round-robin (so a test
is deterministic for a given sequence of requests), and replica `i` shows the newest write that is at least
`lags_s[i]` old. A replica never goes back in time. With no lags configured every read sees the primary.

Settings (`settings.replicationLagMs` in the state, or `--replication-lag-ms 0,150`): one lag per replica, in
milliseconds. `PUT /_emulator/state` is an administrator's reset, not a write: every replica shows it at once.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any


def parse_lags_ms(value: Any) -> list[float]:
    """`[0, 150]`, `150` or `"0,150"` as a list of lags in seconds; ValueError naming the setting otherwise."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items: list[Any] = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, int | float):
        items = [value]
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError("settings.replicationLagMs must be a number or a list of numbers (milliseconds per replica)")
    lags: list[float] = []
    for item in items:
        try:
            ms = float(item)
        except (TypeError, ValueError):
            raise ValueError(f"settings.replicationLagMs: {item!r} is not a number of milliseconds") from None
        if ms < 0:
            raise ValueError("settings.replicationLagMs: a lag cannot be negative")
        lags.append(ms / 1000.0)
    return lags


class Replication:
    """The write history of each service principal's keyCredentials, and which replica serves the next read."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lags_s: list[float] = []
        # sp id -> [(applied at, keyCredentials after the write)], oldest first; the first entry is the state
        # before the first write still in the window (applied at -inf).
        self._history: dict[str, list[tuple[float, list[dict[str, Any]]]]] = {}
        self._next = 0
        self.reads: list[int] = []  # which replica served each read (for tests and the journal)

    def configure(self, lags_s: list[float]) -> None:
        self.lags_s = list(lags_s)
        self.reset()

    def reset(self) -> None:
        """Forget every pending write: all replicas show the primary (an administrator's PUT of the state)."""
        self._history.clear()

    def written(self, sp_id: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> None:
        """Record that the primary's keyCredentials of `sp_id` changed from `before` to `after`, now."""
        if not self.lags_s or max(self.lags_s) <= 0:
            return
        now = self.clock()
        history = self._history.setdefault(sp_id, [(float("-inf"), copy.deepcopy(before))])
        history.append((now, copy.deepcopy(after)))
        # Keep the newest entry every replica has caught up with, and everything after it.
        horizon = now - max(self.lags_s)
        while len(history) > 1 and history[1][0] <= horizon:
            history.pop(0)

    def read(self, sp: dict[str, Any]) -> tuple[int | None, list[dict[str, Any]]]:
        """(replica index, the keyCredentials that replica shows) for one read of `sp`."""
        if not self.lags_s:
            return None, sp["keyCredentials"]
        replica = self._next % len(self.lags_s)
        self._next += 1
        self.reads.append(replica)
        history = self._history.get(sp["id"])
        if not history:
            return replica, sp["keyCredentials"]
        cutoff = self.clock() - self.lags_s[replica]
        seen = history[0][1]
        for applied, keys in history:
            if applied <= cutoff:
                seen = keys
        return replica, seen
