"""Only a run that ended done touches the tenant's record, and no run ever changes its registration (the spec,
the approvers, the policies): a rejected run whose input named other approvers leaves everything as it was."""

from __future__ import annotations

from typing import Any

from pushproxy.onboarding import runner
from pushproxy.registry import open_registry
from pushproxy.spec import TenantSpec
from tests.e2e.conftest import DOMAIN, World


def decide(decision: str, approver: str) -> Any:
    def answer(status: dict[str, Any]) -> dict[str, Any]:
        return {"decision": decision, "approver": approver, "comment": None, "state_hash": status["awaiting"]["state_hash"]}
    return answer


def record() -> Any:
    registry = open_registry()
    try:
        return registry.get_tenant(DOMAIN)
    finally:
        registry.close()


def test_a_rejected_run_with_other_approvers_changes_nothing_and_a_done_run_only_its_outcome(world: World) -> None:
    registered = world.spec(approval={"policy": "required", "approvers": ["bob@fabrikam.com"]})
    runner.register_locally(registered, "olivia@fabrikam.com")
    before = record()
    assert before.spec == registered.to_dict() and before.onboarded_at is None

    # A run whose input names mallory as the only approver (as a requester's spec once could; the Durable webhook
    # still takes any input): it is not the registration, so no secret is presented and it fails, changing nothing.
    asked = TenantSpec.from_dict(world.spec_dict(approval={"policy": "auto", "approvers": ["mallory@fabrikam.com"]}))
    host = world.host()
    host.start_new("onboarding", registered.instance_id,
                   {"spec": asked.to_dict(), "requested_by": "mallory@fabrikam.com", "remediation": False})
    final = runner.drive(host, registered.instance_id, timeout=90)
    assert final.output["outcome"] == "failed" and "not fabrikam.com's registration" in final.output["error"]
    assert world.writes() == ([], [])
    assert world.exchange.journal() == [] and world.graph.journal() == []
    after = record()
    assert after.spec == before.spec  # the approvers are still bob's
    assert (after.onboarded_at, after.last_onboarding_id, after.registered_by) == (None, None, "olivia@fabrikam.com")

    # The registered run, rejected by bob: nothing changes but its own run record.
    host.start_new("onboarding", registered.instance_id,
                   {"spec": registered.to_dict(), "requested_by": "alice@fabrikam.com", "remediation": False})
    final = runner.drive(host, registered.instance_id, decide=decide("reject", "bob@fabrikam.com"), timeout=90)
    assert final.output["outcome"] == "rejected", final.output
    assert record() == after

    # An approved run that ends done records its outcome, and still not its input's spec.
    instance_id, _ = runner.start_or_resume(host, registered, requested_by="alice@fabrikam.com")
    final = runner.drive(host, instance_id, decide=decide("approve", "bob@fabrikam.com"), timeout=90)
    assert final.output["outcome"] == "done", final.output
    done = record()
    assert done.onboarded_at is not None and done.last_onboarding_id == instance_id
    assert done.spec == registered.to_dict()
