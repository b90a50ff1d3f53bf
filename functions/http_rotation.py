"""The rotation's HTTP routes: start one (`POST /api/tenants/{tenant}/rotation`), read it, decide on it.

Thin, as functions/http_api.py: a rotation runs with the tenant's registration (a requester sends only a comment),
decisions go through http_api.decide (the approval rules every workflow shares; the workflow checks them again),
the one-workflow-per-tenant rule is pushproxy.tenant_workflows.start_exclusive (409 with the running workflow's
status URL, whichever of onboarding, rotation or offboarding it is).
"""

from __future__ import annotations

import asyncio
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions.http_api import AUTH, _caller, _json, api, decide, start_workflow, workflow_status
from pushproxy.activity_names import Orchestrator
from pushproxy.api import validation
from pushproxy.api.errors import not_found
from pushproxy.api.roles import APPROVER, OPERATOR, REQUESTER, ROLES
from pushproxy.registry import shared_registry
from pushproxy.rotation_view import rotation_view

bp = df.Blueprint()


@bp.route(route="tenants/{tenant}/rotation", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_rotation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start renewing a tenant's Auth certificate: 202 with the check-status payload; 409 while any workflow of
    the tenant runs; 404 for a tenant that is not registered. The body may carry only a comment, as onboarding's."""
    requester = _caller(req, OPERATOR, REQUESTER)
    domain = validation.tenant_domain(req.route_params.get("tenant", ""))
    request = validation.onboarding(req.get_body())
    tenant = await asyncio.to_thread(lambda: shared_registry().get_tenant(domain))
    if tenant is None or not tenant.spec:
        raise not_found(f"tenant {domain} (register it first: PUT /api/tenants/{domain}, operator)")
    client_input = {"spec": tenant.spec, "requested_by": requester, "remediation": False, "comment": request.comment}
    return await start_workflow(req, client, Orchestrator.ROTATION, domain, client_input)


async def _rotation_status(client: df.DurableOrchestrationClient, instance_id: str) -> Any:
    return await workflow_status(client, instance_id, Orchestrator.ROTATION)


@bp.route(route="rotations/{id}", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def get_rotation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Phase, next date, what is awaited, each step and who approved it."""
    _caller(req, *ROLES)
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    return _json(rotation_view(await _rotation_status(client, instance_id)))


@bp.route(route="rotations/{id}/approval", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def approve_rotation(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A decision for the rotation step waiting for approval (plan, publish or retire). 403 self-approval."""
    approver = _caller(req, APPROVER)
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    decision = validation.approval(req.get_body(), approver)
    status = await _rotation_status(client, instance_id)
    return await decide(req, client, instance_id, status, decision, "rotation", rotation_view(status))
