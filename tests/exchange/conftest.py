"""Shared fixtures of the Exchange client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def own_secret_scope() -> Iterator[None]:
    """These tests drive the client library itself, not a tenant's activity: references resolve unprefixed, as the
    local operator's own (pushproxy.secrets.OWN). Activities resolve within the tenant's namespace."""
    from pushproxy.secrets import OWN, tenant_scope

    with tenant_scope(OWN):
        yield
