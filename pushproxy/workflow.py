"""How an orchestrator calls a step: one activity call, any failure in the one outcome shape, transient ones
retried on durable timers. Deterministic (no clock but the context's, no I/O), so it replays identically.

The extension's own retry (`call_activity_with_retry`) retries every failure, permanent ones included, and hands
back an exception; here a permanent failure stops at once with Exchange's or Graph's message, and whatever went
wrong, the caller gets data it can report.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pushproxy.outcome import Outcome, error, is_outcome
from pushproxy.timers import sleep_until


@dataclass(frozen=True)
class RetryPolicy:
    """Fixed interval, as the spec's retry options (Durable's RetryOptions with a backoff coefficient of 1)."""

    interval_s: float = 5.0
    max_attempts: int = 5


def short(exc: BaseException | str) -> str:
    """An activity failure as one line: Durable's message can carry a whole remote traceback."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 400 else text[:399] + "…"


def call_step(context: Any, name: str, payload: Any, retry: RetryPolicy | None = None) -> Generator[Any, Any, Outcome]:
    """Call activity `name` until it succeeds, fails permanently, or `retry.max_attempts` attempts are used up.

    A failed task (the activity crashed outside its wrapper, its result was not JSON, the worker died) counts as a
    transient failure; a result that is not an outcome as a permanent one.
    """
    attempts = max(1, retry.max_attempts) if retry else 1
    attempt = 0
    while True:
        attempt += 1
        try:
            result = yield context.call_activity(str(name), payload)
        except Exception as exc:
            outcome = error("ActivityFailed", short(exc), transient=True)
        else:
            outcome = result if is_outcome(result) else error(
                "MalformedResult", f"{name} returned {type(result).__name__}, not an outcome", transient=False)
        if outcome["ok"] or not outcome["error"].get("transient") or attempt >= attempts or retry is None:
            return outcome
        yield from sleep_until(context, context.current_utc_datetime + timedelta(seconds=retry.interval_s))


def call_steps(
    context: Any, calls: list[tuple[str, Any]], retry: RetryPolicy | None = None
) -> Generator[Any, Any, list[Outcome]]:
    """Several steps in parallel (task_all), then each transient failure retried alone; outcomes in call order.

    Should a task fail outright (task_all then raises and the others' results are lost), every step is called
    again on its own: only read-only steps (discovery) are called in parallel, so that is harmless.
    """
    try:
        first: list[Any] = yield context.task_all([context.call_activity(str(name), payload) for name, payload in calls])
    except Exception:
        first = [None] * len(calls)
    outcomes: list[Outcome] = []
    for (name, payload), result in zip(calls, first, strict=True):
        if is_outcome(result) and (result["ok"] or not result["error"].get("transient")):
            outcomes.append(result)
            continue
        if is_outcome(result):  # transient: the first attempt is spent
            if retry is None or retry.max_attempts <= 1:
                outcomes.append(result)
                continue
            yield from sleep_until(context, context.current_utc_datetime + timedelta(seconds=retry.interval_s))
            retry_left: RetryPolicy | None = RetryPolicy(retry.interval_s, retry.max_attempts - 1)
        else:
            retry_left = retry
        outcomes.append((yield from call_step(context, name, payload, retry_left)))
    return outcomes
