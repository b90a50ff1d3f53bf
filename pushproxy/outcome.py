"""The one shape every activity returns, success or failure, and the wrappers that make it so.

    {"ok": true,  "action": "created" | "none" | ..., "result": {...}}
    {"ok": false, "error": {"type", "message", "transient", ...}}

An activity never raises on purpose: a permanent failure (Exchange's or Graph's own message) and a transient one
(the orchestrator waits on a durable timer and calls again, up to the spec's retry limit) come back as data, and so
does an unexpected exception, as a permanent "internal" failure naming only its type and first line. What can still
reach the orchestrator as a failed task (the worker died, the result was not JSON) is turned into the same shape
there (pushproxy.workflow), so every caller reads one shape. Messages never hold a secret: ours are built not to,
and a foreign exception's text is cut to its first line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pushproxy.errors import PushProxyError

log = logging.getLogger("pushproxy.activities")

Outcome = dict[str, Any]
# Foreign exceptions that mean "try again later" rather than "this cannot work".
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


def ok(result: dict[str, Any], action: str) -> Outcome:
    """A successful step: `action` says what it did ("none" when everything was already in place)."""
    return {"ok": True, "action": action, "result": result}


def failed(exc: BaseException) -> Outcome:
    """Any failure as plain JSON. Ours keep their fields; a foreign one is "internal" unless it is a network fault."""
    if isinstance(exc, PushProxyError):
        return {
            "ok": False,
            "error": {
                "type": type(exc).__name__,
                "message": str(exc),
                "transient": bool(exc.transient),
                **{k: getattr(exc, k) for k in ("cmdlet", "server", "error_id", "code", "field", "request_id") if getattr(exc, k, None)},
            },
        }
    first = (str(exc).splitlines() or [""])[0][:300]
    return error(type(exc).__name__, f"{type(exc).__name__}: {first}" if first else type(exc).__name__,
                 transient=isinstance(exc, TRANSIENT_TYPES))


def error(kind: str, message: str, *, transient: bool) -> Outcome:
    return {"ok": False, "error": {"type": kind, "message": message, "transient": transient}}


def guarded(step: Callable[[dict[str, Any]], Outcome], payload: Any) -> Outcome:
    """Run a step on its payload; whatever it raises becomes a failure outcome."""
    name = getattr(step, "__name__", "step")
    try:
        return step(_payload(payload))
    except Exception as exc:
        return _logged(name, exc)


async def guarded_async(step: Callable[[dict[str, Any]], Awaitable[Outcome]], payload: Any) -> Outcome:
    name = getattr(step, "__name__", "step")
    try:
        return await step(_payload(payload))
    except Exception as exc:
        return _logged(name, exc)


def _payload(payload: Any) -> dict[str, Any]:
    from pushproxy.errors import SpecError

    if not isinstance(payload, dict):
        raise SpecError("input", f"an activity input is a JSON object, not {type(payload).__name__}")
    return payload


def _logged(name: str, exc: Exception) -> Outcome:
    outcome = failed(exc)
    if isinstance(exc, PushProxyError):
        log.warning("%s failed (%s): %s", name, "transient" if exc.transient else "permanent", exc)
    else:  # a bug or a library's surprise: the log keeps the traceback, the outcome only the first line
        log.exception("%s failed unexpectedly (%s)", name, type(exc).__name__)
    return outcome


def is_outcome(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
        return False
    if value["ok"]:
        return isinstance(value.get("result"), dict) and isinstance(value.get("action"), str)
    err = value.get("error")
    return isinstance(err, dict) and isinstance(err.get("message"), str)


def message(outcome: Outcome) -> str:
    return str(outcome["error"]["message"])
