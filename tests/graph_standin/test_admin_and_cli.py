"""Command line, admin API (state, journal, faults) and the secrets they must never show."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.graph_standin import REPO, StandIn, start_graph_standin


def test_state_roundtrips_and_masks_the_secret(graph: StandIn) -> None:
    state = graph.state()
    app = state["applications"][graph.client_id]
    assert app["secret"] == "***"
    assert graph.client_secret not in json.dumps(state)
    graph.put_state(state)  # the mask keeps the secret
    from tests.graph_standin.conftest import token_for

    assert token_for(graph)
    sp = state["tenants"][graph.tenant_id]["servicePrincipals"][0]
    assert sp["appId"] == "00000002-0000-0ff1-ce00-000000000000" and len(sp["keyCredentials"]) == 1
    assert state["tenants"][graph.tenant_id]["policies"] == {"maxCertificateLifetimeDays": None, "locked": False}


def test_bad_state_and_bad_fault_rules_are_400(graph: StandIn, http: httpx.Client) -> None:
    assert http.put("/_emulator/state", json={"nope": 1}).status_code == 400
    r = http.post(
        "/_emulator/faults", json={"rules": [{"when": {"operation": "PATCH /v1.0"}, "fail": {"kind": "explode"}}]}
    )
    assert r.status_code == 400 and "fail.kind" in r.text
    r = http.post("/_emulator/faults", json={"rules": [{"when": {}, "fail": {"kind": "http"}}]})
    assert r.status_code == 400 and "when.operation" in r.text


def test_journal_masks_secrets_and_never_holds_tokens(graph: StandIn) -> None:
    from tests.graph_standin.conftest import token_for

    token = token_for(graph)
    with httpx.Client(verify=graph.cert_path or True) as h:
        h.get(graph.url + "/v1.0/organization", headers={"Authorization": "Bearer " + token})
    text = json.dumps(graph.journal())
    assert token not in text and (graph.client_secret or "") not in text
    entry = graph.journal()[-1]
    assert (
        entry["operation"] == "GET /v1.0/organization" and entry["user"] == graph.client_id and entry["outcome"] == "ok"
    )
    graph.clear_journal()
    assert graph.journal() == []


def test_fault_times_count_down_and_delay(graph: StandIn, http: httpx.Client) -> None:
    graph.faults(
        [
            {
                "when": {"operation": "GET /v1.0/organization"},
                "fail": {"kind": "http", "status": 503, "retry_after_s": 7},
                "times": 2,
            },
            {"when": {"operation": "/v1.0/servicePrincipals"}, "fail": {"kind": "delay", "delay_s": 0.3}, "times": 1},
        ]
    )
    for _ in range(2):
        r = http.get("/v1.0/organization")
        assert (
            r.status_code == 503
            and r.headers["Retry-After"] == "7"
            and r.json()["error"]["code"] == "ServiceUnavailable"
        )
    assert http.get("/v1.0/organization").status_code == 401  # rule used up: the request is handled (no token)
    started = time.monotonic()
    http.get("/v1.0/servicePrincipals")
    assert time.monotonic() - started >= 0.3
    assert http.get("/_emulator/faults").json()["rules"] == []


def test_drop_closes_the_connection(graph: StandIn, http: httpx.Client) -> None:
    graph.faults([{"when": {"operation": "GET /v1.0/organization"}, "fail": {"kind": "drop"}, "times": 1}])
    with pytest.raises(httpx.TransportError):
        http.get("/v1.0/organization")
    assert http.get("/v1.0/organization").status_code == 401  # still serving


def test_plain_http_and_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(
        json.dumps({"tenants": {"t1": {"displayName": "T1", "verifiedDomains": [{"name": "t1.example"}]}}})
    )
    with start_graph_standin("--state", str(state_file), tls=False) as g:
        assert g.url.startswith("http://127.0.0.1:")
        assert list(g.state()["tenants"]) == ["t1"]


def test_secret_without_client_id_is_a_usage_error() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "emulators.graph", "--client-secret", "x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "--client-secret needs --client-id" in r.stderr


def test_emulator_imports_nothing_of_the_product() -> None:
    for path in (REPO / "emulators" / "graph").glob("*.py"):
        text = path.read_text()
        assert "import pushproxy" not in text and "from pushproxy" not in text, path
