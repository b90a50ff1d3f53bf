"""TenantSpec: JSON in, JSON out; every bad field gives SpecError naming it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pushproxy.errors import SpecError
from pushproxy.spec import TenantSpec, onboarding_instance_id, validate_domain

GOOD: dict[str, Any] = {
    "tenant_domain": "Fabrikam.com",
    "tenant_id": "11111111-2222-3333-4444-555555555555",
    "exchange": {
        "url": "https://mail.fabrikam.com/PowerShell",
        "auth": "ntlm",
        "username": "admin@fabrikam.com",
        "password_ref": "env:EXCHANGE_PASSWORD",
        "tls": {"mode": "ca_bundle", "ca_bundle": "/etc/ssl/exchange.pem"},
        "servers": ["ex1.fabrikam.com", "EX2"],
    },
    "graph": {"mode": "secret", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "secret_ref": "file:graph"},
    "approval": {"policy": "required", "timeout_s": 3600, "approvers": ["alice"]},
    "verification": {"restart_health_manager": True, "wait_s": 5, "probe_deadline_s": 60},
    "retry": {"first_retry_interval_s": 1, "max_attempts": 3},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    spec = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node = spec
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return spec


class _Delete:
    def __repr__(self) -> str:  # a stable test id across xdist workers
        return "<missing>"


DELETE = _Delete()


def test_good_spec_round_trips_through_json() -> None:
    spec = TenantSpec.from_dict(GOOD)
    assert spec.tenant_domain == "fabrikam.com"
    assert spec.exchange.servers == ("ex1.fabrikam.com", "EX2")
    again = TenantSpec.from_json(spec.to_json())
    assert again == spec
    assert json.loads(json.dumps(spec.to_dict())) == spec.to_dict()


def test_defaults_fill_optional_sections() -> None:
    minimal = {k: GOOD[k] for k in ("tenant_domain", "tenant_id", "exchange", "graph")}
    spec = TenantSpec.from_dict(minimal)
    assert spec.approval.policy == "required"
    assert spec.approval.timeout_s == 72 * 3600
    assert spec.verification.wait_s == 120
    assert spec.verification.restart_health_manager is False
    assert spec.retry.first_retry_interval_s == 5 and spec.retry.max_attempts == 5


def test_instance_id_is_derived_from_the_domain() -> None:
    assert TenantSpec.from_dict(GOOD).instance_id == "onboarding-fabrikam.com"
    assert onboarding_instance_id("Contoso.COM") == "onboarding-contoso.com"


@pytest.mark.parametrize(
    "domain",
    [
        "fab rikam.com",
        'fabrikam.com"',
        "fab'rikam.com",
        "$tenant.com",
        "fabrikam.com;Remove-Item",
        "fabrikam`.com",
        "fabrikam.com|x",
        "fabrikam.com&x",
        "$(Get-Process).com",
        "fabrikam.com\n",
        "-fabrikam.com",
        "fabrikam-.com",
        "fabrikam",
        "fabrikam..com",
        ".fabrikam.com",
        "fabrikam.123",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
        "fabrikam_corp.com",
        "fäbrikam.com",
        "",
        42,
        None,
    ],
)
def test_malformed_tenant_domains_are_refused(domain: object) -> None:
    with pytest.raises(SpecError) as info:
        TenantSpec.from_dict(with_change("tenant_domain", domain))
    assert info.value.field == "tenant_domain"


@pytest.mark.parametrize("char", [" ", '"', "'", "$", ";", "`"])
def test_powershell_metacharacters_are_named_in_the_reason(char: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_domain(f"fabri{char}kam.com")
    assert "contains" in info.value.reason


@pytest.mark.parametrize("domain", ["fabrikam.com", "sub.fabrikam.co.uk", "xn--fbrikam-1wa.com", "a1-b2.io", "FABRIKAM.COM."])
def test_valid_domains_are_accepted_and_lower_cased(domain: str) -> None:
    assert validate_domain(domain) == domain.lower().rstrip(".")


BAD_FIELDS: list[tuple[str, Any, str]] = [
    ("tenant_id", "not-a-guid", "tenant_id"),
    ("tenant_id", DELETE, "tenant_id"),
    ("tenant_id", 7, "tenant_id"),
    ("exchange", DELETE, "exchange"),
    ("exchange", "https://x", "exchange"),
    ("exchange.url", "mail.fabrikam.com/PowerShell", "exchange.url"),
    ("exchange.url", "ftp://mail.fabrikam.com/PowerShell", "exchange.url"),
    ("exchange.url", "https://user:pw@mail.fabrikam.com/PowerShell", "exchange.url"),
    ("exchange.url", "https://mail;x.com/PowerShell", "exchange.url"),
    ("exchange.url", "https://mail.fabrikam.com:99999/PowerShell", "exchange.url"),
    ("exchange.url", DELETE, "exchange.url"),
    ("exchange.auth", "digest", "exchange.auth"),
    ("exchange.username", "", "exchange.username"),
    ("exchange.username", DELETE, "exchange.username"),
    ("exchange.password_ref", "P@ssw0rd!", "exchange.password_ref"),
    ("exchange.password_ref", DELETE, "exchange.password_ref"),
    ("exchange.tls", {"mode": "insecure"}, "exchange.tls.mode"),
    ("exchange.tls", {"mode": "ca_bundle"}, "exchange.tls.ca_bundle"),
    ("exchange.tls", {"mode": "pinned", "pinned_sha256": "abc"}, "exchange.tls.pinned_sha256"),
    ("exchange.tls", {"mode": "system", "verify": False}, "exchange.tls.verify"),
    ("exchange.tls", "none", "exchange.tls"),
    ("exchange.operation_timeout_s", 0, "exchange.operation_timeout_s"),
    ("exchange.operation_timeout_s", "60", "exchange.operation_timeout_s"),
    ("exchange.call_deadline_s", True, "exchange.call_deadline_s"),
    ("exchange.servers", "ex1", "exchange.servers"),
    ("exchange.servers", ["ex1.fabrikam.com", "ex 2"], "exchange.servers[1]"),
    ("exchange.servers", ["ex1;rm.fabrikam.com"], "exchange.servers[0]"),
    ("exchange.windows_powershell_url", "nope", "exchange.windows_powershell_url"),
    ("exchange.windows_powershell_tls", {"mode": "pinned", "pinned_sha256": "abc"}, "exchange.windows_powershell_tls.pinned_sha256"),
    ("exchange.passwd", "env:X", "exchange.passwd"),
    ("graph", DELETE, "graph"),
    ("graph.mode", "password", "graph.mode"),
    ("graph.client_id", "abc", "graph.client_id"),
    ("graph.client_id", DELETE, "graph.client_id"),
    ("graph.secret_ref", "s3cr3t-value", "graph.secret_ref"),
    ("graph.secret_ref", DELETE, "graph.secret_ref"),
    ("graph.authority", "http://login.microsoftonline.com", "graph.authority"),
    ("graph.graph_url", "graph", "graph.graph_url"),
    ("graph.managed_identity_client_id", "x", "graph.managed_identity_client_id"),
    ("exchange.servers", ["ex1", "EX1"], "exchange.servers"),
    ("approval", [], "approval"),
    ("approval.policy", "never", "approval.policy"),
    ("approval.timeout_s", -1, "approval.timeout_s"),
    ("approval.timeout_s", 10**9, "approval.timeout_s"),
    ("approval.approvers", "alice", "approval.approvers"),
    ("approval.approvers", ["alice", ""], "approval.approvers[1]"),
    ("verification.restart_health_manager", "yes", "verification.restart_health_manager"),
    ("verification.wait_s", -5, "verification.wait_s"),
    ("verification.probe_deadline_s", "soon", "verification.probe_deadline_s"),
    ("verification.probe_interval_s", 0, "verification.probe_interval_s"),
    ("retry.max_attempts", 0, "retry.max_attempts"),
    ("retry.max_attempts", 2.5, "retry.max_attempts"),
    ("retry.first_retry_interval_s", 0, "retry.first_retry_interval_s"),
    ("extra", 1, "extra"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_FIELDS, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD_FIELDS])
def test_each_bad_field_is_named(path: str, value: Any, field: str) -> None:
    with pytest.raises(SpecError) as info:
        TenantSpec.from_dict(with_change(path, value))
    assert info.value.field == field
    assert info.value.reason
    assert str(info.value).startswith(field + ":")


def test_certificate_mode_needs_a_certificate_ref() -> None:
    spec = with_change("graph", {"mode": "certificate", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"})
    with pytest.raises(SpecError) as info:
        TenantSpec.from_dict(spec)
    assert info.value.field == "graph.certificate_ref"


def test_workload_identity_needs_no_secret() -> None:
    graph = {"mode": "workload_identity", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}
    spec = TenantSpec.from_dict(with_change("graph", graph))
    assert spec.graph.secret_ref is None


def test_a_pasted_secret_is_never_echoed() -> None:
    with pytest.raises(SpecError) as info:
        TenantSpec.from_dict(with_change("exchange.password_ref", "Hunter2-VerySecret"))
    assert "Hunter2" not in str(info.value)
    assert "Hunter2" not in repr(info.value)


def test_not_json_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        TenantSpec.from_json("{not json")
    assert info.value.field == "spec"


def test_spec_is_not_an_object() -> None:
    with pytest.raises(SpecError) as info:
        TenantSpec.from_dict([1, 2])
    assert info.value.field == "spec"


def test_http_is_allowed_with_negotiate_for_the_stand_in() -> None:
    spec = with_change("exchange.url", "http://127.0.0.1:5985/PowerShell")
    spec["exchange"]["auth"] = "negotiate"
    spec["exchange"]["tls"] = {"mode": "system"}
    assert TenantSpec.from_dict(spec).exchange.url.startswith("http://127.0.0.1")


def test_basic_auth_over_http_is_refused() -> None:
    spec = with_change("exchange.url", "http://mail.fabrikam.com/PowerShell")
    spec["exchange"].update(auth="basic", tls={"mode": "system"})
    with pytest.raises(SpecError) as info:
        TenantSpec.from_dict(spec)
    assert info.value.field == "exchange.auth"


def test_remediation_policy_is_optional_validated_and_round_trips() -> None:
    assert TenantSpec.from_dict(GOOD).remediation is None
    assert "remediation" not in TenantSpec.from_dict(GOOD).to_dict()
    spec = TenantSpec.from_dict({**GOOD, "remediation": {"policy": "off"}})
    assert spec.remediation is not None and spec.remediation.policy == "off"
    assert TenantSpec.from_json(spec.to_json()) == spec
    with pytest.raises(SpecError) as bad:
        TenantSpec.from_dict({**GOOD, "remediation": {"policy": "sometimes"}})
    assert bad.value.field == "remediation.policy"
    with pytest.raises(SpecError) as unknown:
        TenantSpec.from_dict({**GOOD, "remediation": {"policy": "off", "when": "always"}})
    assert unknown.value.field == "remediation.when"
