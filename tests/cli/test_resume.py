"""Interrupting `pushproxy onboard` (Ctrl-C) in any phase, then running the same command again, continues the
onboarding where it stopped: one instance, every change made once, outcome done.

Each test runs the real CLI as a process and sends it SIGINT once an observer on the same database sees the
phase; a delay fault on the stand-in holds the phases that would otherwise pass in milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pushproxy.cli import main
from pushproxy.onboarding import runner
from tests.e2e.conftest import World, count_ok

REPO = Path(__file__).resolve().parents[2]
INSTANCE = "onboarding-fabrikam.com"


def _onboard(world: World, spec_file: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pushproxy", "onboard", "--spec", str(spec_file), "--json",
         "--database", str(world.database), *extra],
        cwd=REPO,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,  # nobody answers on its terminal
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(world: World, process: subprocess.Popen[str], test: Any, what: str, timeout: float = 60) -> None:
    observer = world.host()
    deadline = time.monotonic() + timeout
    while True:
        status = observer.get_status(INSTANCE, show_history=False)
        custom = status.custom_status if status else None
        if isinstance(custom, dict) and test(custom):
            return
        assert process.poll() is None, (what, process.communicate())
        assert time.monotonic() < deadline, f"never saw {what}: {custom}"
        time.sleep(0.05)


def _interrupt(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, err
    assert "Traceback" not in err, err
    return err


def _phase(name: str) -> Any:
    return lambda c: c.get("phase") == name


def _awaiting(group: str) -> Any:
    return lambda c: (c.get("awaiting") or {}).get("group") == group


def approve_as_carol(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setenv("LOGNAME", "carol")
        assert main(["approve", INSTANCE, "--no-wait", "--database", str(world.database)]) == 0


@pytest.mark.slow
def test_ctrl_c_in_every_phase_then_the_same_command_continues(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(world.spec_dict(approval={"policy": "required"})), encoding="utf-8")
    # Hold the phases that would otherwise pass in milliseconds; each rule is used once.
    world.exchange.faults([
        {"when": {"cmdlet": "Get-ExchangeServer"}, "fail": {"kind": "delay", "delay_s": 4.0}, "times": 1},
        {"when": {"cmdlet": "Enable-PushNotificationProxy"}, "fail": {"kind": "delay", "delay_s": 4.0}, "times": 1},
        {"when": {"cmdlet": "Invoke-MonitoringProbe"}, "fail": {"kind": "delay", "delay_s": 4.0}, "times": 1},
    ])
    # (what the run waits for before Ctrl-C, its options); the last run goes to the end.
    runs: list[tuple[str, Any, list[str]]] = [
        ("discovering", _phase("discovering"), []),
        ("awaiting the on-premises approval", _awaiting("on_premises"), []),
        ("awaiting the tenant approval", _awaiting("tenant"), []),
        ("applying", lambda c: c.get("phase") == "applying" and c.get("current") == "enable_push_proxy", ["--auto-approve"]),
        ("verifying", _phase("verifying"), ["--auto-approve"]),
    ]
    for i, (what, reached, options) in enumerate(runs):
        process = _onboard(world, spec_file, *options)
        if what == "awaiting the tenant approval":
            # The on-premises group is approved from another terminal, by another person (the requester can't);
            # the onboarding then waits for the tenant's.
            _wait_for(world, process, _awaiting("on_premises"), "the on-premises approval again")
            approve_as_carol(world, monkeypatch)
        _wait_for(world, process, reached, what)
        err = _interrupt(process)
        assert ("Resuming onboarding" in err) == (i > 0), (what, err)
        if what == "awaiting the tenant approval":
            approve_as_carol(world, monkeypatch)  # --auto-approve below can't: this user requested the run

    last = _onboard(world, spec_file, "--auto-approve")
    out, err = last.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert last.returncode == 0, err
    assert "Resuming onboarding" in err
    report = json.loads(out)
    assert report["outcome"] == "done"
    # A change the interrupted run made is found in place by the next one: never made twice.
    assert set(report["changed"]) <= {"ensure_auth_server", "upload_tenant_key", "enable_push_proxy"}
    journal = world.exchange.journal()
    assert count_ok(journal, "New-AuthServer") == 1
    assert count_ok(journal, "Enable-PushNotificationProxy") == 1
    assert len(world.writes()[1]) == 1  # the key went up once
    assert [a["group"] for a in report["approvals"]] == ["on_premises", "tenant"]
    assert runner.runtime_of(world.host().get_status(INSTANCE)) == "Completed"
