"""Approvals inside the onboarding workflow (stub activities, fake clock): an event counts only for the group and
the wait it was shown, two approvals of one group count once, a buffered early event never counts for a later
group, and self-approval is refused by the workflow itself, whichever door raised the event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pushproxy.local import LocalHost
from pushproxy.outcome import ok
from tests.orchestrators import stub_app
from tests.orchestrators.test_onboarding_decisions import PROXY_OFF, Clock, calls, script, spec
from tests.support.approvals import awaiting_event
from tests.unit.test_plan import exchange, tenant

IID = "onboarding-fabrikam.com"


@pytest.fixture(scope="module")
def app() -> Any:
    return stub_app.build_stub_app()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def host(app: Any, clock: Clock, tmp_path: Path) -> Iterator[LocalHost]:
    stub_app.SCRIPT.clear()
    stub_app.CALLS.clear()
    h = LocalHost(app, database=tmp_path / "local.sqlite", clock=clock)
    yield h
    h.close()


def two_groups() -> None:
    """On premises: enable the proxy; the tenant: upload the key. Each group needs its own approval."""
    script(
        discover_exchange=[ok(exchange(proxy=PROXY_OFF), "none")],
        discover_tenant=[ok(tenant(keys=()), "none")],
        upload_tenant_key=[ok({"action": "added"}, "added")],
    )


def start(host: LocalHost, requested_by: str = "alice", **sections: Any) -> dict[str, Any]:
    # The requester is on the list too: self-approval is refused even then.
    sections.setdefault("approval", {"approvers": ["alice", "bob", "carol", "mallory"]})
    host.start_new("onboarding", IID, {"spec": spec(**sections), "requested_by": requested_by})
    host.run_until_idle()
    return custom(host)


def custom(host: LocalHost) -> dict[str, Any]:
    status = host.get_status(IID, show_history=False)
    return dict(status.custom_status or {})


def finish(host: LocalHost, clock: Clock) -> Any:
    """Run to the end, letting timers fire by moving the fake clock."""
    for _ in range(200):
        host.run_until_idle()
        status = host.get_status(IID, show_history=False)
        if status.runtime_status.value not in ("Pending", "Running"):
            return host.get_status(IID)
        due = host.next_due()
        assert due is not None, status.custom_status
        clock.t = max(clock.t, due) + timedelta(milliseconds=1)
    raise AssertionError("did not end")


def decision(awaiting: dict[str, Any], approver: str, **fields: Any) -> dict[str, Any]:
    return {"decision": "approve", "approver": approver, "group": awaiting["group"],
            "state_hash": awaiting["state_hash"], **fields}


def test_two_simultaneous_approvals_of_one_group_count_once_and_never_for_the_next(host: LocalHost) -> None:
    two_groups()
    shown = start(host)["awaiting"]
    assert shown["group"] == "on_premises"
    # Two approvers who both saw the on-premises group approve before the workflow runs again.
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "bob"))
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "carol"))
    host.run_until_idle()
    now = custom(host)
    assert now["phase"] == "awaiting_approval" and now["awaiting"]["group"] == "tenant"
    assert [(a["group"], a["approver"]) for a in now["approvals"]] == [("on_premises", "bob")]
    # The second one was raised under the on-premises wait's own event name: no later wait listens for it, so it
    # can't count for the tenant group (nor, through the SDK's deferred events, be handed to every later wait).
    assert now["awaiting"]["event"] != shown["event"]
    assert calls("upload_tenant_key") == []


def test_an_early_event_for_the_next_group_is_not_buffered_for_it(host: LocalHost, clock: Clock) -> None:
    two_groups()
    shown = start(host)["awaiting"]
    # Raised while the on-premises group is awaited, for the tenant group, with the only hash anyone was shown:
    # both orders, before and after the on-premises approval, while neither has been consumed yet.
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "mallory", group="tenant"))
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "bob"))
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "mallory", group="tenant"))
    host.run_until_idle()
    now = custom(host)
    assert now["awaiting"]["group"] == "tenant"
    assert [a["approver"] for a in now["approvals"]] == ["bob"]
    assert calls("upload_tenant_key") == [] and calls("enable_push_proxy") == []
    # The tenant's wait shows a hash of its own; only a decision for it counts.
    assert now["awaiting"]["state_hash"] != shown["state_hash"]
    assert now["awaiting"]["plan_state_hash"] == shown["plan_state_hash"]
    host.raise_event(IID, awaiting_event(host, IID), decision(now["awaiting"], "carol"))
    final = finish(host, clock)
    assert final.output["outcome"] == "done"
    assert [(a["group"], a["approver"]) for a in final.output["approvals"]] == [("on_premises", "bob"), ("tenant", "carol")]


@pytest.mark.parametrize("name", ["alice", "ALICE", "\uff41lice", " alice "])
def test_the_workflow_refuses_self_approval_whoever_raised_the_event(host: LocalHost, name: str) -> None:
    two_groups()
    shown = start(host, requested_by="Alice")["awaiting"]
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, name))
    host.run_until_idle()
    now = custom(host)
    assert now["phase"] == "awaiting_approval" and now["awaiting"] == shown and now["approvals"] == []
    assert any("self-approval" in n for n in now["notes"]), now["notes"]


def test_invisible_characters_and_strangers_are_refused_by_the_workflow(host: LocalHost) -> None:
    two_groups()
    shown = start(host, approval={"approvers": ["bob"]})["awaiting"]
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "bob\u200b"))
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "b\u202eob"))
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "mallory"))
    host.run_until_idle()
    now = custom(host)
    assert now["approvals"] == [] and now["awaiting"] == shown
    notes = " | ".join(now["notes"])
    assert "U+200B" in notes and "U+202E" in notes and "not one of this tenant's approvers" in notes
    host.raise_event(IID, awaiting_event(host, IID), decision(shown, "BOB"))
    host.run_until_idle()
    assert [a["approver"] for a in custom(host)["approvals"]] == ["bob"]
