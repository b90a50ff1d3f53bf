"""The verification timer fires on `pushproxy serve`, with a short schedule from the app setting."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pushproxy.registry import SqliteRegistry
from tests.api.served import Served


@pytest.fixture
def every_second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("timer"), {"PUSHPROXY_VERIFY_SCHEDULE": "* * * * * *"})
    try:
        yield server
    finally:
        server.stop()


def test_the_timer_starts_a_verification(every_second: Served) -> None:
    deadline = time.monotonic() + 30
    summary = None
    while time.monotonic() < deadline and summary is None:
        time.sleep(0.3)
        if every_second.registry_path.exists():
            with SqliteRegistry(every_second.registry_path) as registry:
                summary = registry.latest_verification_summary()
    assert summary is not None, every_second.log_path.read_text()[-2000:]
    assert summary.verification_id.startswith("verification-")
    assert summary.total == 0  # an empty registry: nothing to verify, and that is fine
    status = every_second.request("GET", f"/api/verifications/{summary.verification_id}").json()
    assert status["runtime_status"] in ("Pending", "Running", "Completed")
    # The timer fires every second: each run has its own id, and the history keeps them all.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = every_second.request("GET", "/api/verifications").json()["runs"]
        if len(runs) >= 2:
            break
        time.sleep(0.3)
    assert len({r["verification_id"] for r in runs}) == len(runs) >= 2
    assert every_second.request("GET", "/api/tenants").json()["summary"]["total"] == 0
