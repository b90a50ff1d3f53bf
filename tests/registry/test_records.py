"""Registry records: plain-JSON round trips, and no secret ever stored in a spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pushproxy.errors import SpecError
from pushproxy.registry import Finding, OnboardingRecord, TenantRecord, VerificationRecord, VerificationSummary

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "record",
    [
        TenantRecord("fabrikam.com", {"exchange": {"password_ref": "env:X"}}, onboarded_at=T0, updated_at=T0),
        OnboardingRecord("fabrikam.com", "onboarding-fabrikam.com", T0, "done", approvals=({"approver": "b"},)),
        VerificationRecord("fabrikam.com", T0, "drifting", (Finding("proxy_disabled", "off"),)),
        VerificationSummary("v1", T0, None, 1, 0, 1, 0),
    ],
)
def test_records_round_trip_through_plain_json(record: object) -> None:
    data = json.loads(json.dumps(record.to_dict()))  # type: ignore[attr-defined]
    assert type(record).from_dict(data) == record  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", ["password", "client_secret", "secret", "private_key"])
def test_a_spec_holding_a_secret_value_is_refused(key: str) -> None:
    with pytest.raises(SpecError) as err:
        TenantRecord("fabrikam.com", {"graph": {key: "hunter2"}})
    assert err.value.field == f"spec.graph.{key}"
    assert "hunter2" not in str(err.value)


def test_secret_references_are_fine() -> None:
    TenantRecord("fabrikam.com", {"graph": {"secret_ref": "keyvault:g", "client_secret": "env:G"}})


@pytest.mark.parametrize("domain", ["", "fabrikam", "-bad.com", "a b.com", "fab;rikam.com", "x" * 64 + ".com"])
def test_malformed_domains_are_refused(domain: str) -> None:
    with pytest.raises(SpecError):
        TenantRecord(domain, {})


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(SpecError) as err:
        VerificationRecord.from_dict({"domain": "fabrikam.com", "verified_at": "2026-11-01T12:00:00", "state": "healthy"})
    assert err.value.field == "verified_at"


def test_unknown_state_is_refused() -> None:
    with pytest.raises(SpecError) as err:
        VerificationRecord("fabrikam.com", T0, "fine")
    assert err.value.field == "state"
