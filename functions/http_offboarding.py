"""The offboarding and prune routes: thin. A tenant is offboarded (or pruned) with the spec the registry holds for
it, so the request names only the tenant and the options; the approval rules are the onboarding's.

    POST /api/tenants/{tenant}/offboarding   {"remove_auth_server": bool, "comment"}  (optional; operator or requester)
    POST /api/tenants/{tenant}/prune         {"comment"}                            (optional; operator or requester)
    GET  /api/offboardings/{id}              an offboarding's or prune's phase, plan, approvals, results
    POST /api/offboardings/{id}/approval     {"decision", "comment", "state_hash"}  (approver)

The caller is the authenticated principal with its roles (pushproxy.api.roles), as on every route; the requester is
never taken from the body.

202 with the Durable check-status payload; 404 for a tenant the registry doesn't know (nothing to undo); 409 while
an onboarding, rotation, offboarding or prune of the tenant runs (pushproxy.tenant_workflows).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions.http_api import AUTH, _caller, _json, api, decide, start_workflow, workflow_status
from pushproxy.activity_names import Orchestrator
from pushproxy.api import validation, views
from pushproxy.api.errors import ApiError, bad_input
from pushproxy.api.roles import APPROVER, OPERATOR, REQUESTER, ROLES
from pushproxy.input_rules import comment
from pushproxy.registry import shared_registry

bp = df.Blueprint()
log = logging.getLogger("pushproxy.http")

WORKFLOWS = (Orchestrator.OFFBOARDING, Orchestrator.PRUNE)


def _options(body: bytes | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    data = validation.parse_json_object(body, required=False)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise bad_input(unknown[0], f"unknown field (expected {', '.join(allowed)})")
    if "remove_auth_server" in data and not isinstance(data["remove_auth_server"], bool):
        raise bad_input("remove_auth_server", "must be true or false")
    if "comment" in data:
        data["comment"] = comment(data.get("comment"))  # the one rule for comments (pushproxy.input_rules)
    return data


async def _start(req: func.HttpRequest, client: df.DurableOrchestrationClient, workflow: str,
                 allowed: tuple[str, ...]) -> func.HttpResponse:
    requested_by = _caller(req, OPERATOR, REQUESTER)
    domain = validation.tenant_domain(req.route_params.get("tenant", ""))
    options = _options(req.get_body(), allowed)
    tenant = await asyncio.to_thread(lambda: shared_registry().get_tenant(domain))
    if tenant is None:
        raise ApiError(404, "not_found", f"tenant {domain} not found: it was never onboarded here, so there is nothing to undo")
    client_input = {"spec": tenant.spec, "requested_by": requested_by,
                    "remove_auth_server": bool(options.get("remove_auth_server", False)),
                    "comment": options.get("comment")}
    return await start_workflow(req, client, workflow, domain, client_input)


@bp.route(route="tenants/{tenant}/offboarding", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_offboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start offboarding one tenant: 202, 404 for an unknown tenant, 409 while one of its workflows runs."""
    return await _start(req, client, Orchestrator.OFFBOARDING, ("remove_auth_server", "comment"))


@bp.route(route="tenants/{tenant}/prune", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_prune(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start removing our keys of expired certificates: 202, 404 for an unknown tenant, 409 while a workflow runs."""
    return await _start(req, client, Orchestrator.PRUNE, ("comment",))


async def _status(client: df.DurableOrchestrationClient, instance_id: str) -> Any:
    return await workflow_status(client, instance_id, *WORKFLOWS)


@bp.route(route="offboardings/{id}", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def get_offboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Phase, plan, approvals and results of one offboarding or prune."""
    _caller(req, *ROLES)
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    return _json(views.onboarding_view(await _status(client, instance_id)))


@bp.route(route="offboardings/{id}/approval", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def approve_offboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A decision for the group waiting (approver): the onboarding's rules (no self-approval, the registration's
    approvers, the plan the approver saw); the workflow checks them again and re-checks the state before applying."""
    approver = _caller(req, APPROVER)
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    decision = validation.approval(req.get_body(), approver)
    status = await _status(client, instance_id)
    return await decide(req, client, instance_id, status, decision, "offboarding")


__all__ = ["bp"]
