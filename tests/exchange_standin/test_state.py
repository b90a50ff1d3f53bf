"""Organisations, their JSON state (admin API and --state FILE), and many tenants in one process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from tests.exchange_standin.conftest import exchange_pool, run
from tests.support.exchange_standin import REPO, StandIn, start_exchange_standin


def test_put_accepts_what_get_returns(http_standin: StandIn) -> None:
    state = http_standin.state()
    assert http_standin.put_state(state) == state


@pytest.mark.parametrize(("body", "field"), [
    ({"organizations": {}}, "organizations"),
    ({"organizations": {"a.com": {"servers": [{"name": "X", "version": "fifteen"}]}}}, "organizations.a.com.servers[0].version"),
    ({"organizations": {"a.com": {}}, "default_organization": "b.com"}, "default_organization"),
    ({"organizations": {"a.com": {"certificates": [{"key_size": 512}]}}}, "organizations.a.com.certificates[0].key_size"),
    ({"organizations": {"a.com": {"auth_servers": [{"name": "x"}]}}}, "organizations.a.com.auth_servers[0].auth_metadata_url"),
    ({"organizations": {"a.com": {"tenant_id": "a.com"}}}, "organizations.a.com.tenant_id"),
    ({"organizations": {"a.com": {"tenant_id": 42}}}, "organizations.a.com.tenant_id"),
])
def test_bad_state_is_refused_naming_the_field(http_standin: StandIn, body: dict, field: str) -> None:
    before = http_standin.state()
    with pytest.raises(AssertionError) as err:
        http_standin.put_state(body)
    assert "400" in str(err.value) and field in str(err.value)
    assert http_standin.state() == before


def test_an_organisation_tenant_id_is_optional_and_kept(http_standin: StandIn) -> None:
    original = http_standin.state()
    try:
        state = http_standin.put_state({"organizations": {
            "a.com": {"tenant_id": "{6F1D0B62-8D2B-4C4E-9B1E-2A3F4C5D6E7F}"}, "b.com": {}, "c.com": {"tenant_id": None}}})
        assert [state["organizations"][o]["tenant_id"] for o in ("a.com", "b.com", "c.com")] == [
            "6f1d0b62-8d2b-4c4e-9b1e-2a3f4c5d6e7f", "", ""]
        assert http_standin.put_state(state) == state
    finally:
        http_standin.put_state(original)


def test_each_organisation_has_its_own_endpoint_and_state(http_standin: StandIn) -> None:
    original = http_standin.state()
    state = {"default_organization": "fabrikam.com", "organizations": {
        "fabrikam.com": original["organizations"]["fabrikam.com"],
        "contoso.com": {"display_name": "Contoso", "servers": [
            {"name": "CON-EX1", "version": "15.0.712.24"},  # Exchange 2013 CU2: below the push proxy's minimum
            {"name": "CON-EX2", "version": "15.1.2507.6"},
        ]},
    }}
    http_standin.put_state(state)
    try:
        with exchange_pool(http_standin, org="contoso.com") as pool:
            servers = run(pool, "Get-ExchangeServer").output
            assert [str(s) for s in servers] == ["CON-EX1", "CON-EX2"]
            assert str(servers[0].adapted_properties["AdminDisplayVersion"]) == "Version 15.0 (Build 712.24)"
            assert servers[0].adapted_properties["Fqdn"] == "con-ex1.contoso.com"
            run(pool, "Enable-PushNotificationProxy", Organization="contoso.com")
        with exchange_pool(http_standin) as pool:  # /PowerShell is the default organisation
            assert str(run(pool, "Get-ExchangeServer").output[0]) == "FABRIKAM-EX1"
            apps = run(pool, "Get-PushNotificationApp").output
            assert next(a for a in apps if str(a) == "OnPrem-Proxy").adapted_properties["Enabled"] is False
        orgs = http_standin.state()["organizations"]
        assert orgs["contoso.com"]["push_proxy"]["enabled"] is True
        assert orgs["contoso.com"]["certificates"][0]["servers"] == ["CON-EX1", "CON-EX2"]
    finally:
        http_standin.put_state(original)


def test_certificate_facts_and_auth_servers_are_settable(http_standin: StandIn) -> None:
    original = http_standin.state()
    acs = "ACS - 8f3d7c0e-1d5c-4e8b-9a3b-2f1f7e0c9d11"
    state = {"organizations": {"fabrikam.com": {
        "servers": [{"name": "EX1"}],
        "certificates": [{"thumbprint": "WEAK", "key_size": 1024, "not_before": "2024-01-01T00:00:00Z",
                          "not_after": "2025-01-01T00:00:00Z"}],
        "auth_config": {"current": "WEAK"},
        "auth_servers": [{"name": acs, "auth_metadata_url":
                          "https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=fabrikam.com"}],
    }}}
    http_standin.put_state(state)
    try:
        with exchange_pool(http_standin) as pool:
            thumbprint = run(pool, "Get-AuthConfig").output[0].adapted_properties["CurrentCertificateThumbprint"]
            assert thumbprint != "WEAK" and len(thumbprint) == 40  # the placeholder now names the generated cert
            der = run(pool, "Get-ExchangeCertificate", Thumbprint=thumbprint).output[0].adapted_properties["RawData"]
            cert = x509.load_der_x509_certificate(der)
            assert cert.public_key().key_size == 1024  # type: ignore[union-attr]
            assert cert.not_valid_after_utc.year == 2025
            assert [str(a) for a in run(pool, "Get-AuthServer").output] == [acs]
    finally:
        http_standin.put_state(original)


def test_hundreds_of_organisations_in_one_process(http_standin: StandIn) -> None:
    original = http_standin.state()
    orgs: dict[str, dict] = {f"tenant{i:03d}.example": {} for i in range(300)}
    http_standin.put_state({"default_organization": "tenant000.example", "organizations": orgs})
    try:
        with exchange_pool(http_standin, org="tenant299.example") as pool:
            assert str(run(pool, "Get-ExchangeServer").output[0]) == "TENANT299-EX1"
        state = http_standin.state()
        thumbprints = {o["auth_config"]["current"] for o in state["organizations"].values()}
        assert len(thumbprints) == 300  # each organisation has its own Auth certificate
    finally:
        http_standin.put_state(original)


def test_state_file_keeps_changes_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "exchange.json"
    with start_exchange_standin("--state", str(path)) as standin, exchange_pool(standin) as pool:
        run(pool, "Enable-PushNotificationProxy", Organization="fabrikam.com")
        thumbprint = standin.org_state()["auth_config"]["current"]
    saved = json.loads(path.read_text())
    assert saved["organizations"]["fabrikam.com"]["push_proxy"]["enabled"] is True
    assert "PRIVATE KEY" not in path.read_text()
    with start_exchange_standin("--state", str(path)) as standin:
        org = standin.org_state()
        assert org["push_proxy"]["enabled"] is True and org["auth_config"]["current"] == thumbprint


@pytest.mark.parametrize(("args", "message"), [
    (["--listen", "nowhere"], "--listen"),
    (["--capture", "Get-ExchangeServer"], "CMDLET=FILE"),
    (["--capture", "Get-ExchangeServer=/nonexistent.xml"], "/nonexistent.xml"),
    (["--cert-out", "x.pem"], "--cert-out needs --tls"),
])
def test_bad_command_line_is_refused_clearly(args: list[str], message: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "emulators.exchange", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr


def test_bad_state_file_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    result = subprocess.run([sys.executable, "-m", "emulators.exchange", "--state", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "not readable JSON" in result.stderr
