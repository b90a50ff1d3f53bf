"""Run onboardings on one machine: the local Durable host, one instance per tenant, driven from a terminal.

The same orchestrator and activities as in Azure. The instance id is derived from the tenant domain, so running
`pushproxy onboard` again for a tenant whose onboarding is unfinished continues it instead of starting another.
"""

from __future__ import annotations

import asyncio
import getpass
import importlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.durable_functions as df

from pushproxy.local import LocalHost, default_database_path
from pushproxy.plan import OnboardingPlan, plan_onboarding
from pushproxy.spec import TenantSpec, onboarding_instance_id

ACTIVE = ("Pending", "Running")
FINAL = ("Completed", "Failed", "Terminated", "Canceled")


# The composition root (app_factory.py, next to function_app.py). Named, not imported: the package never imports
# the triggers and orchestrators it hosts (ARCHITECTURE), it loads the product's app by name, as the worker does.
PRODUCT_APP = "app_factory:build_app"
_APPS: dict[str, df.DFApp] = {}


def product_app(spec: str = PRODUCT_APP) -> df.DFApp:
    """The product's DFApp, built once per process (a LocalHost indexes an app once and keeps the index)."""
    app = _APPS.get(spec)
    if app is None:
        module_name, _, attribute = spec.partition(":")
        target = getattr(importlib.import_module(module_name), attribute)
        app = target() if callable(target) and not isinstance(target, df.DFApp) else target
        _APPS[spec] = app
    return app


def open_host(database: str | Path | None = None, clock: Any = None, **options: Any) -> LocalHost:
    """A LocalHost for the product's app on `database` (default ~/.local/share/pushproxy/local.sqlite)."""
    path = Path(database).expanduser() if database else default_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return LocalHost(product_app(), database=path, clock=clock, **{**host_versioning(), **options})


def host_versioning(spec: str = PRODUCT_APP) -> dict[str, Any]:
    """The orchestration versioning host.json sets (extensions.durableTask defaultVersion, versionMatchStrategy,
    versionFailureStrategy), read from the host.json next to the composition root, as the Functions host reads it."""
    import json

    module = importlib.import_module(spec.partition(":")[0])
    path = Path(str(module.__file__)).resolve().parent / "host.json"
    try:
        durable = json.loads(path.read_text(encoding="utf-8"))["extensions"]["durableTask"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    options: dict[str, Any] = {}
    for key, option in (("defaultVersion", "default_version"), ("versionMatchStrategy", "version_match"),
                        ("versionFailureStrategy", "version_failure")):
        if isinstance(durable.get(key), str):
            options[option] = durable[key]
    return options


def current_user() -> str:
    """Who is at the terminal, as recorded for a terminal approval."""
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without /etc/passwd entry): still record something honest
        return "unknown-local-user"


def runtime_of(status: Any) -> str:
    runtime = getattr(status, "runtime_status", None)
    return str(getattr(runtime, "value", runtime or "Unknown"))


def start_or_resume(
    host: LocalHost, spec: TenantSpec, requested_by: str | None, remediation: bool = False
) -> tuple[str, bool]:
    """Start the tenant's onboarding, or find the unfinished one. Returns (instance id, resumed)."""
    instance_id = onboarding_instance_id(spec.tenant_domain)
    status = host.get_status(instance_id, show_history=False)
    if status and runtime_of(status) in ACTIVE:
        return instance_id, True
    from pushproxy.errors import PushProxyError
    from pushproxy.tenant_workflows import blocking

    other = blocking(lambda i: host.get_status(i, show_history=False), spec.tenant_domain)
    if other is not None:  # one workflow per tenant: a rotation or offboarding of it runs
        raise PushProxyError(f"{other} is running for {spec.tenant_domain}: one workflow per tenant at a time")
    # On one machine the local operator's spec is the registration: register it, then start with it. The
    # activities present its secrets only to the hosts it names (pushproxy.bindings).
    register_locally(spec, requested_by)
    host.start_new(
        "onboarding",
        instance_id,
        {"spec": spec.to_dict(), "requested_by": requested_by, "remediation": remediation},
    )
    return instance_id, False


def register_locally(spec: TenantSpec, operator: str | None) -> None:
    """Write `spec` as the tenant's registration in this machine's registry (the local operator's)."""
    from pushproxy.registry import open_registry

    registry = open_registry()
    try:
        registry.register_tenant(spec.to_dict(), operator)
    finally:
        registry.close()


Decider = Callable[[dict[str, Any]], dict[str, Any] | None]


def drive(
    host: LocalHost,
    instance_id: str,
    *,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    decide: Decider | None = None,
    poll_interval: float = 0.1,
    timeout: float | None = None,
    until: Callable[[dict[str, Any]], bool] | None = None,
) -> Any:
    """Run the instance until it ends, or until its custom status satisfies `until`. `on_status` sees each new
    custom status; while it awaits approval, `decide` may return an approval event to raise (or None: keep waiting,
    e.g. for `pushproxy approve`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last: Any = object()
    while True:
        host.run_until_idle()
        status = host.get_status(instance_id, show_history=False)
        custom = status.custom_status if status else None
        if custom != last:
            last = custom
            if on_status and isinstance(custom, dict):
                on_status(custom)
        if runtime_of(status) in FINAL:
            return status
        if until is not None and isinstance(custom, dict) and until(custom):
            return status
        if decide and isinstance(custom, dict) and custom.get("phase") == "awaiting_approval" and custom.get("awaiting"):
            event = decide(custom)
            if event is not None:
                # The decider saw this wait: its decision is bound to that group and plan unless it says otherwise
                # (pushproxy.approvals ignores a decision for any other wait).
                shown = custom["awaiting"]
                event = {"group": shown.get("group"), "state_hash": shown.get("state_hash"), **event}
                host.raise_event(instance_id, str(shown.get("event") or "approval"), event)
                continue
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{instance_id} did not finish within {timeout:g} s")
        # Sleep until the next timer is due, but never so long that an approval from elsewhere waits.
        wait = poll_interval
        due = host.next_due()
        if due is not None:
            wait = max(0.0, min(poll_interval, (due - host.clock.now()).total_seconds()))
        host.wakeup.wait(wait)
        host.wakeup.clear()


def next_wait(decided: dict[str, Any] | None = None) -> Callable[[dict[str, Any]], bool]:
    """A test for `drive(until=...)`: true when the run waits for a person again (an approval other than the one
    `decided`, the group and state it was given for) or has stopped for good (blocked)."""
    decided_key = (decided.get("group"), decided.get("state_hash")) if decided else None

    def waits(custom: dict[str, Any]) -> bool:
        if custom.get("phase") == "blocked":
            return True
        awaiting = custom.get("awaiting")
        if custom.get("phase") != "awaiting_approval" or not awaiting:
            return False
        return (awaiting.get("group"), awaiting.get("state_hash")) != decided_key

    return waits


def dry_run(spec: TenantSpec) -> tuple[OnboardingPlan, dict[str, Any], dict[str, Any]]:
    """Discover both sides and plan, in this process, changing nothing and storing nothing."""
    from pushproxy.errors import PushProxyError
    from pushproxy.onboarding import steps

    payload = {"spec": spec.to_dict()}
    # The operator's own spec file, in this process: it binds its secrets for the dry run, without registering.
    with steps.operator_registration(spec):
        exchange = steps.discover_exchange(payload)
        tenant_payload: dict[str, Any] = dict(payload)
        if exchange.get("ok"):  # the dedicated hybrid app Exchange names: read once, here
            from pushproxy.exchange.models import ExchangeDiscovery
            from pushproxy.hybrid import evo_sts_app_ids

            found = ExchangeDiscovery.from_dict(exchange["result"])
            tenant_payload["hybrid_app_ids"] = list(evo_sts_app_ids(found.auth_servers, spec.tenant_id))
        tenant = asyncio.run(steps.discover_tenant(tenant_payload))
    for result in (exchange, tenant):
        if not result.get("ok"):
            raise PushProxyError(result["error"]["message"])
    plan = plan_onboarding(exchange["result"], tenant["result"], spec.tenant_domain, datetime.now(UTC), tenant_id=spec.tenant_id,
                           shared_principal_key=spec.tenant.shared_principal_key)
    return plan, exchange["result"], tenant["result"]
