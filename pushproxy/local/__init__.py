"""The local Durable host: any DFApp's orchestrators and activities on one machine, history in SQLite."""

from pushproxy.local.errors import (
    InstanceNotFound,
    InstanceNotRunning,
    LocalHostError,
    NonDeterminismError,
    UnsupportedAction,
)
from pushproxy.local.host import (
    Clock,
    InstanceAlreadyRunning,
    LocalHost,
    SystemClock,
    UnknownOrchestrator,
    WaitTimeout,
    default_database_path,
)

__all__ = [
    "Clock",
    "InstanceAlreadyRunning",
    "InstanceNotFound",
    "InstanceNotRunning",
    "LocalHost",
    "LocalHostError",
    "NonDeterminismError",
    "SystemClock",
    "UnknownOrchestrator",
    "UnsupportedAction",
    "WaitTimeout",
    "default_database_path",
]
