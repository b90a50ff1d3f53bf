"""Approval: rejection, timeout (fake clock), a state that changed under an approval, who may approve."""

from __future__ import annotations

import uuid
from typing import Any

from pushproxy.onboarding import runner
from pushproxy.plan import metadata_url
from tests.e2e.conftest import DOMAIN, FakeClock, World, approver, count_ok
from tests.support.approvals import awaiting_event


def test_rejected_approval_changes_nothing(world: World) -> None:
    report = world.onboard(world.spec(approval={"policy": "required"}), decide=approver("carol", "reject"))

    assert report["outcome"] == "rejected"
    assert [(a["group"], a["decision"], a["approver"]) for a in report["approvals"]] == [("on_premises", "reject", "carol")]
    assert report["changes"] == []
    assert world.writes() == ([], [])


def test_rejecting_the_tenant_group_changes_nothing_on_premises_either(world: World) -> None:
    answers = iter(["approve", "reject"])

    def decide(status: dict[str, Any]) -> dict[str, Any]:
        return {"decision": next(answers), "approver": "carol"}

    report = world.onboard(world.spec(approval={"policy": "required"}), decide=decide)

    assert report["outcome"] == "rejected"
    assert world.writes() == ([], [])


def test_approval_timeout_on_a_fake_clock_changes_nothing(world: World) -> None:
    clock = FakeClock()
    host = world.host(clock=clock)
    spec = world.spec(approval={"policy": "required", "timeout_s": 72 * 3600})
    instance_id, _ = runner.start_or_resume(host, spec, requested_by="e2e")

    status = host.wait_for(instance_id, until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval")
    awaiting = status.custom_status["awaiting"]
    assert awaiting["group"] == "on_premises"
    clock.advance(hours=71)
    host.run_until_idle()
    assert host.get_status(instance_id).custom_status["phase"] == "awaiting_approval"
    clock.advance(hours=2)
    final = host.wait_for(instance_id, timeout=30)

    assert final.output["outcome"] == "timed_out"
    assert final.custom_status["phase"] == "timed_out"
    assert world.writes() == ([], [])


def test_state_changed_between_approval_and_apply_asks_again(world: World) -> None:
    asked: list[tuple[str, str]] = []
    acs = f"ACS - {uuid.uuid4()}"

    def decide(status: dict[str, Any]) -> dict[str, Any]:
        awaiting = status["awaiting"]
        asked.append((awaiting["group"], awaiting["plan_state_hash"]))
        if len(asked) == 2:
            # Someone creates the AuthServer by hand after the on-premises group was approved.
            org = world.org()
            org["auth_servers"] = [{"name": acs, "auth_metadata_url": metadata_url(DOMAIN), "enabled": True}]
            world.put_org(org)
        return {"decision": "approve", "approver": "dave", "group": awaiting["group"], "state_hash": awaiting["state_hash"]}

    report = world.onboard(world.spec(approval={"policy": "required"}), decide=decide)

    assert report["outcome"] == "done"
    assert [g for g, _ in asked] == ["on_premises", "tenant", "on_premises", "tenant"]
    assert asked[0][1] == asked[1][1] != asked[2][1] == asked[3][1]
    assert any("state changed" in n for n in report["notes"])
    assert "ensure_auth_server" not in [c["kind"] for c in report["plan"]]
    assert count_ok(world.exchange.journal(), "New-AuthServer") == 0
    assert [a["name"] for a in world.org()["auth_servers"]] == [acs]


def test_an_approval_for_another_state_or_from_a_stranger_is_ignored(world: World) -> None:
    spec = world.spec(approval={"policy": "required", "approvers": ["erin"]})
    host = world.host()
    instance_id, _ = runner.start_or_resume(host, spec, requested_by="e2e")
    status = host.wait_for(instance_id, until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval")
    state_hash = status.custom_status["awaiting"]["state_hash"]
    group = status.custom_status["awaiting"]["group"]

    host.raise_event(instance_id, awaiting_event(host, instance_id),
                     {"decision": "approve", "approver": "mallory", "group": group, "state_hash": state_hash})
    host.raise_event(instance_id, awaiting_event(host, instance_id),
                     {"decision": "approve", "approver": "erin", "group": group, "state_hash": "0" * 64})
    host.raise_event(instance_id, awaiting_event(host, instance_id), {"decision": "maybe", "approver": "erin"})
    status = host.wait_for(instance_id, until=lambda s: len((s.custom_status or {}).get("notes", [])) >= 3)
    assert status.custom_status["phase"] == "awaiting_approval" and status.custom_status["approvals"] == []
    assert world.writes() == ([], [])

    final = runner.drive(host, instance_id, decide=approver("erin"), timeout=60)
    assert final.output["outcome"] == "done"
    assert {a["approver"] for a in final.output["approvals"]} == {"erin"}


def test_running_onboard_again_resumes_the_unfinished_onboarding(world: World) -> None:
    spec = world.spec(approval={"policy": "required"})
    first = world.host()
    instance_id, resumed = runner.start_or_resume(first, spec, requested_by="e2e")
    assert not resumed
    first.wait_for(instance_id, until=lambda s: (s.custom_status or {}).get("phase") == "awaiting_approval")
    first.close()

    second = world.host()
    again, resumed = runner.start_or_resume(second, spec, requested_by="e2e")
    assert (again, resumed) == (instance_id, True)
    final = runner.drive(second, instance_id, decide=approver("frank"), timeout=60)
    assert final.output["outcome"] == "done"
    assert len(second.get_status_by(instance_id_prefix="onboarding-")) == 1
