"""Kerberos for real: the product's client (pypsrp) signs in to the stand-in through a test KDC (MIT krb5, k5test).

Every failure ends in a clear ExchangeError before any cmdlet runs: the stand-in's journal stays empty and its
state unchanged.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.powershell import RunspacePool

from pushproxy.errors import ExchangeError
from pushproxy.exchange.session import ExchangeSession
from tests.exchange.standin import endpoint_for
from tests.support import kerberos_realm as kr
from tests.support.exchange_standin import StandIn, start_exchange_standin

pytestmark = pytest.mark.skipif(kr.missing() is not None, reason=f"Kerberos test realm unavailable: {kr.missing()}")

KEYTAB_ENV = "PUSHPROXY_TEST_KEYTAB"
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.fixture(scope="module")
def realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kr.Realm]:
    with kr.kerberos_realm(tmp_path_factory.mktemp("krb")) as realm:
        saved = {k: os.environ.get(k) for k in realm.env}
        os.environ.update(realm.env)  # the product runs in this process: it finds the realm through KRB5_CONFIG
        try:
            yield realm
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _standin(realm: kr.Realm, *, tls: bool, env: dict[str, str] | None = None) -> StandIn:
    return start_exchange_standin("--keytab", str(realm.http_keytab), tls=tls, user=realm.user, enable_auth="",
                                  env={**realm.env, **(env or {})}, url_host=kr.SERVICE_HOST)


@pytest.fixture(scope="module")
def https(realm: kr.Realm) -> Iterator[StandIn]:
    with _standin(realm, tls=True) as standin:
        yield standin


@pytest.fixture(scope="module")
def http(realm: kr.Realm) -> Iterator[StandIn]:
    with _standin(realm, tls=False) as standin:
        yield standin


def kerberos_endpoint(standin: StandIn, realm: kr.Realm, **extra: Any) -> Any:
    tls = {"mode": "ca_bundle", "ca_bundle": standin.cert_path} if standin.tls else None
    fields: dict[str, Any] = {"username": realm.user, **extra}
    return endpoint_for(standin, auth="kerberos", tls=tls, **fields)


def servers(session: ExchangeSession) -> list[str]:
    return [str(o) for o in session.invoke("Get-ExchangeServer")]


def refused_cleanly(standin: StandIn, before: dict[str, Any], err: ExchangeError) -> None:
    """The failure happened before any cmdlet: nothing ran, nothing changed, and no secret is in the message."""
    assert [e for e in standin.journal() if e.get("operation", "").startswith(("Get-", "Set-", "New-"))] == []
    assert standin.state() == before
    assert "Kerb-" not in str(err)


# -- it works --------------------------------------------------------------------------------------------------

def test_kerberos_with_a_password_over_https(realm: kr.Realm, https: StandIn) -> None:
    https.clear_journal()
    with ExchangeSession(kerberos_endpoint(https, realm), realm.user_password) as session:
        assert servers(session) == ["FABRIKAM-EX1", "FABRIKAM-EX2"]
    assert https.stats().get("auth.kerberos_handshakes", 0) >= 1
    assert {e.get("user") for e in https.journal() if e.get("operation") == "Get-ExchangeServer"} == {realm.user}


def test_kerberos_over_http_seals_every_message(realm: kr.Realm, http: StandIn) -> None:
    with ExchangeSession(kerberos_endpoint(http, realm), realm.user_password) as session:
        assert len(servers(session)) == 2
    # The stand-in refuses plaintext on an authenticated HTTP connection: this worked, so it was sealed.
    assert http.stats().get("auth.kerberos_handshakes", 0) >= 1


def test_the_password_never_touches_the_users_own_ticket_cache(realm: kr.Realm, https: StandIn) -> None:
    own_cache = Path(realm.env["KRB5CCNAME"].removeprefix("FILE:"))
    with ExchangeSession(kerberos_endpoint(https, realm), realm.user_password) as session:
        servers(session)
    assert not own_cache.exists()


def test_keytab_by_secret_reference(realm: kr.Realm, https: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYTAB_ENV, base64.b64encode(realm.service_keytab.read_bytes()).decode())
    # The stand-in knows one account; run it for svc-push to see the keytab's principal sign in.
    with start_exchange_standin("--keytab", str(realm.http_keytab), tls=True, user=realm.service_user,
                                enable_auth="", env=realm.env, url_host=kr.SERVICE_HOST) as standin:
        endpoint = kerberos_endpoint(standin, realm, username=realm.service_user, password_ref=None,
                                     keytab_ref=f"env:{KEYTAB_ENV}")
        with ExchangeSession(endpoint, None) as session:
            assert len(servers(session)) == 2


# -- it fails clearly, and changes nothing ---------------------------------------------------------------------

def test_wrong_password(realm: kr.Realm, https: StandIn) -> None:
    https.clear_journal()
    before = https.state()
    with pytest.raises(ExchangeError) as err:
        ExchangeSession(kerberos_endpoint(https, realm), "Kerb-not-the-password").open()
    assert "wrong password" in str(err.value) and not err.value.transient
    refused_cleanly(https, before, err.value)


def test_unknown_principal(realm: kr.Realm, https: StandIn) -> None:
    https.clear_journal()
    before = https.state()
    with pytest.raises(ExchangeError) as err:
        ExchangeSession(kerberos_endpoint(https, realm, username=f"nobody@{kr.REALM}"), realm.user_password).open()
    assert f"does not know the principal nobody@{kr.REALM}" in str(err.value)
    refused_cleanly(https, before, err.value)


def test_missing_keytab(realm: kr.Realm, https: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEYTAB_ENV, raising=False)
    https.clear_journal()
    before = https.state()
    endpoint = kerberos_endpoint(https, realm, password_ref=None, keytab_ref=f"env:{KEYTAB_ENV}")
    with pytest.raises(ExchangeError) as err:
        ExchangeSession(endpoint, None).open()
    assert f"the keytab env:{KEYTAB_ENV} could not be read" in str(err.value)
    refused_cleanly(https, before, err.value)


def test_a_keytab_for_someone_else(realm: kr.Realm, https: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEYTAB_ENV, base64.b64encode(realm.service_keytab.read_bytes()).decode())
    endpoint = kerberos_endpoint(https, realm, password_ref=None, keytab_ref=f"env:{KEYTAB_ENV}")  # admin's name
    with pytest.raises(ExchangeError) as err:
        ExchangeSession(endpoint, None).open()
    assert f"the keytab holds no key for {realm.user}" in str(err.value)


def test_expired_ticket(realm: kr.Realm, https: StandIn) -> None:
    from pushproxy.exchange import failures, kerberos
    from pushproxy.exchange.transport import build_wsman

    user = f"brief@{kr.REALM}"
    realm.addprinc(user, realm.user_password, "-maxlife", "0:00:01")
    ticket = kerberos.acquire(user, password=realm.user_password)
    while time.time() < ticket.end_time + 1:  # the realm gave it one second; wait it out
        time.sleep(0.2)
    endpoint = kerberos_endpoint(https, realm, username=user)
    wsman, counter, _ = build_wsman(endpoint, None, kerberos=ticket)
    with pytest.raises(Exception) as raised:
        RunspacePool(wsman, configuration_name="Microsoft.Exchange").open()
    err = failures.from_exception(raised.value, cmdlet=None, server="localhost", auth="kerberos",
                                  offered=counter.offered_auth)
    assert "expired" in str(err).lower()
    ticket.destroy()


@pytest.mark.skipif(not FAKETIME.exists(), reason="libfaketime is not installed (apt-get install faketime)")
def test_clock_skew_beyond_the_realms_limit(realm: kr.Realm) -> None:
    # The server's clock an hour ahead of the KDC's and ours: its Kerberos acceptor refuses the ticket (limit 5 min).
    skewed = {"LD_PRELOAD": str(FAKETIME), "FAKETIME": "+1h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    with _standin(realm, tls=True, env=skewed) as standin:
        before = standin.state()
        with pytest.raises(ExchangeError) as err:
            ExchangeSession(kerberos_endpoint(standin, realm), realm.user_password).open()
        assert "refused the Kerberos ticket" in str(err.value) and "clock" in str(err.value)
        assert standin.stats().get("auth.failed.kerberos", 0) >= 1
        refused_cleanly(standin, before, err.value)


def test_without_gssapi_the_message_says_so(realm: kr.Realm, https: StandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "gssapi", None)  # `import gssapi` now raises ImportError, as when not installed
    with pytest.raises(ExchangeError) as err:
        ExchangeSession(kerberos_endpoint(https, realm), realm.user_password).open()
    assert "Kerberos needs the gssapi and krb5 Python packages" in str(err.value)
    assert "ImportError" not in str(err.value)

