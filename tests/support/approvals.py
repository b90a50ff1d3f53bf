"""The external event name of the wait a workflow shows now (`awaiting.event`, pushproxy.approvals): each wait
listens for its own name, so a test raising a decision raises it under that name, as every door does."""

from __future__ import annotations

from typing import Any


def awaiting_event(host: Any, instance_id: str) -> str:
    status = host.get_status(instance_id, show_history=False)
    custom = status.custom_status if status is not None and isinstance(status.custom_status, dict) else {}
    awaiting = custom.get("awaiting") or {}
    return str(awaiting.get("event") or "approval")
