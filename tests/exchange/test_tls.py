"""HTTPS: system CAs refuse the stand-in's self-signed certificate; a CA bundle or a pin accepts it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pushproxy.certs import sha256_fingerprint
from pushproxy.errors import ExchangeError
from pushproxy.exchange import client
from pushproxy.exchange.session import ExchangeSession
from tests.exchange.standin import default_org, endpoint_for
from tests.support.exchange_standin import start_exchange_standin


@pytest.fixture(scope="module")
def tls_standin() -> Iterator[Any]:
    with start_exchange_standin(tls=True) as s:
        yield s


def _pin(standin: Any) -> str:
    pem = Path(standin.cert_path).read_bytes()
    return sha256_fingerprint(x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER))


@pytest.mark.parametrize("auth", ["ntlm", "basic", "negotiate"])
def test_https_with_a_ca_bundle(tls_standin: Any, auth: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = endpoint_for(tls_standin, auth=auth, tls={"mode": "ca_bundle", "ca_bundle": tls_standin.cert_path})
    with ExchangeSession(endpoint, tls_standin.password) as session:
        assert client.get_auth_config(session).current_thumbprint
    assert tls_standin.password not in caplog.text  # Basic sends it in a header; no log line carries it


def test_https_with_a_pinned_certificate(tls_standin: Any) -> None:
    endpoint = endpoint_for(tls_standin, tls={"mode": "pinned", "pinned_sha256": _pin(tls_standin)})
    with ExchangeSession(endpoint, tls_standin.password) as session:
        d = client.discover_exchange(session, "fabrikam.com")
    assert len(d.servers) == 2


def test_a_wrong_pin_is_refused_before_the_credential_is_sent(tls_standin: Any) -> None:
    tls_standin.clear_journal()
    endpoint = endpoint_for(tls_standin, auth="basic", tls={"mode": "pinned", "pinned_sha256": "00" * 32})
    with pytest.raises(ExchangeError) as err:
        with ExchangeSession(endpoint, tls_standin.password):
            pass
    assert not err.value.transient and err.value.error_id == "TLS"
    assert "pinned" in err.value.message
    assert not [e for e in tls_standin.journal() if e["operation"] == "Create"]


def test_system_cas_refuse_a_self_signed_server(tls_standin: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests would honour REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment: clear them for this test.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ExchangeError) as err:
        with ExchangeSession(endpoint_for(tls_standin), tls_standin.password):
            pass
    assert not err.value.transient and err.value.error_id == "TLS"


@pytest.fixture(scope="module")
def winrm_standin() -> Iterator[Any]:
    """A second stand-in with its own self-signed certificate: its /wsman plays the server's WinRM listener."""
    with start_exchange_standin(tls=True) as s:
        yield s


def _restart_attempts(standin: Any) -> list[dict[str, Any]]:
    return [e for e in standin.journal() if e["operation"] == "Restart-Service"]


def test_the_windows_powershell_endpoint_is_checked_with_its_own_tls_settings(tls_standin: Any, winrm_standin: Any) -> None:
    exchange_pin, winrm_pin = _pin(tls_standin), _pin(winrm_standin)
    assert exchange_pin != winrm_pin
    server = default_org(tls_standin.state())["servers"][0]["name"]
    wsman_url = winrm_standin.base_url.rstrip("/") + "/wsman"
    winrm_standin.clear_journal()

    def endpoint(**extra: Any) -> Any:
        return endpoint_for(tls_standin, tls={"mode": "pinned", "pinned_sha256": exchange_pin}, windows_powershell_url=wsman_url, **extra)

    # Without windows_powershell_tls the /PowerShell pin applies to WinRM too, and refuses its certificate.
    with pytest.raises(ExchangeError) as err:
        client.restart_health_manager(endpoint(), tls_standin.password, server)
    assert not err.value.transient and err.value.error_id == "TLS"
    # A pin that matches neither listener is refused as well.
    with pytest.raises(ExchangeError) as err:
        client.restart_health_manager(endpoint(windows_powershell_tls={"mode": "pinned", "pinned_sha256": "11" * 32}), tls_standin.password, server)
    assert err.value.error_id == "TLS"
    assert _restart_attempts(winrm_standin) == []  # refused in the handshake, before any WSMan message

    # Each endpoint with its own pin: Exchange's cmdlets on one, the restart on the other.
    both = endpoint(windows_powershell_tls={"mode": "pinned", "pinned_sha256": winrm_pin})
    with ExchangeSession(both, tls_standin.password) as session:
        assert client.get_auth_config(session).current_thumbprint
    client.restart_health_manager(both, tls_standin.password, server)
    restarts = _restart_attempts(winrm_standin)
    assert len(restarts) == 1 and restarts[0]["outcome"] == "ok" and restarts[0]["parameters"].get("Name") == "MSExchangeHM"

    # A CA bundle works the same way (the WinRM certificate as its own CA).
    bundle = endpoint(windows_powershell_tls={"mode": "ca_bundle", "ca_bundle": winrm_standin.cert_path})
    client.restart_health_manager(bundle, tls_standin.password, server)
    assert len(_restart_attempts(winrm_standin)) == 2
