from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.served import Served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Secrets the specs of test_routes name (values that are not secrets): they resolve, so discovery really
    # connects, to a port that never answers.
    from pushproxy.secrets import tenant_env_name

    env = {tenant_env_name(domain, name): "not-a-secret"
           for domain in ("fabrikam.com", "adatum.com", "contoso.com", "hung.example", "listed.example",
                          "rot-a.example", "rot-b.example")
           for name in ("PUSHPROXY_TEST_HUNG_PASSWORD", "PUSHPROXY_TEST_HUNG_SECRET")}
    server = Served(tmp_path_factory.mktemp("serve"), env)
    try:
        yield server
    finally:
        server.stop()
