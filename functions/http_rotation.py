"""The rotation's HTTP routes: start one (`POST /api/tenants/{tenant}/rotation`), read it, decide on it.

Thin, as functions/http_api.py: validation is pushproxy.api.validation's (the same TenantSpec and approval rules),
the one-workflow-per-tenant rule is pushproxy.tenant_workflows.start_exclusive (409 with the running workflow's
status URL, whichever of onboarding, rotation or offboarding it is).
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions.http_api import AUTH, _error, _json, _principal, _status_url, api
from pushproxy.activity_names import Orchestrator
from pushproxy.api import validation, views
from pushproxy.api.errors import ApiError, not_found
from pushproxy.rotation_view import rotation_view
from pushproxy.tenant_workflows import start_exclusive

bp = df.Blueprint()


@bp.route(route="tenants/{tenant}/rotation", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_rotation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start renewing a tenant's Auth certificate: 202 with the check-status payload; 409 while any workflow of
    the tenant runs. The body is the TenantSpec, as for onboarding."""
    request = validation.onboarding(req.route_params.get("tenant", ""), req.get_body(), _principal(req))
    domain = request.spec["tenant_domain"]
    client_input = {"spec": request.spec, "requested_by": request.requested_by, "remediation": False}
    started, instance_id = await start_exclusive(client, Orchestrator.ROTATION, domain, client_input)
    if not started:
        url = _status_url(client, req, instance_id)
        return _error(ApiError(409, "already_running", f"{instance_id} is running for {domain}", id=instance_id,
                               status_url=url), {"Location": url})
    return client.create_check_status_response(req, instance_id)


async def _rotation_status(client: df.DurableOrchestrationClient, instance_id: str) -> Any:
    status = await client.get_status(instance_id, show_input=True)
    if not status or not instance_id.startswith("rotation-") or (status.name and status.name != Orchestrator.ROTATION):
        raise not_found(f"rotation {instance_id}")
    return status


@bp.route(route="rotations/{id}", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def get_rotation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Phase, next date, what is awaited, each step and who approved it."""
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    return _json(rotation_view(await _rotation_status(client, instance_id)))


@bp.route(route="rotations/{id}/approval", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def approve_rotation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A decision for the rotation step waiting for approval (plan, publish or retire). 403 self-approval."""
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    decision = validation.approval(req.get_body(), _principal(req))
    view = rotation_view(await _rotation_status(client, instance_id))
    if view["runtime_status"] not in views.ACTIVE_STATUSES or view["phase"] != "awaiting_approval":
        raise ApiError(409, "not_awaiting_approval", f"rotation {instance_id} is not waiting for approval",
                       phase=view["phase"])
    requester = view.get("requested_by")
    if requester and requester.strip().lower() == decision.approver.lower():
        raise ApiError(403, "self_approval", f"{decision.approver} requested this rotation and cannot approve it")
    awaiting = view.get("awaiting") or {}
    event = {"decision": decision.decision, "approver": decision.approver, "comment": decision.comment,
             "state_hash": awaiting.get("state_hash") or None}
    await client.raise_event(instance_id, "approval", event)
    return _json({"id": instance_id, "group": awaiting.get("group"), "decision": decision.decision,
                  "approver": decision.approver, "status_url": _status_url(client, req, instance_id)}, 202)
