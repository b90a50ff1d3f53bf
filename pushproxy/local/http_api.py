"""What the Functions host serves, on one machine: the app's HTTP triggers at /api/<route>, the Durable management
API (/runtime/webhooks/durabletask/... and the rpc endpoints the SDK's DurableOrchestrationClient calls), and the
app's timer triggers on their schedules. Function keys are not checked locally: every route is anonymous here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import azure.functions as func
from aiohttp import web
from azure.functions.timer import TimerRequest
from dateutil.parser import isoparse

from pushproxy.errors import SpecError
from pushproxy.local.activities import function_loop
from pushproxy.local.app_index import RegisteredFunction
from pushproxy.local.errors import (
    InstanceAlreadyRunning,
    InstanceNotFound,
    InstanceNotRunning,
    LocalHostError,
    UnknownOrchestrator,
)
from pushproxy.local.host import LocalHost
from pushproxy.local.schedule import Schedule, resolve_schedule

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
CONNECTION = "Storage"


def client_binding(base_url: str, task_hub: str) -> dict[str, Any]:
    """The durableClient binding JSON the extension hands to functions (BindingHelper.cs), pointing at `base_url`."""
    hook = f"{base_url}{WEBHOOK_PREFIX}"
    query = f"taskHub={quote(task_hub)}&connection={CONNECTION}"
    instance = f"{hook}/instances/INSTANCEID"
    return {
        "taskHubName": task_hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
            "createAndWaitOnNewInstancePostUri": (
                f"{hook}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                f"&pollingInterval={{intervalInSeconds}}&{query}"
            ),
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        },
        "baseUrl": hook,
        "requiredQueryStringParameters": query,
        "rpcBaseUrl": f"{base_url}{RPC_PREFIX}/",
    }


access_log = logging.getLogger("pushproxy.serve.access")
# Larger than any body the app accepts (it answers 413 itself for those), so aiohttp's own text/plain 413 is never
# what a caller sees below this; above it the middleware turns aiohttp's answer into the error shape.
MAX_REQUEST_BYTES = 1024 * 1024


@web.middleware
async def access_and_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """One log line per request (method, path without the query string, status, duration; never the body, the
    query's codes or the headers), and aiohttp's own errors (413, 405) in the `{"error"}` shape."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        if exc.status < 400:
            raise
        code = {413: "body_too_large", 404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        message = "the request body is too large" if exc.status == 413 else exc.reason
        error = {"code": code, "message": message, **({"field": "body"} if exc.status == 413 else {})}
        return web.json_response({"error": error}, status=exc.status)
    finally:
        # request.path: decoded path only, no query string (where `code=` keys travel). %r keeps a control
        # character in a path from forging a second log line.
        access_log.info("%s %r %d %.1fms", request.method, request.path, status, (time.perf_counter() - started) * 1000)


def _error(status: int, code: str, message: str) -> web.Response:
    # ExceptionMessage is what the SDK client reads on a 400 from start_new.
    return web.json_response({"error": {"code": code, "message": message}, "ExceptionMessage": message}, status=status)


def _route_regex(template: str) -> re.Pattern[str]:
    """A Functions route template (`{name}`, `{name?}`, `{name:int}`, `{*rest}`) as a regex with named groups."""
    pattern = ""
    pos = 0
    for match in re.finditer(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\?)?\}", template):
        pattern += re.escape(template[pos : match.start()])
        catch_all, name, optional = match.groups()
        group = f"(?P<{name}>.*)" if catch_all else f"(?P<{name}>[^/]+)"
        if optional:
            if pattern.endswith("/"):
                pattern = pattern[:-1] + f"(?:/{group})?"
            else:
                pattern += group + "?"
        else:
            pattern += group
        pos = match.end()
    pattern += re.escape(template[pos:])
    return re.compile(f"^{pattern}/?$", re.IGNORECASE)


class LocalFunctionsServer:
    """The aiohttp application behind `pushproxy serve`. The host's engine runs in its own thread."""

    def __init__(self, host: LocalHost, task_hub: str, poll_interval: float = 0.5, route_prefix: str = "api",
                 front_headers: dict[str, str] | None = None) -> None:
        self.host = host
        # Headers the front end sets on every request to the app's functions, replacing any copy the client sent
        # (as App Service authentication does with its principal headers): `pushproxy serve --principal NAME`.
        self.front_headers = dict(front_headers or {})
        self.task_hub = task_hub
        self.route_prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.poll_interval = poll_interval
        self.base_url = ""
        self._stop = threading.Event()
        self._engine: threading.Thread | None = None
        self._routes = []
        for fn in host.index.http:
            trigger = _trigger_binding(fn)
            methods = {str(m).upper() for m in trigger.get("methods") or []}
            self._routes.append((_route_regex(str(trigger.get("route") or fn.name)), fn, methods))
        # As ASP.NET Core routing orders them in the Functions host: a catch-all (`{*rest}`) after every other route.
        self._routes.sort(key=lambda route: "{*" in str(_trigger_binding(route[1]).get("route") or ""))
        self._timer_tasks: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[access_and_errors], client_max_size=MAX_REQUEST_BYTES)
        for prefix in (WEBHOOK_PREFIX, RPC_PREFIX):
            app.router.add_post(prefix + "/orchestrators/{name}", self.start_instance)
            app.router.add_post(prefix + "/orchestrators/{name}/{instance_id}", self.start_instance)
            app.router.add_get(prefix + "/instances", self.list_instances)
            app.router.add_get(prefix + "/instances/", self.list_instances)
            app.router.add_get(prefix + "/instances/{instance_id}", self.instance_status)
            app.router.add_delete(prefix + "/instances/{instance_id}", self.purge_instance)
            app.router.add_post(prefix + "/instances/{instance_id}/raiseEvent/{event}", self.raise_event)
            app.router.add_post(prefix + "/instances/{instance_id}/terminate", self.terminate)
            for verb in ("suspend", "resume", "rewind", "restart"):
                app.router.add_post(prefix + "/instances/{instance_id}/" + verb, self.not_supported)
        # [\s\S]: a decoded path may hold a newline (%0A), which `.` would not match, and the caller would get a bare 404.
        app.router.add_route("*", self.route_prefix + "/{path:[\\s\\S]*}", self.http_trigger)
        if self.route_prefix:
            app.router.add_route("*", self.route_prefix, self.http_trigger)
        return app

    def start_engine(self) -> None:
        self._engine = threading.Thread(target=self._run_engine, name="durable-engine", daemon=True)
        self._engine.start()

    def start_timers(self) -> None:
        for fn in self.host.index.timers:
            schedule = Schedule(resolve_schedule(str(_trigger_binding(fn)["schedule"])))
            self._timer_tasks.append(asyncio.get_running_loop().create_task(self._run_timer(fn, schedule)))

    async def stop(self) -> None:
        self._stop.set()
        self.host.wakeup.set()
        for task in self._timer_tasks:
            task.cancel()
        if self._engine is not None:
            await asyncio.to_thread(self._engine.join, 10)

    def _run_engine(self) -> None:
        while not self._stop.is_set():
            try:
                self.host.run_until_idle()
            except Exception as exc:  # keep serving; the next round retries
                print(f"pushproxy serve: engine error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            # Wake for our own writes at once, for due timers on time, and poll for other processes' writes.
            wait = self.poll_interval
            due = self.host.next_due()
            if due is not None:
                wait = max(0.0, min(wait, (due - self.host.clock.now()).total_seconds()))
            self.host.wakeup.wait(wait)
            self.host.wakeup.clear()

    # -- the app's functions ----------------------------------------------------------------------------------

    def _kwargs(self, fn: RegisteredFunction, trigger_value: Any) -> dict[str, Any]:
        kwargs = {fn.trigger_name: trigger_value}
        for binding in fn.bindings:
            if binding.get("type") == "durableClient":
                kwargs[binding["name"]] = json.dumps(
                    client_binding(self.base_url, binding.get("taskHub") or self.task_hub)
                )
            elif binding.get("direction", "").upper() == "IN" and binding["name"] != fn.trigger_name:
                raise LocalHostError(
                    f"function {fn.name!r}: input binding type {binding.get('type')!r} is not served locally"
                )
        return kwargs

    async def _call(self, fn: RegisteredFunction, kwargs: dict[str, Any]) -> Any:
        if fn.is_async:  # on the functions' loop, shared with the activities (see function_loop)
            future = asyncio.run_coroutine_threadsafe(fn.user_function(**kwargs), function_loop())
            return await asyncio.wrap_future(future)
        return await asyncio.to_thread(fn.user_function, **kwargs)

    async def http_trigger(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(self.route_prefix) :].lstrip("/")
        refused_method = False
        for regex, fn, methods in self._routes:
            match = regex.match(path)
            if match is None:
                continue
            if methods and request.method.upper() not in methods:
                # Another function may serve the same route with this method (GET and PUT tenants/{tenant}).
                refused_method = True
                continue
            body = await request.read()
            headers = {k: v for k, v in request.headers.items()
                       if k.lower() not in {h.lower() for h in self.front_headers}}
            req = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers={**headers, **self.front_headers},
                params=dict(request.query),
                route_params={k: v for k, v in match.groupdict().items() if v is not None},
                body=body,
            )
            try:
                result = await self._call(fn, self._kwargs(fn, req))
            except Exception as exc:
                # Type only: an exception's text may carry what the function was handling.
                print(f"pushproxy serve: function {fn.name!r} raised {type(exc).__name__}", file=sys.stderr, flush=True)
                return _error(500, "FunctionError", f"function {fn.name!r} failed ({type(exc).__name__})")
            return _to_response(result)
        if refused_method:
            return _error(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}")
        return _error(404, "NotFound", f"no HTTP function serves {request.path}")

    async def _run_timer(self, fn: RegisteredFunction, schedule: Schedule) -> None:
        if _trigger_binding(fn).get("runOnStartup"):
            await self._fire(fn, schedule)
        while True:
            now = datetime.now(UTC)
            due = schedule.next_after(now)
            await asyncio.sleep(max(0.0, (due - now).total_seconds()))
            await self._fire(fn, schedule)

    async def _fire(self, fn: RegisteredFunction, schedule: Schedule) -> None:
        timer = TimerRequest(past_due=False, schedule={"AdjustForDST": True}, schedule_status={})
        try:
            await self._call(fn, self._kwargs(fn, timer))
        except Exception as exc:
            print(f"pushproxy serve: timer {fn.name!r} raised {type(exc).__name__}", file=sys.stderr, flush=True)

    # -- the Durable management API ---------------------------------------------------------------------------

    async def start_instance(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        instance_id = request.match_info.get("instance_id")
        raw = await request.read()
        try:
            input_text = _input_text(raw)
        except ValueError:
            return _error(400, "BadRequest", "body: not JSON")
        try:
            # The SDK's start_new(version=...) appends ?version= (orchestration versioning).
            iid = await asyncio.to_thread(self.host.start_new_with_input_text, name, instance_id, input_text,
                                          request.query.get("version") or None)
        except UnknownOrchestrator as exc:
            return _error(400, "UnknownOrchestrator", str(exc))
        except InstanceAlreadyRunning as exc:
            return _error(409, "InstanceExists", str(exc))
        except SpecError as exc:
            return _error(400, "BadRequest", str(exc))
        payload = self.check_status_payload(iid)
        return web.json_response(payload, status=202, headers={"Location": payload["statusQueryGetUri"]})

    def check_status_payload(self, instance_id: str) -> dict[str, Any]:
        urls = client_binding(self.base_url, self.task_hub)["managementUrls"]
        return {key: value.replace("INSTANCEID", quote(instance_id, safe="")) for key, value in urls.items()}

    async def instance_status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        row = await asyncio.to_thread(self._row, instance_id)
        if row is None:
            return _error(404, "NotFound", f"instance_id: no orchestration instance {instance_id!r}")
        flag = _flags(request)
        payload = await asyncio.to_thread(
            self.host.status_payload, row, flag("showHistory"), flag("showHistoryOutput"), flag("showInput", True)
        )
        if "history" in payload:
            payload["historyEvents"] = payload.pop("history")
        status = 202 if row["status"] in ("Pending", "Running") else 200
        if row["status"] == "Failed" and flag("returnInternalServerErrorOnFailure"):
            status = 500  # the extension's opt-in, for pollers that only look at the status code
        return web.json_response(payload, status=status)

    def _row(self, instance_id: str) -> Any:
        return (
            self.host.store.read().execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
        )

    async def list_instances(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            created_from = isoparse(q["createdTimeFrom"]) if q.get("createdTimeFrom") else None
            created_to = isoparse(q["createdTimeTo"]) if q.get("createdTimeTo") else None
        except ValueError:
            return _error(400, "BadRequest", "createdTimeFrom/createdTimeTo: not ISO 8601 dates")
        statuses = [s for s in q.get("runtimeStatus", "").split(",") if s] or None
        rows = await asyncio.to_thread(
            self.host.query_instances, created_from, created_to, statuses, q.get("instanceIdPrefix")
        )
        show_input = _flags(request)("showInput", True)
        return web.json_response([self.host.status_payload(r, False, False, show_input) for r in rows])

    async def raise_event(self, request: web.Request) -> web.Response:
        instance_id, event = request.match_info["instance_id"], request.match_info["event"]
        raw = await request.read()
        try:
            # One level of JSON, as the extension parses it: the Python client's json.dumps'd data stays a string.
            data = json.loads(raw) if raw.strip() else None
        except ValueError:
            return _error(400, "BadRequest", "body: only application/json content is supported")
        try:
            await asyncio.to_thread(self.host.raise_event, instance_id, event, data)
        except InstanceNotFound as exc:
            return _error(404, "NotFound", str(exc))
        except InstanceNotRunning as exc:
            return _error(410, "Gone", str(exc))
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        try:
            await asyncio.to_thread(self.host.terminate, instance_id, request.query.get("reason", ""))
        except InstanceNotFound as exc:
            return _error(404, "NotFound", str(exc))
        except InstanceNotRunning as exc:
            return _error(410, "Gone", str(exc))
        return web.Response(status=202)

    async def purge_instance(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        try:
            deleted = await asyncio.to_thread(self.host.purge_instance_history, instance_id)
        except InstanceAlreadyRunning as exc:
            return _error(409, "Conflict", str(exc))
        if not deleted:
            return _error(404, "NotFound", f"instance_id: no orchestration instance {instance_id!r}")
        return web.json_response({"instancesDeleted": deleted})

    async def not_supported(self, request: web.Request) -> web.Response:
        verb = request.path.rsplit("/", 1)[-1]
        return _error(501, "NotImplemented", f"{verb} is not supported by the local host")


def _trigger_binding(fn: RegisteredFunction) -> dict[str, Any]:
    return next(b for b in fn.bindings if b.get("type") == fn.trigger_type)


def _flags(request: web.Request) -> Any:
    def flag(name: str, default: bool = False) -> bool:
        value = request.query.get(name)
        return default if value is None else value.lower() == "true"

    return flag


def _input_text(raw: bytes) -> str | None:
    """The orchestration input as JSON text, from a start request body."""
    if not raw.strip():
        return None
    value = json.loads(raw)
    if isinstance(value, str):
        # The SDK client double-encodes: the body is a JSON string holding df_dumps(input).
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return json.dumps(value)


def _to_response(result: Any) -> web.Response:
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-length"}
        if result.mimetype and "content-type" not in {k.lower() for k in headers}:
            ctype = result.mimetype + (f"; charset={result.charset}" if result.charset else "")
            headers["Content-Type"] = ctype
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, bytes):
        return web.Response(status=200, body=result)
    if isinstance(result, str):
        return web.Response(status=200, text=result)
    return web.json_response(result)
