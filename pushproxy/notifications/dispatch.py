"""Raising an event: for each channel that wants it, start its delivery orchestration once and note it in the
registry. What the `raise_notification` activities do; quick (no delivery happens here), so the raising
workflow's cost is this and nothing more.

At least once, and no more than needed: a delivery already done or given up (the registry says so) is not
started again, nor one whose orchestration exists (Durable would otherwise replace a finished instance and send
the event a second time). The registry's "pending" note is written before the start, so a crash between the two
leaves a note that the retried activity completes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from pushproxy.activity_names import Orchestrator
from pushproxy.notifications.channels import Channel, matching
from pushproxy.notifications.delivery import DELIVERED, FAILED, delivery_instance_id
from pushproxy.notifications.events import Event
from pushproxy.notifications.store import Delivery, NotificationLog

log = logging.getLogger("pushproxy.notifications")


async def dispatch(client: Any, notices: NotificationLog, channels: tuple[Channel, ...], event: Event,
                   now: datetime) -> list[str]:
    """Start `event`'s deliveries; returns their instance ids (those already under way included)."""
    body = event.to_dict()
    started: list[str] = []
    for channel in matching(channels, event.type, event.tenant):
        instance_id = delivery_instance_id(event.id, channel.name)
        existing = await asyncio.to_thread(notices.get, event.id, channel.name)
        if existing is not None and existing.status in (DELIVERED, FAILED):
            continue
        if existing is None:
            pending = Delivery(event_id=event.id, channel=channel.name, instance_id=instance_id, type=event.type,
                               tenant=event.tenant, summary=str(body["summary"]), occurred_at=event.occurred_at,
                               updated_at=now.isoformat())
            await asyncio.to_thread(notices.put, pending)
        if not await client.get_status(instance_id):
            try:
                await client.start_new(str(Orchestrator.NOTIFICATION_DELIVERY), instance_id,
                                       {"event": body, "channel": channel.name})
            except Exception:
                # Two raisers in the same instant: the other one started it. Anything else is worth the retry.
                if not await client.get_status(instance_id):
                    raise
        started.append(instance_id)
    log.info("event %s (%s, %s) raised to %d channel(s)", event.id, event.type, event.tenant or "fleet",
             len(started))
    return started
