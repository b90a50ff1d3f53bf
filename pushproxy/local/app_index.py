"""What a DFApp registers, read once: orchestrators, activities, HTTP triggers, timer triggers."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RegisteredFunction:
    """One function of the app, with the binding names the host must pass as keyword arguments."""

    name: str
    trigger_type: str
    trigger_name: str
    user_function: Callable[..., Any]
    bindings: tuple[dict[str, Any], ...]
    trigger: Any = field(compare=False, repr=False)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def binding_names(self, binding_type: str) -> list[str]:
        return [b["name"] for b in self.bindings if b.get("type") == binding_type]


@dataclass(frozen=True)
class AppIndex:
    """The functions of one app, by kind. Built once per app object (get_functions() works only once)."""

    orchestrators: dict[str, RegisteredFunction]
    activities: dict[str, RegisteredFunction]
    http: list[RegisteredFunction]
    timers: list[RegisteredFunction]
    entities: dict[str, RegisteredFunction]


# get_functions() raises on its second call for the same app, so every host shares one index per app object.
_INDEXES: dict[int, tuple[Any, AppIndex]] = {}


def index_app(app: Any) -> AppIndex:
    """Index `app` (an azure.durable_functions.DFApp, or any azure.functions.FunctionRegister)."""
    cached = _INDEXES.get(id(app))
    if cached is not None and cached[0] is app:
        return cached[1]
    orchestrators: dict[str, RegisteredFunction] = {}
    activities: dict[str, RegisteredFunction] = {}
    entities: dict[str, RegisteredFunction] = {}
    http: list[RegisteredFunction] = []
    timers: list[RegisteredFunction] = []
    functions = app.get_functions()
    for fn in functions:
        _check_loads(fn)
    for fn in functions:
        trigger = fn.get_trigger()
        bindings = tuple(json.loads(raw) for raw in fn.get_raw_bindings())
        kind = trigger.get_binding_name()
        entry = RegisteredFunction(
            name=fn.get_function_name(),
            trigger_type=kind,
            trigger_name=trigger.name,
            user_function=fn.get_user_function(),
            bindings=bindings,
            trigger=trigger,
        )
        if kind == "orchestrationTrigger":
            orchestrators[entry.name] = entry
        elif kind == "activityTrigger":
            activities[entry.name] = entry
        elif kind == "entityTrigger":
            entities[entry.name] = entry
        elif kind == "httpTrigger":
            http.append(entry)
        elif kind == "timerTrigger":
            timers.append(entry)
    index = AppIndex(orchestrators, activities, http, timers, entities)
    for entry in (*orchestrators.values(), *activities.values(), *entities.values()):
        _check_served(entry)
    _INDEXES[id(app)] = (app, index)
    return index


def _check_loads(fn: Any) -> None:
    """Refuse, at start, what the Python worker refuses to load (worker_rules), with the worker's own reason."""
    from pushproxy.local.errors import LocalHostError
    from pushproxy.local.worker_rules import WorkerRefusal, check_function

    try:
        check_function(fn.get_function_name(), fn.get_user_function(), list(fn.get_bindings()))
    except WorkerRefusal as exc:
        raise LocalHostError(f"function {fn.get_function_name()!r} would not load in Azure Functions: {exc}") from None


# Input bindings the local host can hand an orchestrator, entity or activity besides its trigger.
SERVED_INPUTS = ("durableClient",)


def _check_served(fn: RegisteredFunction) -> None:
    from pushproxy.local.errors import LocalHostError

    for binding in fn.bindings:
        if binding["name"] in (fn.trigger_name, "$return") or str(binding.get("direction", "")).lower() != "in":
            continue
        if binding.get("type") not in SERVED_INPUTS:
            raise LocalHostError(f"function {fn.name!r}: input binding type {binding.get('type')!r} is not served locally")
