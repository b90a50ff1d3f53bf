"""`--timeout` running out: one clean line, exit code 6, and the onboarding is left waiting (not failed, not
half-done), so the same command carries it on."""

from __future__ import annotations

import json

import pytest

from pushproxy.cli import main
from pushproxy.commands import exit_codes
from pushproxy.onboarding import runner
from tests.e2e.conftest import DOMAIN, World


def test_a_timeout_exits_6_cleanly_and_the_same_command_continues(world: World, capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = world.tmp / "spec.json"
    path.write_text(json.dumps(world.spec_dict(approval={"policy": "required"})), encoding="utf-8")
    database = str(world.database)
    assert main(["onboard", "--spec", str(path), "--database", database, "--timeout", "3"]) == exit_codes.STILL_RUNNING
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    said = " ".join(captured.out.split())  # rich wraps at the terminal's width
    assert "still running after 3 s (--timeout)" in said and "Run the same command again" in said
    host = world.host()
    assert runner.runtime_of(host.get_status(f"onboarding-{DOMAIN}", show_history=False)) in runner.ACTIVE
    host.close()
    world.hosts.remove(host)
    # Carried on by another person at the terminal: --auto-approve never approves the run you requested yourself.
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "bob")
    assert main(["onboard", "--spec", str(path), "--auto-approve", "--database", database, "--timeout", "90"]) == exit_codes.DONE
