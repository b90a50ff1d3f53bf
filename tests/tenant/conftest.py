"""One Graph stand-in (HTTPS) per test module; each test starts from its default state, journal and faults."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from pushproxy.tenant.client import TenantClient
from pushproxy.tenant.models import GraphCredentialSpec
from tests.support.graph_standin import TEST_LAG_MS, StandIn, make_certificate, start_graph_standin

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def standin_module() -> Iterator[tuple[StandIn, dict[str, Any]]]:
    with start_graph_standin(lag_ms=TEST_LAG_MS) as g:
        yield g, g.state()


@pytest.fixture
def graph(standin_module: tuple[StandIn, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> StandIn:
    g, initial = standin_module
    g.put_state(initial)
    g.clear_faults()
    g.clear_journal()
    for name, value in g.env().items():
        monkeypatch.setenv(name, value)
    return g


@pytest.fixture(scope="session")
def certs() -> list[tuple[bytes, str]]:
    """Eight certificates made once (RSA key generation is the slow part)."""
    return [make_certificate(f"CN=Microsoft Exchange Server Auth Certificate {i}") for i in range(8)]


def client_for(
    graph: StandIn,
    mode: str = "secret",
    tenant: str = "fabrikam.com",
    *,
    max_retry_wait_s: float = 10.0,
    consistency_wait_s: float = 1.0,
    **extra: Any,
) -> TenantClient:
    """A client whose waits suit the stand-in's lag (TEST_LAG_MS): replicas catch up well within a second."""
    spec = GraphCredentialSpec.from_dict(graph.credential_spec(mode, **extra))
    return TenantClient(
        spec,
        tenant,
        max_retry_wait_s=max_retry_wait_s,
        consistency_wait_s=consistency_wait_s,
        consistency_delay_s=0.1,
        backoff_base_s=0.1,
    )


def graph_calls(graph: StandIn, prefix: str = "/v1.0/") -> list[str]:
    """The Graph operations in the journal, in order."""
    return [
        e["operation"].split(" ")[0] + " " + e["endpoint"] for e in graph.journal() if e["endpoint"].startswith(prefix)
    ]


@pytest.fixture
def monkeypatch_env(standin_module: tuple[StandIn, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in's environment (secret, managed identity endpoint) without resetting its state."""
    for name, value in standin_module[0].env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def own_secret_scope() -> Iterator[None]:
    """These tests drive the client library itself, not a tenant's activity: references resolve unprefixed, as the
    local operator's own (pushproxy.secrets.OWN). Activities resolve within the tenant's namespace."""
    from pushproxy.secrets import OWN, tenant_scope

    with tenant_scope(OWN):
        yield
