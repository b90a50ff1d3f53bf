"""Functions the worker loads and functions it refuses, to check that the local host's rules agree with the
worker's own (tests/worker/test_real_worker.py runs both on this module)."""

from __future__ import annotations

import typing
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="payload")
def plain_dict(payload: dict) -> dict:
    return payload


@app.activity_trigger(input_name="payload")
def unannotated(payload):  # type: ignore[no-untyped-def]
    return payload


@app.activity_trigger(input_name="payload")
def generic_alias(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


@app.activity_trigger(input_name="payload")
def typing_generic(payload: typing.Dict[str, Any]) -> dict:  # noqa: UP006 - what the worker accepts
    return dict(payload)


@app.activity_trigger(input_name="payload")
def optional(payload: dict | None) -> dict:
    return payload or {}


@app.activity_trigger(input_name="payload")
def extra_parameter(payload: dict, other: str) -> dict:
    return payload


@app.activity_trigger(input_name="payload")
@app.durable_client_input(client_name="client")
async def with_client(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    return payload


@app.orchestration_trigger(context_name="ctx")
def misnamed_context(ctx: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield ctx.call_activity("plain_dict", {})


@app.orchestration_trigger(context_name="context")
def orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    yield context.call_activity("plain_dict", {})


@app.route(route="r", methods=["GET"])
def http_ok(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")


@app.route(route="s", methods=["GET"])
def http_generic_return(req: func.HttpRequest) -> dict[str, str]:
    return {}
