"""The registry contract: every backend (SQLite, Azure Tables on Azurite) behaves the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pushproxy.errors import SpecError
from pushproxy.registry import (
    Finding,
    OnboardingRecord,
    Registry,
    TenantRecord,
    VerificationRecord,
    VerificationSummary,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SPEC = {
    "tenant": "fabrikam.com",
    "exchange": {"url": "https://mail.fabrikam.com/PowerShell", "username": "admin", "password_ref": "keyvault:ex-pw"},
    "graph": {"mode": "secret", "client_id": "c1", "secret_ref": "env:GRAPH_SECRET"},
}


def tenant(domain: str = "fabrikam.com", **kw: object) -> TenantRecord:
    return TenantRecord(domain=domain, spec={**SPEC, "tenant": domain}, updated_at=T0, **kw)  # type: ignore[arg-type]


def test_a_fresh_registry_is_empty(registry: Registry) -> None:
    assert registry.list_tenants() == []
    assert registry.get_tenant("fabrikam.com") is None
    assert registry.latest_verification("fabrikam.com") is None
    assert registry.list_onboardings("fabrikam.com") == []
    assert registry.latest_verification_summary() is None


def test_tenant_round_trips_and_is_keyed_by_lower_case_domain(registry: Registry) -> None:
    record = tenant("Fabrikam.COM", onboarded_at=T0, last_onboarding_id="onboarding-fabrikam.com")
    registry.put_tenant(record)
    assert registry.get_tenant("FABRIKAM.com") == record
    assert registry.get_tenant("fabrikam.com").domain == "fabrikam.com"  # type: ignore[union-attr]
    assert registry.list_tenants() == [record]


def test_put_tenant_replaces(registry: Registry) -> None:
    registry.put_tenant(tenant())
    newer = tenant(onboarded_at=T0 + timedelta(days=1))
    registry.put_tenant(newer)
    assert registry.list_tenants() == [newer]


def test_tenants_are_listed_by_domain(registry: Registry) -> None:
    for domain in ("contoso.com", "adatum.com", "fabrikam.com"):
        registry.put_tenant(tenant(domain))
    assert [t.domain for t in registry.list_tenants()] == ["adatum.com", "contoso.com", "fabrikam.com"]


def test_delete_tenant_forgets_it_and_its_verification(registry: Registry) -> None:
    registry.put_tenant(tenant())
    registry.put_verification(VerificationRecord(domain="fabrikam.com", verified_at=T0, state="healthy"))
    registry.delete_tenant("fabrikam.com")
    registry.delete_tenant("fabrikam.com")  # absent is fine
    assert registry.get_tenant("fabrikam.com") is None
    assert registry.latest_verification("fabrikam.com") is None


def test_onboardings_are_kept_per_run_oldest_first(registry: Registry) -> None:
    first = OnboardingRecord(
        domain="fabrikam.com", instance_id="onboarding-fabrikam.com", started_at=T0, outcome="done",
        requested_by="alice@provider.com", finished_at=T0 + timedelta(hours=2),
        approvals=({"group": "on_premises", "decision": "approve", "approver": "bob@provider.com",
                    "time": T0.isoformat(), "state_hash": "abc"},),
        changes=({"kind": "enable_push_proxy", "group": "on_premises", "outcome": "done"},),
        probe={"server": "EX1", "succeeded": True},
    )
    second = OnboardingRecord(
        domain="fabrikam.com", instance_id="onboarding-fabrikam.com", started_at=T0 + timedelta(days=30),
        outcome="rejected", remediation=True,
    )
    registry.record_onboarding(second)
    registry.record_onboarding(first)
    registry.record_onboarding(first)  # a retried activity records the same run again: still one entry
    registry.record_onboarding(OnboardingRecord(domain="contoso.com", instance_id="x", started_at=T0, outcome="done"))
    assert registry.list_onboardings("Fabrikam.com") == [first, second]


def test_latest_verification_replaces_the_previous_one(registry: Registry) -> None:
    old = VerificationRecord(domain="fabrikam.com", verified_at=T0, state="healthy")
    new = VerificationRecord(
        domain="fabrikam.com", verified_at=T0 + timedelta(days=1), state="drifting",
        findings=(Finding("cert_expiring", "expires in 12 days", detail={"days_left": 12}),),
        verification_id="verification-1", remediation_id="onboarding-fabrikam.com",
        facts={"auth_certificate": {"not_after": "2026-11-14T00:00:00+00:00"}},
    )
    registry.put_verification(old)
    registry.put_verification(new)
    assert registry.latest_verification("fabrikam.com") == new
    registry.put_verification(VerificationRecord(domain="adatum.com", verified_at=T0, state="failing"))
    assert [v.domain for v in registry.list_verifications()] == ["adatum.com", "fabrikam.com"]


def test_verification_summary_round_trips(registry: Registry) -> None:
    summary = VerificationSummary("verification-1", T0, T0 + timedelta(minutes=3), 3, 1, 1, 1, ("fabrikam.com",))
    registry.put_verification_summary(summary)
    assert registry.latest_verification_summary() == summary


def test_large_documents_survive(registry: Registry) -> None:
    # Past Table storage's 64 KiB string property limit: the backend must split it, not fail.
    big = tenant()
    big = TenantRecord(domain=big.domain, spec={**big.spec, "notes": "x" * 100_000}, updated_at=T0)
    registry.put_tenant(big)
    assert registry.get_tenant("fabrikam.com") == big
    registry.put_tenant(tenant())  # shrinking again leaves no stale chunk behind
    assert registry.get_tenant("fabrikam.com") == tenant()


def test_malformed_domain_is_refused_before_storage(registry: Registry) -> None:
    with pytest.raises(SpecError) as err:
        registry.get_tenant("not a domain")
    assert err.value.field == "tenant"


def test_an_offboarded_tenant_round_trips_and_an_old_record_reads_as_not_offboarded(registry: Registry) -> None:
    marked = tenant(offboarded_at=T0, offboarded_by=("bob",), last_offboarding_id="offboarding-fabrikam.com")
    registry.put_tenant(marked)
    assert registry.get_tenant("fabrikam.com") == marked
    assert marked.is_offboarded
    old = {k: v for k, v in tenant().to_dict().items() if not k.startswith(("offboarded", "last_offboarding"))}
    assert not TenantRecord.from_dict(old).is_offboarded


def test_offboardings_are_kept_per_run_apart_from_onboardings(registry: Registry) -> None:
    run = OnboardingRecord("fabrikam.com", "offboarding-fabrikam.com", T0, "done", finished_at=T0)
    registry.record_offboarding(run)
    assert registry.list_offboardings("fabrikam.com") == [run]
    assert registry.list_onboardings("fabrikam.com") == []


def test_every_verification_run_is_kept_newest_first(registry: Registry) -> None:
    runs = [VerificationSummary(f"verification-{i}", T0 + timedelta(hours=i), None, 1, 1, 0, 0) for i in range(3)]
    for summary in runs:
        registry.put_verification_summary(summary)
    assert registry.list_verification_summaries() == list(reversed(runs))
    assert registry.list_verification_summaries(limit=1) == [runs[-1]]
    assert registry.latest_verification_summary() == runs[-1]
