"""The SDK's real DurableOrchestrationClient, and plain HTTP, against `pushproxy serve` over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from azure.durable_functions import DurableOrchestrationClient
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azure.durable_functions.models.utils import http_utils

from pushproxy.local.http_api import client_binding
from tests.local.serve_process import start_serve, stop


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("serve")
    proc, url = start_serve(workdir / "local.sqlite", workdir, SAMPLE_APP_SCHEDULE="*/1 * * * * *")
    yield url
    stop(proc)


def run(serve_url: str, body: Callable[[DurableOrchestrationClient], Awaitable[Any]]) -> Any:
    """One event loop per test; the SDK keeps a module-global aiohttp session bound to the loop that made it."""

    async def main() -> Any:
        http_utils._client_session = None
        client = DurableOrchestrationClient(json.dumps(client_binding(serve_url, "pushproxy")))
        try:
            return await body(client)
        finally:
            await http_utils._close_session()

    return asyncio.run(main())


async def until_status(client: DurableOrchestrationClient, instance_id: str, want: Callable[[Any], bool]) -> Any:
    for _ in range(600):  # 30 s: generous, the suite shares two cores
        status = await client.get_status(instance_id, show_history=True, show_history_output=True)
        if status and want(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"instance {instance_id} never reached the wanted state")


def done(status: Any) -> bool:
    return status.runtime_status in (OrchestrationRuntimeStatus.Completed, OrchestrationRuntimeStatus.Failed)


def test_client_starts_and_reads_an_orchestration(serve: str) -> None:
    async def body(client: DurableOrchestrationClient) -> Any:
        iid = await client.start_new("fan_out", "fan-5", 5)
        return await until_status(client, iid, done)

    status = run(serve, body)
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert status.output == 20
    assert status.input_ == 5
    # The extension sends history as historyEvents; the SDK keeps it under that name.
    assert [e["EventType"] for e in status.historyEvents][:2] == ["OrchestratorStarted", "ExecutionStarted"]


def test_client_raises_an_event_and_a_second_one_is_gone(serve: str) -> None:
    async def body(client: DurableOrchestrationClient) -> Any:
        iid = await client.start_new("approval", None, None)
        await until_status(client, iid, lambda s: s.custom_status == {"phase": "awaiting_approval"})
        await client.raise_event(iid, "Approval", {"approved": True})
        status = await until_status(client, iid, done)
        with pytest.raises(Exception, match="is gone"):
            await client.raise_event(iid, "Approval", {"approved": True})
        return status

    status = run(serve, body)
    # The Python client json.dumps the data and aiohttp encodes it again: the orchestrator gets the JSON text,
    # as it does from the real extension (azure-functions-durable-python issue #295).
    assert status.output == {"decision": '{"approved": true}'}


def test_client_terminates_lists_and_purges(serve: str) -> None:
    async def body(client: DurableOrchestrationClient) -> Any:
        iid = await client.start_new("approval", "to-terminate", None)
        await until_status(client, iid, lambda s: s.runtime_status == OrchestrationRuntimeStatus.Running)
        await client.terminate(iid, "stop now")
        terminated = await until_status(
            client, iid, lambda s: s.runtime_status == OrchestrationRuntimeStatus.Terminated
        )
        listed = await client.get_status_by(runtime_status=[OrchestrationRuntimeStatus.Terminated])
        purged = await client.purge_instance_history(iid)
        missing = await client.get_status(iid)
        with pytest.raises(Exception, match="not found|No instance"):
            await client.raise_event("no-such-instance", "x", 1)
        return terminated, listed, purged, missing

    terminated, listed, purged, missing = run(serve, body)
    assert terminated.output == "stop now"
    assert "to-terminate" in [s.instance_id for s in listed]
    assert purged.instances_deleted == 1
    assert not missing


def test_client_is_told_clearly_about_an_unknown_orchestrator(serve: str) -> None:
    async def body(client: DurableOrchestrationClient) -> Any:
        with pytest.raises(Exception, match="no orchestrator named 'nope'"):
            await client.start_new("nope")

    run(serve, body)


def test_http_starter_runs_through_the_durable_client_binding(serve: str) -> None:
    async def body(_: DurableOrchestrationClient) -> Any:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{serve}/api/orchestrators/sequence", json=["Ada", "Bob"]) as resp:
                assert resp.status == 202
                payload = await resp.json()
                assert resp.headers["Location"] == payload["statusQueryGetUri"]
            for _ in range(600):
                async with http.get(payload["statusQueryGetUri"]) as resp:
                    status = await resp.json()
                    if resp.status == 200:
                        return status
                await asyncio.sleep(0.05)
        raise AssertionError("never completed")

    status = run(serve, body)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Ada!", {"greeting": "Hello Bob!"}]


def test_http_routes_parameters_and_unknown_paths(serve: str) -> None:
    async def body(_: DurableOrchestrationClient) -> Any:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{serve}/api/hello/eve", params={"x": "1"}) as resp:
                hello = (resp.status, await resp.text())
            async with http.get(f"{serve}/api/nowhere") as resp:
                missing = resp.status
            async with http.post(f"{serve}/api/hello/eve") as resp:
                wrong_method = resp.status
        return hello, missing, wrong_method

    hello, missing, wrong_method = run(serve, body)
    assert hello == (200, "hello eve 1")
    assert missing == 404
    assert wrong_method == 405


def test_timer_trigger_fires_on_its_ncrontab_schedule(serve: str) -> None:
    async def body(client: DurableOrchestrationClient) -> Any:
        for _ in range(300):
            started = [s for s in await client.get_status_all() if s.input_ == ["tick"]]
            if started:
                return started
            await asyncio.sleep(0.1)
        raise AssertionError("the timer never fired")

    assert run(serve, body)


def test_status_of_a_failed_instance_is_200_unless_asked_for_500(serve: str) -> None:
    async def body(client: DurableOrchestrationClient) -> Any:
        iid = await client.start_new("failing", None, None)
        await until_status(client, iid, done)
        url = f"{serve}/runtime/webhooks/durabletask/instances/{iid}"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as plain:
                plain_status = plain.status
            async with http.get(url, params={"returnInternalServerErrorOnFailure": "true"}) as strict:
                strict_status = strict.status
        return plain_status, strict_status

    assert run(serve, body) == (200, 500)
