"""Fault rules (error, http, drop, delay; times; when.org / when.cmdlet) and the journal other parts rely on."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from pypsrp.exceptions import WinRMTransportError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from tests.exchange_standin.conftest import exchange_pool, run
from tests.support.exchange_standin import StandIn


@pytest.fixture
def standin(https_standin: StandIn) -> Iterator[StandIn]:
    https_standin.clear_faults()
    https_standin.clear_journal()
    yield https_standin
    https_standin.clear_faults()


def test_error_fault_fails_the_cmdlet_n_times_then_it_works(standin: StandIn) -> None:
    standin.faults([{"when": {"operation": "Get-AuthConfig"},
                     "fail": {"kind": "error", "message": "Active Directory is unavailable."}, "times": 2}])
    with exchange_pool(standin, "basic") as pool:
        outcomes = []
        for _ in range(3):
            ps = run(pool, "Get-AuthConfig")
            outcomes.append((len(ps.output), [str(e) for e in ps.streams.error]))
    assert outcomes == [(0, ["Active Directory is unavailable."])] * 2 + [(1, [])]
    journal = [e for e in standin.journal() if e["operation"] == "Get-AuthConfig"]
    assert [e["outcome"] for e in journal] == ["fault", "fault", "ok"]


def test_error_fault_can_be_terminating(standin: StandIn) -> None:
    standin.faults([{"when": {"cmdlet": "Get-AuthConfig"}, "fail": {"kind": "error", "terminating": True}, "times": 1}])
    with exchange_pool(standin, "basic") as pool:
        assert run(pool, "Get-AuthConfig").had_errors


def test_http_fault_on_create(standin: StandIn) -> None:
    standin.faults([{"when": {"operation": "Create"}, "fail": {"kind": "http", "status": 503}, "times": 1}])
    wsman = WSMan(**standin.wsman_kwargs("basic"))
    with pytest.raises(WinRMTransportError) as err:
        RunspacePool(wsman, configuration_name="Microsoft.Exchange").open()
    assert err.value.code == 503
    with exchange_pool(standin, "basic") as pool:  # times: 1 -> the next one works
        assert run(pool, "Get-ExchangeServer").output


def test_http_fault_on_a_cmdlet_fails_its_command_request(standin: StandIn) -> None:
    standin.faults([{"when": {"operation": "Set-AuthConfig"}, "fail": {"kind": "http", "status": 500}, "times": 1}])
    with exchange_pool(standin, "basic") as pool:
        with pytest.raises(WinRMTransportError):
            run(pool, "Set-AuthConfig", "ClearPreviousCertificate")
        assert not run(pool, "Set-AuthConfig", "ClearPreviousCertificate").had_errors


def test_drop_closes_the_connection(standin: StandIn) -> None:
    standin.faults([{"when": {"operation": "Get-ExchangeServer"}, "fail": {"kind": "drop"}, "times": 1}])
    with exchange_pool(standin, "basic") as pool, pytest.raises(requests.exceptions.ConnectionError):
        run(pool, "Get-ExchangeServer")


def test_delay_answers_late(standin: StandIn) -> None:
    standin.faults([{"when": {"operation": "Delete"}, "fail": {"kind": "delay", "delay_s": 1}, "times": 1}])
    with exchange_pool(standin, "basic") as pool:
        run(pool, "Get-ExchangeServer")
        started = time.monotonic()
    assert time.monotonic() - started >= 1


def test_rules_can_target_one_organisation(standin: StandIn) -> None:
    standin.faults([{"when": {"operation": "Get-AuthConfig", "org": "contoso.com"}, "fail": {"kind": "error"}}])
    with exchange_pool(standin, "basic") as pool:
        assert not run(pool, "Get-AuthConfig").streams.error
    standin.clear_faults()
    assert standin.request("GET", "/_emulator/faults") == {"rules": []}


@pytest.mark.parametrize("rule", [
    {"when": {}, "fail": {"kind": "error"}},
    {"when": {"operation": "Create"}, "fail": {"kind": "explode"}},
    {"when": {"operation": "Create"}, "fail": {"kind": "http", "status": 200}},
    {"when": {"operation": "Create"}, "fail": {"kind": "delay", "delay_s": -1}},
    {"when": {"operation": "Create"}, "fail": {"kind": "error"}, "times": 0},
])
def test_bad_rules_are_refused(standin: StandIn, rule: dict) -> None:
    with pytest.raises(AssertionError, match="400"):
        standin.faults([rule])


def test_journal_records_cmdlets_and_wsman_shells(standin: StandIn) -> None:
    with exchange_pool(standin, "basic") as pool:
        run(pool, "Get-ExchangeServer", Identity="FABRIKAM-EX2")
        run(pool, "Get-ExchangeServer", Identity="NOPE")
    journal = standin.journal()
    assert [e["operation"] for e in journal] == ["Create", "Get-ExchangeServer", "Get-ExchangeServer", "Delete"]
    entry = journal[1]
    assert entry["parameters"] == {"Identity": "FABRIKAM-EX2"}
    assert (entry["user"], entry["endpoint"], entry["org"], entry["outcome"]) == (
        standin.user, "PowerShell", "fabrikam.com", "ok")
    assert journal[2]["outcome"] == "error"
    stats = standin.stats()
    assert stats["wsman.Create"] >= 1 and stats["wsman.Command"] >= 2
