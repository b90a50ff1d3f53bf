"""The offboarding and prune activities: thin. Each hands its input to one step of pushproxy/offboarding_steps.py
(what it does, and why running it twice is safe, is there) and returns the one outcome shape of pushproxy.outcome.
Discovery of Exchange and the tenant is the onboarding's own activities (functions/activities.py)."""

from __future__ import annotations

import azure.durable_functions as df

from pushproxy import offboarding_steps as steps
from pushproxy.activity_names import Activity
from pushproxy.outcome import guarded, guarded_async

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload", activity=Activity.DISCOVER_OURS)
def discover_ours(payload: dict) -> dict:
    return guarded(steps.discover_ours, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.DISABLE_PUSH_PROXY)
def disable_push_proxy(payload: dict) -> dict:
    return guarded(steps.disable_push_proxy, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.REMOVE_AUTH_SERVER)
def remove_auth_server(payload: dict) -> dict:
    return guarded(steps.remove_auth_server, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.REMOVE_TENANT_KEYS)
async def remove_tenant_keys(payload: dict) -> dict:
    return await guarded_async(steps.remove_tenant_keys, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RECORD_OFFBOARDING)
def record_offboarding(payload: dict) -> dict:
    return guarded(steps.record_offboarding, payload)
