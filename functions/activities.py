"""The onboarding activities: thin. Each parses its input, calls pushproxy, and returns plain JSON.

What each one does, and why it is safe to run twice, is in pushproxy/onboarding/steps.py.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from pushproxy.onboarding import steps

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def discover_exchange(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.discover_exchange, payload)


@bp.activity_trigger(input_name="payload")
async def discover_tenant(payload: dict[str, Any]) -> dict[str, Any]:
    return await steps.guarded_async(steps.discover_tenant, payload)


@bp.activity_trigger(input_name="payload")
def create_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.create_auth_certificate, payload)


@bp.activity_trigger(input_name="payload")
def import_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.import_auth_certificate, payload)


@bp.activity_trigger(input_name="payload")
def assign_auth_certificate(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.assign_auth_certificate, payload)


@bp.activity_trigger(input_name="payload")
def ensure_auth_server(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.ensure_auth_server, payload)


@bp.activity_trigger(input_name="payload")
async def upload_tenant_key(payload: dict[str, Any]) -> dict[str, Any]:
    return await steps.guarded_async(steps.upload_tenant_key, payload)


@bp.activity_trigger(input_name="payload")
def enable_push_proxy(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.enable_push_proxy, payload)


@bp.activity_trigger(input_name="payload")
def restart_health_manager(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.restart_health_manager, payload)


@bp.activity_trigger(input_name="payload")
def run_probe(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.run_probe, payload)


@bp.activity_trigger(input_name="payload")
def record_onboarding(payload: dict[str, Any]) -> dict[str, Any]:
    return steps.guarded(steps.record_onboarding, payload)
