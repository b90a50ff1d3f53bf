"""What /PowerShell offers, as Exchange configures it, and how the product explains a refusal (no KDC needed).

Exchange as installed takes only Kerberos: the stand-in started with enable_auth="" is that server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

from pushproxy.errors import ExchangeError
from pushproxy.exchange import values
from pushproxy.exchange.session import ExchangeSession
from tests.exchange.standin import PASSWORD_ENV, endpoint_for
from tests.support.exchange_standin import StandIn, start_exchange_standin

VDIR_HINT = "Set-PowerShellVirtualDirectory -Identity '<server>\\PowerShell (Default Web Site)' -BasicAuthentication $true"


@pytest.fixture(scope="module")
def exchange_as_installed() -> Iterator[StandIn]:
    with start_exchange_standin(tls=True, enable_auth="") as standin:
        os.environ[PASSWORD_ENV] = standin.password
        yield standin


def offered(standin: StandIn, path: str = "/PowerShell") -> list[str]:
    response = requests.post(standin.base_url + path, data=b"", timeout=10, verify=standin.cert_path)
    assert response.status_code == 401
    return [v.strip() for v in response.headers.get("WWW-Authenticate", "").split(",")]


def test_a_fresh_server_offers_only_negotiate_for_kerberos(exchange_as_installed: StandIn) -> None:
    assert offered(exchange_as_installed) == ["Negotiate"]


def test_get_powershell_virtual_directory_reports_the_settings(exchange_as_installed: StandIn) -> None:
    vdir = exchange_as_installed.org_state()["powershell_virtual_directory"]
    assert vdir == {"basic_authentication": False, "windows_authentication": False}


@pytest.mark.parametrize("auth", ["ntlm", "basic", "negotiate"])
def test_ntlm_and_basic_are_refused_and_the_explanation_names_the_setting(exchange_as_installed: StandIn, auth: str) -> None:
    before = exchange_as_installed.state()
    exchange_as_installed.clear_journal()
    with pytest.raises(ExchangeError) as err:
        ExchangeSession(endpoint_for(exchange_as_installed, auth=auth, tls={"mode": "ca_bundle", "ca_bundle": exchange_as_installed.cert_path}),
                        exchange_as_installed.password).open()
    message = str(err.value)
    assert "this server offers only Kerberos on /PowerShell; use `auth: kerberos`" in message
    assert VDIR_HINT in message
    assert "password" not in message  # the password was never the problem
    assert exchange_as_installed.state() == before
    assert not [e for e in exchange_as_installed.journal() if e.get("operation", "").startswith("Get-")]


def test_ntlm_inside_negotiate_is_refused_without_windows_authentication(exchange_as_installed: StandIn) -> None:
    before = exchange_as_installed.stats().get("auth.refused.ntlm_in_negotiate", 0)
    with pytest.raises(ExchangeError):
        ExchangeSession(endpoint_for(exchange_as_installed, auth="negotiate",
                                     tls={"mode": "ca_bundle", "ca_bundle": exchange_as_installed.cert_path}),
                        exchange_as_installed.password).open()
    assert exchange_as_installed.stats().get("auth.refused.ntlm_in_negotiate", 0) > before


def test_switching_windows_authentication_on_lets_ntlm_in(exchange_as_installed: StandIn) -> None:
    state = exchange_as_installed.state()
    org = state["organizations"]["fabrikam.com"]
    org["powershell_virtual_directory"] = {"basic_authentication": False, "windows_authentication": True}
    exchange_as_installed.put_state(state)
    try:
        assert offered(exchange_as_installed) == ["Negotiate", "NTLM"]
        endpoint = endpoint_for(exchange_as_installed, auth="ntlm",
                                tls={"mode": "ca_bundle", "ca_bundle": exchange_as_installed.cert_path})
        with ExchangeSession(endpoint, exchange_as_installed.password) as session:
            assert len(session.invoke("Get-ExchangeServer")) == 2
            vdirs = session.invoke("Get-PowerShellVirtualDirectory", {"Server": "FABRIKAM-EX1"})
        assert [str(v) for v in vdirs] == ["FABRIKAM-EX1\\PowerShell (Default Web Site)"]
        props = values.properties(vdirs[0])
        assert (props["BasicAuthentication"], props["WindowsAuthentication"]) == (False, True)
        # Basic is still off: the explanation says so, and how to switch it on.
        with pytest.raises(ExchangeError) as err:
            ExchangeSession(endpoint_for(exchange_as_installed, auth="basic",
                                         tls={"mode": "ca_bundle", "ca_bundle": exchange_as_installed.cert_path}),
                            exchange_as_installed.password).open()
        assert "does not offer Basic" in str(err.value) and "-BasicAuthentication $true" in str(err.value)
    finally:
        org["powershell_virtual_directory"] = {"basic_authentication": False, "windows_authentication": False}
        exchange_as_installed.put_state(state)


def test_a_wrong_password_is_named_only_when_the_method_was_offered() -> None:
    with start_exchange_standin(tls=True, enable_auth="basic") as standin:
        os.environ[PASSWORD_ENV] = "not-the-password"
        try:
            with pytest.raises(ExchangeError) as err:
                ExchangeSession(endpoint_for(standin, auth="basic", tls={"mode": "ca_bundle", "ca_bundle": standin.cert_path}),
                                "not-the-password").open()
        finally:
            os.environ.pop(PASSWORD_ENV, None)
    assert "basic was offered and refused): check the user name and password" in str(err.value)


def test_bad_virtual_directory_state_is_refused_and_changes_nothing(exchange_as_installed: StandIn) -> None:
    state = exchange_as_installed.state()
    bad = {**state, "organizations": {"fabrikam.com": {**state["organizations"]["fabrikam.com"],
                                                       "powershell_virtual_directory": {"basic_authentication": "yes"}}}}
    with pytest.raises(AssertionError, match="powershell_virtual_directory.basic_authentication: expected true or false"):
        exchange_as_installed.put_state(bad)
    assert exchange_as_installed.state() == state


def test_the_windows_powershell_endpoint_keeps_winrm_defaults(exchange_as_installed: StandIn) -> None:
    assert "Negotiate" in offered(exchange_as_installed, "/wsman")


def test_inspect_shows_what_is_offered_before_any_sign_in(exchange_as_installed: StandIn, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from pushproxy.cli import main

    monkeypatch.setenv("PUSHPROXY_EXCHANGE_PASSWORD", exchange_as_installed.password)
    code = main(["exchange", "inspect", "--endpoint", exchange_as_installed.url, "--auth", "ntlm",
                 "--user", exchange_as_installed.user, "--ca-bundle", str(exchange_as_installed.cert_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{exchange_as_installed.url} offers: Kerberos (Negotiate)" in err
    assert "this server offers only Kerberos on /PowerShell" in err


def test_azure_settings_make_a_tcp_only_realm_config(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pushproxy.exchange import kerberos

    monkeypatch.delenv("KRB5_CONFIG", raising=False)
    monkeypatch.setenv("PUSHPROXY_KERBEROS_REALM", "contoso.com")
    monkeypatch.setenv("PUSHPROXY_KERBEROS_KDCS", "dc01.contoso.local, dc02.contoso.local:88")
    kerberos.ensure_realm_config()
    path = os.environ["KRB5_CONFIG"]
    try:
        text = open(path, encoding="utf-8").read()
        assert "default_realm = CONTOSO.COM" in text and "udp_preference_limit = 1" in text
        assert "kdc = dc01.contoso.local:88" in text and "kdc = dc02.contoso.local:88" in text
    finally:
        os.remove(path)


def test_a_realm_without_kdcs_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    from pushproxy.exchange import kerberos

    monkeypatch.delenv("KRB5_CONFIG", raising=False)
    monkeypatch.setenv("PUSHPROXY_KERBEROS_REALM", "CONTOSO.COM")
    monkeypatch.delenv("PUSHPROXY_KERBEROS_KDCS", raising=False)
    with pytest.raises(ExchangeError, match="PUSHPROXY_KERBEROS_REALM needs PUSHPROXY_KERBEROS_KDCS"):
        kerberos.ensure_realm_config()
    assert "KRB5_CONFIG" not in os.environ


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"auth": "ntlm", "keytab_ref": "env:KT"}, "keytab_ref", "only for kerberos auth"),
    ({"auth": "kerberos", "keytab_ref": "not a reference"}, "keytab_ref", "must be a secret reference"),
    ({"auth": "kerberos", "keytab_ref": "env:KT", "password_ref": "env:PW"}, "keytab_ref", "not both"),
    ({"auth": "kerberos", "keytab_ref": "env:KT", "username": None}, "username", "the Kerberos principal"),
])
def test_keytab_ref_is_validated(fields: dict[str, object], field: str, reason: str) -> None:
    from pushproxy.errors import SpecError
    from pushproxy.exchange.endpoint import ExchangeEndpoint

    d: dict[str, object] = {"url": "https://ex1.contoso.com/PowerShell", "username": "svc@CONTOSO.COM",
                            "password_ref": None, **fields}
    if d["auth"] == "ntlm":
        d["password_ref"] = "env:PW"
    with pytest.raises(SpecError) as err:
        ExchangeEndpoint.from_dict(d)
    assert field in str(err.value) and reason in str(err.value)
