"""`pushproxy exchange inspect` against the stand-in: what an administrator sees first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pushproxy.cli import main
from tests.support.exchange_standin import start_exchange_standin


@pytest.fixture(scope="module")
def standin() -> Iterator[Any]:
    with start_exchange_standin(tls=True) as s:
        yield s


def _args(standin: Any, *extra: str) -> list[str]:
    return ["exchange", "inspect", "--endpoint", standin.url, "--auth", "ntlm", "--user", standin.user, "--ca-bundle", standin.cert_path, *extra]


def test_inspect_prints_json(standin: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PUSHPROXY_EXCHANGE_PASSWORD", standin.password)
    assert main(_args(standin, "--json")) == 0
    out = capsys.readouterr()
    d = json.loads(out.out)
    assert d["realm"] == "fabrikam.com"  # from the user's domain
    assert [s["release"] for s in d["servers"]] == ["Exchange 2019 CU15", "Exchange 2019 CU15"]
    assert d["blocking"] == [] and d["wsman_requests"] > 0
    assert standin.password not in out.out + out.err


def test_inspect_with_a_tenant_id_marks_the_hybrid_wizard_acs_server(
    standin: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant_id = "6f1d0b62-8d2b-4c4e-9b1e-2a3f4c5d6e7f"
    original = standin.state()
    state = json.loads(json.dumps(original))
    state["organizations"]["fabrikam.com"]["auth_servers"] = [
        {"name": f"ACS - {tenant_id}", "auth_metadata_url": f"https://accounts.accesscontrol.windows.net/{tenant_id}/metadata/json/1",
         "realm": tenant_id},
        {"name": "EvoSts - 1", "auth_metadata_url": "https://login.windows.net/fabrikam.com/federationmetadata/2007-06/federationmetadata.xml",
         "realm": tenant_id, "type": "AzureAD"},
    ]
    standin.put_state(state)
    try:
        monkeypatch.setenv("PUSHPROXY_EXCHANGE_PASSWORD", standin.password)
        monkeypatch.setenv("COLUMNS", "250")
        assert main(_args(standin, "--json", "--tenant-id", tenant_id.upper())) == 0
        d = json.loads(capsys.readouterr().out)
        assert d["tenant_id"] == tenant_id and d["serving_auth_servers"] == [f"ACS - {tenant_id}"]
        assert main(_args(standin, "--json")) == 0  # without it, the GUID names nobody we know
        assert json.loads(capsys.readouterr().out)["serving_auth_servers"] == []
        assert main(_args(standin)) == 0
        assert "No enabled AuthServer serves fabrikam.com" in capsys.readouterr().out
        assert main(_args(standin, "--tenant-id", "not-a-guid")) == 2  # bad input
        assert "tenant_id" in capsys.readouterr().err
    finally:
        standin.put_state(original)


def test_inspect_prints_tables_with_blocking_problems(standin: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    original = standin.state()
    state = json.loads(json.dumps(original))
    org = state["organizations"]["fabrikam.com"]
    org["servers"][0]["version"] = "15.0.712.24"
    standin.put_state(state)
    try:
        monkeypatch.setenv("PUSHPROXY_EXCHANGE_PASSWORD", standin.password)
        monkeypatch.setenv("COLUMNS", "200")
        assert main(_args(standin)) == 0
    finally:
        standin.put_state(original)
    out = capsys.readouterr().out
    assert "Exchange 2013 CU2" in out and "Blocking problems" in out
    assert "Auth certificate per Mailbox server" in out and "Push proxy: disabled" in out


def test_a_wrong_password_is_one_clear_line(standin: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PUSHPROXY_EXCHANGE_PASSWORD", "not-the-password-123")
    assert main(_args(standin)) == 1
    err = capsys.readouterr().err
    assert "authentication failed" in err and "not-the-password-123" not in err


def test_there_is_no_insecure_switch(standin: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(_args(standin, "--insecure"))
    assert "--insecure" in capsys.readouterr().err


def test_bad_input_names_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exchange", "inspect", "--endpoint", "https://mail.contoso.com", "--user", "a@contoso.com"]) == 2
    assert "--endpoint:" in capsys.readouterr().err  # in the command's own words
