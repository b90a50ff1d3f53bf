"""Orchestrators that wait longer than one Azure Storage timer may (6 days): one timer, and our chained timers."""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from pushproxy.approvals import ApprovalRules, await_decision, open_wait
from pushproxy.timers import sleep_until

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="who")
def hello(who: str) -> str:
    return f"Hello {who}!"


@app.orchestration_trigger(context_name="context")
def one_timer(context: df.DurableOrchestrationContext):
    """A single create_timer `days` ahead: what Azure Storage refuses beyond 6 days."""
    days = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(days=days))
    return (yield context.call_activity(hello, "after one timer"))


@app.orchestration_trigger(context_name="context")
def chained(context: df.DurableOrchestrationContext):
    """The product's way: `days` ahead in timers of at most 3 days."""
    days = context.get_input()
    when = context.current_utc_datetime + timedelta(days=days)
    yield from sleep_until(context, when)
    return {"woke_at": context.current_utc_datetime.isoformat(), "when": when.isoformat()}


@app.orchestration_trigger(context_name="context")
def deadline(context: df.DurableOrchestrationContext):
    """An approval wait (the product's own) with a deadline `days` ahead."""
    days = context.get_input()
    now = context.current_utc_datetime
    until = now + timedelta(days=days)
    awaiting = open_wait("plan", "hash", now, 1, until)
    context.set_custom_status({"event": awaiting.event_name, "state_hash": awaiting.state_hash})
    decided = yield from await_decision(context, awaiting, ApprovalRules(), deadline=until,
                                        publish=lambda _wait: None, note=lambda _text: None)
    return {"decision": decided.decision, "approver": decided.approver, "at": context.current_utc_datetime.isoformat()}


# Which code the `upgraded` orchestrator runs: "single" (one timer, as before pushproxy.timers) or "chained".
CODE = {"wait": "single"}


@app.orchestration_trigger(context_name="context")
def upgraded(context: df.DurableOrchestrationContext):
    """A 28-day wait whose code changes from one timer to the chain while an instance waits."""
    when = context.current_utc_datetime + timedelta(days=28)
    if CODE["wait"] == "single":
        yield context.create_timer(when)
    else:
        yield from sleep_until(context, when)
    return (yield context.call_activity(hello, "after the wait"))
