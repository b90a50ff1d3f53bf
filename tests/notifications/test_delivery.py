"""Events from real workflows to a real HTTPS receiver on loopback: signed, in the documented schema, each with
a stable id; in order; a receiver that fails (500, 429 with Retry-After, then hangs) delays nothing, and the
failure is recorded where people look (the route, the CLI)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import jsonschema_rs
import pytest
import requests

from pushproxy.local import LocalHost
from pushproxy.local.activities import function_loop
from pushproxy.notifications import signing
from pushproxy.notifications.config import configured_channels
from pushproxy.notifications.delivery import MAX_ATTEMPTS
from pushproxy.notifications.dispatch import dispatch
from pushproxy.notifications.events import EVENT_SCHEMA, Event
from pushproxy.notifications.store import NotificationLog
from pushproxy.registry import shared_registry
from tests.notifications.conftest import PUBLIC_URL, SECRET, channel, deliveries, drive, runtime
from tests.notifications.receiver import HANG, Receiver
from tests.orchestrators.test_onboarding_decisions import Clock, script, spec

IID = "onboarding-fabrikam.com"
VALIDATOR = jsonschema_rs.validator_for(EVENT_SCHEMA)


def all_delivered(host: LocalHost) -> bool:
    found = deliveries(host)
    return bool(found) and all(s.runtime_status.value == "Completed" for s in found)


def onboarding_over(host: LocalHost) -> bool:
    return runtime(host, IID) == "Completed"


def checked(receiver: Receiver) -> list[dict[str, Any]]:
    """Every body received, each verified as a receiver would: signature, replay window, schema, id header."""
    bodies = []
    for request in receiver.received:
        signing.verify(SECRET, request.headers.get(signing.HEADER), request.body, now=request.at)
        body = json.loads(request.body)
        VALIDATOR.validate(body)
        assert request.headers[signing.EVENT_ID_HEADER] == body["id"]
        assert request.headers[signing.EVENT_TYPE_HEADER] == body["type"]
        bodies.append(body)
    return bodies


def test_an_onboarding_awaiting_approval_then_approved_tells_both_in_order(host: LocalHost, clock: Clock,
                                                                           receiver: Receiver, configure: Any) -> None:
    configure(channel(receiver))
    script()
    host.start_new("onboarding", IID, {"spec": spec(), "requested_by": "carol"})
    drive(host, clock, lambda: onboarding_over(host) and all_delivered(host), approve=IID)

    bodies = checked(receiver)
    assert [b["type"] for b in bodies] == ["approval.awaited", "workflow.completed"]
    awaited, completed = bodies
    assert awaited["tenant"] == completed["tenant"] == "fabrikam.com"
    assert awaited["workflow_id"] == completed["workflow_id"] == IID
    assert awaited["data"]["group"] == "on_premises" and awaited["data"]["changes"]
    assert awaited["links"]["approval"] == f"{PUBLIC_URL}/api/onboardings/{IID}/approval"
    assert awaited["links"]["console"] == f"{PUBLIC_URL}/api/console/workflows/{IID}"
    assert completed["links"]["status"] == f"{PUBLIC_URL}/api/onboardings/{IID}"
    assert completed["data"]["changed"] == ["enable_push_proxy"] and completed["data"]["outcome"] == "done"
    assert len({b["id"] for b in bodies}) == 2
    delivered = NotificationLog(shared_registry()).deliveries("delivered")
    assert {d.event_id for d in delivered} == {b["id"] for b in bodies}


def test_raising_an_event_again_delivers_it_once(host: LocalHost, clock: Clock, receiver: Receiver,
                                                 configure: Any) -> None:
    """At least once, and no more than needed: the same event (same id), raised again, is not sent again."""
    configure(channel(receiver))
    script(discover_exchange=[stub_exchange_in_place()])
    host.start_new("onboarding", IID, {"spec": spec(approval={"policy": "auto"}), "requested_by": "carol"})
    drive(host, clock, lambda: onboarding_over(host) and all_delivered(host))
    (first,) = checked(receiver)
    client = df.DurableOrchestrationClient(host.durable_client_binding())
    again = asyncio.run_coroutine_threadsafe(
        dispatch(client, NotificationLog(shared_registry()), configured_channels(), Event.from_dict(first),
                 clock.t), function_loop()).result(30)
    host.run_until_idle()
    assert again == [] and len(receiver.received) == 1  # delivered already: not started again


def stub_exchange_in_place() -> Any:
    from pushproxy.outcome import ok
    from tests.unit.test_plan import exchange

    return ok(exchange(), "none")


def test_a_failing_receiver_delays_nothing_and_its_failure_is_recorded(host: LocalHost, clock: Clock,
                                                                       receiver: Receiver, configure: Any,
                                                                       capsys: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # 1.5 s, not less: under a loaded CI machine a quicker deadline can miss the stand-in's own 500 or 429, and the
    # attempts would then be recorded as timeouts (seen once with 0.5 s).
    configure(channel(receiver, timeout_s=1.5))
    receiver.script = [500, (429, {"Retry-After": "120"}), HANG]
    receiver.hang_s = 3.0
    script()
    host.start_new("onboarding", IID, {"spec": spec(approval={"policy": "auto"}), "requested_by": "carol"})
    drive(host, clock, lambda: onboarding_over(host))
    # The run is over, with its own result, while its notification is still being retried.
    onboarding = host.get_status(IID, show_history=True)
    assert onboarding.output["outcome"] == "done"
    raised = [e for e in onboarding.history if e.get("EventType") == "TaskScheduled"
              and e.get("Name") == "raise_notification"]
    assert len(raised) == 1  # its whole cost: one quick activity
    (delivery,) = deliveries(host)
    assert delivery.runtime_status.value in ("Running", "Pending")

    drive(host, clock, lambda: all_delivered(host))
    final = host.get_status(delivery.instance_id, show_history=True)
    assert final.output["status"] == "failed" and final.output["attempts"] == MAX_ATTEMPTS
    timers = [e for e in final.history if e.get("EventType") == "TimerCreated"]
    created = [e["Timestamp"] for e in timers]
    fire_at = [e["FireAt"] for e in timers]
    # After the 429, the next attempt waits at least the Retry-After (120 s); after the 500, the backoff.
    waits = [(datetime.fromisoformat(f) - datetime.fromisoformat(c)).total_seconds()
             for c, f in zip(created, fire_at, strict=True)]
    assert waits[1] >= 120 and 20 <= waits[0] < 120
    assert len(receiver.received) == MAX_ATTEMPTS

    (failed,) = NotificationLog(shared_registry()).deliveries("failed")
    statuses = [a["http_status"] for a in failed.attempts]
    assert statuses[:2] == [500, 429] and statuses[2:] == [None] * (MAX_ATTEMPTS - 2)
    assert "no answer within 1.5 s" in (failed.last_error or "")

    # Visible where people look: the route, and the CLI.
    base = host._management.base_url
    # As someone holding a role (pushproxy.api.roles; one machine: the local roles file).
    roles_file = tmp_path / "roles.json"
    roles_file.write_text(json.dumps({"ops@provider.example": ["operator"]}), encoding="utf-8")
    monkeypatch.setenv("PUSHPROXY_ROLES_FILE", str(roles_file))
    who = {"X-MS-CLIENT-PRINCIPAL-NAME": "ops@provider.example"}
    listed = requests.get(f"{base}/api/notifications?status=failed", headers=who, timeout=10).json()
    assert [n["event_id"] for n in listed["notifications"]] == [failed.event_id]
    assert requests.get(f"{base}/api/notifications?status=lost", headers=who, timeout=10).status_code == 400

    from pushproxy.cli import main

    assert main(["notifications", "--status", "failed", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [n["event_id"] for n in shown["notifications"]] == [failed.event_id]


def test_a_receiver_that_comes_back_gets_the_event_and_a_teams_channel_its_card(
        host: LocalHost, clock: Clock, receiver: Receiver, configure: Any, tmp_path: Any,
        monkeypatch: Any) -> None:
    (tmp_path / "teams").mkdir()
    teams = Receiver(tmp_path / "teams")
    try:
        monkeypatch.setenv("PUSHPROXY_TEST_TEAMS_URL", teams.url)
        configure(channel(receiver), {"name": "teams", "kind": "teams", "url_ref": "env:PUSHPROXY_TEST_TEAMS_URL",
                                      "ca_bundle": str(teams.ca_path), "events": ["workflow.*"]})
        receiver.script = [503, 200]
        script(discover_exchange=[stub_exchange_in_place()])
        host.start_new("onboarding", IID, {"spec": spec(approval={"policy": "auto"}), "requested_by": "carol"})
        drive(host, clock, lambda: onboarding_over(host) and len(deliveries(host)) == 2 and all_delivered(host))
        first, second = checked(receiver)
        assert first["id"] == second["id"]  # the redelivery carries the same id: the receiver deduplicates on it
        (webhook,) = [d for d in NotificationLog(shared_registry()).deliveries("delivered") if d.channel == "ops"]
        assert [a["http_status"] for a in webhook.attempts] == [503, 200]
        (posted,) = teams.received
        assert signing.HEADER not in posted.headers  # a Workflows URL authorises itself
        card = json.loads(posted.body)["attachments"][0]["content"]
        assert card["type"] == "AdaptiveCard" and first["summary"] in json.dumps(card)
        assert {a["url"] for a in card["actions"]} == {f"{PUBLIC_URL}/api/onboardings/{IID}"}
    finally:
        teams.close()


def test_a_notifier_that_cannot_even_raise_the_event_fails_nothing(host: LocalHost, clock: Clock, configure: Any,
                                                                   monkeypatch: Any) -> None:
    """Settings broken after start (the raising activity itself fails): the onboarding still ends as it would."""
    configure()
    monkeypatch.setenv("PUSHPROXY_NOTIFICATION_CHANNELS", "[{")
    script()
    host.start_new("onboarding", IID, {"spec": spec(), "requested_by": "carol"})
    drive(host, clock, lambda: onboarding_over(host), approve=IID)
    status = host.get_status(IID, show_history=True)
    assert status.output["outcome"] == "done" and status.output["changed"] == ["enable_push_proxy"]
    refused = [e for e in status.history if e.get("EventType") == "TaskCompleted"
               and "PUSHPROXY_NOTIFICATION_CHANNELS: is not JSON" in str(e.get("Result"))]
    assert len(refused) == 2 and deliveries(host) == []  # approval.awaited and workflow.completed, both refused
