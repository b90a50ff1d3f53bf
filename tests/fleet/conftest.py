"""Both stand-ins, once per module, and a fresh registry and local host database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.fleet_support import GRAPH_SECRET_ENV, PASSWORD_ENV, write_secrets_file


@pytest.fixture(scope="module")
def graph() -> Iterator[Any]:
    from tests.support.graph_standin import start_graph_standin

    with start_graph_standin() as standin:
        yield standin


@pytest.fixture(scope="module")
def exchange(graph: Any) -> Iterator[Any]:
    from tests.support.exchange_standin import start_exchange_standin

    # The probe reads the tenant from the Graph stand-in (HTTPS, its own CA), as the real probe depends on the
    # tenant's keys; the stand-in's urllib trusts the CA named by SSL_CERT_FILE.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(graph.cert_path))
        standin = start_exchange_standin("--tenant-state", f"{graph.url}/_emulator/state")
    with standin:
        yield standin


@pytest.fixture
def fleet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: Any, graph: Any) -> dict[str, str]:
    """Secrets by environment (as specs reference them), a private registry and local host database."""
    env = {
        PASSWORD_ENV: exchange.password,
        GRAPH_SECRET_ENV: graph.client_secret,
        "PUSHPROXY_REGISTRY_PATH": str(tmp_path / "registry.sqlite"),
        "PUSHPROXY_LOCAL_DB": str(tmp_path / "local.sqlite"),
        "PUSHPROXY_SECRETS_FILE": write_secrets_file(tmp_path / "secrets.json", exchange, graph),
        **graph.env(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
