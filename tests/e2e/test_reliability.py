"""Transient faults on both sides, and a host killed mid-apply: the run completes, each change made once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pushproxy.onboarding import runner
from pushproxy.secrets import tenant_env_name
from tests.e2e.conftest import DOMAIN, World, count_ok

REPO = Path(__file__).resolve().parents[2]


def assert_each_change_made_once(world: World) -> None:
    journal = world.exchange.journal()
    assert count_ok(journal, "New-AuthServer") == 1
    assert count_ok(journal, "Enable-PushNotificationProxy") == 1
    assert count_ok(world.graph.journal(), "PATCH /v1.0/servicePrincipals") == 1


def test_transient_faults_on_both_sides_complete_with_each_change_made_once(world: World) -> None:
    world.exchange.faults(
        [
            {"when": {"cmdlet": "New-AuthServer"}, "fail": {"kind": "http", "status": 503}, "times": 1},
            {"when": {"cmdlet": "Enable-PushNotificationProxy"}, "fail": {"kind": "drop"}, "times": 1},
            {"when": {"cmdlet": "Get-AuthConfig"}, "fail": {"kind": "http", "status": 503}, "times": 1},
        ]
    )
    world.graph.faults(
        [
            {"when": {"operation": "PATCH /v1.0/servicePrincipals"}, "fail": {"kind": "http", "status": 429, "retry_after_s": 1}, "times": 2},
            {"when": {"operation": "GET /v1.0/organization"}, "fail": {"kind": "http", "status": 503, "retry_after_s": 1}, "times": 1},
        ]
    )

    report = world.onboard(world.spec())

    assert report["outcome"] == "done", report
    assert report["changed"] == ["ensure_auth_server", "upload_tenant_key", "enable_push_proxy"]
    assert_each_change_made_once(world)
    # The faults really happened.
    assert any(e.get("outcome") == "fault" for e in world.exchange.journal())
    assert sum(1 for e in world.graph.journal() if e.get("outcome") == "fault") == 3


def test_host_killed_mid_apply_is_resumed_by_a_new_one(world: World) -> None:
    spec = world.spec()
    spec_path = world.tmp / "spec.json"
    spec_path.write_text(spec.to_json(), encoding="utf-8")
    # Hold Enable-PushNotificationProxy long enough to kill the host while that activity runs.
    world.exchange.faults([{"when": {"cmdlet": "Enable-PushNotificationProxy"}, "fail": {"kind": "delay", "delay_s": 2.0}, "times": 1}])
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.host_process", str(world.database), str(spec_path)],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    observer = world.host()
    try:
        deadline = time.monotonic() + 60
        while True:
            status = observer.get_status(spec.instance_id, show_history=False)
            custom = status.custom_status if status else None
            if isinstance(custom, dict) and custom.get("current") == "enable_push_proxy":
                break
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the host never reached enable_push_proxy"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()  # reaped, so the new host sees its lease holder is gone
    assert runner.runtime_of(observer.get_status(spec.instance_id)) == "Running"
    # The cmdlet the dead host sent still completes on the server, as it would on a real Exchange.
    deadline = time.monotonic() + 10
    while count_ok(world.exchange.journal(), "Enable-PushNotificationProxy") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)

    final = runner.drive(observer, spec.instance_id, timeout=90)

    report = final.output
    assert report["outcome"] == "done", report
    assert_each_change_made_once(world)
    enable = next(c for c in report["changes"] if c["kind"] == "enable_push_proxy")
    assert enable["outcome"] in ("enabled", "none")
    assert json.loads(json.dumps(report))["probe"]["succeeded"]


def test_wrong_exchange_password_fails_with_a_clear_error_and_no_secret(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tenant_env_name(DOMAIN, "E2E_EXCHANGE_PASSWORD"), "not-the-password-Zq9")  # the tenant's namespace

    report = world.onboard(world.spec())

    assert report["outcome"] == "failed"
    assert report["error"].startswith("discovery failed")
    assert "not-the-password-Zq9" not in json.dumps(report)
    assert world.writes() == ([], [])
