"""The rotation's own activities: thin, each hands its input to one step of pushproxy/rotation_steps.py.

The rotation also calls onboarding's activities (functions/activities.py) for discovery, import, upload, making a
certificate current and the probe. Binding annotations are plain types (the worker refuses generic aliases).
"""

from __future__ import annotations

import azure.durable_functions as df

from pushproxy import rotation_steps as steps
from pushproxy.activity_names import Activity
from pushproxy.outcome import guarded, guarded_async

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload", activity=Activity.READ_KEY_POLICY)
async def read_key_policy(payload: dict) -> dict:
    return await guarded_async(steps.read_key_policy, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.CREATE_NEXT_CERTIFICATE)
def create_next_certificate(payload: dict) -> dict:
    return guarded(steps.create_next_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.REMOVE_CREATED_CERTIFICATE)
def remove_created_certificate(payload: dict) -> dict:
    return guarded(steps.remove_created_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.STAGE_AUTH_CERTIFICATE)
def stage_auth_certificate(payload: dict) -> dict:
    return guarded(steps.stage_auth_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.PUBLISH_AUTH_CERTIFICATE)
def publish_auth_certificate(payload: dict) -> dict:
    return guarded(steps.publish_auth_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RESTART_AUTH_SERVICES)
def restart_auth_services(payload: dict) -> dict:
    return guarded(steps.restart_auth_services, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.CLEAR_PREVIOUS_CERTIFICATE)
def clear_previous_certificate(payload: dict) -> dict:
    return guarded(steps.clear_previous_certificate, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.REMOVE_RETIRED_KEY)
async def remove_retired_key(payload: dict) -> dict:
    return await guarded_async(steps.remove_retired_key, payload)


@bp.activity_trigger(input_name="payload", activity=Activity.RECORD_ROTATION)
def record_rotation(payload: dict) -> dict:
    return guarded(steps.record_rotation, payload)
