"""The approval event's validation and the custom status shape (docs/interfaces.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pushproxy.onboarding.progress import Progress, parse_approval
from pushproxy.plan import Change, OnboardingPlan

HASH = "ab" * 32


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("not json", "not JSON"),
        ([1], "not an object"),
        ({"decision": "maybe", "approver": "a"}, "approve or reject"),
        ({"decision": "approve"}, "no approver"),
        ({"decision": "approve", "approver": "  "}, "no approver"),
        ({"decision": "approve", "approver": "a", "state_hash": "cd" * 32}, "another state"),
    ],
)
def test_bad_approval_events_are_ignored_with_a_reason(data: object, why: str) -> None:
    decision, reason = parse_approval(data, HASH, ())
    assert decision is None and why in reason


def test_only_listed_approvers_count() -> None:
    assert parse_approval({"decision": "approve", "approver": "bob"}, HASH, ("alice",))[0] is None
    decision, _ = parse_approval({"decision": "reject", "approver": "alice", "comment": "no"}, HASH, ("alice",))
    assert decision == {"decision": "reject", "approver": "alice", "comment": "no"}


def test_event_as_json_text_and_matching_hash() -> None:
    text = json.dumps({"decision": "approve", "approver": "a", "state_hash": HASH})
    decision, _ = parse_approval(text, HASH, ())
    assert decision is not None and decision["decision"] == "approve"


def test_custom_status_has_the_contract_keys_and_no_certificate_bytes() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    progress = Progress(tenant="fabrikam.com", started_at=at)
    change = Change("create_auth_certificate", "on_premises", "Create", {"server": "EX1"})
    progress.set_plan(OnboardingPlan("fabrikam.com", HASH, (change,)))
    progress.approve("on_premises", "approve", "policy:auto", None, at, HASH)
    progress.complete_change(change, "created", {"certificate": {"thumbprint": "A" * 40, "der_b64": "MIIB"}})
    status = progress.status()
    assert {"phase", "tenant", "plan", "awaiting", "done", "approvals"} <= set(status)
    assert status["plan"][0]["kind"] == "create_auth_certificate"
    report = progress.report()
    assert report["changed"] == ["create_auth_certificate"]
    assert "der_b64" not in str(report) and "MIIB" not in str(status)
