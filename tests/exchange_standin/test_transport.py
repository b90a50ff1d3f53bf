"""The stand-in speaks WinRM the way pypsrp expects of a real Exchange server: auth, encryption, CBT, long-polls."""

from __future__ import annotations

import datetime as dt
import select
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from tests.exchange_standin.conftest import exchange_pool, run
from tests.support.exchange_standin import StandIn


def test_get_exchange_server_over_each_transport(transport: tuple[StandIn, str]) -> None:
    standin, auth = transport
    with exchange_pool(standin, auth) as pool:
        ps = run(pool, "Get-ExchangeServer")
    assert ps.had_errors is False and not ps.streams.error
    assert [str(s) for s in ps.output] == ["FABRIKAM-EX1", "FABRIKAM-EX2"]
    assert str(ps.output[0].adapted_properties["AdminDisplayVersion"]) == "Version 15.2 (Build 1748.10)"


def test_wrong_password_is_an_authentication_error(transport: tuple[StandIn, str]) -> None:
    standin, auth = transport
    kwargs = {**standin.wsman_kwargs(auth), "password": "not-the-password"}
    with pytest.raises(AuthenticationError):
        RunspacePool(WSMan(**kwargs), configuration_name="Microsoft.Exchange").open()


def test_negotiate_wraps_ntlm_over_http(http_standin: StandIn) -> None:
    with exchange_pool(http_standin, "negotiate") as pool:
        assert len(run(pool, "Get-ExchangeServer").output) == 2


def test_only_microsoft_exchange_is_served_on_powershell(https_standin: StandIn) -> None:
    wsman = WSMan(**https_standin.wsman_kwargs("basic"))
    with pytest.raises(WSManFaultError) as err:
        RunspacePool(wsman, configuration_name="Microsoft.PowerShell").open()
    assert err.value.code == 2150858811
    assert "resource URI" in (err.value.reason or "")


def test_one_pool_runs_many_pipelines_on_one_handshake(http_standin: StandIn) -> None:
    before = http_standin.stats().get("auth.ntlm_handshakes", 0)
    with exchange_pool(http_standin) as pool:
        for _ in range(10):
            assert len(run(pool, "Get-ExchangeServer").output) == 2
    assert http_standin.stats()["auth.ntlm_handshakes"] - before == 1


def test_several_pools_run_at_once(http_standin: StandIn) -> None:
    def session(_: int) -> int:
        with exchange_pool(http_standin) as pool:
            return sum(len(run(pool, "Get-ExchangeServer").output) for _ in range(3))

    with ThreadPoolExecutor(max_workers=6) as executor:
        assert list(executor.map(session, range(6))) == [6] * 6


def test_receive_long_polls_past_operation_timeout(https_standin: StandIn) -> None:
    # The cmdlet takes longer than OperationTimeout: each Receive ends in fault 0x80338029 and pypsrp polls again.
    https_standin.faults([{"when": {"cmdlet": "Get-ExchangeServer"}, "fail": {"kind": "delay", "delay_s": 2.5},
                           "times": 1}])
    try:
        with exchange_pool(https_standin, "basic", operation_timeout=1, read_timeout=10) as pool:
            started = time.monotonic()
            ps = run(pool, "Get-ExchangeServer")
            elapsed = time.monotonic() - started
    finally:
        https_standin.clear_faults()
    assert elapsed >= 2.5
    assert [str(s) for s in ps.output] == ["FABRIKAM-EX1", "FABRIKAM-EX2"]


def _relay_context(folder: Path) -> ssl.SSLContext:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (folder / "relay.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "relay.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "relay.pem", folder / "relay.key")
    return context


def _raw_tls_proxy(target_port: int, folder: Path) -> tuple[int, threading.Event]:
    """A TLS-terminating relay with its own certificate: a man in the middle the channel binding must catch."""
    context = _relay_context(folder)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def relay(a: ssl.SSLSocket, b: ssl.SSLSocket) -> None:
        # One thread per connection pair: an SSL socket read in one thread while written in another can hang.
        try:
            while not stop.is_set():
                # SSL sockets may already hold decrypted bytes that select() cannot see.
                ready = [s for s in (a, b) if s.pending()] or select.select([a, b], [], [], 0.5)[0]
                for s in ready:
                    # Readable may be only a TLS 1.3 session ticket, no application data: a blocking recv would
                    # then wait forever while the other side's bytes sit unforwarded. Read without blocking.
                    s.setblocking(False)
                    try:
                        data = s.recv(65536)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        continue
                    finally:
                        s.setblocking(True)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                client_tls = context.wrap_socket(client, server_side=True)
            except (OSError, ssl.SSLError):
                continue
            upstream = ssl.create_default_context()
            upstream.check_hostname = False
            upstream.verify_mode = ssl.CERT_NONE
            server = upstream.wrap_socket(socket.create_connection(("127.0.0.1", target_port)))
            threading.Thread(target=relay, args=(client_tls, server), daemon=True).start()
        listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], stop


def test_channel_binding_is_checked_over_https(https_standin: StandIn, tmp_path: Path) -> None:
    port, stop = _raw_tls_proxy(https_standin.port, tmp_path)
    try:
        kwargs = {**https_standin.wsman_kwargs("ntlm"), "port": port, "cert_validation": False}
        with pytest.raises(AuthenticationError):
            RunspacePool(WSMan(**kwargs), configuration_name="Microsoft.Exchange").open()
        # Basic has no channel binding, so the same relay works for it: the failure above was the CBT.
        kwargs = {**https_standin.wsman_kwargs("basic"), "port": port, "cert_validation": False}
        with RunspacePool(WSMan(**kwargs), configuration_name="Microsoft.Exchange") as pool:
            assert len(run(pool, "Get-ExchangeServer").output) == 2
    finally:
        stop.set()


def test_plaintext_after_ntlm_over_http_is_refused(http_standin: StandIn) -> None:
    # requests-level client: authenticate, then send SOAP unencrypted on the same connection.
    import base64

    import spnego

    session = requests.Session()
    url = http_standin.url
    ctx = spnego.client(http_standin.user, http_standin.password, protocol="ntlm")
    token = ctx.step() or b""
    r = session.post(url, data=b"", headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()})
    assert r.status_code == 401
    challenge = base64.b64decode(r.headers["WWW-Authenticate"].split(" ", 1)[1])
    token = ctx.step(challenge) or b""
    r = session.post(url, data=b"", headers={"Authorization": "Negotiate " + base64.b64encode(token).decode()})
    assert r.status_code == 200
    r = session.post(url, data=b"<s:Envelope/>", headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    assert r.status_code == 400 and b"unencrypted" in r.content


def test_unknown_path_is_404(http_standin: StandIn) -> None:
    kwargs = {**http_standin.wsman_kwargs("ntlm"), "path": "nosuch.org/PowerShell"}
    with pytest.raises(WinRMTransportError) as err:
        RunspacePool(WSMan(**kwargs), configuration_name="Microsoft.Exchange").open()
    assert err.value.code == 404


def test_large_output_spans_several_receives(http_standin: StandIn) -> None:
    original = http_standin.state()
    servers = [{"name": f"EX{i:02d}"} for i in range(40)]  # 40 x ~110 KB: far beyond one MaxEnvelopeSize
    http_standin.put_state({"organizations": {"fabrikam.com": {"servers": servers}}})
    try:
        before = http_standin.stats().get("wsman.Receive", 0)
        with exchange_pool(http_standin) as pool:
            ps = run(pool, "Get-ExchangeServer")
        assert [str(s) for s in ps.output] == [s["name"] for s in servers]
        assert http_standin.stats()["wsman.Receive"] - before > 10
    finally:
        http_standin.put_state(original)


def test_large_input_arrives_through_send(http_standin: StandIn) -> None:
    huge = "x" * 1_200_000  # pypsrp sends the first fragment with Command and the rest with Send
    before = http_standin.stats().get("wsman.Send", 0)
    with exchange_pool(http_standin) as pool:
        ps = run(pool, "Get-ExchangeServer", Identity=huge)
        assert "couldn't be found" in str(ps.streams.error[0])
        assert len(run(pool, "Get-ExchangeServer").output) == 2
    assert http_standin.stats()["wsman.Send"] - before >= 2


def test_stop_ends_a_running_pipeline(https_standin: StandIn) -> None:
    from pypsrp.complex_objects import PSInvocationState

    https_standin.faults([{"when": {"cmdlet": "Get-AuthConfig"}, "fail": {"kind": "delay", "delay_s": 3}, "times": 1}])
    try:
        with exchange_pool(https_standin, "basic") as pool:
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-AuthConfig")
            ps.begin_invoke()
            ps.stop()
            assert ps.state == PSInvocationState.STOPPED
            assert len(run(pool, "Get-ExchangeServer").output) == 2
    finally:
        https_standin.clear_faults()


def test_windows_powershell_endpoint_per_organisation(http_standin: StandIn) -> None:
    kwargs = http_standin.wsman_kwargs("ntlm", org="fabrikam.com", windows=True)
    with RunspacePool(WSMan(**kwargs), configuration_name="Microsoft.PowerShell") as pool:
        assert not run(pool, "Restart-Service", Name="MSExchangeHM").streams.error
    with pytest.raises(WSManFaultError) as err:
        RunspacePool(WSMan(**kwargs), configuration_name="Microsoft.Exchange").open()
    assert err.value.code == 2150858811
