"""What the stand-in was asked to do: every cmdlet run and WSMan shell change, plus request counters."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

from psrpcore.types import PSSecureString

from emulators.exchange import clock

MASK = "***"
_SECRET_NAMES = ("password", "secret", "credential")


def masked(name: str | None, value: Any) -> Any:
    """A parameter value fit for the journal: SecureStrings and password-like parameters masked."""
    if isinstance(value, PSSecureString) or (name and any(s in name.lower() for s in _SECRET_NAMES)):
        return MASK
    if value is None or isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [masked(None, v) for v in value]
    return str(value)


class Journal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self.stats: Counter[str] = Counter()

    def record(self, operation: str, parameters: dict[str, Any], user: str, endpoint: str, org: str,
               outcome: str, detail: str | None = None) -> None:
        entry = {
            "operation": operation, "parameters": parameters, "user": user, "endpoint": endpoint, "org": org,
            # "time" is the organisation's (the stand-in clock, which tests and the demo move: emulators/exchange/
            # clock.py); "wall_time" is this process's, to order calls against the Graph stand-in's journal.
            "outcome": outcome, "time": clock.now().isoformat(), "wall_time": dt.datetime.now(dt.UTC).isoformat(),
        }
        if detail:
            entry["detail"] = detail
        with self._lock:
            self._entries.append(entry)

    def count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.stats.clear()

    def stats_json(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.stats)
