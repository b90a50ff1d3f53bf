"""The local Durable host: any DFApp's orchestrators and activities on one machine, history in SQLite."""

from pushproxy.local.errors import (
    InstanceAlreadyRunning,
    InstanceNotFound,
    InstanceNotRunning,
    LocalHostError,
    NonDeterminismError,
    UnknownOrchestrator,
    UnsupportedAction,
    WaitTimeout,
)
from pushproxy.local.host import Clock, LocalHost, SystemClock
from pushproxy.local.store import default_database_path

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
