"""Fixtures: stand-in processes (one per test module) and pypsrp clients that reach them over real sockets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from tests.support.exchange_standin import StandIn, start_exchange_standin

# The three ways the product reaches Exchange that the issue asks to test.
TRANSPORTS = ["http-ntlm", "https-basic", "https-ntlm"]


@pytest.fixture(scope="module")
def http_standin() -> Iterator[StandIn]:
    with start_exchange_standin() as standin:
        yield standin


@pytest.fixture(scope="module")
def https_standin() -> Iterator[StandIn]:
    with start_exchange_standin(tls=True) as standin:
        yield standin


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest, http_standin: StandIn, https_standin: StandIn) -> tuple[StandIn, str]:
    standin = http_standin if request.param.startswith("http-") else https_standin
    return standin, request.param.split("-")[1]


@contextmanager
def exchange_pool(standin: StandIn, auth: str = "ntlm", org: str | None = None, **wsman_kwargs: Any) -> Iterator[RunspacePool]:
    """An open Microsoft.Exchange runspace pool, the way the product opens one."""
    kwargs = {**standin.wsman_kwargs(auth, org=org), **wsman_kwargs}
    with RunspacePool(WSMan(**kwargs), configuration_name="Microsoft.Exchange") as pool:
        yield pool


def run(pool: RunspacePool, cmdlet: str, *switches: str, **params: Any) -> PowerShell:
    """Invoke one cmdlet with `add_cmdlet`/`add_parameter` only (NoLanguage-safe), as the product does."""
    ps = PowerShell(pool)
    ps.add_cmdlet(cmdlet)
    for name in switches:
        ps.add_parameter(name)
    for name, value in params.items():
        ps.add_parameter(name, value)
    ps.invoke()
    return ps


Runner = Callable[..., PowerShell]
