"""One orchestrator episode: replay the history plus the new events through the SDK, and read what it asked for.

The SDK numbers tasks itself (one counter per execution, consumed also by the retry loop's hidden timers and
re-attempts, which emit no action). Rather than re-deriving that numbering, we read the SDK's own open tasks
after the replay and map each new one to the scheduling event the extension would write under that id.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.history.HistoryEvent import HistoryEvent
from azure.durable_functions.models.Task import AtomicTask, RetryAbleTask
from azure.durable_functions.orchestrator import Orchestrator

from pushproxy.local import history as h
from pushproxy.local import timestamps
from pushproxy.local.errors import NonDeterminismError, TimerTooLong, UnsupportedAction

timestamps.install()

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
# One CreateTimer may fire at most this far after the orchestration's current time. As strict as Azure with the
# Azure Storage provider (azure-functions-durable-extension: Listener/OutOfProcOrchestrationShim.cs InvokeAPIFromAction
# calls ThrowIfInvalidTimerLengthForStorageProvider for schemas before V3, which throws ArgumentException(message,
# "fireAt") from AzureStorageDurabilityProvider.ValidateDelayTime: MaximumDelayTime 6 days). Stricter under schema
# V3, where the Python SDK would split the timer (LongTimerTask) but cannot cancel it
# (Azure/azure-functions-durable-python#573): an app that passes here relies on neither. Assumption: the orchestration
# fails with the ArgumentException's message, as an exception thrown while replaying the actions fails it.
STORAGE_MAX_DELAY = timedelta(days=6)

ACTION_NAMES = {
    0: "CallActivity",
    1: "CallActivityWithRetry",
    2: "CallSubOrchestrator",
    3: "CallSubOrchestratorWithRetry",
    4: "ContinueAsNew",
    5: "CreateTimer",
    6: "WaitForExternalEvent",
    7: "CallEntity",
    8: "CallHttp",
    9: "SignalEntity",
    10: "WhenAny",
    11: "WhenAny",
    12: "WhenAll",
}


@dataclass(frozen=True)
class ScheduledActivity:
    task_id: int
    name: str
    input_text: str | None


@dataclass(frozen=True)
class ScheduledTimer:
    timer_id: int
    fire_at: datetime


@dataclass(frozen=True)
class ScheduledSubOrchestration:
    task_id: int
    name: str
    instance_id: str
    input_text: str | None


@dataclass
class EpisodeResult:
    """What the episode decided: the events to append, and the work the host must now start."""

    appended: list[dict[str, Any]]
    status: str  # Running | Completed | Failed | ContinuedAsNew
    output_text: str | None = None
    custom_status_text: str | None = None
    signature: list[list[Any]] = field(default_factory=list)
    activities: list[ScheduledActivity] = field(default_factory=list)
    timers: list[ScheduledTimer] = field(default_factory=list)
    cancelled_timers: list[int] = field(default_factory=list)
    sub_orchestrations: list[ScheduledSubOrchestration] = field(default_factory=list)
    continue_input_text: str | None = None
    # The SDK's parsed form of the whole history after this episode, so the next one need not parse it again.
    parsed_history: list[HistoryEvent] = field(default_factory=list)


def _flatten(actions: Any, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Atomic actions in depth-first order, compound ones (WhenAll/WhenAny, V1 inner lists) opened."""
    if isinstance(actions, list):
        for item in actions:
            _flatten(item, out)
    elif isinstance(actions, dict):
        if "compoundActions" in actions:
            _flatten(actions["compoundActions"], out)
        else:
            out.append(actions)
    return out


def _signature(action: dict[str, Any]) -> list[Any]:
    kind = action.get("actionType")
    name = action.get("functionName") or action.get("externalEventName") or action.get("instanceId") or ""
    return [kind, name if isinstance(name, str) else str(name)]


def _describe(sig: list[Any]) -> str:
    kind = ACTION_NAMES.get(sig[0], f"action type {sig[0]}")
    return f"{kind} {sig[1]!r}" if sig[1] else kind


def _check_determinism(recorded: list[list[Any]], now: list[list[Any]], is_done: bool) -> None:
    for position, (old, new) in enumerate(zip(recorded, now, strict=False)):
        if old != new:
            raise NonDeterminismError(
                f"action #{position + 1} is {_describe(new)}, but the recorded history has {_describe(old)} there"
            )
    if len(now) < len(recorded):
        missing = recorded[len(now)]
        raise NonDeterminismError(
            f"action #{len(now) + 1} ({_describe(missing)}) was recorded but the orchestrator no longer asks for it"
        )


def run_episode(
    orchestrator: Any,
    name: str,
    instance_id: str,
    execution_id: str,
    history: list[dict[str, Any]],
    new_events: list[dict[str, Any]],
    timestamp: datetime,
    parent_instance_id: str | None,
    signature: list[list[Any]],
    parsed: list[HistoryEvent] | None = None,
) -> EpisodeResult:
    """Run one episode of `orchestrator` (the registered handle) and return what to record and do next.

    `parsed` is `history` already turned into the SDK's HistoryEvent objects by an earlier episode: the SDK parses
    every timestamp with dateutil, which would otherwise dominate the cost of replaying a long history.
    """
    ts = h.format_time(timestamp)
    appended: list[dict[str, Any]] = [h.event(h.ORCHESTRATOR_STARTED, ts), *new_events]
    full = history + appended
    input_text = next((e.get("Input") for e in full if e["EventType"] == h.EXECUTION_STARTED), None)
    request = {
        "history": full,
        "input": input_text,
        "instanceId": instance_id,
        "isReplaying": False,
        "parentInstanceId": parent_instance_id,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,  # V3; the two …Duration fields are left out, so timers are never split
    }
    # Build the context ourselves (the worker would parse the same JSON) so we can read its open tasks afterwards.
    appended_parsed = [HistoryEvent(**e) for e in appended]
    if parsed is None or len(parsed) != len(history):
        parsed = [HistoryEvent(**e) for e in history]
    # The constructor only needs the first events (OrchestratorStarted, ExecutionStarted) to set itself up;
    # HistoryEvent objects are read, never changed, by the replay, so reusing them is safe.
    ctx = DurableOrchestrationContext(**{**request, "history": full[:2]})
    ctx._histories = parsed + appended_parsed
    ctx._input_expected_type = getattr(orchestrator, "_df_input_type", None)
    user_fn = getattr(orchestrator, "orchestrator_function", None)
    if user_fn is None:
        raise UnsupportedAction(f"orchestrator {name!r} is not an azure.durable_functions orchestration_trigger")

    error: str | None = None
    with warnings.catch_warnings():
        # The SDK warns when an event arrives before anyone waits for it; buffering it is the documented behaviour.
        warnings.filterwarnings("ignore", message="Potential duplicate Task completion", category=UserWarning)
        try:
            state = json.loads(Orchestrator(user_fn).handle(ctx))
        except Exception as exc:  # the SDK reports orchestrator failures by raising, state after a marker
            text = str(exc)
            if OUT_OF_PROC_MARKER not in text:
                raise
            message, _, state_text = text.partition(OUT_OF_PROC_MARKER)
            state = json.loads(state_text)
            error = state.get("error") or message

    actions = _flatten(state.get("actions", []), [])
    new_signature = [_signature(a) for a in actions]
    is_done = bool(state.get("isDone"))
    _check_determinism(signature, new_signature, is_done)
    if error is None and state.get("error"):
        error = state["error"]  # isDone can come with an error (an output json.dumps refused)

    # A result the SDK could not match to any task is a result for a task this replay never created.
    stray = [key for key in ctx.deferred_tasks if isinstance(key, int)]
    if stray:
        raise NonDeterminismError(
            f"the recorded history completes task #{stray[0]}, which the orchestrator no longer schedules"
        )

    result = EpisodeResult(appended=appended, status="Running", signature=new_signature)
    custom = state.get("customStatus")
    result.custom_status_text = json.dumps(custom) if custom is not None else None
    recorded_ids = {e["EventId"]: e for e in full if e["EventType"] in h.SCHEDULING_EVENTS}
    fired_timers = {e.get("TimerId") for e in full if e["EventType"] == h.TIMER_FIRED}

    for task_id, task in sorted((k, v) for k, v in ctx.open_tasks.items() if isinstance(k, int)):
        if not isinstance(task, AtomicTask):
            continue
        action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
        if task_id in recorded_ids:
            if getattr(action, "is_cancelled", False) and task_id not in fired_timers:
                result.cancelled_timers.append(task_id)
            continue
        _schedule_new(result, ts, timestamp, execution_id, task_id, task, action)

    for action in actions:
        if action.get("actionType") in (7, 9):
            raise UnsupportedAction("entities are not supported by the local host (CallEntity/SignalEntity)")

    if error is not None:
        result.status = "Failed"
        result.output_text = json.dumps(f"Orchestrator function '{name}' failed: {error}")
        result.appended.append(
            h.event(h.EXECUTION_COMPLETED, ts, OrchestrationStatus="Failed", Result=result.output_text)
        )
    elif is_done:
        continued = [a for a in actions if a.get("actionType") == 4]
        if continued:
            result.status = "ContinuedAsNew"
            result.continue_input_text = continued[-1].get("input")
            result.appended.append(
                h.event(h.EXECUTION_COMPLETED, ts, OrchestrationStatus="ContinuedAsNew", Result=None)
            )
        else:
            result.status = "Completed"
            result.output_text = json.dumps(state.get("output"))
            result.appended.append(
                h.event(h.EXECUTION_COMPLETED, ts, OrchestrationStatus="Completed", Result=result.output_text)
            )
    if result.status != "Running":
        # Nothing scheduled in a final episode can ever be delivered.
        result.activities.clear()
        result.timers.clear()
        result.sub_orchestrations.clear()
    result.appended.append(h.event(h.ORCHESTRATOR_COMPLETED, ts))
    # Scheduling and closing events were added after the replay: parse them now, for the next episode.
    appended_parsed.extend(HistoryEvent(**e) for e in result.appended[len(appended_parsed) :])
    result.parsed_history = parsed + appended_parsed
    return result


def _schedule_new(
    result: EpisodeResult,
    ts: str,
    now: datetime,
    execution_id: str,
    task_id: int,
    task: AtomicTask,
    action: Any,
) -> None:
    if isinstance(action, NoOpAction):
        # The retry loop runs here, as in the extension: a timer after each failure, then a new attempt.
        parent = task.parent
        if not isinstance(parent, RetryAbleTask):
            raise UnsupportedAction("the SDK created an internal task this host does not know")
        if parent.is_waiting_on_timer:
            interval = timedelta(milliseconds=parent.retry_options.first_retry_interval_in_milliseconds)
            fire_at = now + interval
            result.appended.append(h.event(h.TIMER_CREATED, ts, task_id, FireAt=h.format_time(fire_at)))
            result.timers.append(ScheduledTimer(task_id, fire_at))
            return
        inner = parent.children[0]
        action = inner.action_repr[0] if isinstance(inner.action_repr, list) else inner.action_repr
    data = action.to_json()
    kind = data.get("actionType")
    if kind in (0, 1):
        input_text = data.get("input")
        result.appended.append(
            h.event(h.TASK_SCHEDULED, ts, task_id, Name=data["functionName"], Version="", Input=input_text)
        )
        result.activities.append(ScheduledActivity(task_id, data["functionName"], input_text))
    elif kind == 5:
        fire_at = action.fire_at
        if fire_at.tzinfo is None:
            raise UnsupportedAction("create_timer needs a timezone-aware datetime (use context.current_utc_datetime)")
        if fire_at - now > STORAGE_MAX_DELAY:
            raise TimerTooLong(f"The Azure Storage provider supports a maximum of {STORAGE_MAX_DELAY.days} days for "
                               "time-based delays (Parameter 'fireAt')")
        result.appended.append(h.event(h.TIMER_CREATED, ts, task_id, FireAt=h.format_time(fire_at)))
        if not data.get("isCanceled"):
            result.timers.append(ScheduledTimer(task_id, fire_at))
    elif kind in (2, 3):
        # DTFx names an anonymous sub-orchestration "<ExecutionId>:<task id>".
        child_id = data.get("instanceId") or f"{execution_id}:{task_id}"
        input_text = data.get("input")
        result.appended.append(
            h.event(
                h.SUB_ORCHESTRATION_CREATED,
                ts,
                task_id,
                Name=data["functionName"],
                Version="",
                InstanceId=child_id,
                Input=input_text,
            )
        )
        result.sub_orchestrations.append(ScheduledSubOrchestration(task_id, data["functionName"], child_id, input_text))
    elif kind == 8:
        raise UnsupportedAction("CallHttp (durable HTTP) is not supported by the local host")
    elif kind in (7, 9):
        raise UnsupportedAction("entities are not supported by the local host (CallEntity/SignalEntity)")
    else:
        raise UnsupportedAction(f"action type {kind} is not supported by the local host")
