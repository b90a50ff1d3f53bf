"""Timer-trigger schedules as the Functions host reads them: `%NAME%` from app settings, NCRONTAB with seconds
first (six fields), or a TimeSpan `hh:mm:ss` interval. Times are UTC, as in Azure without WEBSITE_TIME_ZONE."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta

from croniter import croniter

from pushproxy.errors import SpecError
from pushproxy.settings import DEFAULTS

_SETTING = re.compile(r"^%([A-Za-z0-9_.:-]+)%$")
_TIMESPAN = re.compile(r"^(\d+):(\d{2}):(\d{2})$")


def resolve_schedule(schedule: str) -> str:
    """`%NAME%` -> the environment's value, then pushproxy.settings.DEFAULTS; anything else as written."""
    match = _SETTING.match(schedule.strip())
    if not match:
        return schedule.strip()
    name = match.group(1)
    value = os.environ.get(name) or DEFAULTS.get(name)
    if not value:
        raise SpecError("schedule", f"app setting {name!r} is not set (in the environment or pushproxy.settings)")
    return value.strip()


class Schedule:
    """The next occurrences of one resolved schedule."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        span = _TIMESPAN.match(expression)
        self._interval: timedelta | None = None
        if span:
            hours, minutes, seconds = (int(g) for g in span.groups())
            self._interval = timedelta(hours=hours, minutes=minutes, seconds=seconds)
            if self._interval <= timedelta(0):
                raise SpecError("schedule", f"interval {expression!r} must be positive")
            return
        fields = expression.split()
        if len(fields) != 6:
            raise SpecError(
                "schedule", f"{expression!r} is not a six-field NCRONTAB (second minute hour day month day-of-week)"
            )
        # croniter takes the seconds field last; NCRONTAB puts it first.
        self._cron = " ".join(fields[1:] + fields[:1])
        if not croniter.is_valid(self._cron):
            raise SpecError("schedule", f"{expression!r} is not a valid NCRONTAB expression")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + self._interval
        result: datetime = croniter(self._cron, moment).get_next(datetime)
        return result
