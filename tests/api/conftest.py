from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.served import Served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    # Secrets the specs of test_routes name (values that are not secrets): they resolve, so discovery really
    # connects, to a port that never answers.
    server = Served(tmp_path_factory.mktemp("serve"),
                    {"PUSHPROXY_TEST_HUNG_PASSWORD": "not-a-secret", "PUSHPROXY_TEST_HUNG_SECRET": "not-a-secret"})
    try:
        yield server
    finally:
        server.stop()
