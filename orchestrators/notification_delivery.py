"""The delivery of one event to one channel: an attempt, then, while it is worth it, a durable timer and another.

Started by the `raise_notification` activity as `notify-<event id>-<channel>`, so the workflow that raised the
event has long moved on: nothing here can fail or delay it. Each attempt is the `deliver_notification` activity
(one HTTPS POST with its own deadline), which records itself in the registry; the policy (backoff, Retry-After,
when to give up) is pushproxy.notifications.delivery's.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from pushproxy.activity_names import Activity, Orchestrator
from pushproxy.notifications.delivery import DELIVERED, FAILED, MAX_ATTEMPTS, RETRYING, next_delay
from pushproxy.timers import sleep_until
from pushproxy.workflow import short

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=Orchestrator.NOTIFICATION_DELIVERY)
def notification_delivery(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any]]:
    """Deliver one event to one channel, at least once, or record why it could not be."""
    request = context.get_input() or {}
    if isinstance(request, str):  # as some hosts hand it over: JSON text
        import json

        request = json.loads(request)
    event, channel = request["event"], str(request["channel"])
    attempt = 0
    while True:
        attempt += 1
        final = attempt >= MAX_ATTEMPTS
        context.set_custom_status({"event_id": event.get("id"), "channel": channel, "attempt": attempt,
                                   "status": RETRYING if attempt > 1 else "delivering"})
        try:
            outcome = yield context.call_activity(
                str(Activity.DELIVER_NOTIFICATION),
                {"event": event, "channel": channel, "attempt": attempt, "final": final,
                 "instance_id": context.instance_id})
            result = outcome["result"] if isinstance(outcome, dict) and outcome.get("ok") else {
                "status": FAILED if final else RETRYING, "error": str((outcome or {}).get("error", {}).get("message"))}
        except Exception as exc:  # the activity crashed past its wrapper (a worker died): try again later
            result = {"status": FAILED if final else RETRYING, "error": f"delivery activity failed: {short(exc)}"}
            if final:  # nothing recorded that last attempt: say in the registry that it failed
                try:
                    yield context.call_activity(str(Activity.DELIVER_NOTIFICATION), {
                        "event": event, "channel": channel, "attempt": attempt, "give_up": result["error"]})
                except Exception:  # the record is lost, the delivery was anyway: nothing more to do
                    pass
        if result.get("status") in (DELIVERED, FAILED):
            done = {"event_id": event.get("id"), "channel": channel, "status": result["status"], "attempts": attempt,
                    "error": result.get("error")}
            context.set_custom_status(done)
            return done
        retry_after = result.get("retry_after_s")
        delay = next_delay(attempt, float(retry_after) if retry_after is not None else None, context.instance_id)
        if delay is None:  # cannot happen while `final` is passed on; kept so a policy change can't loop for ever
            return {"event_id": event.get("id"), "channel": channel, "status": FAILED, "attempts": attempt,
                    "error": result.get("error")}
        context.set_custom_status({"event_id": event.get("id"), "channel": channel, "attempt": attempt,
                                   "status": RETRYING, "error": result.get("error"),
                                   "next_attempt_at": (context.current_utc_datetime
                                                       + timedelta(seconds=delay)).isoformat()})
        yield from sleep_until(context, context.current_utc_datetime + timedelta(seconds=delay))
