"""`pushproxy serve`: on one machine, what the Functions host serves in Azure, for any DFApp.

HTTP functions at /api/<route>, the Durable management API, timer triggers, and the orchestrations themselves on
the local host (SQLite). Function keys are not checked locally: every route is served anonymously.

Who is calling: with `--principal NAME`, every request is NAME's (a person's own machine, listening on loopback
only); without it, the X-MS-CLIENT-PRINCIPAL-NAME header that the operator's authenticating reverse proxy sets.
Either way the roles come from PUSHPROXY_ROLES_FILE. The approval console is at /api/console.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from pushproxy.errors import SpecError
from pushproxy.settings import DEFAULTS, setting


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="serve the app's HTTP functions, timers and the Durable API on this machine",
        description=__doc__,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7071, help="port (default 7071; 0 picks a free one)")
    parser.add_argument(
        "--app", default=None,
        help="the DFApp (or a function that builds one), as module:attribute; default: the product's own app "
        "(app_factory:build_app), from any directory",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="SQLite file (default $PUSHPROXY_LOCAL_DB or ~/.local/share/pushproxy/local.sqlite)",
    )
    parser.add_argument(
        "--principal", default=None, metavar="NAME",
        help="serve every request as NAME (replacing any X-MS-CLIENT-PRINCIPAL-NAME a client sent): for one person "
        "on their own machine; only with a loopback --host. Without it, an authenticating reverse proxy must set "
        "X-MS-CLIENT-PRINCIPAL-NAME (README, \"The approval console\")",
    )
    parser.set_defaults(func=run)


def fixed_principal(name: str | None, host: str) -> dict[str, str]:
    """The header `--principal NAME` sets on every request; refused unless only this machine can connect (anyone
    who reaches the port would act as NAME)."""
    if name is None:
        return {}
    import ipaddress

    from pushproxy.principals import PrincipalError, canonical_principal

    try:
        canonical_principal(name, "--principal")
    except PrincipalError as exc:
        raise SpecError("--principal", str(exc)) from None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SpecError("--principal", f"only with a loopback --host (127.0.0.1, ::1): on {host} anyone who reaches "
                        "the port would act as this principal; put an authenticating reverse proxy in front instead")
    return {"X-MS-CLIENT-PRINCIPAL-NAME": name}


def load_app(spec: str) -> Any:
    """Import `module:attribute`, from the current directory first, as the Functions worker does. An attribute
    that is a function (a composition root such as app_factory:build_app) is called for the app."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise SpecError("--app", f"{spec!r} is not module:attribute (e.g. function_app:app)")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SpecError("--app", f"cannot import {module_name!r}: {exc}") from exc
    try:
        target = getattr(module, attribute)
    except AttributeError as exc:
        raise SpecError("--app", f"module {module_name!r} has no attribute {attribute!r}") from exc
    from azure.functions import FunctionRegister

    return target if isinstance(target, FunctionRegister) or not callable(target) else target()


def app_directory(app_module: str) -> Path:
    """Where the app's host.json is: next to the app's module (the product's, wherever it is installed), else here."""
    module = sys.modules.get(app_module)
    where = Path(getattr(module, "__file__", None) or Path.cwd()).resolve().parent
    return where if (where / "host.json").is_file() else Path.cwd()


def host_settings(directory: Path) -> dict[str, Any]:
    """What host.json (next to the app, if any) says about the route prefix, task hub and activity concurrency."""
    path = directory / "host.json"
    if not path.is_file():
        return {}
    try:
        extensions = json.loads(path.read_text(encoding="utf-8")).get("extensions", {})
    except (OSError, ValueError) as exc:
        raise SpecError("host.json", f"cannot be read as JSON: {exc}") from exc
    found: dict[str, Any] = {}
    prefix = extensions.get("http", {}).get("routePrefix")
    if isinstance(prefix, str):
        found["route_prefix"] = prefix
    durable = extensions.get("durableTask", {})
    if isinstance(durable.get("maxConcurrentActivityFunctions"), int):
        found["max_activities"] = max(1, durable["maxConcurrentActivityFunctions"])
    hub = durable.get("hubName")
    if isinstance(hub, str) and hub:
        found["task_hub"] = resolve_setting_reference(hub)
    return found


def resolve_setting_reference(value: str) -> str:
    """`%NAME%` -> the environment, then pushproxy.settings.DEFAULTS, as the Functions host resolves app settings."""
    if value.startswith("%") and value.endswith("%") and len(value) > 2:
        name = value[1:-1]
        return os.environ.get(name) or DEFAULTS.get(name) or value
    return value


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise SpecError("--port", "must be between 0 and 65535")
    # Roles on one machine come from PUSHPROXY_ROLES_FILE (pushproxy.api.roles); X-MS-CLIENT-PRINCIPAL, which only
    # App Service can vouch for, is ignored here. The reverse proxy in front sets X-MS-CLIENT-PRINCIPAL-NAME.
    os.environ["PUSHPROXY_ROLE_SOURCE"] = "file"
    front_headers = fixed_principal(args.principal, args.host)
    if not setting("PUSHPROXY_CONSOLE_KEY"):
        import secrets

        # The console's decision tokens need a key of the app's own; one per run is enough on one machine.
        os.environ["PUSHPROXY_CONSOLE_KEY"] = secrets.token_urlsafe(32)
    import logging

    access = logging.getLogger("pushproxy.serve.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    from pushproxy.local import LocalHost, default_database_path

    if args.app:
        app = load_app(args.app)
        app_module = args.app.partition(":")[0]
    else:
        from pushproxy.onboarding.runner import PRODUCT_APP, product_app

        app = product_app()
        app_module = PRODUCT_APP.partition(":")[0]
    configured = host_settings(app_directory(app_module))
    database = Path(args.database).expanduser() if args.database else default_database_path()
    database.parent.mkdir(parents=True, exist_ok=True)
    task_hub = configured.get("task_hub") or setting("PUSHPROXY_TASK_HUB") or "pushproxy"
    host = LocalHost(app, database=database, max_activities=configured.get("max_activities", 16), task_hub=task_hub)
    try:
        asyncio.run(_serve(host, args.host, args.port, task_hub, configured.get("route_prefix", "api"), front_headers))
    finally:
        host.close()
    return 0


async def _serve(host: Any, address: str, port: int, task_hub: str, route_prefix: str,
                 front_headers: dict[str, str] | None = None) -> None:
    from aiohttp import web

    from pushproxy.local.http_api import LocalFunctionsServer

    server = LocalFunctionsServer(host, task_hub, route_prefix=route_prefix, front_headers=front_headers)
    runner = web.AppRunner(server.make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, address, port)
    await site.start()
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    server.base_url = f"http://{shown}:{bound[1]}"
    # Activities' durableClient bindings point here, as the Functions host's point at itself.
    host.client_base_url = server.base_url
    server.start_engine()
    server.start_timers()
    print(f"listening on {server.base_url}", flush=True)
    print(
        "pushproxy serve: function keys are not checked locally; every route is anonymous", file=sys.stderr, flush=True
    )
    if front_headers:
        print(f"pushproxy serve: every request is served as {front_headers['X-MS-CLIENT-PRINCIPAL-NAME']!r} (--principal); "
              f"the approval console: {server.base_url}/api/console", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        await runner.cleanup()
