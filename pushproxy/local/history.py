"""DTFx history events, as the Durable extension serializes them for the Python SDK (PascalCase, EventType int).

Field names and numbers follow ../shared/design/DURABLE_PROTOCOL.md §1-2; the SDK reads only some of them, the
rest are there so `get_status(show_history=True)` looks like the extension's history.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EXECUTION_STARTED = 0
EXECUTION_COMPLETED = 1
EXECUTION_TERMINATED = 3
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCHESTRATION_CREATED = 7
SUB_ORCHESTRATION_COMPLETED = 8
SUB_ORCHESTRATION_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_RAISED = 15
CONTINUE_AS_NEW = 16

EVENT_NAMES = {
    0: "ExecutionStarted",
    1: "ExecutionCompleted",
    2: "ExecutionFailed",
    3: "ExecutionTerminated",
    4: "TaskScheduled",
    5: "TaskCompleted",
    6: "TaskFailed",
    7: "SubOrchestrationInstanceCreated",
    8: "SubOrchestrationInstanceCompleted",
    9: "SubOrchestrationInstanceFailed",
    10: "TimerCreated",
    11: "TimerFired",
    12: "OrchestratorStarted",
    13: "OrchestratorCompleted",
    14: "EventSent",
    15: "EventRaised",
    16: "ContinueAsNew",
}

# The events that schedule something under a task id (EventId); completions point back with TaskScheduledId/TimerId.
SCHEDULING_EVENTS = frozenset({TASK_SCHEDULED, SUB_ORCHESTRATION_CREATED, TIMER_CREATED})

ONE_TICK = timedelta(microseconds=1)


def format_time(moment: datetime) -> str:
    """UTC with a `Z`: the SDK parses with dateutil, and a naive result breaks its datetime comparisons."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def event(event_type: int, timestamp: str, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    # IsPlayed can stay false: the SDK derives replay from the position of the last OrchestratorStarted.
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": timestamp, **fields}


def execution_started(
    timestamp: str,
    name: str,
    instance_id: str,
    execution_id: str,
    input_text: str | None,
    parent: dict[str, Any] | None,
    version: str | None = None,
) -> dict[str, Any]:
    return event(
        EXECUTION_STARTED,
        timestamp,
        Name=name,
        # The orchestration version (the extension's orchestration versioning): `context.version` reads it.
        Version=version or "",
        Input=input_text,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
    )
