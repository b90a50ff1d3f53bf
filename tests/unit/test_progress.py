"""The custom status shape (docs/interfaces.md). Approval events: tests/unit/test_approvals.py."""

from __future__ import annotations

from datetime import UTC, datetime

from pushproxy.onboarding.progress import Progress
from pushproxy.plan import Change, OnboardingPlan

HASH = "ab" * 32


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
