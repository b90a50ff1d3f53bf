"""The registry's record of notifications: every delivery (one event to one channel) with each attempt, and what
was already told about each tenant (fleet_events.NoticeState). Written on the registry's own document store,
beside the tenants, so Azure Tables and SQLite both hold it with nothing to deploy:

    partition "notification"  row <event id>|<channel>   a Delivery: status, attempts, the event's summary
    partition "notice"        row <domain>                what verification already told about the tenant

A delivery record holds the event's summary and type, never the channel's URL or secret (neither is in it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pushproxy.notifications.delivery import FAILED, PENDING, STATUSES
from pushproxy.notifications.fleet_events import NoticeState
from pushproxy.registry.base import Registry

DELIVERIES = "notification"
NOTICES = "notice"


@dataclass
class Delivery:
    """One event to one channel: pending, retrying, delivered or failed, and every attempt."""

    event_id: str
    channel: str
    instance_id: str
    type: str
    tenant: str | None
    summary: str
    occurred_at: str
    status: str = PENDING
    attempts: list[dict[str, Any]] = field(default_factory=list)
    last_error: str | None = None
    updated_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "channel": self.channel, "instance_id": self.instance_id,
                "type": self.type, "tenant": self.tenant, "summary": self.summary, "occurred_at": self.occurred_at,
                "status": self.status, "attempts": list(self.attempts), "last_error": self.last_error,
                "updated_at": self.updated_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Delivery:
        return cls(event_id=str(d["event_id"]), channel=str(d["channel"]), instance_id=str(d.get("instance_id") or ""),
                   type=str(d.get("type") or ""), tenant=d.get("tenant"), summary=str(d.get("summary") or ""),
                   occurred_at=str(d.get("occurred_at") or ""), status=str(d.get("status") or PENDING),
                   attempts=list(d.get("attempts") or ()), last_error=d.get("last_error"),
                   updated_at=d.get("updated_at"))


class NotificationLog:
    """Deliveries and notice state in a Registry (its document store is the backend's; this is its only user
    outside the registry package, so the registry's interface stays about tenants)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def get(self, event_id: str, channel: str) -> Delivery | None:
        document = self.registry._get(DELIVERIES, f"{event_id}|{channel}")
        return None if document is None else Delivery.from_dict(document)

    def put(self, delivery: Delivery) -> None:
        self.registry._put(DELIVERIES, f"{delivery.event_id}|{delivery.channel}", delivery.to_dict())

    def record_attempt(self, delivery: Delivery, attempt: dict[str, Any], status: str, at: datetime) -> Delivery:
        """Add one attempt (its number, time, HTTP status, error) and the delivery's new status."""
        current = self.get(delivery.event_id, delivery.channel) or delivery
        numbers = {a.get("attempt") for a in current.attempts}
        if attempt.get("attempt") not in numbers:  # the same attempt recorded twice (a retried activity) is one
            current.attempts.append(attempt)
        current.status = status
        current.last_error = attempt.get("error") if status != "delivered" else None
        current.updated_at = at.isoformat()
        self.put(current)
        return current

    def deliveries(self, status: str | None = None, tenant: str | None = None,
                   limit: int | None = None) -> list[Delivery]:
        """Deliveries, newest event first, filtered by status and tenant."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        found = [Delivery.from_dict(d) for d in self.registry._list(DELIVERIES)]
        found = [d for d in found if (status is None or d.status == status)
                 and (tenant is None or (d.tenant or "").lower() == tenant.lower())]
        found.sort(key=lambda d: (d.occurred_at, d.event_id, d.channel), reverse=True)
        return found[:limit] if limit else found

    def failed(self) -> list[Delivery]:
        return self.deliveries(FAILED)

    def notice_states(self) -> dict[str, NoticeState]:
        """What was told about every tenant, by domain (one partition read)."""
        return {str(d["domain"]): NoticeState.from_dict(d) for d in self.registry._list(NOTICES) if d.get("domain")}

    def notice_state(self, domain: str) -> NoticeState:
        return NoticeState.from_dict(self.registry._get(NOTICES, domain.lower()))

    def put_notice_state(self, domain: str, state: NoticeState) -> None:
        self.registry._put(NOTICES, domain.lower(), {"domain": domain.lower(), **state.to_dict()})
