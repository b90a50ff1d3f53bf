"""End-to-end fixtures: both stand-ins over real sockets, linked; a local host per test on its own database.

The stand-ins start once per test module (they take a second or two) and are reset to their starting state,
journals and fault rules before every test.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pushproxy.local import LocalHost
from pushproxy.onboarding import runner
from pushproxy.secrets import tenant_env_name
from pushproxy.spec import TenantSpec
from tests.support.exchange_standin import StandIn as ExchangeStandIn
from tests.support.exchange_standin import start_exchange_standin
from tests.support.graph_standin import TEST_LAG_MS, start_graph_standin
from tests.support.graph_standin import StandIn as GraphStandIn

DOMAIN = "fabrikam.com"
TENANT_ID = "11111111-2222-3333-4444-555555555555"
EXCHANGE_PASSWORD_ENV = "E2E_EXCHANGE_PASSWORD"
GRAPH_SECRET_ENV = "GRAPH_STANDIN_SECRET"
# Cmdlets and Graph calls that change something.
EXCHANGE_WRITES = ("New-", "Set-", "Enable-", "Disable-", "Remove-", "Restart-")


def exchange_writes(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in journal if str(e.get("operation", "")).startswith(EXCHANGE_WRITES) and e.get("outcome") == "ok"]


def graph_writes(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for e in journal
        if str(e.get("operation", "")).split(" ")[0] in ("PATCH", "POST", "PUT", "DELETE")
        and "/v1.0/" in str(e.get("operation", ""))
        and e.get("outcome") == "ok"
    ]


def count_ok(journal: list[dict[str, Any]], operation: str) -> int:
    return sum(1 for e in journal if str(e.get("operation", "")).startswith(operation) and e.get("outcome") == "ok")


class FakeClock:
    """A clock the test moves: durable timers fire when it is advanced, not when time passes."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC)

    def now(self) -> datetime:
        return self.t

    def advance(self, **kwargs: float) -> None:
        self.t += timedelta(**kwargs)


@dataclass
class World:
    """Both stand-ins, the environment the spec's secret references resolve in, and per-test paths."""

    exchange: ExchangeStandIn
    graph: GraphStandIn
    tmp: Path
    hosts: list[LocalHost] = field(default_factory=list)

    @property
    def database(self) -> Path:
        return self.tmp / "local.sqlite"

    def spec_dict(self, **sections: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "tenant_domain": DOMAIN,
            "tenant_id": TENANT_ID,
            "exchange": {
                "url": self.exchange.url,
                "auth": "ntlm",
                "username": self.exchange.user,
                "password_ref": f"env:{EXCHANGE_PASSWORD_ENV}",
                "tls": {"mode": "ca_bundle", "ca_bundle": self.exchange.cert_path},
                "operation_timeout_s": 5,
                "call_deadline_s": 30,
            },
            "graph": self.graph.credential_spec("secret"),
            "approval": {"policy": "auto"},
            "verification": {"wait_s": 0, "probe_deadline_s": 10, "probe_interval_s": 0.5},
            "retry": {"first_retry_interval_s": 0.2, "max_attempts": 6},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(spec.get(key), dict):
                spec[key] = {**spec[key], **value}
            else:
                spec[key] = value
        return spec

    def spec(self, **sections: Any) -> TenantSpec:
        return TenantSpec.from_dict(self.spec_dict(**sections))

    def host(self, clock: Any = None) -> LocalHost:
        host = runner.open_host(self.database, clock=clock)
        self.hosts.append(host)
        return host

    def onboard(
        self,
        spec: TenantSpec,
        *,
        host: LocalHost | None = None,
        decide: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        timeout: float = 90,
    ) -> dict[str, Any]:
        """Run one onboarding to its end and return its report (the orchestration's output)."""
        host = host or self.host()
        instance_id, _ = runner.start_or_resume(host, spec, requested_by="e2e")
        final = runner.drive(host, instance_id, decide=decide, timeout=timeout)
        assert runner.runtime_of(final) == "Completed", (runner.runtime_of(final), final.output)
        report: dict[str, Any] = final.output
        return report

    def org(self) -> dict[str, Any]:
        return self.exchange.state()["organizations"][DOMAIN]

    def put_org(self, org: dict[str, Any]) -> None:
        state = self.exchange.state()
        state["organizations"][DOMAIN] = org
        self.exchange.put_state(state)

    def service_principal(self) -> dict[str, Any]:
        return self.graph.service_principal(TENANT_ID)

    def writes(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return exchange_writes(self.exchange.journal()), graph_writes(self.graph.journal())


def approver(name: str, decision: str = "approve") -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A decider that answers every approval request the same way."""

    def decide(status: dict[str, Any]) -> dict[str, Any]:
        awaiting = status["awaiting"]
        return {"decision": decision, "approver": name, "comment": f"{decision}d by the test",
                "group": awaiting["group"], "state_hash": awaiting["state_hash"]}

    return decide


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[ExchangeStandIn, GraphStandIn, dict[str, Any], dict[str, Any]]]:
    with start_graph_standin(tls=True, lag_ms=TEST_LAG_MS) as graph:
        # The Exchange stand-in's probe reads the Graph stand-in's state over HTTPS: trust its certificate.
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(graph.cert_path)
        try:
            exchange = start_exchange_standin("--tenant-state", f"{graph.url}/_emulator/state", tls=True)
        finally:
            if previous is None:
                os.environ.pop("SSL_CERT_FILE", None)
            else:
                os.environ["SSL_CERT_FILE"] = previous
        with exchange:
            yield exchange, graph, exchange.state(), graph.state()


@pytest.fixture
def world(
    standins: tuple[ExchangeStandIn, GraphStandIn, dict[str, Any], dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[World]:
    exchange, graph, exchange_state, graph_state = standins
    exchange.clear_faults()
    graph.clear_faults()
    exchange.request("DELETE", "/_emulator/clock")  # a rotation test moves the stand-in's clock
    exchange.put_state(copy.deepcopy(exchange_state))
    graph.put_state(copy.deepcopy(graph_state))
    exchange.clear_journal()
    graph.clear_journal()
    # Secrets only in the environment, as the spec's env: references say.
    # Within each tenant's namespace (pushproxy.secrets): the world's, and the unverified one a test blocks on.
    for domain in (DOMAIN, "unverified.example"):
        monkeypatch.setenv(tenant_env_name(domain, EXCHANGE_PASSWORD_ENV), exchange.password)
    for name, value in graph.env(domains=(DOMAIN, "unverified.example")).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PUSHPROXY_REGISTRY_PATH", str(tmp_path / "registry.sqlite"))
    w = World(exchange, graph, tmp_path)
    yield w
    for host in w.hosts:
        host.close()
