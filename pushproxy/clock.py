"""A clock that jumps: for tests and `pushproxy demo --rotation`, which run weeks of renewal in seconds.

It reads the wall clock plus an offset, so short waits (retries, the probe's interval) pass as they would, and
`jump_to(t)` moves it forward to a durable timer's date at once. Whoever else must agree on the time (the Exchange
stand-in's `PUT /_emulator/clock`) is told through `on_jump` callbacks. The local host takes it as its `clock`
(`LocalHost(app, clock=...)`), so `context.current_utc_datetime` and every timer follow it; activities get the
orchestrator's time as `now` (orchestrators/rotation.py), so they follow it too.

Chosen over libfaketime: the local host already takes a clock object, and the stand-ins run in their own
processes where an admin call is simpler and visible in their journal; libfaketime would move TLS and token
expiry checks too (Graph tokens would look expired to azure-identity).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class JumpClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)
        self.on_jump: list[Callable[[datetime], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def jump_to(self, instant: datetime) -> datetime:
        """Move forward to `instant` (never back: durable timestamps only grow). Returns the new now."""
        with self._lock:
            target = max(instant, datetime.now(UTC) + self._offset)
            self._offset = target - datetime.now(UTC)
        for callback in self.on_jump:
            callback(target)
        return target

    def advance(self, **delta: float) -> datetime:
        return self.jump_to(self.now() + timedelta(**delta))
