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
from tests.exchange.standin import endpoint_for
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
