"""The real onboarding and verification orchestrators, the real notification functions (raise, deliver, the
delivery orchestration, the route), stub Exchange/Graph/fleet activities; a local host on a fake clock; an HTTPS
receiver on loopback; channels in the environment, as an operator sets them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import pytest

from pushproxy.activity_names import Activity
from pushproxy.local import LocalHost
from tests.notifications.receiver import Receiver
from tests.orchestrators import stub_app
from tests.orchestrators.test_onboarding_decisions import Clock
from tests.support.approvals import awaiting_event

SECRET_ENV = "PUSHPROXY_TEST_WEBHOOK_HMAC"
SECRET = "hmac-test-key-0123456789"
PUBLIC_URL = "https://pushproxy.example.com"
NOTIFYING = {Activity.RAISE_NOTIFICATION, Activity.RAISE_FLEET_NOTIFICATIONS, Activity.DELIVER_NOTIFICATION}


def build_app() -> df.DFApp:
    from functions import notifications
    from orchestrators import notification_delivery, onboarding, verification

    app = df.DFApp(http_auth_level="ANONYMOUS")
    for blueprint in (onboarding.bp, verification.bp, notifications.bp, notification_delivery.bp):
        app.register_functions(blueprint)
    stubs = df.Blueprint()
    for activity in Activity:
        if activity not in NOTIFYING:
            stubs.activity_trigger(input_name="payload", activity=activity.value)(stub_app._bind(activity.value))
    app.register_functions(stubs)
    return app


@pytest.fixture(scope="module")
def app() -> df.DFApp:
    return build_app()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(tmp_path)
    yield r
    r.close()


def channel(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"name": "ops", "kind": "webhook", "url": receiver.url, "secret_ref": f"env:{SECRET_ENV}",
            "ca_bundle": str(receiver.ca_path), **extra}


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Set the channels (as PUSHPROXY_NOTIFICATION_CHANNELS) and a registry of this test's own."""
    monkeypatch.setenv("PUSHPROXY_REGISTRY_PATH", str(tmp_path / "registry.sqlite"))
    monkeypatch.setenv("PUSHPROXY_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv(SECRET_ENV, SECRET)

    def set_channels(*channels: dict[str, Any]) -> None:
        monkeypatch.setenv("PUSHPROXY_NOTIFICATION_CHANNELS", json.dumps(list(channels)))

    return set_channels


@pytest.fixture
def host(app: df.DFApp, clock: Clock, tmp_path: Path, configure: Any) -> Iterator[LocalHost]:
    stub_app.SCRIPT.clear()
    stub_app.CALLS.clear()
    h = LocalHost(app, database=tmp_path / "local.sqlite", clock=clock)
    yield h
    h.close()


def drive(host: LocalHost, clock: Clock, until: Any, *, approve: str | None = None, max_steps: int = 400) -> datetime:
    """Run the host, approving `approve`'s onboarding when it asks and moving the fake clock to the next timer,
    until `until()` holds; returns the fake time then."""
    for _ in range(max_steps):
        host.run_until_idle()
        if until():
            return clock.t
        if approve:
            status = host.get_status(approve, show_history=False)
            custom = status.custom_status if status and isinstance(status.custom_status, dict) else {}
            if custom.get("phase") == "awaiting_approval" and custom.get("awaiting"):
                host.raise_event(approve, awaiting_event(host, approve), {"decision": "approve", "approver": "alice",
                                                       "group": custom["awaiting"]["group"],
                                                       "state_hash": custom["awaiting"]["state_hash"]})
                continue
        due = host.next_due()
        assert due is not None, "nothing left to run, and the condition does not hold"
        clock.t = max(clock.t, due) + timedelta(milliseconds=1)
    raise AssertionError("did not get there")


def runtime(host: LocalHost, instance_id: str) -> str | None:
    status = host.get_status(instance_id, show_history=False)
    return status.runtime_status.value if status else None


def deliveries(host: LocalHost) -> list[Any]:
    return host.get_status_by(instance_id_prefix="notify-")
