"""Durable timers of any length, as timers of at most three days each: every timer an orchestrator creates.

Why: with the Azure Storage provider one timer may fire at most 6 days ahead. The extension refuses a longer
CreateTimer from an out-of-process SDK that speaks a replay schema older than V3 (azure-functions-durable-extension,
Listener/OutOfProcOrchestrationShim.cs InvokeAPIFromAction: `ThrowIfInvalidTimerLengthForStorageProvider`;
AzureStorageDurabilityProvider.cs: MaximumDelayTime 6 days, "The Azure Storage provider supports a maximum of 6
days for time-based delays"). azure-functions-durable 1.7.0 does split long timers itself under schema V3
(LongTimerTask), but cancelling one does not end it (Azure/azure-functions-durable-python#573, open: an approval
that wins against a two-week deadline leaves the orchestration running until the deadline), and other hubs send no
interval. So we never hand the SDK a timer longer than the extension's own interval for long timers
(LongRunningTimerIntervalLength, 3 days; .NET in-process DurableOrchestrationContext.CreateTimer loops the same
way): a timer within 3 days is one ordinary timer, exactly as before, on every host and schema.

Deterministic: the only clock is `context.current_utc_datetime`, read again after each interval fires.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

# The extension's LongRunningTimerIntervalLength for Azure Storage (AzureStorageDurabilityProvider.cs).
MAX_INTERVAL = timedelta(days=3)


def next_fire(now: datetime, when: datetime) -> datetime | None:
    """When the next interval's timer fires on the way to `when`, or None once `when` is reached."""
    if when <= now:
        return None
    return min(when, now + MAX_INTERVAL)


def sleep_until(context: Any, when: datetime) -> Generator[Any, Any, None]:
    """Wait on durable timers until `when` (`yield from`): one timer when it is within 3 days, else a chain."""
    while (fire := next_fire(context.current_utc_datetime, when)) is not None:
        yield context.create_timer(fire)


def deadline_timer(context: Any, deadline: datetime) -> Any | None:
    """The timer of the next interval towards `deadline`, to race against another task; None once it is reached.

    Race it with `task_any([task, timer])`; when the timer wins, ask for the next one (the deadline is reached
    only when this returns None), so the other task can still win at any moment of a long deadline.
    """
    fire = next_fire(context.current_utc_datetime, deadline)
    return None if fire is None else context.create_timer(fire)
