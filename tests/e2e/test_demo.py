"""`pushproxy demo` (what `make demo` runs): both stand-ins, two onboardings, exit 0, the second plan empty."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_onboards_then_finds_an_empty_plan() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUSHPROXY_REGISTRY_PATH"}
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "pushproxy", "demo", "--wait", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Auto-approved" in out and "policy:auto" in out
    assert "New-AuthServer" in out and "Enable-PushNotificationProxy" in out and "PATCH /v1.0/servicePrincipals" in out
    assert "Succeeded" in out
    assert "The plan is empty" in out
    assert "Demo complete" in out
    # Progress in the order it happened, each phase once per run: the plan before verifying, applying shown.
    first_run = out.split("Onboarding run 2")[0]
    assert first_run.index("Plan") < first_run.index("phase: applying") < first_run.index("phase: verifying")
    assert first_run.count("phase: applying") == 1


@pytest.mark.slow
def test_demo_rotation_runs_the_whole_chain_in_accelerated_time() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUSHPROXY_REGISTRY_PATH"}
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "pushproxy", "demo", "--rotation"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "The clock jumps to" in out
    assert out.index("rotation staged, publishes on") < out.index(" h later") < out.index("Set-AuthConfig -PublishCertificate")
    assert "Restart-WebAppPool -Name MSExchangeOWAAppPool" in out and "Set-AuthConfig -ClearPreviousCertificate" in out
    assert "approved retire by policy:auto" in out
    assert "Rotation demo complete" in out
