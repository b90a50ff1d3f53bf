"""The rotation survives a SIGKILL at every step: a new host resumes it and each change is made exactly once.
(Its own module, so the test runner spreads these long tests over its workers.)"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from pushproxy.clock import JumpClock
from tests.e2e.conftest import World, count_ok
from tests.e2e.test_rotation import AUTH_SUBJECT, _thumbprint, index, ok_op, onboarded, rotate, rotation_spec

__all__ = ["onboarded"]  # the fixture, shared with test_rotation


# (activity to kill the host in, fault rules that hold its call so the kill lands mid-call)
KILL_POINTS = [
    ("create_next_certificate", [{"when": {"cmdlet": "New-ExchangeCertificate"}, "fail": {"kind": "delay", "delay_s": 1.5}, "times": 1}], None),
    ("import_auth_certificate", [{"when": {"cmdlet": "Import-ExchangeCertificate"}, "fail": {"kind": "delay", "delay_s": 1.5}, "times": 1}], None),
    ("upload_tenant_key", [], [{"when": {"operation": "PATCH /v1.0/servicePrincipals"}, "fail": {"kind": "delay", "delay_s": 1.5}, "times": 1}]),
    ("stage_auth_certificate", [{"when": {"cmdlet": "Set-AuthConfig"}, "fail": {"kind": "delay", "delay_s": 1.5}, "times": 1}], None),
    ("publish_auth_certificate", [{"when": {"cmdlet": "Set-AuthConfig"}, "fail": {"kind": "delay", "delay_s": 1.5}, "times": 2}], None),
    ("restart_auth_services", [{"when": {"cmdlet": "Restart-Service"}, "fail": {"kind": "delay", "delay_s": 1.5}, "times": 1}], None),
    ("clear_previous_certificate", [{"when": {"cmdlet": "Set-AuthConfig"}, "fail": {"kind": "delay", "delay_s": 1.0}, "times": 3}], None),
    ("remove_retired_key", [], [{"when": {"operation": "PATCH /v1.0/servicePrincipals"}, "fail": {"kind": "delay", "delay_s": 1.5}, "times": 2}]),
]


def kill_in(world: World, spec: Any, kill_at: str, exchange_faults: list[dict[str, Any]], graph_faults: Any) -> None:
    """Run the rotation in a host process that is SIGKILLed while `kill_at` runs (its call held by the faults)."""
    import os
    import signal
    import subprocess
    import sys

    from tests.support.exchange_standin import REPO

    spec_path = world.tmp / "spec.json"
    spec_path.write_text(spec.to_json(), encoding="utf-8")
    if exchange_faults:
        world.exchange.faults(exchange_faults)
    if graph_faults:
        world.graph.faults(graph_faults)
    child = subprocess.run(
        [sys.executable, "-m", "tests.e2e.rotation_host_process", str(world.database), str(spec_path),
         world.exchange.base_url, str(world.exchange.cert_path), kill_at, "0.5"],
        cwd=REPO, env=dict(os.environ), capture_output=True, timeout=180, check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    time.sleep(1.5)  # the call the dead host sent still completes on the server, as on a real Exchange


def resume(world: World, spec: Any) -> dict[str, Any]:
    clock = JumpClock(datetime.fromisoformat(world.exchange.request("GET", "/_emulator/clock")["now"]))
    clock.on_jump.append(lambda at: world.exchange.request("PUT", "/_emulator/clock", {"now": at.isoformat()}))
    return rotate(world, spec, clock)


@pytest.mark.parametrize(("kill_at", "exchange_faults", "graph_faults"), KILL_POINTS, ids=[k[0] for k in KILL_POINTS])
def test_sigkill_at_every_step_then_resume_makes_each_change_once(
    onboarded: tuple[World, str], kill_at: str, exchange_faults: list[dict[str, Any]], graph_faults: Any,
) -> None:
    world, old = onboarded
    spec = rotation_spec(world)
    kill_in(world, spec, kill_at, exchange_faults, graph_faults)
    view = resume(world, spec)

    assert view["outcome"] == "done", view
    journal = world.exchange.journal()
    for operation in ("New-ExchangeCertificate", "Import-ExchangeCertificate"):
        assert count_ok(journal, operation) == 1, (kill_at, operation)
    for switch in ("NewCertificateThumbprint", "PublishCertificate", "ClearPreviousCertificate"):
        assert len(index(journal, ok_op("Set-AuthConfig", **{switch: 1}))) == 1, (kill_at, switch)
    patches = [e for e in world.graph.journal() if str(e.get("operation", "")).startswith("PATCH") and e.get("outcome") == "ok"]
    assert len(patches) == 2, (kill_at, patches)
    new = view["new_certificate"]["thumbprint"]
    assert world.org()["auth_config"]["current"] == new
    assert {_thumbprint(k["key"]) for k in world.service_principal()["keyCredentials"]} >= {new}


def test_a_create_resumed_after_a_crash_takes_its_own_certificate_not_a_foreign_auth_one(
    onboarded: tuple[World, str],
) -> None:
    world, old = onboarded
    spec = rotation_spec(world)
    kill_in(world, spec, KILL_POINTS[0][0], KILL_POINTS[0][1], None)
    # Meanwhile someone makes an Auth-looking certificate on every server: newer, the same 5-year lifetime, made
    # after the run started (what the old heuristic took for ours).
    org = world.org()
    now = datetime.fromisoformat(world.exchange.request("GET", "/_emulator/clock")["now"])
    org["certificates"].append({
        "thumbprint": "FOREIGN-PLACEHOLDER", "subject": AUTH_SUBJECT, "not_before": (now - timedelta(minutes=30)).isoformat(),
        "not_after": (now + timedelta(days=5 * 365, hours=12)).isoformat(), "key_size": 2048,
        "servers": [s["name"] for s in org["servers"]],
    })
    world.put_org(org)
    ours = {c["thumbprint"] for c in world.org()["certificates"]} - {c["thumbprint"] for c in org["certificates"][:-1]}
    foreign = ours.pop()

    view = resume(world, spec)

    assert view["outcome"] == "done", view
    assert count_ok(world.exchange.journal(), "New-ExchangeCertificate") == 1
    new = view["new_certificate"]["thumbprint"]
    assert new != foreign
    assert world.org()["auth_config"]["current"] == new
    assert foreign in {c["thumbprint"] for c in world.org()["certificates"]}  # left alone
