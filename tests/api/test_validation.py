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


def test_the_principal_is_the_approver_and_the_body_cannot_name_another() -> None:
    request = validation.approval(b'{"decision": "approve"}', "Bob@Provider.example")
    assert (request.decision, request.approver) == ("approve", "bob@provider.example")
    assert validation.approval(b'{"decision": "approve", "approver": "BOB@provider.example"}', "bob@provider.example")
    assert field_of(lambda: validation.approval(b'{"decision": "approve", "approver": "alice"}', "bob")) == "approver"


def test_an_approval_needs_an_authenticated_principal() -> None:
    with pytest.raises(ApiError) as err:
        validation.approval(b'{"decision": "approve", "approver": "carol"}', None)
    assert err.value.status == 403


def test_a_comment_may_hold_a_semicolon_and_line_breaks_but_no_bidi_control() -> None:
    body = json.dumps({"decision": "reject", "comment": "wrong server; try EXCH02\nthanks"}).encode()
    assert validation.approval(body, "bob").comment == "wrong server; try EXCH02\nthanks"
    assert validation.onboarding(json.dumps({"comment": "renewal; ticket #42"}).encode()).comment == "renewal; ticket #42"
    assert field_of(lambda: validation.onboarding(json.dumps({"comment": "ok\u202eevil"}).encode())) == "comment"


def test_an_onboarding_request_carries_only_a_comment() -> None:
    for key in ("spec", "exchange", "graph", "approval", "remediation", "requested_by", "tenant_domain"):
        assert field_of(lambda key=key: validation.onboarding(json.dumps({key: {}}).encode())) == key
    assert validation.onboarding(b"").comment is None


@pytest.mark.parametrize("body", [b'{"a": {"b": NaN}}', b'{"a": {"b": Infinity}}', b'{"a": {"b": -Infinity}}',
                                  b'{"a": {"b": 1e999}}'])
def test_nan_and_infinity_are_refused_naming_the_field(body: bytes) -> None:
    assert field_of(lambda: validation.parse_json_object(body)) == "a.b"


def test_deep_nesting_is_refused_not_a_500() -> None:
    assert field_of(lambda: validation.parse_json_object(b'{"a":' * 20 + b"1" + b"}" * 20)) == "body"
    assert field_of(lambda: validation.parse_json_object(b"[" * 30_000 + b"]" * 30_000)) == "body"


def test_a_huge_body_is_413_in_the_error_shape() -> None:
    with pytest.raises(ApiError) as err:
        validation.parse_json_object(b" " * 10 + b"{" + b'"a": 1,' * 20_000 + b'"b": 2}')
    assert err.value.status == 413
    assert err.value.body()["error"]["code"] == "body_too_large"


def test_a_tenant_domain_from_the_route_is_lower_cased() -> None:
    assert validation.tenant_domain("Fabrikam.COM") == "fabrikam.com"


def test_a_kelvin_sign_in_a_route_domain_is_refused() -> None:
    assert field_of(lambda: validation.tenant_domain("fabri\u212aam.com")) == "tenant"


def test_the_registration_may_omit_the_tenant_named_by_the_route() -> None:
    body = {
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "exchange": {"url": "https://mail.fabrikam.com/PowerShell", "auth": "ntlm", "username": "admin",
                     "password_ref": "env:X"},
        "graph": {"mode": "workload_identity", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
    }
    spec = validation.registration("Fabrikam.com", json.dumps(body).encode())
    assert spec.tenant_domain == "fabrikam.com"
    body["tenant_domain"] = "contoso.com"
    assert field_of(lambda: validation.registration("fabrikam.com", json.dumps(body).encode())) == "tenant_domain"


def test_onboardings_query_is_checked() -> None:
    assert validation.onboardings_query({}) == (None, 50, 0)
    assert validation.onboardings_query({"status": "running", "limit": "10", "offset": "20"}) == ("Running", 10, 20)
    assert field_of(lambda: validation.onboardings_query({"status": "Sleeping"})) == "status"
    assert field_of(lambda: validation.onboardings_query({"limit": "1e3"})) == "limit"
    assert field_of(lambda: validation.onboardings_query({"limit": "1000"})) == "limit"


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
