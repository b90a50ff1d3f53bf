from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pushproxy.local import LocalHost
from tests.local.apps.sample_app import app


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.current = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "local.sqlite"


@pytest.fixture
def host(db_path: Path, clock: FakeClock) -> Iterator[LocalHost]:
    h = LocalHost(app, database=db_path, clock=clock)
    yield h
    h.close()


def names(history: list[dict]) -> list[str]:
    """The event types of a history, without the episode brackets."""
    return [e["EventType"] for e in history if e["EventType"] not in ("OrchestratorStarted", "OrchestratorCompleted")]
