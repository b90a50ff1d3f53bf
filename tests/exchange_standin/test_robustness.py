"""Bad requests get WSMan faults and the server (and the same NTLM-encrypted connection) keeps serving."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from pypsrp.exceptions import WinRMTransportError, WSManFaultError
from pypsrp.powershell import RunspacePool
from pypsrp.shell import SignalCode
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

from tests.exchange_standin.conftest import run
from tests.support.exchange_standin import StandIn

RESOURCE = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"


@pytest.fixture
def pool(http_standin: StandIn) -> Iterator[RunspacePool]:
    with RunspacePool(WSMan(**http_standin.wsman_kwargs("ntlm")), configuration_name="Microsoft.Exchange") as pool:
        yield pool


def _fault_of(error: WinRMTransportError) -> ET.Element:
    fault = ET.fromstring(error.response_text).find("s:Body/s:Fault", NAMESPACES)
    assert fault is not None
    return fault


def _still_serving(pool: RunspacePool) -> None:
    assert [str(s) for s in run(pool, "Get-ExchangeServer").output] == ["FABRIKAM-EX1", "FABRIKAM-EX2"]


@pytest.mark.parametrize("body", [
    b"this is not XML at all",
    b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body/></s:Envelope>",  # no header
    b"<Envelope><Header/><Body/></Envelope>",  # not SOAP 1.2
    b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Header><a:MessageID "
    b"xmlns:a='http://schemas.xmlsoap.org/ws/2004/08/addressing'>uuid:1</a:MessageID></s:Header><s:Body/></s:Envelope>",
    b"",  # empty: the answer is the end of an auth handshake, not a fault
], ids=["not-xml", "no-header", "not-soap", "no-action", "empty"])
def test_malformed_soap_gets_a_fault_on_the_same_encrypted_connection(pool: RunspacePool, body: bytes) -> None:
    transport = pool.connection.transport
    if body:
        with pytest.raises(WinRMTransportError) as err:
            transport.send(body)
        assert err.value.code == 500
        assert _fault_of(err.value).find("s:Detail/wsmanfault:WSManFault", NAMESPACES) is not None
    _still_serving(pool)


def test_oversize_message_gets_a_fault(pool: RunspacePool) -> None:
    body = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'>" + b" " * 600_000 + b"</s:Envelope>"
    with pytest.raises(WinRMTransportError) as err:
        pool.connection.transport.send(body)
    detail = _fault_of(err.value).find("s:Detail/wsmanfault:WSManFault", NAMESPACES)
    assert detail is not None and detail.get("Code") == str(0x80338111)
    _still_serving(pool)


def test_unknown_shell_id_gets_the_shell_not_found_fault(pool: RunspacePool) -> None:
    rsp = NAMESPACES["rsp"]
    receive = ET.Element(f"{{{rsp}}}Receive")
    ET.SubElement(receive, f"{{{rsp}}}DesiredStream").text = "stdout"
    selectors = SelectorSet()
    selectors.add_option("ShellId", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(WSManFaultError) as err:
        pool.connection.receive(RESOURCE, receive, selector_set=selectors)
    assert err.value.code == 0x8033805B
    _still_serving(pool)


def test_receive_for_a_finished_pipeline_gets_a_fault(pool: RunspacePool) -> None:
    ps = run(pool, "Get-ExchangeServer")
    command_id = ps._command_id or ""  # the WSMan CommandId pypsrp used
    with pytest.raises(WSManFaultError) as err:
        pool.shell.receive("stdout", command_id=command_id)
    assert "not found or has already finished" in (err.value.reason or "")
    ps.close()  # Terminate, as pypsrp does on close: after it, the command is gone altogether
    with pytest.raises(WSManFaultError):
        pool.shell.receive("stdout", command_id=command_id)
    pool.shell.signal(SignalCode.TERMINATE, command_id)  # terminating twice is harmless
    _still_serving(pool)


def test_is_alive_after_delete_is_false(http_standin: StandIn) -> None:
    pool = RunspacePool(WSMan(**http_standin.wsman_kwargs("ntlm")), configuration_name="Microsoft.Exchange")
    pool.open()
    assert pool.is_alive()
    other = RunspacePool(pool.connection, configuration_name="Microsoft.Exchange")
    other.shell._selector_set = pool.shell._selector_set
    pool.close()
    assert other.is_alive() is False


def test_an_error_fault_rule_on_a_wsman_action_is_a_soap_fault(http_standin: StandIn, pool: RunspacePool) -> None:
    http_standin.faults([{"when": {"operation": "Command"},
                          "fail": {"kind": "error", "message": "boom", "code": 2150858843}, "times": 1}])
    with pytest.raises(WSManFaultError) as err:
        run(pool, "Get-ExchangeServer")
    assert (err.value.code, err.value.reason) == (2150858843, "boom")
    _still_serving(pool)


def test_an_internal_error_is_a_sealed_fault_and_the_connection_lives_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process server, so the stand-in's own dispatcher can be made to fail once (pypsrp stays unmocked).
    from emulators.exchange.engine import StandIn as App
    from emulators.exchange.organisation import ExchangeState, VirtualDirectoryAuth
    from emulators.exchange.server import Credentials, serve

    monkeypatch.setenv("NTLM_USER_FILE", "")  # the in-process acceptor sets it; restore it afterwards
    app = App(ExchangeState.default(default_vdir=VirtualDirectoryAuth(windows_authentication=True)))
    server = serve(app, "127.0.0.1", 0, Credentials("admin@fabrikam.com", "In-Proc-Pa55"), None)
    try:
        wsman = WSMan("127.0.0.1", port=server.server_address[1], path="PowerShell", ssl=False, auth="ntlm",
                      username="admin@fabrikam.com", password="In-Proc-Pa55", operation_timeout=5, read_timeout=15)
        with RunspacePool(wsman, configuration_name="Microsoft.Exchange") as pool:
            real = app.handle
            calls = {"n": 0}

            def fail_once(*args: object) -> bytes:
                calls["n"] += 1
                if calls["n"] == 1:
                    raise RuntimeError("stand-in bug")
                return real(*args)  # type: ignore[arg-type]

            monkeypatch.setattr(app, "handle", fail_once)
            with pytest.raises(WSManFaultError) as err:
                run(pool, "Get-ExchangeServer")
            assert err.value.code == 0x8033800A and "stand-in bug" in (err.value.reason or "")
            _still_serving(pool)  # same NTLM-sealed connection, sequence numbers intact
    finally:
        server.shutdown()
        server.server_close()
