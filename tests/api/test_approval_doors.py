"""Approvals on `pushproxy serve` through every door: the HTTP API, `pushproxy approve` and the Durable
`raiseEvent` webhook. Self-approval is refused inside the workflow whichever door the event came through, and two
simultaneous approvals of one group count once, never for the tenant group (through the API and through the CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pushproxy.secrets import tenant_env_name
from tests.api.served import REPO, ROLES, Served
from tests.api.test_approval_flow import ID, PASSWORD_ENV, awaiting, post, spec, wait_for
from tests.support.approvals import awaiting_event

REQUESTER = "alice@provider.example"
WEBHOOK = f"/runtime/webhooks/durabletask/instances/{ID}/raiseEvent"


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[Any, Any]]:
    from tests.support.exchange_standin import start_exchange_standin
    from tests.support.graph_standin import start_graph_standin

    with start_graph_standin() as graph:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SSL_CERT_FILE", str(graph.cert_path))
            exchange = start_exchange_standin("--tenant-state", f"{graph.url}/_emulator/state")
        with exchange:
            yield exchange, graph


# The HTTP approvers of the race hold the approver role (pushproxy.api.roles, the local roles file).
# The requester holds the approver role too: what refuses her own approval is the self-approval rule, not her roles.
DOOR_ROLES = {**ROLES, REQUESTER: ["requester", "approver"],
              **{who: ["approver"] for who in ("bob@x.example", "carol@x.example", "dave@x.example")}}


def env_of(exchange: Any, graph: Any) -> dict[str, str]:
    """The secrets in fabrikam.com's own namespace (pushproxy.secrets), as its registration names them."""
    return {tenant_env_name("fabrikam.com", PASSWORD_ENV): exchange.password, **graph.env(domains=("fabrikam.com",))}


@pytest.fixture
def served(tmp_path: Path, standins: tuple[Any, Any]) -> Iterator[Served]:
    exchange, graph = standins
    server = Served(tmp_path, env_of(exchange, graph), roles=DOOR_ROLES)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh(standins: tuple[Any, Any]) -> Iterator[None]:
    exchange, graph = standins
    before = exchange.state(), graph.state()
    yield
    exchange.put_state(before[0])
    graph.put_state(before[1])


def start(served: Served, standins: tuple[Any, Any]) -> dict[str, Any]:
    exchange, graph = standins
    registered = served.register("fabrikam.com", spec(exchange, graph))  # the operator's registration
    assert registered.status_code in (200, 201), registered.text
    started = post(served, "/api/tenants/fabrikam.com/onboarding", {}, principal=REQUESTER)
    assert started.status_code == 202, started.text
    return wait_for(served, awaiting("on_premises"))


def webhook(served: Served, event: dict[str, Any]) -> requests.Response:
    query = "taskHub=pushproxy&connection=Storage"
    # Raised under the wait's own event name (awaiting.event), as anyone using the webhook must.
    name = f"approval-{str(event.get('state_hash'))[:24]}"
    return served.request("POST", f"{WEBHOOK}/{name}?{query}", data=json.dumps(event),
                          headers={"Content-Type": "application/json"})


def cli_approve(served: Served, user: str) -> subprocess.Popen[str]:
    """`pushproxy approve --no-wait` on serve's database, as another login name."""
    env = {**served.env, "LOGNAME": user, "USER": user}
    return subprocess.Popen(
        [sys.executable, "-m", "pushproxy", "approve", ID, "--no-wait", "--database", str(served.local_db)],
        cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def approvals(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["group"], a["approver"]) for a in view["approvals"]]


def notes_settle(served: Served, count: int) -> dict[str, Any]:
    return wait_for(served, lambda v: len(v.get("notes") or []) >= count, timeout=30)


@pytest.mark.usefixtures("fresh")
def test_self_approval_is_refused_through_every_door(served: Served, standins: tuple[Any, Any]) -> None:
    view = start(served, standins)
    shown = view["awaiting"]
    # The API refuses it at the door.
    refused = post(served, f"/api/onboardings/{ID}/approval", {"decision": "approve"}, principal="ALICE@provider.example")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "self_approval")
    # The Durable webhook takes any event: the workflow refuses it, in every spelling of the requester.
    for name in (REQUESTER, "Alice@Provider.Example", "\uff41lice@provider.example"):
        raised = webhook(served, {"decision": "approve", "approver": name, "group": shown["group"],
                                  "state_hash": shown["state_hash"]})
        assert raised.status_code == 202, raised.text
    # A look-alike with a zero-width space is not "someone else": refused too.
    raised = webhook(served, {"decision": "approve", "approver": "alice\u200b@provider.example",
                              "group": shown["group"], "state_hash": shown["state_hash"]})
    assert raised.status_code == 202
    view = notes_settle(served, 4)
    notes = view["notes"]
    assert sum("self-approval" in n for n in notes) == 3 and any("U+200B" in n for n in notes), notes
    # `pushproxy approve` as the requester: refused, nothing raised.
    cli = cli_approve(served, "alice@provider.example")
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 1 and "cannot approve it" in err, (out, err)
    # And the same event `pushproxy approve` would have raised, straight into the local host's database:
    from pushproxy.local import LocalHost
    from pushproxy.onboarding import runner

    host = runner.open_host(served.local_db)
    try:
        assert isinstance(host, LocalHost)
        host.raise_event(ID, awaiting_event(host, ID), {"decision": "approve", "approver": "alice@provider.example",
                                          "group": shown["group"], "state_hash": shown["state_hash"]})
    finally:
        host.close()
    view = notes_settle(served, 5)
    assert view["phase"] == "awaiting_approval" and view["awaiting"] == shown and view["approvals"] == []
    exchange, graph = standins
    assert exchange_changes(exchange) == 0 and graph_changes(graph) == 0


@pytest.mark.usefixtures("fresh")
def test_simultaneous_api_approvals_of_one_group_count_once(served: Served, standins: tuple[Any, Any]) -> None:
    view = start(served, standins)
    shown = view["awaiting"]
    barrier = threading.Barrier(3)
    answers: dict[str, requests.Response] = {}

    def approve(who: str) -> None:
        barrier.wait()
        answers[who] = post(served, f"/api/onboardings/{ID}/approval",
                            {"decision": "approve", "state_hash": shown["state_hash"]}, principal=who)

    threads = [threading.Thread(target=approve, args=(who,)) for who in ("bob@x.example", "carol@x.example", "dave@x.example")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in answers.values()} <= {202, 409}, {w: r.text for w, r in answers.items()}
    view = wait_for(served, awaiting("tenant"))
    time.sleep(1)  # let the workflow consume whatever else was raised
    view = wait_for(served, awaiting("tenant"))
    assert len(approvals(view)) == 1 and approvals(view)[0][0] == "on_premises", view
    exchange, graph = standins
    assert graph_changes(graph) == 0  # the tenant group was shown to nobody: nothing of it applied


@pytest.mark.usefixtures("fresh")
def test_simultaneous_cli_approvals_of_one_group_count_once(
    tmp_path: Path, served: Served, standins: tuple[Any, Any]
) -> None:
    start(served, standins)
    # Simultaneous for real: every approver's `pushproxy approve` reads the on-premises group and raises its
    # decision before the workflow runs again (serve is stopped meanwhile, so nothing consumes them early).
    served.stop()
    processes = [cli_approve(served, who) for who in ("bob", "carol", "dave")]
    results = [p.communicate(timeout=90) for p in processes]
    assert all(p.returncode == 0 for p in processes), results
    exchange, graph = standins
    again = Served(tmp_path, env_of(exchange, graph), roles=DOOR_ROLES)
    try:
        view = wait_for(again, awaiting("tenant"))
        time.sleep(1)  # let the workflow consume whatever else was raised
        view = wait_for(again, awaiting("tenant"))
        assert len(approvals(view)) == 1, view  # whichever of the three was consumed first
        assert approvals(view)[0][0] == "on_premises" and view["awaiting"]["group"] == "tenant"
        assert graph_changes(graph) == 0
    finally:
        again.stop()


def exchange_changes(exchange: Any) -> int:
    return sum(1 for e in exchange.journal() if e["operation"].startswith(("New-", "Set-", "Enable-")))


def graph_changes(graph: Any) -> int:
    return sum(1 for e in graph.journal() if e["operation"].startswith("PATCH"))

