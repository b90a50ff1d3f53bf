"""A Graph stand-in per module, reset per test, and a raw HTTPS client with a token (no SDK: protocol tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.identity import ClientSecretCredential

from tests.support.graph_standin import StandIn, start_graph_standin


@pytest.fixture(scope="module")
def standin_module() -> Iterator[tuple[StandIn, dict[str, Any]]]:
    with start_graph_standin() as g:
        yield g, g.state()


@pytest.fixture
def graph(standin_module: tuple[StandIn, dict[str, Any]]) -> StandIn:
    g, initial = standin_module
    g.put_state(initial)
    g.clear_faults()
    g.clear_journal()
    return g


def token_for(graph: StandIn, tenant: str = "fabrikam.com") -> str:
    """A Graph token from the stand-in, fetched by azure-identity's real ClientSecretCredential."""
    assert graph.client_id and graph.client_secret
    cred = ClientSecretCredential(
        tenant,
        graph.client_id,
        graph.client_secret,
        authority=graph.authority,
        disable_instance_discovery=True,
        connection_verify=graph.cert_path,
    )
    try:
        return cred.get_token("https://graph.microsoft.com/.default").token
    finally:
        cred.close()


@pytest.fixture
def http(graph: StandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=graph.url, verify=graph.cert_path or True, timeout=10) as client:
        yield client


@pytest.fixture
def authed(graph: StandIn, http: httpx.Client) -> httpx.Client:
    http.headers["Authorization"] = "Bearer " + token_for(graph)
    return http
