from __future__ import annotations

from typing import Any

import pytest

from pushproxy.errors import SpecError
from pushproxy.exchange.endpoint import ExchangeEndpoint

GOOD: dict[str, Any] = {
    "url": "https://mail.contoso.com/PowerShell",
    "auth": "ntlm",
    "username": "admin@contoso.com",
    "password_ref": "env:EXCHANGE_PASSWORD",
}


def endpoint(**changes: Any) -> ExchangeEndpoint:
    d = dict(GOOD)
    d.update(changes)
    return ExchangeEndpoint.from_dict({k: v for k, v in d.items() if v is not ...})


def test_a_good_endpoint_round_trips() -> None:
    e = endpoint(tls={"mode": "pinned", "pinned_sha256": "AB:" * 31 + "AB"}, servers=["EX1", "ex2.contoso.com"])
    assert e.tls.pinned_sha256 == "ab" * 32
    assert ExchangeEndpoint.from_dict(e.to_dict()) == e
    assert e.windows_powershell_url_for("EX1") == "https://EX1:5986/wsman"


def test_http_with_kerberos_or_ntlm_is_allowed_but_basic_needs_https() -> None:
    assert endpoint(url="http://ex1.contoso.com/PowerShell", auth="kerberos").auth == "kerberos"
    assert endpoint(url="http://ex1.contoso.com/PowerShell", auth="ntlm").windows_powershell_url_for("ex1") == "http://ex1:5985/wsman"
    with pytest.raises(SpecError) as err:
        endpoint(url="http://ex1.contoso.com/PowerShell", auth="basic")
    assert err.value.field == "auth"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": "mail.contoso.com/PowerShell"}, "url"),
        ({"url": "ftp://mail.contoso.com/PowerShell"}, "url"),
        ({"url": "https://admin:secret@mail.contoso.com/PowerShell"}, "url"),
        ({"url": "https://mail.contoso.com/"}, "url"),
        ({"url": "https://mail.contoso.com/PowerShell?x=1"}, "url"),
        ({"url": "https://mail contoso.com/PowerShell"}, "url"),
        ({"url": "https://mail.contoso.com:99999/PowerShell"}, "url"),
        ({"url": ...}, "url"),
        ({"auth": "digest"}, "auth"),
        ({"username": ""}, "username"),
        ({"username": "admin\n"}, "username"),
        ({"username": ...}, "username"),
        ({"password_ref": "P@ssw0rd!"}, "password_ref"),
        ({"password_ref": ...}, "password_ref"),
        ({"tls": {"mode": "pinned"}}, "tls.pinned_sha256"),
        ({"tls": {"mode": "pinned", "pinned_sha256": "abc"}}, "tls.pinned_sha256"),
        ({"tls": {"mode": "ca_bundle"}}, "tls.ca_bundle"),
        ({"tls": {"mode": "insecure"}}, "tls.mode"),
        ({"tls": {"mode": "system", "pinned_sha256": "ab" * 32}}, "tls.pinned_sha256"),
        ({"operation_timeout_s": 0}, "operation_timeout_s"),
        ({"operation_timeout_s": "20"}, "operation_timeout_s"),
        ({"call_deadline_s": True}, "call_deadline_s"),
        ({"servers": "EX1"}, "servers"),
        ({"servers": ["EX1", "ex1"]}, "servers"),
        ({"servers": ["EX1; Remove-Item"]}, "servers[0]"),
        ({"windows_powershell_url": "not a url"}, "windows_powershell_url"),
        ({"windows_powershell_tls": "pinned"}, "windows_powershell_tls"),
        ({"windows_powershell_tls": {"mode": "pinned", "pinned_sha256": "abc"}}, "windows_powershell_tls.pinned_sha256"),
        ({"windows_powershell_tls": {"mode": "system", "verify": False}}, "windows_powershell_tls.verify"),
        ({"tls": {"mode": "system", "verify": False}}, "tls.verify"),
        (
            {"windows_powershell_url": "http://{server}:5985/wsman", "windows_powershell_tls": {"mode": "pinned", "pinned_sha256": "ab" * 32}},
            "windows_powershell_tls.mode",
        ),
        ({"url": "http://ex1.contoso.com/PowerShell", "windows_powershell_tls": {"mode": "ca_bundle", "ca_bundle": "/ca.pem"}}, "windows_powershell_tls.mode"),
        ({"password": "x"}, "password"),
    ],
)
def test_bad_values_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as err:
        endpoint(**changes)
    assert err.value.field == field


def test_a_password_pasted_as_a_reference_is_not_echoed() -> None:
    with pytest.raises(SpecError) as err:
        endpoint(password_ref="Sup3r-S3cret!")
    assert "Sup3r-S3cret!" not in str(err.value)


def test_the_field_prefix_is_applied() -> None:
    with pytest.raises(SpecError) as err:
        ExchangeEndpoint.from_dict({**GOOD, "tls": {"mode": "pinned"}}, field_prefix="exchange")
    assert err.value.field == "exchange.tls.pinned_sha256"


def test_kerberos_may_rely_on_the_ticket_cache() -> None:
    e = endpoint(auth="kerberos", username=..., password_ref=...)
    assert e.username is None and e.password_ref is None


def test_windows_powershell_tls_defaults_to_tls_and_round_trips() -> None:
    exchange_pin = {"mode": "pinned", "pinned_sha256": "ab" * 32}
    same = endpoint(tls=exchange_pin)
    assert same.windows_powershell_tls is None and same.windows_powershell_tls_settings == same.tls
    assert same.to_dict()["windows_powershell_tls"] is None
    own = endpoint(tls=exchange_pin, windows_powershell_tls={"mode": "pinned", "pinned_sha256": "CD:" * 31 + "CD"})
    assert own.windows_powershell_tls_settings.pinned_sha256 == "cd" * 32 and own.tls.pinned_sha256 == "ab" * 32
    assert ExchangeEndpoint.from_dict(own.to_dict()) == own
    # Over http there is nothing to verify; system (the default) is accepted.
    assert endpoint(url="http://ex1.contoso.com/PowerShell", windows_powershell_tls={"mode": "system"}).windows_powershell_tls is not None


def test_windows_powershell_tls_errors_carry_the_prefix() -> None:
    with pytest.raises(SpecError) as err:
        ExchangeEndpoint.from_dict({**GOOD, "windows_powershell_tls": {"mode": "pinned"}}, field_prefix="exchange")
    assert err.value.field == "exchange.windows_powershell_tls.pinned_sha256"
