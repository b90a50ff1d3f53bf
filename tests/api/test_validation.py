"""Request validation and response shapes of the HTTP API, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from pushproxy.api import validation, views
from pushproxy.api.errors import ApiError
from pushproxy.registry import Finding, TenantRecord, VerificationRecord

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def field_of(call: object) -> str:
    with pytest.raises(ApiError) as err:
        call()  # type: ignore[operator]
    assert err.value.status == 400
    return str(err.value.extra["field"])


def test_the_principal_header_is_the_approver_whatever_the_body_says() -> None:
    request = validation.approval(b'{"decision": "approve", "approver": "alice"}', "bob@provider.example")
    assert (request.decision, request.approver) == ("approve", "bob@provider.example")


def test_without_a_principal_the_body_names_the_approver() -> None:
    assert validation.approval(b'{"decision": "reject", "approver": " carol "}', None).approver == "carol"


def test_an_approval_needs_an_approver() -> None:
    assert field_of(lambda: validation.approval(b'{"decision": "approve"}', None)) == "approver"


def test_requested_by_prefers_the_principal() -> None:
    assert validation.requested_by({"requested_by": "eve"}, "alice") == "alice"
    assert validation.requested_by({"requested_by": "eve"}, None) == "eve"
    assert validation.requested_by({}, None) is None


@pytest.mark.parametrize("char", list("`$;|&<>'\"") + ["\n", "\x00", "\x7f"])
def test_every_metacharacter_is_named(char: str) -> None:
    body = json.dumps({"exchange": {"servers": ["ok", f"ex{char}1"]}}).encode()
    assert field_of(lambda: validation.parse_json_object(body)) == "exchange.servers[1]"


def test_metacharacters_in_keys_are_refused_too() -> None:
    assert field_of(lambda: validation.parse_json_object(b'{"a$b": 1}')) == "a$b"


def test_urls_addresses_and_paths_are_fine() -> None:
    body = {"url": "https://mail.fabrikam.com/PowerShell?x=1", "username": "FABRIKAM\\admin", "who": "a@b.example",
            "template": "https://{server}:5986/wsman", "path": "/etc/ssl/ca (copy).pem"}
    assert validation.parse_json_object(json.dumps(body).encode()) == body


def test_a_huge_body_is_refused() -> None:
    assert field_of(lambda: validation.parse_json_object(b" " * 10 + b"{" + b'"a": 1,' * 20_000 + b'"b": 2}')) == "body"


def test_a_tenant_domain_from_the_route_is_lower_cased() -> None:
    assert validation.tenant_domain("Fabrikam.COM") == "fabrikam.com"


def test_the_onboarding_body_may_omit_the_tenant_named_by_the_route() -> None:
    body = {
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "exchange": {"url": "https://mail.fabrikam.com/PowerShell", "auth": "ntlm", "username": "admin",
                     "password_ref": "env:X"},
        "graph": {"mode": "workload_identity", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
        "requested_by": "alice",
    }
    request = validation.onboarding("Fabrikam.com", json.dumps(body).encode(), None)
    assert request.spec["tenant_domain"] == "fabrikam.com"
    assert request.requested_by == "alice"
    assert "requested_by" not in request.spec


def test_verification_request_defaults_to_the_whole_fleet() -> None:
    assert validation.verification_request(b"") is None
    assert validation.verification_request(b"{}") is None
    assert validation.verification_request(b'{"tenants": ["B.example", "a.example", "b.example"]}') == ["a.example", "b.example"]
    assert field_of(lambda: validation.verification_request(b'{"tenants": null}')) == "tenants"
    assert field_of(lambda: validation.verification_request(b'{"tenants": [1]}')) == "tenants[0]"


def test_onboarding_view_reads_custom_status_and_input_as_json_text_or_objects() -> None:
    status = SimpleNamespace(
        instance_id="onboarding-fabrikam.com", runtime_status=SimpleNamespace(value="Running"),
        custom_status=json.dumps({"phase": "awaiting_approval", "tenant": "fabrikam.com", "plan": [{"kind": "x"}],
                                  "awaiting": {"group": "tenant", "state_hash": "h"}, "approvals": [], "done": []}),
        input_={"spec": {"tenant_domain": "fabrikam.com"}, "requested_by": "alice", "remediation": True},
        output=None, created_time=T0, last_updated_time=T0,
    )
    view = views.onboarding_view(status)
    assert (view["phase"], view["requested_by"], view["remediation"]) == ("awaiting_approval", "alice", True)
    assert view["awaiting"]["group"] == "tenant"
    assert view["created"] == T0.isoformat()


def test_fleet_view_marks_tenants_never_verified() -> None:
    tenants = [TenantRecord("a.example", {}, updated_at=T0), TenantRecord("b.example", {}, updated_at=T0)]
    checked = VerificationRecord("b.example", T0, "drifting", (Finding("cert_expiring", "expires in 3 days"),))
    rows = views.fleet_view(tenants, [checked], None)["tenants"]
    assert [(r["tenant"], r["state"], r["reasons"]) for r in rows] == [
        ("a.example", "unverified", []), ("b.example", "drifting", ["expires in 3 days"])]


def test_state_hash_is_hexadecimal() -> None:
    assert validation.approval(b'{"decision": "approve", "state_hash": "ABCDEF0123456789"}', "bob").state_hash
    assert field_of(lambda: validation.approval(b'{"decision": "approve", "state_hash": "xyz"}', "bob")) == "state_hash"
