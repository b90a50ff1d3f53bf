"""Singleton starts through the Durable client (the SDK's, bound by the Functions host or by `pushproxy serve`)."""

from __future__ import annotations

from typing import Any

from pushproxy.api.views import ACTIVE_STATUSES, runtime_status_name
from pushproxy.settings import setting

VERIFICATION_INSTANCE_ID = "verification"


async def running_status(client: Any, instance_id: str) -> Any | None:
    """The instance's status while it still runs (Pending, Running, Suspended), else None."""
    status = await client.get_status(instance_id)
    if status and runtime_status_name(status) in ACTIVE_STATUSES:
        return status
    return None


async def start_singleton(client: Any, orchestrator: str, instance_id: str, client_input: Any) -> bool:
    """Start `orchestrator` as `instance_id` unless an instance with that id still runs. True when started.

    Check-then-start is what Durable's singleton pattern is; two requests in the same instant can both pass the
    check, and the second start then replaces the first before it ran (the extension's default for an id reuse).
    """
    if await running_status(client, instance_id) is not None:
        return False
    await client.start_new(orchestrator, instance_id, client_input)
    return True


def verification_input(tenants: list[str] | None) -> dict[str, Any]:
    """The verification orchestrator's input: settings are read by the starter, since an orchestrator must not."""
    batch_size = int(setting("PUSHPROXY_VERIFY_BATCH_SIZE") or 20)
    warning_days = int(setting("PUSHPROXY_CERT_EXPIRY_WARNING_DAYS") or 60)
    return {"tenants": tenants, "batch_size": max(1, batch_size), "expiry_warning_days": max(0, warning_days)}
