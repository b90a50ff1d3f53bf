"""Fixtures of the dedicated-hybrid-app tests: the client library's own secret scope, as tests/exchange has."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def own_secret_scope() -> Iterator[None]:
    from pushproxy.secrets import OWN, tenant_scope

    with tenant_scope(OWN):
        yield


# Both stand-ins and a private registry, as the fleet tests have them.
from tests.fleet.conftest import exchange, fleet_env, graph  # noqa: E402, F401
