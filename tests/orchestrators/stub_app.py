"""The real orchestrators with stub activities, in a DFApp of their own: each activity answers from SCRIPT (a list
of answers per activity, the last one repeated), records its calls in CALLS, and does no I/O at all."""

from __future__ import annotations

import threading
from typing import Any

import azure.durable_functions as df

from orchestrators import offboarding, onboarding, verification
from pushproxy.activity_names import Activity

SCRIPT: dict[str, list[Any]] = {}
CALLS: list[tuple[str, dict]] = []
_LOCK = threading.Lock()


class Crash(Exception):
    """An activity that raises past its wrapper (a worker crash, as the host sees it)."""


def answer(name: str, payload: dict) -> Any:
    with _LOCK:
        CALLS.append((name, payload))
        answers = SCRIPT.get(name)
        if not answers:
            raise AssertionError(f"no scripted answer for {name}")
        value = answers.pop(0) if len(answers) > 1 else answers[0]
    if isinstance(value, BaseException):
        raise value
    return value(payload) if callable(value) else value


def build_stub_app() -> df.DFApp:
    app = df.DFApp(http_auth_level="ANONYMOUS")
    app.register_functions(onboarding.bp)
    app.register_functions(verification.bp)
    app.register_functions(offboarding.bp)
    stubs = df.Blueprint()
    for activity in Activity:
        stubs.activity_trigger(input_name="payload", activity=activity.value)(_bind(activity.value))
    app.register_functions(stubs)
    return app


def _bind(name: str) -> Any:
    def stub(payload: dict) -> dict:
        return answer(name, payload)

    stub.__name__ = name  # Durable calls an activity by its function name
    return stub
