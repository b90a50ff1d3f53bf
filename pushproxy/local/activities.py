"""Running activity functions as the Python worker does: input decoded and result encoded by the worker's own
activityTrigger converter, sync functions in a thread pool, async ones on the process's one function event loop (function_loop)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from dataclasses import dataclass
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from pushproxy.local.app_index import RegisteredFunction


@dataclass(frozen=True)
class ActivityOutcome:
    """What an activity produced: a result (JSON text) or a failure (the extension's Reason and Details)."""

    ok: bool
    result_text: str | None = None
    reason: str | None = None
    details: str | None = None


def _failure(name: str, exc: BaseException) -> ActivityOutcome:
    # The extension's wording (TaskActivityShim.cs); user code catches f"{Reason} \n {Details}".
    message = str(exc) or type(exc).__name__
    return ActivityOutcome(
        ok=False,
        reason=f"Activity function '{name}' failed: {message}",
        details=f"{type(exc).__name__}: {message}",
    )


def _decode(input_text: str | None) -> Any:
    if input_text is None:
        return None
    return ActivityTriggerConverter.decode(meta.Datum(type="json", value=input_text), trigger_metadata=None)


def _encode(value: Any) -> str:
    return str(ActivityTriggerConverter.encode(value, expected_type=None).value)


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def function_loop() -> asyncio.AbstractEventLoop:
    """The one event loop async functions run on in this process, as in the worker (one loop per worker process).

    One, not one per host: libraries keep loop-bound state process-wide (the Durable SDK's client shares a single
    aiohttp session), so activities and HTTP functions of every host in the process must run on the same loop.
    """
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="functions-loop", daemon=True).start()
            _LOOP = loop
        return _LOOP


class ActivityRunner:
    """Starts activities and hands back concurrent futures of ActivityOutcome. The caller bounds concurrency."""

    def __init__(self, max_workers: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="activity")

    def start(
        self, fn: RegisteredFunction, input_text: str | None, bindings: dict[str, Any] | None = None
    ) -> concurrent.futures.Future[ActivityOutcome]:
        """Run `fn` on its input; `bindings` are its other input bindings' values (a durableClient's JSON)."""
        extra = dict(bindings or {})
        if fn.is_async:
            return asyncio.run_coroutine_threadsafe(self._run_async(fn, input_text, extra), function_loop())
        return self._pool.submit(self._run_sync, fn, input_text, extra)

    @staticmethod
    def _run_sync(fn: RegisteredFunction, input_text: str | None, extra: dict[str, Any]) -> ActivityOutcome:
        try:
            value = fn.user_function(**{fn.trigger_name: _decode(input_text)}, **extra)
            if inspect.isawaitable(value):
                value = asyncio.run(_await(value))
            return ActivityOutcome(ok=True, result_text=_encode(value))
        except Exception as exc:
            return _failure(fn.name, exc)

    @staticmethod
    async def _run_async(fn: RegisteredFunction, input_text: str | None, extra: dict[str, Any]) -> ActivityOutcome:
        try:
            value = await fn.user_function(**{fn.trigger_name: _decode(input_text)}, **extra)
            return ActivityOutcome(ok=True, result_text=_encode(value))
        except Exception as exc:
            return _failure(fn.name, exc)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _await(value: Any) -> Any:
    return await value
