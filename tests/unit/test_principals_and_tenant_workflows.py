"""Canonical principal names, and one workflow per tenant at a time."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pushproxy.principals import PrincipalError, canonical_principal, same_principal
from pushproxy.tenant_workflows import blocking, instance_ids


@pytest.mark.parametrize("a,b", [("Alice", "alice"), ("ＡＬＩＣＥ", "alice"), ("  bob@Fabrikam.com ", "BOB@fabrikam.com")])
def test_the_same_person_however_written(a: str, b: str) -> None:
    assert same_principal(a, b)


@pytest.mark.parametrize("name", ["alice\u200b", "ali\u202ece", "al\u2028ice", "a\x00", "a\u00ad", "", "   ", 3, None, "x" * 257])
def test_invisible_control_and_malformed_names_are_refused(name: Any) -> None:
    with pytest.raises(PrincipalError) as caught:
        canonical_principal(name, "approver")
    assert str(caught.value).startswith("approver: ")


def test_a_tenant_runs_one_workflow_at_a_time() -> None:
    # `blocking` over a status lookup; start_exclusive is exercised through the HTTP API and the CLI with the real
    # Durable client, not a fake of it.
    running = {"rotation-fabrikam.com"}

    def status(instance_id: str) -> Any:
        return SimpleNamespace(runtime_status=SimpleNamespace(value="Running")) if instance_id in running else None

    assert blocking(status, "Fabrikam.com") == "rotation-fabrikam.com"
    assert blocking(status, "contoso.com") is None
    assert instance_ids("X.com") == ["onboarding-x.com", "rotation-x.com", "offboarding-x.com", "prune-x.com"]
