"""The CLI on the local host: `onboard --auto-approve --json`, and `approve` from another terminal."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pushproxy.cli import main
from pushproxy.onboarding import runner
from tests.e2e.conftest import World

REPO = Path(__file__).resolve().parents[2]


def test_onboard_auto_approve_json(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(world.spec_dict(approval={"policy": "required"})), encoding="utf-8")

    code = main(["onboard", "--spec", str(spec_file), "--auto-approve", "--json", "--database", str(world.database)])

    out = capsys.readouterr().out
    report = json.loads(out)
    assert code == 0 and report["outcome"] == "done"
    # On one machine --auto-approve is the operator's approval policy for the run, not the requester approving
    # their own request (which the workflow refuses).
    assert {a["approver"] for a in report["approvals"]} == {"policy:auto"}
    assert report["requested_by"] == getpass.getuser()

    assert main(["status", "--json", "--database", str(world.database)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["instance_id"], r["phase"]) for r in rows] == [("onboarding-fabrikam.com", "done")]


def test_dry_run_shows_the_plan_and_changes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(world.spec_dict()), encoding="utf-8")

    assert main(["onboard", "--spec", str(spec_file), "--dry-run", "--json", "--database", str(world.database)]) == 0

    plan = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in plan["changes"]] == ["ensure_auth_server", "upload_tenant_key", "enable_push_proxy"]
    assert world.writes() == ([], [])
    assert not world.database.exists()


def test_approve_from_another_terminal(world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(world.spec_dict(approval={"policy": "required"})), encoding="utf-8")
    onboard = subprocess.Popen(
        [sys.executable, "-m", "pushproxy", "onboard", "--spec", str(spec_file), "--json", "--database", str(world.database)],
        cwd=REPO,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,  # nobody answers on its terminal
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    observer = world.host()
    instance_id = "onboarding-fabrikam.com"
    # Another terminal, another person: the requester can't approve their own onboarding.
    monkeypatch.setenv("LOGNAME", "carol")
    try:
        for group in ("on_premises", "tenant"):
            deadline = time.monotonic() + 60
            while True:
                status = observer.get_status(instance_id, show_history=False)
                custom = status.custom_status if status else None
                if isinstance(custom, dict) and (custom.get("awaiting") or {}).get("group") == group:
                    break
                assert onboard.poll() is None, onboard.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert main(["approve", instance_id, "--comment", "looks right", "--database", str(world.database)]) == 0
        out, err = onboard.communicate(timeout=60)
    finally:
        if onboard.poll() is None:
            onboard.kill()
            onboard.wait()
    assert onboard.returncode == 0, err
    report = json.loads(out)
    assert report["outcome"] == "done"
    assert [(a["group"], a["comment"]) for a in report["approvals"]] == [
        ("on_premises", "looks right"),
        ("tenant", "looks right"),
    ]
    assert runner.runtime_of(observer.get_status(instance_id)) == "Completed"


def test_approve_refuses_an_onboarding_that_waits_for_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.onboard(world.spec())
    assert main(["approve", "onboarding-fabrikam.com", "--database", str(world.database)]) == 1
    assert "is not waiting for an approval" in capsys.readouterr().err


def test_secrets_from_a_0600_file_and_a_readable_file_refused(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets_file = world.tmp / "secrets.json"
    secrets_file.write_text(
        json.dumps({"exchange": world.exchange.password, "graph": world.graph.client_secret}), encoding="utf-8"
    )
    monkeypatch.setenv("PUSHPROXY_SECRETS_FILE", str(secrets_file))
    from pushproxy.secrets import tenant_env_name

    for name in ("E2E_EXCHANGE_PASSWORD", "GRAPH_STANDIN_SECRET"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(tenant_env_name(world.spec().tenant_domain, name), raising=False)
    spec = world.spec_dict()
    spec["exchange"]["password_ref"] = "file:exchange"
    spec["graph"]["secret_ref"] = "file:graph"
    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    args = ["onboard", "--spec", str(spec_file), "--json", "--database", str(world.database)]

    secrets_file.chmod(0o644)
    assert main(args) == 1  # discovery fails: the file is readable by others
    captured = capsys.readouterr()
    assert "0600" in captured.out + captured.err
    assert world.graph.client_secret not in captured.out + captured.err
    assert world.writes() == ([], [])

    secrets_file.chmod(0o600)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "done"
