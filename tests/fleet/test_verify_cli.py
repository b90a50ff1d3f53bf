"""`pushproxy verify` on the local host: a table of tenants (healthy, drifting or failing, and why), or JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pushproxy.registry import open_registry
from tests.fleet import fleet_support as fs

REPO = Path(__file__).resolve().parents[2]


def verify(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pushproxy", "verify", *args], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=180)


def fleet(exchange: Any, graph: Any) -> None:
    expiring = fs.OrgPlan.onboarded("expiring.example")
    fs.cert_expiring(expiring, days=12)
    broken = fs.OrgPlan.onboarded("broken.example")
    fs.unreachable(broken)
    fs.build_fleet(exchange, graph, [fs.OrgPlan.onboarded("healthy.example"), expiring, broken], open_registry())


def test_verify_prints_each_tenant_and_why(exchange: Any, graph: Any, fleet_env: dict[str, str]) -> None:
    fleet(exchange, graph)
    done = verify(fleet_env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for line in ("healthy.example", "expiring.example", "broken.example", "healthy", "drifting", "failing",
                 "expires in 1", "3 verified: 1 healthy, 1 drifting, 1 failing"):
        assert line in out, out


def test_verify_fail_on_exits_5_for_cron_and_ci(exchange: Any, graph: Any, fleet_env: dict[str, str]) -> None:
    fleet(exchange, graph)  # one healthy, one drifting, one failing
    assert verify(fleet_env, "--tenant", "healthy.example", "--fail-on", "drifting").returncode == 0
    assert verify(fleet_env, "--tenant", "expiring.example", "--fail-on", "failing").returncode == 0
    assert verify(fleet_env, "--tenant", "expiring.example", "--fail-on", "drifting").returncode == 5
    assert verify(fleet_env, "--fail-on", "failing").returncode == 5


def test_verify_json_for_one_tenant(exchange: Any, graph: Any, fleet_env: dict[str, str]) -> None:
    fleet(exchange, graph)
    done = verify(fleet_env, "--tenant", "Expiring.example", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["tenants"]
    assert [(r["tenant"], r["state"]) for r in rows] == [("expiring.example", "drifting")]
    assert rows[0]["findings"][0]["kind"] == "cert_expiring"
    assert rows[0]["findings"][0]["detail"]["days_left"] in (11, 12)


def test_verify_refuses_a_malformed_tenant(fleet_env: dict[str, str]) -> None:
    done = verify(fleet_env, "--tenant", "not a domain")
    assert done.returncode == 2  # bad input
    assert "--tenant" in done.stderr
    assert done.stderr.count("\n") == 1


def test_verify_runs_again_on_the_same_database(exchange: Any, graph: Any, fleet_env: dict[str, str]) -> None:
    fs.build_fleet(exchange, graph, [fs.OrgPlan.onboarded("healthy.example")], open_registry())
    ids = []
    for _ in range(2):
        done = verify(fleet_env, "--json")
        assert done.returncode == 0, done.stderr
        assert [r["state"] for r in json.loads(done.stdout)["tenants"]] == ["healthy"]
        ids.append(json.loads(done.stdout)["verification_id"])
    # Each run has its own id (and its own summary in the registry's history).
    assert len(set(ids)) == 2 and all(i.startswith("verification-") for i in ids)
    assert [r.verification_id for r in open_registry().list_verification_summaries()] == ids[::-1]


def test_verify_takes_a_remediation_as_far_as_its_approval(exchange: Any, graph: Any, fleet_env: dict[str, str]) -> None:
    from pushproxy.local import LocalHost
    from pushproxy.onboarding.runner import product_app

    nokey = fs.OrgPlan.onboarded("nokey.example")
    fs.key_missing(nokey)
    fs.build_fleet(exchange, graph, [nokey], open_registry())
    done = verify(fleet_env)
    assert done.returncode == 0, done.stderr
    assert "pushproxy approve onboarding-nokey.example" in done.stdout
    host = LocalHost(product_app(), database=Path(fleet_env["PUSHPROXY_LOCAL_DB"]))
    try:
        status = host.get_status("onboarding-nokey.example")
        assert status.custom_status["phase"] == "awaiting_approval"
        assert [c["kind"] for c in status.custom_status["plan"]] == ["upload_tenant_key"]
    finally:
        host.close()
