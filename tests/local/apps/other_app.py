"""A second, unrelated app: its host shares a database file with the sample app's and must leave those alone."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="x")
def echo(x: str) -> str:
    return x


@app.orchestration_trigger(context_name="context")
def other(context: df.DurableOrchestrationContext):
    return (yield context.call_activity(echo, "other"))
