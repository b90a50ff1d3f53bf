"""Errors of the local Durable host: each names what was wrong, never a payload."""

from __future__ import annotations

from pushproxy.errors import PushProxyError


class LocalHostError(PushProxyError):
    """A request to the local host that cannot be honoured (unknown orchestrator, id in use, unknown instance)."""


class InstanceNotFound(LocalHostError):
    """No instance with that id exists in this database."""

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance_id: no orchestration instance {instance_id!r}")
        self.instance_id = instance_id


class InstanceNotRunning(LocalHostError):
    """The instance has finished, so it can no longer receive events or be terminated."""

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"instance_id: instance {instance_id!r} is {status}, not running")
        self.instance_id = instance_id
        self.status = status


class NonDeterminismError(LocalHostError):
    """The orchestrator, replayed on its own history, asked for different actions than it did the first time."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class UnsupportedAction(LocalHostError):
    """The orchestrator used a Durable feature this host does not provide (entities, CallHttp)."""


class TimerTooLong(LocalHostError):
    """A CreateTimer fires further ahead than the Azure Storage provider allows one timer (6 days)."""


class UnknownOrchestrator(LocalHostError):
    """start_new named an orchestrator the app does not register."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"orchestration_function_name: no orchestrator named {name!r} in this app "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        )
        self.name = name


class InstanceAlreadyRunning(LocalHostError):
    """start_new reused the id of an instance that is still Pending or Running."""

    def __init__(self, instance_id: str, status: str) -> None:
        super().__init__(f"instance_id: an instance {instance_id!r} already exists and is {status}")
        self.instance_id = instance_id


class WaitTimeout(LocalHostError, TimeoutError):
    """wait_for gave up; the instance goes on and a later wait_for can pick it up."""

    def __init__(self, instance_id: str, timeout: float, status: str) -> None:
        super().__init__(f"instance {instance_id!r} still {status} after {timeout:g}s")
        self.transient = True
