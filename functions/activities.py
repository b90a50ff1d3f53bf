"""The onboarding activities: thin. Each hands its input to one step of pushproxy/onboarding/steps.py (what it
does, and why running it twice is safe, is there) and returns the one outcome shape of pushproxy.outcome.

Binding parameters are annotated with plain types only: the Functions worker refuses to load a function whose
binding annotation is a generic alias such as `dict[str, Any]` ("has invalid non-type annotation").
"""

from __future__ import annotations

import azure.durable_functions as df

from pushproxy.activity_names import Activity
from pushproxy.onboarding import steps
from pushproxy.outcome import guarded, guarded_async

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload", activity=Activity.DISCOVER_EXCHANGE)
def discover_exchange(payload: dict) -> dict:
    return guarded(steps.discover_exchange, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.DISCOVER_TENANT)
async def discover_tenant(payload: dict) -> dict:
    return await guarded_async(steps.discover_tenant, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.CREATE_AUTH_CERTIFICATE)
def create_auth_certificate(payload: dict) -> dict:
    return guarded(steps.create_auth_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.IMPORT_AUTH_CERTIFICATE)
def import_auth_certificate(payload: dict) -> dict:
    return guarded(steps.import_auth_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.ASSIGN_AUTH_CERTIFICATE)
def assign_auth_certificate(payload: dict) -> dict:
    return guarded(steps.assign_auth_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.ENSURE_AUTH_SERVER)
def ensure_auth_server(payload: dict) -> dict:
    return guarded(steps.ensure_auth_server, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.UPLOAD_TENANT_KEY)
async def upload_tenant_key(payload: dict) -> dict:
    return await guarded_async(steps.upload_tenant_key, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.ENABLE_PUSH_PROXY)
def enable_push_proxy(payload: dict) -> dict:
    return guarded(steps.enable_push_proxy, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RESTART_HEALTH_MANAGER)
def restart_health_manager(payload: dict) -> dict:
    return guarded(steps.restart_health_manager, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RUN_PROBE)
def run_probe(payload: dict) -> dict:
    return guarded(steps.run_probe, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RECORD_ONBOARDING)
def record_onboarding(payload: dict) -> dict:
    return guarded(steps.record_onboarding, payload)
