"""pushproxy.approvals: an approval event counts only for the group and plan its approver was shown, never from
the requester, only from a listed approver, with names compared in canonical form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pushproxy.approvals import ApprovalRules, approval_hash, judge, open_wait, same_person

PLAN = "ab" * 32
AT = datetime(2026, 12, 1, 12, tzinfo=UTC)
WAIT = open_wait("on_premises", PLAN, AT, 1, AT + timedelta(hours=72))
RULES = ApprovalRules(requester="alice@provider.example", approvers=("Bob@Provider.example", "carol"))


def event(**fields: object) -> dict[str, object]:
    return {"decision": "approve", "approver": "bob@provider.example", "group": WAIT.group,
            "state_hash": WAIT.state_hash, **fields}


def test_an_event_for_the_group_and_wait_shown_is_accepted() -> None:
    verdict = judge(event(comment="looks right"), WAIT, RULES)
    assert verdict.decision is not None
    assert (verdict.decision.decision, verdict.decision.approver, verdict.decision.group) == (
        "approve", "bob@provider.example", "on_premises")
    assert judge(json.dumps(event(decision="reject")), WAIT, RULES).decision.decision == "reject"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ("not json", "not JSON"),
        ([1], "not an object"),
        (event(decision="maybe"), "approve or reject"),
        (event(group="tenant"), "not the on_premises group"),
        (event(group=None), "no group"),
        (event(state_hash=None), "no state_hash"),
        (event(state_hash=PLAN), "another plan or wait"),  # the plan's own hash is not this wait's
        (event(approver=None), "approver: must be a string"),
        (event(approver="  "), "approver: must not be empty"),
        (event(approver="bob@provider.example\u200b"), "U+200B"),
        (event(approver="\u202ebob"), "U+202E"),
        (event(approver="alice@provider.example"), "self-approval"),
        (event(approver="ALICE@PROVIDER.EXAMPLE"), "self-approval"),
        (event(approver="\uff41lice@provider.example"), "self-approval"),  # full-width a: NFKC makes it alice
        (event(approver="mallory"), "not one of this tenant's approvers"),
    ],
)
def test_anything_else_is_ignored_with_a_reason(data: object, why: str) -> None:
    verdict = judge(data, WAIT, RULES)
    assert verdict.decision is None and why in verdict.reason, verdict.reason


def test_listed_approvers_compare_in_canonical_form() -> None:
    assert judge(event(approver="BOB@provider.EXAMPLE"), WAIT, RULES).decision is not None
    assert judge(event(approver="Carol"), WAIT, RULES).decision is not None


def test_without_a_list_anyone_but_the_requester_may_decide() -> None:
    rules = ApprovalRules(requester="alice")
    assert judge(event(approver="mallory"), WAIT, rules).decision is not None
    assert judge(event(approver="Alice"), WAIT, rules).decision is None


def test_each_wait_has_its_own_hash() -> None:
    """The next group's wait, a later round or the same group re-opened later: no hash shown before carries over."""
    hashes = {
        approval_hash(PLAN, "on_premises", 1, AT),
        approval_hash(PLAN, "tenant", 1, AT),
        approval_hash(PLAN, "on_premises", 2, AT),
        approval_hash(PLAN, "on_premises", 1, AT + timedelta(microseconds=1)),
        approval_hash("cd" * 32, "on_premises", 1, AT),
    }
    assert len(hashes) == 5
    tenant_wait = open_wait("tenant", PLAN, AT + timedelta(seconds=1), 1, AT + timedelta(hours=72))
    # An event shown the on-premises wait, or aimed at the tenant group before its wait began, is ignored there.
    assert judge(event(), tenant_wait, RULES).decision is None
    assert judge(event(group="tenant"), tenant_wait, RULES).decision is None


def test_same_person() -> None:
    assert same_person("Alice", "alice") and same_person("\uff21lice", "alice")
    assert not same_person("alice\u200b", "alice") and not same_person(None, None)


def test_notes_and_approvers_with_markup_print_as_text() -> None:
    """An ignored event's note quotes the name it carried: `pushproxy status` prints it, never parses it."""
    import io

    from rich.console import Console

    from pushproxy.onboarding import render

    out = io.StringIO()
    note = judge(event(approver="bob[/]"), WAIT, RULES).reason
    render.print_status(Console(file=out, width=200), "onboarding-fabrikam.com", "Running",
                        {"phase": "awaiting_approval", "notes": [f"ignored an approval event: {note}"],
                         "approvals": [{"decision": "approve", "group": "tenant", "approver": "[bold]x[/]", "time": "t"}]})
    assert "'bob[/]'" in out.getvalue() and "[bold]x[/]" in out.getvalue()
