"""The tenant registry: onboarded tenants and their spec, each onboarding, the latest verification results.

`open_registry()` picks the backend as the deployment does: Azure Table storage when the Function App's
identity-based storage setting (AzureWebJobsStorage__accountName) is present, SQLite on one machine otherwise.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pushproxy.registry.base import Registry
from pushproxy.registry.models import (
    Finding,
    OnboardingRecord,
    TenantRecord,
    VerificationRecord,
    VerificationSummary,
    normalize_domain,
)
from pushproxy.registry.sqlite import SqliteRegistry
from pushproxy.settings import setting

DEFAULT_REGISTRY_PATH = Path.home() / ".local" / "share" / "pushproxy" / "registry.sqlite"

__all__ = [
    "Finding",
    "OnboardingRecord",
    "Registry",
    "SqliteRegistry",
    "TenantRecord",
    "VerificationRecord",
    "VerificationSummary",
    "default_registry_path",
    "normalize_domain",
    "open_registry",
    "shared_registry",
]

_SHARED: dict[tuple[str | None, ...], Registry] = {}
_SHARED_LOCK = threading.Lock()


def default_registry_path() -> Path:
    return Path(setting("PUSHPROXY_REGISTRY_PATH") or DEFAULT_REGISTRY_PATH)


def open_registry(path: str | Path | None = None) -> Registry:
    """The registry of this deployment: Azure Tables in Azure, else SQLite (`path`, PUSHPROXY_REGISTRY_PATH, default)."""
    account = setting("AzureWebJobsStorage__accountName")
    if account and path is None:
        from pushproxy.registry.tables import TableRegistry

        return TableRegistry.for_account(
            account, setting("PUSHPROXY_REGISTRY_TABLE") or "pushproxyregistry", setting("AZURE_CLIENT_ID")
        )
    return SqliteRegistry(path if path is not None else default_registry_path())


def shared_registry() -> Registry:
    """One registry per process and configuration, for functions that run many times (HTTP, activities):
    opening Azure Tables costs a round trip, and SQLite connections are cheap to share (the backend locks)."""
    key = (
        setting("AzureWebJobsStorage__accountName"),
        setting("PUSHPROXY_REGISTRY_TABLE"),
        str(default_registry_path()),
    )
    with _SHARED_LOCK:
        registry = _SHARED.get(key)
        if registry is None:
            registry = _SHARED[key] = open_registry()
        return registry
