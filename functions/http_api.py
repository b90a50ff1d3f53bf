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

from pushproxy.api import validation, views
from pushproxy.api.durable import (
    is_verification_id,
    running_verification,
    start_singleton,
    start_verification,
    verification_input,
)
from pushproxy.api.errors import ApiError, not_found
from pushproxy.errors import PushProxyError, SpecError
from pushproxy.registry import shared_registry
from pushproxy.spec import onboarding_instance_id

bp = df.Blueprint()
log = logging.getLogger("pushproxy.http")

OPENAPI_PATH = Path(__file__).resolve().parents[1] / "openapi.json"
# App Service authentication (Easy Auth) sets this header after it has authenticated the caller; it strips any
# copy the client sent, so it can be trusted when authentication is on (docs/deploy.md says to turn it on).
PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL-NAME"
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


def _principal(req: func.HttpRequest) -> str | None:
    value = req.headers.get(PRINCIPAL_HEADER)
    return value if value and value.strip() else None


def _status_url(client: df.DurableOrchestrationClient, req: func.HttpRequest, instance_id: str) -> str:
    return str(client.get_client_response_links(req, instance_id)["statusQueryGetUri"])


# ------------------------------------------------------------------------------------------------- onboarding


@bp.route(route="tenants/{tenant}/onboarding", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_onboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start onboarding one tenant (singleton per tenant): 202 with the check-status payload, 409 while one runs."""
    request = validation.onboarding(req.route_params.get("tenant", ""), req.get_body(), _principal(req))
    domain = request.spec["tenant_domain"]
    instance_id = onboarding_instance_id(domain)
    client_input = {"spec": request.spec, "requested_by": request.requested_by, "remediation": False}
    if not await start_singleton(client, "onboarding", instance_id, client_input):
        url = _status_url(client, req, instance_id)
        return _error(
            ApiError(409, "already_running", f"an onboarding of {domain} is already running", id=instance_id, status_url=url),
            {"Location": url},
        )
    log.info("onboarding %s started (requested by %s)", domain, request.requested_by or "unknown")
    return client.create_check_status_response(req, instance_id)


async def _onboarding_status(client: df.DurableOrchestrationClient, instance_id: str) -> Any:
    status = await client.get_status(instance_id, show_input=True)
    # Only onboarding instances are visible here (ids are "onboarding-<domain>").
    if not status or not instance_id.startswith("onboarding-") or (status.name and status.name != "onboarding"):
        raise not_found(f"onboarding {instance_id}")
    return status


@bp.route(route="onboardings/{id}", methods=["GET"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def get_onboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Phase, plan, approvals and results of one onboarding."""
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    return _json(views.onboarding_view(await _onboarding_status(client, instance_id)))


@bp.route(route="onboardings/{id}/approval", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def approve_onboarding(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Record a decision for the group waiting for approval. 403 for self-approval, 409 when nothing waits."""
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    decision = validation.approval(req.get_body(), _principal(req))
    status = await _onboarding_status(client, instance_id)
    view = views.onboarding_view(status)
    if view["runtime_status"] not in views.ACTIVE_STATUSES or view["phase"] != "awaiting_approval":
        raise ApiError(409, "not_awaiting_approval",
                       f"onboarding {instance_id} is not waiting for approval (phase {view['phase'] or 'unknown'})",
                       phase=view["phase"])
    requester = view["requested_by"]
    if requester and requester.strip().lower() == decision.approver.lower():
        raise ApiError(403, "self_approval", f"{decision.approver} requested this onboarding and cannot approve it")
    spec = (views.json_value(getattr(status, "input_", None)) or {}).get("spec") or {}
    approvers = (spec.get("approval") or {}).get("approvers") or []
    if approvers and decision.approver not in approvers:  # exact, as the workflow compares them
        raise ApiError(403, "not_an_approver", f"{decision.approver} is not one of this tenant's approvers")
    awaiting = view["awaiting"] or {}
    if decision.state_hash and decision.state_hash != awaiting.get("state_hash"):
        raise ApiError(409, "stale_plan", "the plan waiting for approval is not the one you saw: read it again",
                       state_hash=awaiting.get("state_hash"))
    event = {"decision": decision.decision, "approver": decision.approver, "comment": decision.comment,
             # Ties the decision to the state the approver saw: the workflow ignores it if the state moved on.
             "state_hash": awaiting.get("state_hash")}
    try:
        await client.raise_event(instance_id, "approval", event)
    except Exception as exc:  # the SDK raises a bare Exception; 410/404 mean it ended between our read and now
        if "is gone" in str(exc) or "No instance" in str(exc):
            raise ApiError(409, "not_awaiting_approval", f"onboarding {instance_id} ended before the decision arrived") from None
        raise
    return _json({"id": instance_id, "group": awaiting.get("group"), "decision": decision.decision,
                  "approver": decision.approver, "status_url": _status_url(client, req, instance_id)}, 202)


# ------------------------------------------------------------------------------------------------- the fleet


@bp.route(route="tenants", methods=["GET"], auth_level=AUTH)
@api
async def list_tenants(req: func.HttpRequest) -> func.HttpResponse:
    """Every registered tenant: healthy, drifting, failing or unverified, and why. Offboarded tenants only with
    `?include=offboarded`."""
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
    """One tenant: its spec (secrets by reference), latest verification and onboarding history."""
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


@bp.route(route="verifications", methods=["POST"], auth_level=AUTH)
@bp.durable_client_input(client_name="client")
@api
async def start_verification_request(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start fleet verification now, under its own id (singleton): 202 with the check-status payload, 409 while one runs."""
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


@functools.cache
def _openapi_text() -> str:
    return OPENAPI_PATH.read_text(encoding="utf-8")


__all__ = ["bp"]
