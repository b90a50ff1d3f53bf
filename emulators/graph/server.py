"""The HTTP side of the Graph stand-in (aiohttp): Entra token endpoint and discovery, the App Service managed
identity endpoint, Microsoft Graph v1.0 for organization and servicePrincipals, and the admin API.

Routing is by regex on the decoded path because Graph's key syntax (`servicePrincipals(appId='…')`) is not
a path segment aiohttp's router can express.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from aiohttp import web
from cryptography import x509

from emulators.graph.certs import make_certificate_der
from emulators.graph.defaults import EXCHANGE_ONLINE_APP_ID
from emulators.graph.directory import Directory, GraphError, render_key, thumbprint_b64
from emulators.graph.faults import FaultBook, FaultRule
from emulators.graph.tokens import Caller, GraphAuthError, TokenError, TokenService

DEFAULT_IDENTITY_HEADER = "graph-standin-identity-header"
MSI_PATH = "/msi/token"

READ_ORG_ROLES = {
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
}
READ_APP_ROLES = {"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
# Directory.ReadWrite.All does not cover credentials of applications and service principals.
WRITE_APP_ROLES = {"Application.ReadWrite.All"}

_SP_BY_APP_ID = re.compile(r"^/v1\.0/servicePrincipals\(appId='([^']*)'\)$", re.IGNORECASE)
_SP_BY_ID = re.compile(r"^/v1\.0/servicePrincipals/([^/]+)$", re.IGNORECASE)
_SP_COLLECTION = re.compile(r"^/v1\.0/servicePrincipals/?$", re.IGNORECASE)
_APP_BY_ID = re.compile(r"^/v1\.0/applications/([^/]+)$", re.IGNORECASE)
_APP_COLLECTION = re.compile(r"^/v1\.0/applications/?$", re.IGNORECASE)
_SP_ROLE_ASSIGNMENTS = re.compile(r"^/v1\.0/servicePrincipals/([^/]+)/appRoleAssignments/?$", re.IGNORECASE)
# An application's own credentials may be written with Application.ReadWrite.OwnedBy by an owner of the app.
WRITE_OWNED_APP_ROLES = {"Application.ReadWrite.OwnedBy"}
_ORGANIZATION = re.compile(r"^/v1\.0/organization/?$", re.IGNORECASE)
_DEFAULT_APP_POLICY = re.compile(r"^/v1\.0/policies/defaultAppManagementPolicy/?$", re.IGNORECASE)
# GET policies/defaultAppManagementPolicy (Graph v1.0 tenantAppManagementPolicy): Policy.Read.All is the least
# privileged application permission; Application.ReadWrite.All does not include it.
READ_POLICY_ROLES = {"Policy.Read.All", "Policy.ReadWrite.ApplicationConfiguration"}
_DISCOVERY = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
_JWKS = re.compile(r"^/([^/]+)/discovery/v2\.0/keys$")
_FILTER_APP_ID = re.compile(r"^\s*appId\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)

_SECRET_FORM_FIELDS = ("client_secret", "client_assertion", "assertion", "password", "refresh_token")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso_now() -> str:
    return _now().strftime("%Y-%m-%dT%H:%M:%S")


class GraphStandIn:
    """One stand-in process: the directory, the token service, the journal and the fault rules."""

    def __init__(self, directory: Directory | None = None, *, identity_header: str = DEFAULT_IDENTITY_HEADER) -> None:
        self.directory = directory or Directory()
        self.tokens = TokenService(self.directory)
        self.journal: list[dict[str, Any]] = []
        self.faults = FaultBook()
        self.identity_header = identity_header

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    # ------------------------------------------------------------------------------------------ middleware

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        request["request_id"] = request_id
        path = request.path
        entry: dict[str, Any] = {
            "operation": f"{request.method} {path}",
            "endpoint": path,
            "parameters": dict(request.query),
            "user": None,
            "tenant": None,
            "time": _now().isoformat(),
            "request_id": request_id,
        }
        request["journal"] = entry
        body = await request.read() if request.can_read_body else b""
        entry["parameters"].update(_masked_body(request, body))
        admin = path.startswith("/_emulator/")
        rule = None if admin else self.faults.match(request.method, path, _unverified_tenant(request))
        before_keys: list[dict[str, Any]] | None = None
        try:
            if rule is not None:
                response = await self._apply_fault_before(request, rule)
                if response is not None:
                    entry.update(status=response.status, outcome="fault")
                    self._record(entry, admin)
                    return response
                if rule.kind == "concurrent_key" and rule.at == "after":
                    before_keys = self._exchange_keys_snapshot(request)
            response = await handler(request)
        except GraphError as exc:
            response = self._graph_error(request, exc.status, exc.code, exc.message, exc.headers)
        except TokenError as exc:
            response = _token_error(
                exc, request_id, request.headers.get("client-request-id") or request.headers.get("x-ms-client-request-id")
            )
        if rule is not None and rule.kind == "concurrent_key" and rule.at == "after" and before_keys is not None:
            # Another writer read the keys before our request and writes its stale view back after it.
            self._concurrent_write(request, rule, base=before_keys)
        entry["status"] = response.status
        entry["outcome"] = "ok" if response.status < 400 else "error"
        if rule is not None:
            entry["fault"] = rule.kind
        self._record(entry, admin)
        response.headers["request-id"] = request_id
        if "client-request-id" in request.headers:
            response.headers["client-request-id"] = request.headers["client-request-id"]
        return response

    def _record(self, entry: dict[str, Any], admin: bool) -> None:
        if not admin:
            self.journal.append(entry)

    async def _apply_fault_before(self, request: web.Request, rule: FaultRule) -> web.StreamResponse | None:
        if rule.kind == "delay":
            await asyncio.sleep(rule.delay_s)
            return None
        if rule.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing can be answered on an aborted connection
        if rule.kind == "http":
            headers = {"Retry-After": str(rule.retry_after_s)} if rule.retry_after_s is not None else {}
            code = rule.code or {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(
                rule.status, "InternalServerError"
            )
            message = rule.message or {429: "Too many requests.", 503: "The service is temporarily unavailable."}.get(
                rule.status, "Fault injected by the stand-in."
            )
            return self._graph_error(request, rule.status, code, message, headers)
        if rule.kind == "concurrent_key" and rule.at == "before":
            self._concurrent_write(request, rule, base=None)
        return None

    def _exchange_keys_snapshot(self, request: web.Request) -> list[dict[str, Any]] | None:
        sp = self._fault_target_sp(request)
        return copy.deepcopy(sp["keyCredentials"]) if sp is not None else None

    def _fault_target_sp(self, request: web.Request) -> dict[str, Any] | None:
        tenant = self.directory.find_tenant(_unverified_tenant(request) or "")
        if tenant is None:
            return None
        try:
            return self.directory.service_principal(tenant, app_id=EXCHANGE_ONLINE_APP_ID)
        except GraphError:
            return None

    def _concurrent_write(self, request: web.Request, rule: FaultRule, base: list[dict[str, Any]] | None) -> None:
        """Another writer adds a key to the Exchange Online service principal of the caller's tenant."""
        sp = self._fault_target_sp(request)
        if sp is None:
            return
        key = copy.deepcopy(rule.key_credential) if rule.key_credential else _generated_key()
        keys = copy.deepcopy(base if base is not None else sp["keyCredentials"])
        keys.append(key)
        self.directory.set_keys(sp, keys)  # a write like any other: replicas see it after their lag
        request["journal"]["concurrent_key"] = key["keyId"]

    def _other_writer_adds(self, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("keyCredential"), dict):
            raise ValueError('body must be {"tenant": id, "appId"?: id, "keyCredential": {...}}')
        tenant = self.directory.find_tenant(str(payload.get("tenant") or ""))
        if tenant is None:
            raise ValueError(f"no tenant {payload.get('tenant')!r}")
        sp = self.directory.service_principal(tenant, app_id=str(payload.get("appId") or EXCHANGE_ONLINE_APP_ID))
        self.directory.set_keys(sp, [*copy.deepcopy(sp["keyCredentials"]), copy.deepcopy(payload["keyCredential"])])

    def _graph_error(
        self, request: web.Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        inner = {
            "date": _iso_now(),
            "request-id": request["request_id"],
            "client-request-id": request.headers.get("client-request-id", request["request_id"]),
        }
        body = {"error": {"code": code, "message": message, "innerError": inner}}
        request["journal"]["error"] = {"code": code, "message": message}
        return web.json_response(body, status=status, headers=headers or {})

    # ------------------------------------------------------------------------------------------ dispatch

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        method = request.method
        if path.startswith("/_emulator/"):
            return await self._admin(request)
        if path == MSI_PATH and method == "GET":
            return self._msi(request)
        if (m := _DISCOVERY.match(path)) and method == "GET":
            return self._discovery(request, m.group(1))
        if (m := _JWKS.match(path)) and method == "GET":
            return web.json_response(self.tokens.jwks())
        if (m := _TOKEN.match(path)) and method == "POST":
            return await self._token(request, m.group(1))
        if path.lower().startswith("/v1.0/"):
            return await self._graph(request)
        raise GraphError(404, "UnknownError", f"No route for {method} {path}.")

    # ------------------------------------------------------------------------------------------ Entra side

    def _base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    def _discovery(self, request: web.Request, tenant_ref: str) -> web.Response:
        tenant = self.directory.find_tenant(tenant_ref)
        if tenant is None:
            raise TokenError(400, "invalid_tenant", 90002, f"Tenant '{tenant_ref}' not found.")
        base = self._base(request)
        return web.json_response(
            {
                "token_endpoint": f"{base}/{tenant_ref}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{tenant_ref}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tenant_ref}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/{tenant['id']}/v2.0",
                "jwks_uri": f"{base}/{tenant_ref}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "tenant_region_scope": "EU",
            }
        )

    async def _token(self, request: web.Request, tenant_ref: str) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        entry = request["journal"]
        entry["user"] = form.get("client_id")
        tenant = self.directory.find_tenant(tenant_ref)
        entry["tenant"] = tenant["id"] if tenant else tenant_ref
        token_endpoint = f"{self._base(request)}/{tenant_ref}/oauth2/v2.0/token"
        result = self.tokens.client_credentials(tenant_ref, form, token_endpoint)
        entry["auth"] = "secret" if "client_secret" in form else "assertion"
        return web.json_response(result)

    def _msi(self, request: web.Request) -> web.Response:
        header = request.headers.get("X-IDENTITY-HEADER", "")
        if not header or not hmac.compare_digest(header.encode(), self.identity_header.encode()):
            return web.json_response(
                {"statusCode": 401, "message": "Unauthorized request: X-IDENTITY-HEADER is missing or wrong."},
                status=401,
            )
        resource = request.query.get("resource", "")
        client_id = request.query.get("client_id") or None
        request["journal"]["user"] = client_id or "system-assigned"
        try:
            result = self.tokens.managed_identity_token(resource, client_id)
        except TokenError as exc:
            return web.json_response({"statusCode": exc.status, "message": exc.description}, status=exc.status)
        return web.json_response(result)

    # ------------------------------------------------------------------------------------------ Graph side

    async def _graph(self, request: web.Request) -> web.StreamResponse:
        try:
            caller = self.tokens.check_graph_token(request.headers.get("Authorization"))
        except GraphAuthError as exc:
            raise GraphError(
                401,
                exc.code,
                exc.message,
                {
                    "WWW-Authenticate": 'Bearer realm="", authorization_uri="", client_id="00000003-0000-0000-c000-000000000000"'
                },
            ) from None
        entry = request["journal"]
        entry["user"] = caller.app_id
        entry["tenant"] = caller.tenant_id
        tenant = self.directory.find_tenant(caller.tenant_id)
        if tenant is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure: unknown tenant.")
        path = request.path
        method = request.method
        if _DEFAULT_APP_POLICY.match(path) and method == "GET":
            _require(caller, READ_POLICY_ROLES)
            return web.json_response(_default_app_policy(tenant))
        if _ORGANIZATION.match(path) and method == "GET":
            _require(caller, READ_ORG_ROLES)
            return web.json_response(self._organization(request, tenant))
        if _APP_COLLECTION.match(path) and method == "GET":
            _require(caller, READ_APP_ROLES)
            return web.json_response(self._app_collection(request, tenant))
        if m := _APP_BY_ID.match(path):
            return await self._one_app(request, caller, tenant, self.directory.tenant_application(tenant, m.group(1)))
        if (m := _SP_ROLE_ASSIGNMENTS.match(path)) and method == "GET":
            _require(caller, READ_APP_ROLES)
            sp = self.directory.service_principal(tenant, sp_id=m.group(1))
            return web.json_response({
                "@odata.context": f"{self._base(request)}/v1.0/$metadata#servicePrincipals('{sp['id']}')/appRoleAssignments",
                "value": [dict(g, principalDisplayName=sp["displayName"], principalType="ServicePrincipal")
                          for g in sp["appRoleAssignments"]],
            })
        if m := _SP_BY_APP_ID.match(path):
            sp = self.directory.service_principal(tenant, app_id=m.group(1))
            return await self._one_sp(request, caller, tenant, sp)
        if m := _SP_BY_ID.match(path):
            sp = self.directory.service_principal(tenant, sp_id=m.group(1))
            return await self._one_sp(request, caller, tenant, sp)
        if _SP_COLLECTION.match(path) and method == "GET":
            _require(caller, READ_APP_ROLES)
            return web.json_response(self._sp_collection(request, tenant))
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path.rsplit('/', 1)[-1]}'.")

    async def _one_sp(
        self, request: web.Request, caller: Caller, tenant: dict[str, Any], sp: dict[str, Any]
    ) -> web.StreamResponse:
        if request.method == "GET":
            _require(caller, READ_APP_ROLES)
            select = _select(request)
            replica, keys = self.directory.read_keys(sp)
            if replica is not None:
                request["journal"]["replica"] = replica
            body = _render_sp(
                dict(sp, keyCredentials=keys), select, with_key=select is not None and "keyCredentials" in select
            )
            body["@odata.context"] = f"{self._base(request)}/v1.0/$metadata#servicePrincipals/$entity"
            return web.json_response(body)
        if request.method == "PATCH":
            _require(caller, WRITE_APP_ROLES)
            payload = await _json_payload(request)
            self.directory.patch_service_principal(tenant, sp, payload, now=_now())
            return web.Response(status=204)
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{request.method}' is not allowed here.")

    async def _one_app(
        self, request: web.Request, caller: Caller, tenant: dict[str, Any], app: dict[str, Any]
    ) -> web.StreamResponse:
        """GET and PATCH /applications/{id}: the same keyCredentials rules, replicas and errors as a service
        principal's (Graph v1.0 application: update replaces the collection)."""
        if request.method == "GET":
            _require(caller, READ_APP_ROLES)
            select = _select(request)
            replica, keys = self.directory.read_keys(app)
            if replica is not None:
                request["journal"]["replica"] = replica
            body = _render_app(dict(app, keyCredentials=keys), select,
                               with_key=select is not None and "keyCredentials" in select)
            body["@odata.context"] = f"{self._base(request)}/v1.0/$metadata#applications/$entity"
            return web.json_response(body)
        if request.method == "PATCH":
            if not (WRITE_APP_ROLES.intersection(caller.roles)
                    or (WRITE_OWNED_APP_ROLES.intersection(caller.roles) and caller.app_id in app["owners"])):
                raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            payload = await _json_payload(request)
            self.directory.patch_service_principal(tenant, app, payload, now=_now())
            return web.Response(status=204)
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{request.method}' is not allowed here.")

    def _organization(self, request: web.Request, tenant: dict[str, Any]) -> dict[str, Any]:
        org = {
            "id": tenant["id"],
            "displayName": tenant["displayName"],
            "tenantType": "AAD",
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": bool(d.get("isDefault")),
                    "isInitial": bool(d.get("isInitial")),
                    "name": d["name"],
                    "type": "Managed",
                }
                for d in tenant["verifiedDomains"]
            ],
        }
        select = _select(request)
        if select is not None:
            org = {k: v for k, v in org.items() if k in select or k == "id"}
        return {"@odata.context": f"{self._base(request)}/v1.0/$metadata#organization", "value": [org]}

    def _app_collection(self, request: web.Request, tenant: dict[str, Any]) -> dict[str, Any]:
        return self._collection(request, tenant["applications"], "applications", "Application", _render_app)

    def _sp_collection(self, request: web.Request, tenant: dict[str, Any]) -> dict[str, Any]:
        return self._collection(request, tenant["servicePrincipals"], "servicePrincipals", "ServicePrincipal", _render_sp)

    def _collection(self, request: web.Request, items: list[dict[str, Any]], collection: str, resource: str,
                    render: Any) -> dict[str, Any]:
        """A list of service principals or applications, `$filter=appId eq '…'` being the one filter served."""
        flt = request.query.get("$filter")
        if flt is not None:
            m = _FILTER_APP_ID.match(flt)
            if not m:
                raise GraphError(
                    400,
                    "Request_UnsupportedQuery",
                    f"Unsupported or invalid query filter clause specified for property of resource '{resource}'.",
                )
            items = [i for i in items if i["appId"].lower() == m.group(1).lower()]
        select = _select(request)
        # On a collection Graph never returns the key bytes, even when keyCredentials is selected.
        return {
            "@odata.context": f"{self._base(request)}/v1.0/$metadata#{collection}",
            "value": [render(dict(i, keyCredentials=self.directory.read_keys(i)[1]), select, with_key=False)
                      for i in items],
        }

    # ------------------------------------------------------------------------------------------ admin API

    async def _admin(self, request: web.Request) -> web.Response:
        path, method = request.path, request.method
        if path == "/_emulator/state":
            if method == "GET":
                return web.json_response(self.directory.snapshot())
            if method == "PUT":
                try:
                    self.directory.replace(await request.json())
                except ValueError as exc:
                    return web.json_response({"error": {"code": "BadState", "message": str(exc)}}, status=400)
                return web.json_response(self.directory.snapshot())
        if path == "/_emulator/writes" and method == "POST":
            # Another writer (not our client) adds a key through the primary: replicas see it after their lag.
            try:
                payload = await request.json()
                self._other_writer_adds(payload)
            except (ValueError, KeyError, TypeError, GraphError) as exc:
                return web.json_response({"error": {"code": "BadWrite", "message": str(exc)}}, status=400)
            return web.Response(status=204)
        if path == "/_emulator/journal":
            if method == "GET":
                return web.json_response(self.journal)
            if method == "DELETE":
                self.journal.clear()
                return web.Response(status=204)
        if path == "/_emulator/faults":
            if method == "GET":
                return web.json_response({"rules": self.faults.to_json()})
            if method == "DELETE":
                self.faults.clear()
                return web.Response(status=204)
            if method == "POST":
                try:
                    payload = await request.json()
                    self.faults.add(payload.get("rules") if isinstance(payload, dict) else None)
                except ValueError as exc:
                    return web.json_response({"error": {"code": "BadFaultRule", "message": str(exc)}}, status=400)
                return web.json_response({"rules": self.faults.to_json()})
        return web.json_response(
            {"error": {"code": "NotFound", "message": f"No admin route {method} {path}"}}, status=404
        )


# ---------------------------------------------------------------------------------------------- helpers


def _default_app_policy(tenant: dict[str, Any]) -> dict[str, Any]:
    """The tenant's key-lifetime policy (`policies.maxCertificateLifetimeDays`) as Graph's tenantAppManagementPolicy:
    an asymmetricKeyLifetime restriction on service principals, which PATCH enforces (directory._check_policies)."""
    days = (tenant.get("policies") or {}).get("maxCertificateLifetimeDays")
    restrictions = [] if days is None else [{"restrictionType": "asymmetricKeyLifetime", "maxLifetime": f"P{int(days)}D",
                                            "restrictForAppsCreatedAfterDateTime": "2020-01-01T00:00:00Z"}]
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity",
        "id": "00000000-0000-0000-0000-000000000000",
        "displayName": "Default app management tenant policy",
        "isEnabled": days is not None,
        "applicationRestrictions": {"passwordCredentials": [], "keyCredentials": restrictions},
        "servicePrincipalRestrictions": {"passwordCredentials": [], "keyCredentials": restrictions},
    }


def _require(caller: Caller, accepted: set[str]) -> None:
    if not accepted.intersection(caller.roles):
        raise GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def _select(request: web.Request) -> set[str] | None:
    raw = request.query.get("$select")
    if raw is None:
        return None
    return {s.strip() for s in raw.split(",") if s.strip()}


async def _json_payload(request: web.Request) -> Any:
    """A PATCH body, or Graph's own 400 for one that is not JSON."""
    try:
        return await request.json()
    except ValueError:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        ) from None


def _render_sp(sp: dict[str, Any], select: set[str] | None, *, with_key: bool) -> dict[str, Any]:
    full = {
        "id": sp["id"],
        "appId": sp["appId"],
        "displayName": sp["displayName"],
        "appDisplayName": sp["displayName"],
        "accountEnabled": True,
        "servicePrincipalType": "Application",
        "keyCredentials": [render_key(k, with_key=with_key) for k in sp["keyCredentials"]],
    }
    if select is None:
        return full
    return {k: v for k, v in full.items() if k in select or k == "id"}


def _render_app(app: dict[str, Any], select: set[str] | None, *, with_key: bool) -> dict[str, Any]:
    full = {
        "id": app["id"],
        "appId": app["appId"],
        "displayName": app["displayName"],
        "signInAudience": "AzureADMyOrg",
        "keyCredentials": [render_key(k, with_key=with_key) for k in app["keyCredentials"]],
        "requiredResourceAccess": app["requiredResourceAccess"],
    }
    if select is None:
        return full
    return {k: v for k, v in full.items() if k in select or k == "id"}


def _unverified_tenant(request: web.Request) -> str | None:
    """The tenant a request is about, for fault matching and the journal: the token's tid, or the path's tenant."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        try:
            return str(jwt.decode(auth.split(" ", 1)[1], options={"verify_signature": False}).get("tid"))
        except jwt.PyJWTError:
            return None
    m = _TOKEN.match(request.path) or _DISCOVERY.match(request.path)
    return m.group(1) if m else None


def _masked_body(request: web.Request, body: bytes) -> dict[str, Any]:
    """Request parameters for the journal, secrets replaced by ***. Tokens never appear (headers aren't logged)."""
    if not body:
        return {}
    ctype = request.content_type
    if ctype == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        return {k: ("***" if k in _SECRET_FORM_FIELDS else v) for k, v in form.items()}
    if request.path.startswith("/_emulator/"):
        return {}
    try:
        return {"body": json.loads(body)}
    except ValueError:
        return {"body_bytes": len(body)}


def _token_error(exc: TokenError, request_id: str, correlation_id: str | None = None) -> web.Response:
    """Entra's OAuth error body; the description ends with the trace id, correlation id and timestamp, as Entra's do."""
    timestamp = _now().strftime("%Y-%m-%d %H:%M:%SZ")
    correlation = correlation_id or str(uuid.uuid4())
    return web.json_response(
        {
            "error": exc.error,
            "error_description": f"{exc.description} Trace ID: {request_id} Correlation ID: {correlation} "
            f"Timestamp: {timestamp}",
            "error_codes": [exc.aadsts],
            "timestamp": timestamp,
            "trace_id": request_id,
            "correlation_id": correlation,
            "error_uri": exc.error_uri,
        },
        status=exc.status,
    )


def _generated_key() -> dict[str, Any]:
    """Another writer's key: a fresh certificate, shaped as Graph stores it."""
    der = make_certificate_der("CN=Concurrent Writer Certificate")
    cert = x509.load_der_x509_certificate(der)
    return {
        "keyId": str(uuid.uuid4()),
        "customKeyIdentifier": thumbprint_b64(der),
        "displayName": "CN=Concurrent Writer Certificate",
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": base64.b64encode(der).decode(),
        "startDateTime": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
