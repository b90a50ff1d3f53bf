"""Schemathesis against openapi.json on `pushproxy serve`: no 5xx, responses as documented, and input that breaks
the schema is refused before anything happens (no instance started, no call reaches either stand-in)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.served import Served

REPO = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 25
# One principal holding every role: the routes are exercised past the role check (tests/api/test_routes.py checks
# the roles themselves).
TESTER = "tester@provider.example"
AS_TESTER = {"X-MS-CLIENT-PRINCIPAL-NAME": TESTER}


@pytest.fixture(scope="module")
def standins() -> Iterator[tuple[Any, Any]]:
    from tests.support.exchange_standin import start_exchange_standin
    from tests.support.graph_standin import start_graph_standin

    with start_graph_standin() as graph, start_exchange_standin() as exchange:
        yield exchange, graph


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, standins: tuple[Any, Any]) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("schemathesis"), roles={TESTER: ["operator", "requester", "approver"]})
    try:
        yield server
    finally:
        server.stop()


def load(mode: str) -> Any:
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_path(REPO / "openapi.json")
    schema.config.generation.update(modes=[GenerationMode(mode)], max_examples=MAX_EXAMPLES)
    return schema


@pytest.fixture(scope="module")
def negative_schema() -> Any:
    return load("negative")


@pytest.fixture(scope="module")
def positive_schema() -> Any:
    return load("positive")


# Nothing to break in a document without parameters.
negative = schemathesis.pytest.from_fixture("negative_schema").exclude(path=["/openapi.json", "/tenants", "/console"])
positive = schemathesis.pytest.from_fixture("positive_schema")
LOOPBACK_CLOSED = "127.0.0.1:9"  # the discard port: connection refused
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=MAX_EXAMPLES)


def checks(*extra: Any) -> list[Any]:
    """The checks that concern this API. Not `ignored_auth` (`pushproxy serve` does not check function keys, by
    design) nor `unsupported_method` (the local server's 405 carries no Allow header: the host's, not the API's)."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance, *extra]


@negative.parametrize()
@SETTINGS
def test_input_that_breaks_the_schema_is_refused(case: Any, served: Served) -> None:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import negative_data_rejection, status_code_conformance

    # A request outside the schema must get a documented 4xx, never a 2xx or a 5xx. (Content type is not checked
    # here: a path the local router can't match, e.g. with a newline in it, gets aiohttp's own text 404.)
    case.call_and_validate(base_url=f"{served.base_url}/api", headers=AS_TESTER,
                           checks=[not_a_server_error, status_code_conformance, negative_data_rejection])


def test_refused_input_started_nothing_and_reached_no_stand_in(served: Served, standins: tuple[Any, Any]) -> None:
    exchange, graph = standins
    assert exchange.journal() == []
    assert graph.journal() == []
    instances = served.durable(lambda client: client.get_status_all())
    assert [i.instance_id for i in instances if i.instance_id.startswith("onboarding-")] == []


@positive.parametrize()
@SETTINGS
def test_input_that_fits_the_schema_never_gets_a_server_error(case: Any, served: Served) -> None:
    body = case.body if isinstance(case.body, dict) else {}
    # A valid spec starts a real onboarding: keep every endpoint it names on loopback (tests reach nothing else).
    if isinstance(body.get("exchange"), dict):
        body["exchange"]["url"] = f"http://{LOOPBACK_CLOSED}/PowerShell"
        body["exchange"].pop("windows_powershell_url", None)
    if isinstance(body.get("graph"), dict):
        body["graph"]["authority"] = body["graph"]["graph_url"] = f"https://{LOOPBACK_CLOSED}"
    case.call_and_validate(base_url=f"{served.base_url}/api", headers=AS_TESTER, checks=checks())


def test_the_stand_ins_were_never_reached(standins: tuple[Any, Any]) -> None:
    exchange, graph = standins
    assert exchange.journal() == []
    assert graph.journal() == []
