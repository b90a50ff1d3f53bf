from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.served import Served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("serve"))
    try:
        yield server
    finally:
        server.stop()
