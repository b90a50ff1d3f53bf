"""The pure core: signatures, the retry policy, channel settings, the Teams card, what a verification calls news."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pushproxy.notifications import signing
from pushproxy.notifications.channels import ChannelError, parse_channels
from pushproxy.notifications.delivery import MAX_ATTEMPTS, next_delay, parse_retry_after
from pushproxy.notifications.events import EVENT_TYPES, approval_awaited, scrub, workflow_ended
from pushproxy.notifications.fleet_events import NoticeState, tenant_events
from pushproxy.notifications.teams import CARD_VERSION, teams_message

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)

# ----------------------------------------------------------------------------------------------- signatures


def test_a_signed_body_verifies_and_any_change_or_age_is_refused() -> None:
    body = b'{"id":"x"}'
    header = signing.signature_header("k3y", 1_764_633_600, body)
    assert signing.verify("k3y", header, body, now=1_764_633_600 + 10) == 1_764_633_600
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("k3y", header, b'{"id":"y"}', now=1_764_633_600)
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("other", header, body, now=1_764_633_600)
    with pytest.raises(signing.SignatureError, match="outside the 300 s window"):
        signing.verify("k3y", header, body, now=1_764_633_600 + 301)
    with pytest.raises(signing.SignatureError, match="no X-PushProxy-Signature"):
        signing.verify("k3y", None, body, now=1_764_633_600)
    # The timestamp is signed: moving it invalidates the signature.
    moved = header.replace("t=1764633600", "t=1764633700")
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.verify("k3y", moved, body, now=1_764_633_700)


# ----------------------------------------------------------------------------------------------- retry policy


def test_backoff_doubles_honours_retry_after_and_ends() -> None:
    delays = [next_delay(n, None, "d") for n in range(1, MAX_ATTEMPTS)]
    assert all(d is not None for d in delays)
    assert 24 <= delays[0] <= 36 and delays[1] > delays[0]  # type: ignore[operator]
    assert next_delay(MAX_ATTEMPTS, None, "d") is None
    assert next_delay(1, 600, "d") == 600  # Retry-After beyond the backoff wins
    assert next_delay(1, 10 ** 9, "d") == 6 * 3600  # but a receiver can't park a delivery for ever
    assert next_delay(3, 1, "d") == next_delay(3, None, "d")  # nor make us hammer it


def test_retry_after_is_seconds_or_an_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after("Tue, 01 Dec 2026 06:02:00 GMT", NOW) == 120
    assert parse_retry_after(None, NOW) is None and parse_retry_after("soon", NOW) is None


# ----------------------------------------------------------------------------------------------- channels


def channels(*items: dict[str, Any]) -> Any:
    return parse_channels(json.dumps(list(items)))


HOOK = {"name": "ops", "kind": "webhook", "url": "https://hooks.example.com/x", "secret_ref": "env:HOOK_KEY"}


def test_a_channel_reads_with_its_filters() -> None:
    (ops, teams) = channels({**HOOK, "events": ["workflow.*", "approval.awaited"], "tenants": ["Fabrikam.com"]},
                            {"name": "teams", "kind": "teams", "url_ref": "keyvault:teams-url"})
    assert ops.wants("workflow.failed", "fabrikam.com") and ops.wants("approval.awaited", "FABRIKAM.COM")
    assert not ops.wants("drift.found", "fabrikam.com") and not ops.wants("workflow.failed", "contoso.com")
    assert ops.wants("workflow.completed", None)  # a fleet event has no tenant to filter on
    assert all(teams.wants(t, "contoso.com") for t in EVENT_TYPES)
    assert "url" not in json.dumps(teams.describe())


@pytest.mark.parametrize(("item", "field", "reason"), [
    ({**HOOK, "url": "http://hooks.example.com/x"}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].url", "must be an https URL"),
    ({**HOOK, "url": "hooks.example.com/x"}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].url", "must be an https URL"),
    ({**HOOK, "secret_ref": "hunter2"}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].secret_ref", "secret reference"),
    ({k: v for k, v in HOOK.items() if k != "secret_ref"}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].secret_ref",
     "required"),
    ({**HOOK, "events": ["drift.lost"]}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].events[0]", "matches no event type"),
    ({**HOOK, "colour": "red"}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].colour", "unknown field"),
    ({**HOOK, "name": "Ops Team"}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].name", "lower-case"),
    ({"name": "t", "kind": "teams", "url": "https://prod.logic.azure.com/workflows/1?sig=abc"},
     "PUSHPROXY_NOTIFICATION_CHANNELS[0].url", "url_ref"),
    ({**HOOK, "timeout_s": 600}, "PUSHPROXY_NOTIFICATION_CHANNELS[0].timeout_s", "at most 60"),
])
def test_a_bad_channel_is_refused_naming_the_field(item: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(ChannelError) as caught:
        channels(item)
    assert caught.value.field == field and reason in caught.value.reason
    assert "hunter2" not in str(caught.value) and "sig=abc" not in str(caught.value)


def test_two_channels_of_one_name_and_text_that_is_not_json_are_refused() -> None:
    with pytest.raises(ChannelError, match=r"\[1\]\.name"):
        channels(HOOK, HOOK)
    with pytest.raises(ChannelError, match="is not JSON"):
        parse_channels("[{")


def test_a_non_https_channel_stops_the_app_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from app_factory import build_app

    monkeypatch.setenv("PUSHPROXY_NOTIFICATION_CHANNELS", json.dumps([{**HOOK, "url": "http://hooks.example.com"}]))
    with pytest.raises(ChannelError, match=r"PUSHPROXY_NOTIFICATION_CHANNELS\[0\]\.url: must be an https URL"):
        build_app()
    from pushproxy.cli import main

    assert main(["notifications"]) == 2  # the CLI: bad input, one line naming the field


# ----------------------------------------------------------------------------------------------- the Teams card


def _elements(card: dict[str, Any]) -> list[dict[str, Any]]:
    return list(card["body"]) + list(card.get("actions") or [])


@pytest.mark.parametrize("linked", [True, False])
def test_the_teams_card_has_what_the_adaptive_card_schema_requires(linked: bool) -> None:
    event = approval_awaited(workflow="onboarding", instance_id="onboarding-fabrikam.com", run_started_at=NOW,
                             tenant="fabrikam.com", group="on_premises",
                             changes=[{"kind": "enable_push_proxy", "summary": "Enable the push proxy"}],
                             state_hash="abc", deadline=NOW, occurred_at=NOW)
    event = event.with_base_url("https://pushproxy.example.com" if linked else None)
    message = teams_message(event.to_dict())
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    # Adaptive Card 1.4 (adaptivecards.io/schemas/1.4.0/adaptive-card.json): AdaptiveCard requires type and version;
    # Teams shows nothing without a body; TextBlock requires text, FactSet facts (title, value), OpenUrl url.
    assert card["type"] == "AdaptiveCard" and card["version"] == CARD_VERSION == "1.4"
    assert isinstance(card["body"], list) and card["body"]
    for element in _elements(card):
        kind = element["type"]
        assert kind in ("TextBlock", "FactSet", "Action.OpenUrl"), kind
        if kind == "TextBlock":
            assert isinstance(element["text"], str) and element["text"]
        if kind == "FactSet":
            assert element["facts"] and all(set(f) == {"title", "value"} and all(isinstance(v, str) for v in f.values())
                                            for f in element["facts"])
        if kind == "Action.OpenUrl":
            assert element["url"].startswith("https://") and element["title"]
    actions = {a["title"]: a["url"] for a in card.get("actions", [])}
    if linked:
        # A person opens the console's page of the workflow (a GET); the approval route itself takes only a POST.
        assert actions["Approve or reject"] == "https://pushproxy.example.com/api/console/workflows/onboarding-fabrikam.com"
    else:
        assert not actions and any("Status: /api/onboardings/" in e.get("text", "") for e in card["body"])
    json.dumps(message)  # plain JSON


# ----------------------------------------------------------------------------------------------- news


def record(days_left: float | None = None, *, staged: bool = False, findings: list[dict[str, Any]] | None = None,
           ) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if days_left is not None:
        facts["auth_certificate"] = {"thumbprint": "AB" * 20, "not_after": "2027-01-01T00:00:00+00:00",
                                     "days_left": days_left}
    if staged:
        facts["next_certificate"] = {"thumbprint": "CD" * 20, "effective": None}
    return {"domain": "fabrikam.com", "state": "drifting", "findings": findings or [], "facts": facts}


def expiry_told(days: list[float], staged: bool = False) -> list[int]:
    state, told = NoticeState(), []
    for d in days:
        raised, state = tenant_events(record(d, staged=staged), state, verification_id="v", occurred_at=NOW.isoformat())
        told += [e.data["threshold"] for e in raised if e.type == "certificate.expiring"]
    return told


def test_expiry_is_told_at_60_30_14_7_and_1_days_once_each() -> None:
    daily = [float(d) for d in range(75, 0, -1)]
    assert expiry_told(daily) == [60, 30, 14, 7, 1]
    assert expiry_told([25.0, 24.0, 13.0]) == [30, 14]  # first seen inside 30: the nearest threshold only
    assert expiry_told(daily, staged=True) == []  # a renewal is staged: no warning


def test_a_removed_key_is_told_once_and_not_as_drift() -> None:
    removed = {"kind": "key_removed", "severity": "failure", "message": "the key of AB.. was removed",
               "detail": {"thumbprint": "AB" * 20, "onboarding_id": "onboarding-fabrikam.com"}}
    first, state = tenant_events(record(findings=[removed]), NoticeState(), verification_id="v", occurred_at="t1")
    again, _ = tenant_events(record(findings=[removed]), state, verification_id="v", occurred_at="t2")
    assert [e.type for e in first] == ["key.removed"] and again == []


def test_a_workflow_that_did_not_complete_says_why() -> None:
    report = {"tenant": "fabrikam.com", "outcome": "timed_out", "started_at": NOW.isoformat(), "changed": [],
              "approvals": [], "error": None}
    event = workflow_ended(workflow="onboarding", instance_id="onboarding-fabrikam.com", report=report,
                           occurred_at=NOW)
    assert event.type == "workflow.failed" and "timed out" in event.summary
    assert event.data["error"] == "nobody decided before the approval deadline"


def test_scrub_keeps_thumbprints_and_domains_and_blanks_material() -> None:
    assert scrub("thumbprint " + "AB" * 20) == "thumbprint " + "AB" * 20
    assert scrub("contoso-hybrid-exchange-organisation-test.com") == "contoso-hybrid-exchange-organisation-test.com"
    assert scrub("secret env:EXCHANGE_PASSWORD failed") == "secret [secret reference] failed"
    assert "MIIB" not in scrub("-----BEGIN CERTIFICATE-----\nMIIBaaaa\n-----END CERTIFICATE-----")
    assert scrub("key " + "A" * 44) == "key [redacted]"  # base64 of zeros has no digit: still material
    assert scrub("secret 8Qx~" + "aB3dE5fG7h" * 4) == "secret 8Qx~[redacted]"


def test_openapi_documents_the_event_schema_as_the_code_has_it() -> None:
    from pathlib import Path

    from pushproxy.notifications.events import EVENT_SCHEMA

    document = json.loads((Path(__file__).resolve().parents[2] / "openapi.json").read_text())
    component = document["components"]["schemas"]["NotificationEvent"]
    assert component["required"] == EVENT_SCHEMA["required"]
    assert set(component["properties"]) == set(EVENT_SCHEMA["properties"])
    assert component["properties"]["type"]["enum"] == list(EVENT_TYPES)
    assert component["properties"]["schema"]["enum"] == [EVENT_SCHEMA["properties"]["schema"]["const"]]
    assert "/notifications" in document["paths"]
