"""A small Durable Functions app that is not ours: one orchestrator per action kind the local host must support.

Activities append their name to the file named by SAMPLE_APP_RUNLOG (when set), so tests in other processes can
count how many times each one ran.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Per-process state the tests read or steer.
FLAKY_FAILURES: dict[str, int] = {}
NONDETERMINISTIC_SWITCH = {"second": "hello"}


def _record(name: str, key: Any = None) -> None:
    path = os.environ.get("SAMPLE_APP_RUNLOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{name}:{key}\n")
            log.flush()
            os.fsync(log.fileno())


# -- activities -------------------------------------------------------------------------------------------------


@app.activity_trigger(input_name="who")
def hello(who: str) -> str:
    _record("hello", who)
    return f"Hello {who}!"


@app.activity_trigger(input_name="who")
async def hello_async(who: str) -> dict[str, str]:
    await asyncio.sleep(0)
    _record("hello_async", who)
    return {"greeting": f"Hello {who}!"}


@app.activity_trigger(input_name="job")
def flaky(job: dict) -> str:
    """Fails the first `fail` times it is called for `job["key"]`."""
    key = job["key"]
    FLAKY_FAILURES[key] = FLAKY_FAILURES.get(key, 0) + 1
    _record("flaky", key)
    if FLAKY_FAILURES[key] <= job["fail"]:
        raise RuntimeError(f"transient failure #{FLAKY_FAILURES[key]}")
    return f"ok on attempt {FLAKY_FAILURES[key]}"


@app.activity_trigger(input_name="job")
def slow(job: dict) -> str:
    """Blocks while the file `job["block"]` exists (at most 60 s): the crash tests kill the host meanwhile."""
    _record("slow-start", job["key"])
    deadline = time.monotonic() + 60
    while os.path.exists(job["block"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    _record("slow", job["key"])
    return f"unblocked {job['key']}"


@app.activity_trigger(input_name="n")
def double(n: int) -> int:
    _record("double", n)
    return n * 2


# -- orchestrators ----------------------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    names = context.get_input() or ["Tokyo", "Seattle", "London"]
    results = []
    for i, name in enumerate(names):
        activity = hello_async if i == 1 else hello
        results.append((yield context.call_activity(activity, name)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity(double, i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=job["attempts"])
    try:
        return (yield context.call_activity_with_retry(flaky, options, job))
    except Exception as exc:
        return {"gave_up": str(exc)}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status({"phase": "awaiting_approval"})
    approved = context.wait_for_external_event("Approval")
    deadline = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    winner = yield context.task_any([approved, deadline])
    if winner == approved:
        deadline.cancel()
        context.set_custom_status({"phase": "approved"})
        return {"decision": approved.result}
    context.set_custom_status({"phase": "timed_out"})
    return {"decision": "timed-out"}


@app.orchestration_trigger(context_name="context")
def early_event(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(hello, "first")
    data = yield context.wait_for_external_event("Go")
    return [first, data]


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    return (yield context.call_activity(hello, "after timer"))


@app.orchestration_trigger(context_name="context")
def crashy(context: df.DurableOrchestrationContext):
    job = context.get_input()
    first = yield context.call_activity(double, 1)
    middle = yield context.call_activity(slow, job)
    last = yield context.call_activity(double, 2)
    return [first, middle, last]


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    n = context.get_input()
    if n < 0:
        raise ValueError(f"child refuses {n}")
    return (yield context.call_activity(double, n))


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    a = yield context.call_sub_orchestrator("child", 5, "child-of-" + context.instance_id)
    b = yield context.call_sub_orchestrator("child", 6)
    try:
        yield context.call_sub_orchestrator_with_retry("child", df.RetryOptions(1000, 2), -1)
    except Exception as exc:
        failure = str(exc)
    return {"a": a, "b": b, "failure": failure}


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input()
    value = yield context.call_activity(double, n)
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return value


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity(hello, "before failure")
    raise ValueError("the orchestrator gave up")


@app.orchestration_trigger(context_name="context")
def catches(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity(flaky, {"key": context.instance_id, "fail": 99})
    except Exception as exc:
        return str(exc)
    return "no failure"


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext):
    yield context.call_activity(hello, "one")
    yield context.call_activity(NONDETERMINISTIC_SWITCH["second"], "two")
    return "done"


@app.orchestration_trigger(context_name="context")
def calls_missing(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("no_such_activity", 1)
    except Exception as exc:
        return str(exc)
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def uses_entity(context: df.DurableOrchestrationContext):
    yield context.call_entity(df.EntityId("counter", "k"), "add", 1)
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def uses_http(context: df.DurableOrchestrationContext):
    yield context.call_http("GET", "http://127.0.0.1:9/")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def workflow(context: df.DurableOrchestrationContext):
    """Runs a list of steps: ["act", n] | ["timer", seconds] | ["event", name] | ["fan", n]."""
    out = []
    for step in context.get_input():
        kind, arg = step
        if kind == "act":
            out.append((yield context.call_activity(double, arg)))
        elif kind == "timer":
            yield context.create_timer(context.current_utc_datetime + timedelta(seconds=arg))
            out.append("t")
        elif kind == "event":
            out.append((yield context.wait_for_external_event(arg)))
        elif kind == "fan":
            # The SDK's task_all([]) yields None, not [].
            results = yield context.task_all([context.call_activity(double, i) for i in range(arg)])
            out.append(sum(results or []))
    return out


# -- HTTP and timer triggers ------------------------------------------------------------------------------------


@app.route(route="orchestrators/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = req.get_json() if body else None
    instance_id = await client.start_new(req.route_params["functionName"], None, payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="hello/{name}", methods=["GET"])
def http_hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params['name']} {req.params.get('x', '')}".strip(), status_code=200)


@app.timer_trigger(schedule="%SAMPLE_APP_SCHEDULE%", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await client.start_new("sequence", None, ["tick"])
