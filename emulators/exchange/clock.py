"""The stand-in's notion of now: the wall clock, moved by an offset an admin sets (`PUT /_emulator/clock`).

Renewals take weeks; tests and `pushproxy demo --rotation` run them in seconds by moving the product's clock (the
local host's fake clock) and this one together, so Exchange judges validity, effective dates and expiry at the
same instant the workflow believes it is. Time keeps flowing from the new instant. Sessions, WSMan timeouts and
TLS use the real clock (they are about this process, not about the organisation's certificates).
"""

from __future__ import annotations

import datetime as dt
import threading

_lock = threading.Lock()
_offset = dt.timedelta(0)


def now() -> dt.datetime:
    """What time the organisation believes it is (UTC, aware)."""
    with _lock:
        return dt.datetime.now(dt.UTC) + _offset


def set_now(instant: dt.datetime) -> dt.timedelta:
    """Move the clock so that it reads `instant` now; returns the new offset. Moving backwards is allowed (a reset)."""
    if instant.tzinfo is None:
        raise ValueError("now: must carry a time zone (UTC offset)")
    global _offset
    with _lock:
        _offset = instant - dt.datetime.now(dt.UTC)
        return _offset


def reset() -> None:
    global _offset
    with _lock:
        _offset = dt.timedelta(0)


def to_json() -> dict[str, object]:
    with _lock:
        offset = _offset
    return {"now": (dt.datetime.now(dt.UTC) + offset).isoformat(), "offset_s": offset.total_seconds()}
