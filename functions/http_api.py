"""The HTTP API (Azure and `pushproxy serve` alike): thin. Validation and response shapes are in pushproxy.api;
this module binds them to routes and to the Durable client. Routes and shapes: openapi.json (served below)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from pushproxy.activity_names import Orchestrator
from pushproxy.api import roles, validation, views
from pushproxy.api.durable import (
    is_verification_id,
    running_verification,
    start_verification,
    verification_input,
)
from pushproxy.api.errors import ApiError, not_found
from pushproxy.api.roles import APPROVER, OPERATOR, REQUESTER, ROLES
from pushproxy.errors import PushProxyError, SpecError
from pushproxy.registry import shared_registry
from pushproxy.tenant_workflows import start_exclusive

bp = df.Blueprint()
log = logging.getLogger("pushproxy.http")

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "openapi.json"
# App Service authentication (Easy Auth) sets the principal headers after it has authenticated the caller; it
# strips any copy the client sent. Who may do what: pushproxy.api.roles. A function key alone grants no role.
PRINCIPAL_HEADER = roles.NAME_HEADER
AUTH = func.AuthLevel.FUNCTION

Handler = Callable[..., Awaitable[func.HttpResponse]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json", headers=headers)


def _error(exc: ApiError, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return _json(exc.body(), exc.status, headers)


def api(handler: Handler) -> Handler:
    """Every error becomes `{"error": {"code", "message"}}`: ours with their status, anything else a 500 that
    says nothing about internals (the log has the type)."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
        try:
            return await handler(*args, **kwargs)
        except ApiError as exc:
            return _error(exc)
        except SpecError as exc:
            return _error(ApiError.from_spec_error(exc))
        except PushProxyError as exc:
            log.warning("request failed: %s", exc)
            return _error(ApiError(503 if exc.transient else 500, "unavailable" if exc.transient else "internal", str(exc)))
        except Exception as exc:
            log.exception("request failed (%s)", type(exc).__name__)
            return _error(ApiError(500, "internal", "internal error"))

    return wrapper


def _caller(req: func.HttpRequest, *allowed: str) -> str:
    """The caller's canonical name if they hold one of `allowed` (pushproxy.api.roles); 403 otherwise."""
    return roles.require(roles.caller(req.headers), *allowed)


def _canonical(name: Any) -> str | None:
    from pushproxy.principals import PrincipalError, canonical_principal

    try:
        return canonical_principal(name)
    except PrincipalError:
        return None


def _status_url(client: df.DurableOrchestrationClient, req: func.HttpRequest, instance_id: str) -> str:
    return str(client.get_client_response_links(req, instance_id)["statusQueryGetUri"])


async def start_workflow(req: func.HttpRequest, client: df.DurableOrchestrationClient, workflow: str, domain: str,
                         client_input: dict[str, Any]) -> func.HttpResponse:
    """Start one of the tenant's workflows (one at a time: pushproxy.tenant_workflows): 202 with the check-status
    payload, or 409 with the running instance's status URL. Every start route ends here."""
    started, instance_id = await start_exclusive(client, workflow, domain, client_input)
    if not started:
        url = _status_url(client, req, instance_id)
        return _error(
            ApiError(409, "already_running", f"a workflow of {domain} is already running ({instance_id})",
                     id=instance_id, status_url=url),
            {"Location": url},
        )
    log.info("%s of %s started (requested by %s)", workflow, domain, client_input.get("requested_by"))
    return client.create_check_status_response(req, instance_id)


async def workflow_status(client: df.DurableOrchestrationClient, instance_id: str, *workflows: str) -> Any:
    """The status (with input) of an instance of one of `workflows` (ids `<workflow>-<domain>`); 404 for any
    other instance, so each route shows only its own workflows."""
    status = await client.get_status(instance_id, show_input=True)
    prefixes = tuple(f"{w}-" for w in workflows)
    if not status or not instance_id.startswith(prefixes) or (status.name and status.name not in workflows):
        raise not_found(f"{workflows[0]} {instance_id}")
    return status


# ------------------------------------------------------------------------------------------------- onboarding


@bp.route(route="tenants/{tenant}/onboarding", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_onboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start onboarding a registered tenant with its registration (requester): 202 with the check-status payload,
    404 for an unregistered tenant, 409 while one of the tenant's workflows runs."""
    requester = _caller(req, REQUESTER)
    domain = validation.tenant_domain(req.route_params.get("tenant", ""))
    request = validation.onboarding(req.get_body())
    tenant = await asyncio.to_thread(lambda: shared_registry().get_tenant(domain))
    if tenant is None or not tenant.spec:
        raise not_found(f"tenant {domain} (register it first: PUT /api/tenants/{domain}, operator)")
    # Everything but the comment is the operator's registration: endpoints, secret references, approval policy,
    # approvers and remediation never come from the request.
    client_input = {"spec": tenant.spec, "requested_by": requester, "remediation": False, "comment": request.comment}
    return await start_workflow(req, client, Orchestrator.ONBOARDING, domain, client_input)


@bp.route(route="onboardings", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def list_onboardings(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Onboardings, newest first, optionally of one runtime status, paged with limit and offset."""
    _caller(req, *ROLES)
    status, limit, offset = validation.onboardings_query(req.params)
    from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus

    statuses = [OrchestrationRuntimeStatus(status)] if status else None
    found = await client.get_status_by(runtime_status=statuses, instance_id_prefix="onboarding-")  # type: ignore[arg-type]
    rows = [views.onboarding_row(s) for s in found or [] if str(getattr(s, "name", "") or "onboarding") == "onboarding"]
    rows.sort(key=lambda r: r["created"] or "", reverse=True)
    page = rows[offset: offset + limit]
    return _json({"onboardings": page, "total": len(rows), "offset": offset, "limit": limit,
                  "next_offset": offset + limit if offset + limit < len(rows) else None})


async def _onboarding_status(client: df.DurableOrchestrationClient, instance_id: str) -> Any:
    return await workflow_status(client, instance_id, Orchestrator.ONBOARDING)


@bp.route(route="onboardings/{id}", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def get_onboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Phase, plan, approvals and results of one onboarding."""
    _caller(req, *ROLES)
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    return _json(views.onboarding_view(await _onboarding_status(client, instance_id)))


@bp.route(route="onboardings/{id}/approval", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def approve_onboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Record a decision for the group waiting for approval (approver). 403 for self-approval, 409 when nothing waits."""
    approver = _caller(req, APPROVER)
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    decision = validation.approval(req.get_body(), approver)
    status = await _onboarding_status(client, instance_id)
    return await decide(req, client, instance_id, status, decision, "onboarding")


async def decide(req: func.HttpRequest, client: df.DurableOrchestrationClient, instance_id: str, status: Any,
                 decision: Any, what: str, view: dict[str, Any] | None = None) -> func.HttpResponse:
    """Raise a validated decision on a workflow waiting for approval (onboarding, offboarding, prune, rotation
    alike): 409 when nothing waits or the plan is stale, 400 without the state_hash shown, 403 for self-approval or
    someone not on the list. The
    workflow checks the same rules again itself (pushproxy.approvals), whichever door the event came through.
    `view` is the workflow's own view of its status (phase, awaiting, requested_by), onboarding's by default."""
    view = view if view is not None else views.onboarding_view(status)
    if view["runtime_status"] not in views.ACTIVE_STATUSES or view["phase"] != "awaiting_approval":
        raise ApiError(409, "not_awaiting_approval",
                       f"{what} {instance_id} is not waiting for approval (phase {view['phase'] or 'unknown'})",
                       phase=view["phase"])
    requester = view["requested_by"]
    if requester and _canonical(requester) == decision.approver:
        raise ApiError(403, "self_approval", f"{decision.approver} requested this {what} and cannot approve it")
    spec = (views.json_value(getattr(status, "input_", None)) or {}).get("spec") or {}
    approvers = (spec.get("approval") or {}).get("approvers") or []
    if approvers and decision.approver not in {_canonical(a) for a in approvers}:  # canonical forms, both sides
        raise ApiError(403, "not_an_approver", f"{decision.approver} is not one of this tenant's approvers")
    awaiting = view["awaiting"] or {}
    if not decision.state_hash:
        # A decision names the plan its approver was shown (GET the workflow: awaiting.state_hash); one that names
        # none would be bound to whatever waits when it arrives, which nobody may have seen.
        raise ApiError(400, "invalid_input", "state_hash: required: the awaiting.state_hash of the plan you approve "
                       "(GET the workflow to read it)", field="state_hash", state_hash=awaiting.get("state_hash"))
    if decision.state_hash != awaiting.get("state_hash"):
        raise ApiError(409, "stale_plan", "the plan waiting for approval is not the one you saw: read it again",
                       state_hash=awaiting.get("state_hash"))
    event = {"decision": decision.decision, "approver": decision.approver, "comment": decision.comment,
             # Ties the decision to the group and plan the approver saw: the workflow ignores it for any other
             # (pushproxy.approvals), and checks the approver itself, whichever door the event came through.
             "group": awaiting.get("group"), "state_hash": awaiting.get("state_hash"),
             "early_key_removal": bool(getattr(decision, "early_key_removal", False))}
    try:
        await client.raise_event(instance_id, str(awaiting.get("event") or "approval"), event)
    except Exception as exc:  # the SDK raises a bare Exception; 410/404 mean it ended between our read and now
        if "is gone" in str(exc) or "No instance" in str(exc):
            raise ApiError(409, "not_awaiting_approval", f"{what} {instance_id} ended before the decision arrived") from None
        raise
    return _json({"id": instance_id, "group": awaiting.get("group"), "decision": decision.decision,
                  "approver": decision.approver, "status_url": _status_url(client, req, instance_id)}, 202)


# ------------------------------------------------------------------------------------------------- the fleet


@bp.route(route="tenants", methods=["GET"], auth_level=AUTH)
@api
async def list_tenants(req: func.HttpRequest) -> func.HttpResponse:
    """Every registered tenant: healthy, drifting, failing or unverified, and why. Offboarded tenants only with
    `?include=offboarded`."""
    _caller(req, *ROLES)
    include = req.params.get("include")
    if include not in (None, "offboarded"):
        raise ApiError(400, "invalid_input", "include: must be offboarded", field="include")

    def read() -> dict[str, Any]:
        registry = shared_registry()
        tenants = [t for t in registry.list_tenants() if include == "offboarded" or not t.is_offboarded]
        return views.fleet_view(tenants, registry.list_verifications(), registry.latest_verification_summary())

    # The registry client is synchronous (Table storage or SQLite): keep it off the worker's event loop.
    return _json(await asyncio.to_thread(read))


@bp.route(route="tenants/{tenant}", methods=["GET"], auth_level=AUTH)
@api
async def get_tenant(req: func.HttpRequest) -> func.HttpResponse:
    """One tenant: its registration (secrets by reference), latest verification and onboarding history."""
    _caller(req, *ROLES)
    domain = validation.tenant_domain(req.route_params.get("tenant", ""))

    def read() -> dict[str, Any] | None:
        registry = shared_registry()
        tenant = registry.get_tenant(domain)
        if tenant is None:
            return None
        return views.tenant_view(tenant, registry.latest_verification(domain), registry.list_onboardings(domain),
                                 registry.list_offboardings(domain))

    view = await asyncio.to_thread(read)
    if view is None:
        raise not_found(f"tenant {domain}")
    return _json(view)


@bp.route(route="tenants/{tenant}", methods=["PUT"], auth_level=AUTH)
@api
async def register_tenant(req: func.HttpRequest) -> func.HttpResponse:
    """Register (or change) a tenant's connection (operator): the TenantSpec. 201 when new, 200 when replaced."""
    operator = _caller(req, OPERATOR)
    spec = validation.registration(req.route_params.get("tenant", ""), req.get_body())

    def write() -> tuple[bool, dict[str, Any]]:
        registry = shared_registry()
        record, created = registry.register_tenant(spec.to_dict(), operator)
        return created, views.tenant_view(record, registry.latest_verification(record.domain),
                                          registry.list_onboardings(record.domain))

    created, view = await asyncio.to_thread(write)
    log.info("tenant %s registered by %s", spec.tenant_domain, operator)
    return _json(view, 201 if created else 200)


@bp.route(route="verifications", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_verification_request(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start fleet verification now, under its own id (singleton; operator or requester): 202 with the
    check-status payload, 409 while one runs."""
    _caller(req, OPERATOR, REQUESTER)
    tenants = validation.verification_request(req.get_body())
    started, instance_id = await start_verification(client, verification_input(tenants))
    if not started:
        url = _status_url(client, req, instance_id)
        return _error(ApiError(409, "already_running", "a verification is already running",
                               id=instance_id, status_url=url), {"Location": url})
    return client.create_check_status_response(req, instance_id)


@bp.route(route="verifications", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def list_verification_runs(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The history of fleet verification runs, newest first (their summaries), and the one running now, if any."""
    _caller(req, *ROLES)
    limit_text = req.params.get("limit", "50")  # present but empty (or repeated, first empty) is bad input too
    if not limit_text.isascii() or not limit_text.isdigit() or not 1 <= int(limit_text) <= 500:
        raise ApiError(400, "invalid_input", "limit: must be a whole number from 1 to 500", field="limit")
    running = await running_verification(client)
    runs = await asyncio.to_thread(lambda: shared_registry().list_verification_summaries(int(limit_text)))
    return _json({"running": running, "runs": [r.to_dict() for r in runs]})


@bp.route(route="verifications/{id}", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def get_verification(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """A verification run's progress or summary."""
    _caller(req, *ROLES)
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    if not is_verification_id(instance_id):
        raise not_found(f"verification {instance_id}")
    status = await client.get_status(instance_id)
    if not status or not status.runtime_status or (status.name and status.name != "verification"):
        raise not_found(f"verification {instance_id}")
    return _json(views.verification_status_view(status))


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@api
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """This API's OpenAPI 3 document (public: it describes the API, it holds no data)."""
    return func.HttpResponse(_openapi_text(), status_code=200, mimetype="application/json")


# Lowest precedence: the Functions host (ASP.NET Core routing) and `pushproxy serve` try every literal route
# first, so this answers only what no route serves, in the API's error shape instead of the host's.
@bp.route(route="{*path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], auth_level=func.AuthLevel.ANONYMOUS)
@api
async def unknown_route(req: func.HttpRequest) -> func.HttpResponse:
    """No such route: 404 in the `{"error"}` shape (the path is not echoed: it is the caller's text)."""
    raise ApiError(404, "not_found", "no such route (see /api/openapi.json)")


@functools.cache
def _openapi_text() -> str:
    return OPENAPI_PATH.read_text(encoding="utf-8")


__all__ = ["bp"]
