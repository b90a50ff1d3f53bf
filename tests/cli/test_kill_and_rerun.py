"""SIGKILL `pushproxy onboard` in every phase (discovering, awaiting each approval, each apply step while its
change is in flight, verifying), then run the same command again: it continues, and the stand-ins' journals
show each change made exactly once.

Every change kind is planned (an expired Auth certificate: create, import to the other AD site, AuthServer, key
upload, assign, enable). A delay fault holds each step's change so the kill lands while it is in flight; the
killed process's cmdlet goes on on the server, and the rerun must find it rather than make it again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import pytest

from pushproxy.cli import main
from pushproxy.onboarding import runner
from tests.cli.test_resume import INSTANCE, _awaiting, _onboard, _phase, _wait_for
from tests.e2e.conftest import World, count_ok
from tests.e2e.test_exactly_once import expired_certificate

HOLD_S = 4.0


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _applying(kind: str) -> Any:
    return lambda c: c.get("phase") == "applying" and c.get("current") == kind


def _approve_as_carol(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setenv("LOGNAME", "carol")
        assert main(["approve", INSTANCE, "--no-wait", "--database", str(world.database)]) == 0


@pytest.mark.slow
def test_sigkill_in_every_phase_then_the_same_command_makes_each_change_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = expired_certificate(world)
    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(world.spec_dict(approval={"policy": "required"})), encoding="utf-8")
    hold = {"kind": "delay", "delay_s": HOLD_S}
    world.exchange.faults([{"when": {"cmdlet": c}, "fail": hold, "times": 1} for c in (
        "Get-ExchangeServer", "New-ExchangeCertificate", "Import-ExchangeCertificate", "New-AuthServer",
        "Set-AuthConfig", "Enable-PushNotificationProxy", "Invoke-MonitoringProbe")])
    world.graph.faults([{"when": {"operation": "PATCH /v1.0/servicePrincipals"}, "fail": hold, "times": 1}])

    kills: list[tuple[str, Any]] = [
        ("discovering", _phase("discovering")),
        ("awaiting the on-premises approval", _awaiting("on_premises")),
        ("awaiting the tenant approval", _awaiting("tenant")),
        *((f"applying {k}", _applying(k)) for k in (
            "create_auth_certificate", "import_auth_certificate", "ensure_auth_server", "upload_tenant_key",
            "assign_auth_certificate", "enable_push_proxy")),
        ("verifying", _phase("verifying")),
    ]
    for i, (what, reached) in enumerate(kills):
        process = _onboard(world, spec_file)
        _wait_for(world, process, reached, what, timeout=90)
        if what.startswith("applying") or what == "verifying":
            time.sleep(1.0)  # the step's change (or the probe) is on the wire now, held by the fault
        _kill(process)
        if what.startswith("awaiting"):
            _approve_as_carol(world, monkeypatch)  # another person; the requester can't
        del i

    last = _onboard(world, spec_file)
    out, err = last.communicate(timeout=180)
    assert last.returncode == 0, err
    assert "Resuming onboarding" in err and "Traceback" not in err
    report = json.loads(out)
    assert report["outcome"] == "done", report
    journal = world.exchange.journal()
    for cmdlet in ("New-ExchangeCertificate", "Import-ExchangeCertificate", "New-AuthServer", "Set-AuthConfig",
                   "Enable-PushNotificationProxy"):
        assert count_ok(journal, cmdlet) == 1, (cmdlet, [e["operation"] for e in journal if e["outcome"] == "ok"])
    assert len(world.writes()[1]) == 1  # one key PATCH landed
    org = world.org()
    new = [c for c in org["certificates"] if c["thumbprint"] != expired]
    assert len(new) == 1 and org["auth_config"]["current"] == new[0]["thumbprint"]
    keys = world.service_principal()["keyCredentials"]
    assert len(keys) == 2  # the tenant's own key, and ours once
    assert [a["group"] for a in report["approvals"]] == ["on_premises", "tenant"]
    assert runner.runtime_of(world.host().get_status(INSTANCE)) == "Completed"
