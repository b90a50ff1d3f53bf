"""Helpers for the integration tests: endpoints for a running stand-in, and organisation states to load."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from pushproxy.exchange.endpoint import ExchangeEndpoint

PASSWORD_ENV = "PUSHPROXY_TEST_EXCHANGE_PASSWORD"


def endpoint_for(standin: Any, *, auth: str = "ntlm", tls: dict[str, Any] | None = None, **extra: Any) -> ExchangeEndpoint:
    d: dict[str, Any] = {
        "url": standin.url,
        "auth": auth,
        "username": standin.user,
        "password_ref": f"env:{PASSWORD_ENV}",
        "operation_timeout_s": 5,
        "call_deadline_s": 30,
        "windows_powershell_url": standin.base_url.rstrip("/") + "/wsman",
    }
    if tls is not None:
        d["tls"] = tls
    d.update(extra)
    return ExchangeEndpoint.from_dict(d)


def default_org(state: dict[str, Any]) -> dict[str, Any]:
    return state["organizations"][state.get("default_organization", "fabrikam.com")]


def with_org(state: dict[str, Any], change: Any) -> dict[str, Any]:
    """A copy of `state` whose default organisation has been passed through `change(org)`."""
    new = copy.deepcopy(state)
    change(default_org(new))
    return new


def iso(delta_days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=delta_days)).isoformat()
