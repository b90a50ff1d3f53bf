"""The one call a workflow makes to tell people something: `yield from notify(context, event)`.

Its whole cost to the raising workflow is one activity (`raise_notification`), which starts a delivery
orchestration per matching channel and returns at once; the deliveries (HTTP, retries on durable timers,
Retry-After) run on their own. So a channel that is down never fails nor delays the workflow: should even the
raising activity fail, the helper notes it and carries on (the workflow's own result matters more than the news
of it). Deterministic: the event's id comes from the workflow's own data, never from a clock or a random number.

The fleet's verification uses `notify_fleet(context, summary, tenants)`: its activity reads each tenant's full
record from the registry (the workflow's history keeps only slim ones) and raises what is news.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from pushproxy.activity_names import Activity
from pushproxy.notifications.events import Event


def notify(context: Any, event: Event) -> Generator[Any, Any, bool]:
    """Hand `event` to the notifier. True when it was taken; False (never an exception) when it was not."""
    try:
        result = yield context.call_activity(str(Activity.RAISE_NOTIFICATION), event.to_dict())
    except Exception:  # the activity itself crashed: the workflow goes on regardless
        return False
    return bool(isinstance(result, dict) and result.get("ok"))


def notify_fleet(context: Any, summary: dict[str, Any], tenants: list[str]) -> Generator[Any, Any, bool]:
    """Raise the verification's events: per tenant what is news (drift, expiry, removed keys), then the summary."""
    try:
        result = yield context.call_activity(str(Activity.RAISE_FLEET_NOTIFICATIONS),
                                             {"summary": summary, "tenants": tenants})
    except Exception:
        return False
    return bool(isinstance(result, dict) and result.get("ok"))
