"""Which host each secret is bound to (pushproxy.bindings), and who holds which role (pushproxy.api.roles)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from pushproxy.api.errors import ApiError
from pushproxy.api.roles import caller, require, roles_from_principal
from pushproxy.bindings import bindings, check_presentation, origin
from pushproxy.errors import SecretError
from pushproxy.spec import TenantSpec


def spec(**exchange: object) -> TenantSpec:
    return TenantSpec.from_dict({
        "tenant_domain": "fabrikam.com", "tenant_id": "11111111-2222-3333-4444-555555555555",
        "exchange": {"url": "https://mail.fabrikam.com/PowerShell", "auth": "basic", "username": "svc",
                     "password_ref": "keyvault:exch-pw", **exchange},
        "graph": {"mode": "secret", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "secret_ref": "keyvault:graph"},
    })


def test_each_secret_is_bound_to_its_own_sides_origin() -> None:
    found = {b.field: b.hosts for b in bindings(spec())}
    assert found == {"exchange.password_ref": {"mail.fabrikam.com:443"}, "graph.secret_ref": {"login.microsoftonline.com:443"}}
    check_presentation(spec(), "fabrikam.com", "exchange", "keyvault:exch-pw", "mail.fabrikam.com:443")
    check_presentation(spec(), "fabrikam.com", "graph", "keyvault:graph", origin("https://login.microsoftonline.com"))


@pytest.mark.parametrize(("side", "ref", "where"), [
    ("exchange", "keyvault:exch-pw", "attacker.example:443"),
    ("exchange", "keyvault:exch-pw", "mail.fabrikam.com:8443"),  # same host, another port: another service
    ("exchange", "keyvault:exch-pw", "login.microsoftonline.com:443"),  # the other side's host
    ("graph", "keyvault:exch-pw", "login.microsoftonline.com:443"),  # the Exchange secret on the Graph side
    ("graph", "keyvault:other", "login.microsoftonline.com:443"),  # a reference the registration doesn't hold
])
def test_a_secret_is_presented_nowhere_else(side: str, ref: str, where: str) -> None:
    with pytest.raises(SecretError, match="not presented"):
        check_presentation(spec(), "fabrikam.com", side, ref, where)


def test_an_unregistered_tenant_presents_nothing() -> None:
    with pytest.raises(SecretError, match="not registered"):
        check_presentation(None, "fabrikam.com", "exchange", "keyvault:exch-pw", "mail.fabrikam.com:443")
    with pytest.raises(SecretError):
        check_presentation(spec(), "contoso.com", "exchange", "keyvault:exch-pw", "mail.fabrikam.com:443")


def test_the_restart_binds_the_winrm_hosts_the_operator_named() -> None:
    listed = {b.field: b.hosts for b in bindings(spec(servers=["EXCH01.fabrikam.local"]))}["exchange.password_ref"]
    assert listed == {"mail.fabrikam.com:443", "exch01.fabrikam.local:5986"}
    fixed = spec(windows_powershell_url="https://winrm.fabrikam.com:5986/wsman")
    assert {b.field: b.hosts for b in bindings(fixed)}["exchange.password_ref"] == {"mail.fabrikam.com:443", "winrm.fabrikam.com:5986"}
    # `{server}` with no servers listed: only the Exchange URL; a server Exchange lists gets no secret.
    assert {b.field: b.hosts for b in bindings(spec())}["exchange.password_ref"] == {"mail.fabrikam.com:443"}


def principal(roles: list[str], role_typ: str = "roles") -> str:
    claims = [{"typ": role_typ, "val": r} for r in roles] + [{"typ": "name", "val": "PushProxy.Operator"}]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": role_typ}).encode()).decode()


def test_app_roles_come_from_the_principals_role_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSHPROXY_ROLES_FILE", raising=False)
    monkeypatch.delenv("PUSHPROXY_ROLE_SOURCE", raising=False)
    uri = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
    assert roles_from_principal(principal(["PushProxy.Approver", "Other.Role"], uri)) == {"approver"}
    # A claim of another type naming a role value grants nothing (the name claim above).
    assert roles_from_principal(principal([], uri)) == frozenset()
    assert roles_from_principal("not base64 json") == frozenset()
    who = caller({"X-MS-CLIENT-PRINCIPAL-NAME": "Olivia@Fabrikam.com", "X-MS-CLIENT-PRINCIPAL": principal(["PushProxy.Operator"])})
    assert (who.name, who.roles) == ("olivia@fabrikam.com", {"operator"})
    assert require(who, "operator") == "olivia@fabrikam.com"


def test_a_function_key_alone_is_no_one() -> None:
    with pytest.raises(ApiError) as err:
        require(caller({"x-functions-key": "k"}), "operator")
    assert (err.value.status, err.value.code) == (403, "unauthenticated")


def test_on_one_machine_the_roles_file_decides_and_the_principal_header_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roles = tmp_path / "roles.json"
    roles.write_text(json.dumps({"Alice@Fabrikam.com": ["requester"]}), encoding="utf-8")
    monkeypatch.setenv("PUSHPROXY_ROLES_FILE", str(roles))
    monkeypatch.setenv("PUSHPROXY_ROLE_SOURCE", "file")
    forged = principal(["PushProxy.Operator"])
    assert caller({"X-MS-CLIENT-PRINCIPAL-NAME": "ALICE@fabrikam.com", "X-MS-CLIENT-PRINCIPAL": forged}).roles == {"requester"}
    assert caller({"X-MS-CLIENT-PRINCIPAL-NAME": "mallory@x", "X-MS-CLIENT-PRINCIPAL": forged}).roles == frozenset()
    with pytest.raises(ApiError) as err:
        caller({"X-MS-CLIENT-PRINCIPAL-NAME": "alice\u200b@fabrikam.com"})
    assert err.value.status == 400
