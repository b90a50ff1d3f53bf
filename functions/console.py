"""The approval console's routes: HTML pages served by the function app itself (Azure and `pushproxy serve`).

    GET  /api/console                              what waits for a decision, what runs, recent outcomes, the fleet
    GET  /api/console/workflows/{id}               one workflow: its plan as a diff, notes, blockers, hashes, approvals
    POST /api/console/workflows/{id}/decision      the page's Approve / Reject (form: decision, comment, state_hash,
                                                   csrf_token), through functions.http_api.decide, as the JSON API
    GET  /api/console/static/{name}                the page's stylesheet and script (the CSP allows only these)

Function level: anonymous, because a browser cannot send a function key. Who the caller is comes from App Service
authentication (Easy Auth, which authenticates the browser session and sets the principal headers, stripping any
copy the client sent) in Azure, and on one machine from `pushproxy serve --principal NAME` or the operator's
reverse proxy; the roles are checked here exactly as on the JSON routes (pushproxy.api.roles). A decision posted
here passes the same-origin check and the page's token (pushproxy.console.csrf), then the API's own decide(): the
same 409 (nothing waits, stale plan), 400 and 403 (self-approval, not an approver) rules, which the workflow checks
again itself.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any
from urllib.parse import parse_qs, quote

import azure.durable_functions as df
import azure.functions as func

from functions.http_api import decide, workflow_status
from pushproxy.api import roles, validation, views
from pushproxy.api.errors import ApiError
from pushproxy.api.roles import APPROVER, ROLES
from pushproxy.console import csrf, model, pages
from pushproxy.errors import PushProxyError, SpecError
from pushproxy.registry import shared_registry
from pushproxy.rotation_view import rotation_view
from pushproxy.settings import setting

bp = df.Blueprint()
log = logging.getLogger("pushproxy.console")
ANONYMOUS = func.AuthLevel.ANONYMOUS
# Easy Auth's sign-in for Entra ID; it comes back to post_login_redirect_uri (a path of this app only).
LOGIN_PATH = "/.auth/login/aad"
MAX_FORM = 8 * 1024


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={**pages.HEADERS, **(headers or {})})


def _error_page(req: func.HttpRequest | None, status: int, title: str, message: str) -> func.HttpResponse:
    return _html(pages.render("error.html", principal=_signed_in(req) or "nobody", title=title, message=message), status)


def _signed_in(req: func.HttpRequest | None) -> str | None:
    """Who the page says is signed in (no role needed; a name that isn't one shows as nobody)."""
    try:
        return roles.caller(req.headers).name if req is not None else None
    except ApiError:
        return None


def _principal(req: func.HttpRequest, *allowed: str) -> str | func.HttpResponse:
    """The caller's canonical name if they hold one of `allowed`, else the page to answer with: the sign-in
    redirect in Azure when nobody is signed in, a 403 page otherwise."""
    try:
        return roles.require(roles.caller(req.headers), *allowed)
    except ApiError as exc:
        if exc.code == "unauthenticated" and setting("PUSHPROXY_ROLE_SOURCE") != "file" and req.method == "GET":
            path = req.url.split("://", 1)[-1].partition("/")[2].partition("?")[0]
            return func.HttpResponse(status_code=302, headers={
                **pages.HEADERS, "Location": f"{LOGIN_PATH}?post_login_redirect_uri={quote('/' + path, safe='/')}"})
        message = exc.message if exc.code != "unauthenticated" else (
            "nobody is signed in: in Azure, App Service authentication signs you in; on one machine, "
            "`pushproxy serve --principal NAME` or the reverse proxy in front of it names you")
        return _error_page(req, exc.status, "Not allowed", message)


def page(handler: Any) -> Any:
    """Errors as HTML pages (never JSON, never internals): ours with their status and message."""

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> func.HttpResponse:
        req = kwargs.get("req", args[0] if args else None)
        try:
            response: func.HttpResponse = await handler(*args, **kwargs)
            return response
        except ApiError as exc:
            return _error_page(req, exc.status, "Cannot show this", exc.message)
        except SpecError as exc:
            return _error_page(req, 400, "Cannot show this", str(exc))
        except PushProxyError as exc:
            log.warning("console request failed: %s", exc)
            return _error_page(req, 503 if exc.transient else 500, "Unavailable", str(exc))
        except Exception as exc:
            log.exception("console request failed (%s)", type(exc).__name__)
            return _error_page(req, 500, "Internal error", "internal error")

    return wrapper


# ------------------------------------------------------------------------------------------------ reading


def workflow_view(status: Any, workflow: str) -> dict[str, Any]:
    """A workflow's API view, plus what the page shows that the JSON view keeps in the custom status."""
    if workflow == "rotation":
        view = rotation_view(status)
        view["created"] = views.iso_time(getattr(status, "created_time", None))
        view["last_updated"] = views.iso_time(getattr(status, "last_updated_time", None))
        view["tenant"] = (views.json_value(getattr(status, "custom_status", None)) or {}).get("tenant")
        return view
    custom = views.json_value(getattr(status, "custom_status", None))
    return {**views.onboarding_view(status), "custom": custom if isinstance(custom, dict) else {}}


async def _all_views(client: df.DurableOrchestrationClient) -> list[tuple[str, dict[str, Any]]]:
    found = await asyncio.gather(*(client.get_status_by(instance_id_prefix=f"{w}-") for w in model.WORKFLOWS))  # type: ignore[arg-type]
    out: list[tuple[str, dict[str, Any]]] = []
    for workflow, statuses in zip(model.WORKFLOWS, found, strict=True):
        for status in statuses or ():
            name = str(getattr(status, "name", "") or workflow)
            if name == workflow:
                out.append((workflow, workflow_view(status, workflow)))
    return out


def _fleet() -> dict[str, Any]:
    registry = shared_registry()
    tenants = [t for t in registry.list_tenants() if not t.is_offboarded]
    return views.fleet_view(tenants, registry.list_verifications(), registry.latest_verification_summary())


@bp.route(route="console", methods=["GET"], auth_level=ANONYMOUS)
@bp.durable_client_input(client_name="client")
@page
async def console_home(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The console (any role): waiting workflows oldest first, running ones, recent outcomes, the fleet's state."""
    who = _principal(req, *ROLES)
    if isinstance(who, func.HttpResponse):
        return who
    workflows, fleet = await asyncio.gather(_all_views(client), asyncio.to_thread(_fleet))
    return _html(pages.render("console.html", principal=who, page=model.console_page(workflows, fleet)))


def console_key() -> bytes:
    """The app's own key for decision tokens (PUSHPROXY_CONSOLE_KEY; `pushproxy serve` makes one if unset)."""
    key = setting("PUSHPROXY_CONSOLE_KEY")
    if key and key.startswith("@Microsoft.KeyVault("):
        # App Service leaves a reference it could not resolve as the literal text: a known value, never a key.
        raise ApiError(503, "console_unavailable", "PUSHPROXY_CONSOLE_KEY is a Key Vault reference App Service could "
                       "not resolve: store the console-key secret (docs/deploy.md, the azd postprovision hook)")
    if not key or len(key) < 16:
        raise ApiError(503, "console_unavailable", "PUSHPROXY_CONSOLE_KEY is not set (at least 16 characters): the "
                       "console can't protect its decision form without it")
    return key.encode()


async def _workflow(client: df.DurableOrchestrationClient, instance_id: str) -> tuple[str, Any]:
    workflow = model.workflow_of(instance_id)
    if workflow is None:
        raise ApiError(404, "not_found", f"no workflow {instance_id} the console shows")
    return workflow, await workflow_status(client, instance_id, workflow)


def _workflow_page(req: func.HttpRequest, who: str, workflow: str, status: Any, status_code: int = 200,
                   error: dict[str, Any] | None = None, decided: str | None = None) -> func.HttpResponse:
    """The page; the decision form only for an approver (the requester too: the refusal then says why), and
    only while the console's key is there to sign its token."""
    view = model.workflow_page(workflow_view(status, workflow), workflow)
    token, cannot_decide = "", None
    if view.waiting and view.awaiting:
        if not roles.caller(req.headers).has(APPROVER):
            cannot_decide = f"{who} can read this page; deciding needs the approver role."
        else:
            try:
                token = csrf.decision_token(console_key(), who, view.row.id, str(view.awaiting.get("state_hash")))
            except ApiError as exc:
                cannot_decide = f"Decisions can't be taken here now: {exc.message}"
    return _html(pages.render("workflow.html", principal=who, page=view, token=token, error=error, decided=decided,
                              cannot_decide=cannot_decide), status_code)


@bp.route(route="console/workflows/{id}", methods=["GET"], auth_level=ANONYMOUS)
@bp.durable_client_input(client_name="client")
@page
async def console_workflow(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """One workflow's page (any role), with the decision form when it waits and the caller is an approver."""
    who = _principal(req, *ROLES)
    if isinstance(who, func.HttpResponse):
        return who
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    workflow, status = await _workflow(client, instance_id)
    decided = req.params.get("decided")
    return _workflow_page(req, who, workflow, status, decided=decided if decided in ("approve", "reject") else None)


# ------------------------------------------------------------------------------------------------ deciding


def _allowed_origins(req: func.HttpRequest) -> set[str]:
    """The app's own origins: the one the request was made to, and its public address (PUSHPROXY_PUBLIC_URL: a
    custom domain in Azure, the reverse proxy's address on one machine). Forwarded headers are not trusted."""
    found = {csrf.origin_of(req.url)}
    public = setting("PUSHPROXY_PUBLIC_URL")
    if public:
        found.add(csrf.origin_of(public))
    return {o for o in found if o}


def _form(req: func.HttpRequest) -> dict[str, str]:
    body = req.get_body() or b""
    if len(body) > MAX_FORM:
        raise ApiError(413, "body_too_large", "the form is too large")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "invalid_input", "the form is not URL-encoded UTF-8") from None
    return {k: v[0] for k, v in parsed.items() if v}


@bp.route(route="console/workflows/{id}/decision", methods=["POST"], auth_level=ANONYMOUS)
@bp.durable_client_input(client_name="client")
@page
async def console_decision(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The page's Approve / Reject (approver): same origin and token, then the API's decide(); 303 back to the page,
    or the page again with the refusal (403 self-approval / not an approver, 409 stale plan with a reload link)."""
    try:
        csrf.check_same_origin(dict(req.headers), _allowed_origins(req))
    except csrf.CsrfRefused as exc:
        return _error_page(req, 403, "Refused: not from the console", str(exc))
    who = _principal(req, APPROVER)
    if isinstance(who, func.HttpResponse):
        return who
    instance_id = validation.instance_id(req.route_params.get("id", ""))
    form = _form(req)
    state_hash = form.get("state_hash", "")
    try:
        csrf.check_token(console_key(), form.get(csrf.TOKEN_FIELD), who, instance_id, state_hash)
    except csrf.CsrfRefused as exc:
        return _error_page(req, 403, "Refused: not from the console", str(exc))
    workflow, status = await _workflow(client, instance_id)
    body: dict[str, Any] = {"decision": form.get("decision"), "comment": form.get("comment") or None, "state_hash": state_hash or None}
    if workflow == "rotation" and form.get("early_key_removal") == "true":
        body["early_key_removal"] = True
    try:
        decision = validation.approval(json.dumps(body).encode(), who)
        view = rotation_view(status) if workflow == "rotation" else None
        await decide(req, client, instance_id, status, decision, workflow, view)
    except ApiError as exc:
        reload = exc.code in ("stale_plan", "not_awaiting_approval")
        log.info("console decision on %s by %s refused: %s", instance_id, who, exc.code)
        fresh = await workflow_status(client, instance_id, workflow)
        return _workflow_page(req, who, workflow, fresh, exc.status, {"code": exc.code, "message": exc.message, "reload": reload})
    log.info("console decision on %s by %s: %s", instance_id, who, decision.decision)
    # Post/Redirect/Get: a reload of the page never posts the decision twice.
    return func.HttpResponse(status_code=303, headers={
        **pages.HEADERS, "Location": f"{pages.BASE}/console/workflows/{quote(instance_id, safe='')}?decided={decision.decision}"})


@bp.route(route="console/static/{name}", methods=["GET"], auth_level=ANONYMOUS)
@page
async def console_static(req: func.HttpRequest) -> func.HttpResponse:
    """The console's stylesheet and script (public: they hold no data)."""
    found = pages.static_file(req.route_params.get("name", ""))
    if found is None:
        raise ApiError(404, "not_found", "no such file")
    body, mimetype = found
    return func.HttpResponse(body, status_code=200, mimetype=mimetype, charset="utf-8",
                             headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600"})


__all__ = ["bp"]
