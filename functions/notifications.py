"""The notification activities and route: raise an event (start its deliveries), raise what a verification found,
deliver one event to one channel once, and `GET /api/notifications` (the deliveries, e.g. `?status=failed`).

Binding parameters are annotated with plain types only (the Functions worker refuses generic aliases).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from pushproxy.activity_names import Activity
from pushproxy.api import roles, validation
from pushproxy.api.errors import ApiError, bad_input
from pushproxy.errors import PushProxyError
from pushproxy.notifications import send
from pushproxy.notifications.channels import ChannelError, by_name
from pushproxy.notifications.config import configured_channels, public_url
from pushproxy.notifications.delivery import DELIVERED, FAILED, RETRYING, STATUSES
from pushproxy.notifications.dispatch import dispatch
from pushproxy.notifications.events import Event
from pushproxy.notifications.fleet_events import fleet_events
from pushproxy.notifications.store import NotificationLog
from pushproxy.outcome import guarded_async, ok
from pushproxy.registry import shared_registry

bp = df.Blueprint()
log = logging.getLogger("pushproxy.notifications")
MAX_LISTED = 500


def _now() -> datetime:
    return datetime.now(UTC)


@bp.activity_trigger(input_name="payload", activity=Activity.RAISE_NOTIFICATION)
@bp.durable_client_input(client_name="client")
async def raise_notification(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    """Start the deliveries of one event a workflow raised."""

    async def step(request: dict[str, Any]) -> dict[str, Any]:
        event = Event.from_dict(request).with_base_url(public_url())
        started = await dispatch(client, NotificationLog(shared_registry()), configured_channels(), event, _now())
        return ok({"event_id": event.id, "deliveries": started}, "raised" if started else "none")

    return await guarded_async(step, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RAISE_FLEET_NOTIFICATIONS)
@bp.durable_client_input(client_name="client")
async def raise_fleet_notifications(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    """What a verification found that is news (per tenant), and its summary, from the full registry records."""

    async def step(request: dict[str, Any]) -> dict[str, Any]:
        summary = dict(request["summary"])
        tenants = [str(t) for t in request.get("tenants") or ()]
        notices = NotificationLog(shared_registry())

        def read() -> tuple[list[dict[str, Any]], dict[str, Any]]:
            # Two partition reads, however large the fleet (not two point reads per tenant).
            wanted = {t.lower() for t in tenants}
            records = [r.to_dict() for r in notices.registry.list_verifications() if r.domain in wanted]
            states = notices.notice_states()
            return records, {r["domain"]: states.get(r["domain"]) for r in records}

        records, states = await asyncio.to_thread(read)
        occurred_at = str(summary.get("finished_at") or _now().isoformat())
        raised, new_states = fleet_events(records, states, summary, occurred_at=occurred_at)
        channels, base = configured_channels(), public_url()
        deliveries: list[str] = []
        for event in raised:
            deliveries += await dispatch(client, notices, channels, event.with_base_url(base), _now())
        # Only once every event is handed over: a crash before this raises the same events (same ids) again.
        for domain, state in new_states.items():
            await asyncio.to_thread(notices.put_notice_state, domain, state)
        return ok({"events": [e.id for e in raised], "deliveries": deliveries}, "raised" if deliveries else "none")

    return await guarded_async(step, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.DELIVER_NOTIFICATION)
async def deliver_notification(payload: dict) -> dict:
    """One attempt of one delivery, recorded in the registry (each attempt, and the final status)."""

    async def step(request: dict[str, Any]) -> dict[str, Any]:
        event, name = dict(request["event"]), str(request["channel"])
        attempt, final = int(request.get("attempt") or 1), bool(request.get("final"))
        if request.get("give_up"):  # the last attempt's activity crashed: record the failure, send nothing
            await _record(event, name, {"attempt": attempt, "at": _now().isoformat(), "outcome": send.FAILED,
                                        "error": str(request["give_up"])}, FAILED)
            return ok({"status": FAILED, "error": str(request["give_up"])}, FAILED)
        try:
            channel = by_name(configured_channels(), name)
        except ChannelError as exc:
            channel, why = None, str(exc)
        else:
            why = f"channel {name} is no longer configured"
        if channel is None:
            result = send.AttemptResult(send.FAILED, error=why)
        else:
            result = await send.deliver(channel, event, attempt)
        if result.outcome == send.DELIVERED:
            status = DELIVERED
        elif result.outcome == send.FAILED or final:
            status = FAILED
        else:
            status = RETRYING
        at = _now()
        entry = {"attempt": attempt, "at": at.isoformat(), **result.to_dict()}
        log.log(logging.INFO if status == DELIVERED else logging.WARNING,
                "notification %s (%s) to channel %s: attempt %d %s%s", event.get("id"), event.get("type"), name,
                attempt, status, f" ({result.error})" if result.error else "")
        await _record(event, name, entry, status)
        return ok({"status": status, "error": result.error, "http_status": result.http_status,
                   "retry_after_s": result.retry_after_s}, status)

    return await guarded_async(step, payload)


async def _record(event: dict[str, Any], channel: str, entry: dict[str, Any], status: str) -> None:
    """Add one attempt to the delivery's record. A registry outage loses the record, not the delivery."""
    notices = NotificationLog(shared_registry())
    try:
        existing = await asyncio.to_thread(notices.get, str(event.get("id")), channel)
        if existing is not None:
            await asyncio.to_thread(notices.record_attempt, existing, entry, status, _now())
    except Exception as exc:
        log.warning("could not record attempt %s of notification %s: %s", entry.get("attempt"), event.get("id"),
                    type(exc).__name__)


def _json(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.route(route="notifications", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def list_notifications(req: func.HttpRequest) -> func.HttpResponse:
    """The deliveries, newest first: `?status=failed` (or pending, retrying, delivered), `?tenant=`, `?limit=`."""
    try:
        # Any role may read the delivery log (it holds no secret); who is asking is checked as on every route.
        roles.require(roles.caller(req.headers), *roles.ROLES)
        # A parameter given empty is bad input, as any other malformed value: absent is the only default.
        status = req.params.get("status")
        if status is not None and status not in STATUSES:
            raise bad_input("status", f"must be one of {', '.join(STATUSES)}")
        tenant = validation.tenant_domain(req.params["tenant"]) if "tenant" in req.params else None
        raw_limit = req.params.get("limit", "100")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LISTED:
            raise bad_input("limit", f"must be a whole number from 1 to {MAX_LISTED}")

        def read() -> list[dict[str, Any]]:
            return [d.to_dict() for d in NotificationLog(shared_registry()).deliveries(status, tenant, int(raw_limit))]

        listed = await asyncio.to_thread(read)
        return _json({"notifications": listed, "count": len(listed)})
    except ApiError as exc:
        return _json(exc.body(), exc.status)
    except PushProxyError as exc:
        log.warning("listing notifications failed: %s", exc)
        return _json({"error": {"code": "unavailable", "message": str(exc)}}, 503)
    except Exception as exc:
        log.exception("listing notifications failed (%s)", type(exc).__name__)
        return _json({"error": {"code": "internal", "message": "internal error"}}, 500)


__all__ = ["bp"]
