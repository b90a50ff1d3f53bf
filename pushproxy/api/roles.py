"""Who may do what through the HTTP API: three roles, `operator`, `requester`, `approver`.

- The operator registers a tenant's connection (`PUT /api/tenants/{tenant}`); a requester starts a workflow for a
  registered tenant; an approver approves. Reading (GET) needs any of the three. A caller may hold several.
- In Azure the roles are Entra ID app roles of the Function App's app registration, with the values
  `PushProxy.Operator`, `PushProxy.Requester` and `PushProxy.Approver`. App Service authentication (Easy Auth)
  puts them in `X-MS-CLIENT-PRINCIPAL` (Base64 JSON: claims whose `typ` is the payload's `role_typ`) and the name
  in `X-MS-CLIENT-PRINCIPAL-NAME`; it strips copies a client sent (learn.microsoft.com,
  configure-authentication-user-identities). A function key identifies a program and grants no role by itself:
  without an authenticated principal holding the role, the answer is 403.
- On one machine (`pushproxy serve`, which sets PUSHPROXY_ROLE_SOURCE=file) the roles come from the JSON file named
  by PUSHPROXY_ROLES_FILE, mapping principal names to lists of roles; the name is still read from
  `X-MS-CLIENT-PRINCIPAL-NAME`, which the operator's authenticating reverse proxy must set (README). The
  `X-MS-CLIENT-PRINCIPAL` header is ignored there: nothing on one machine vouches for it.
Names are compared in canonical form (pushproxy.principals: NFKC, case-folded, invisible characters refused).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pushproxy.api.errors import ApiError
from pushproxy.principals import PrincipalError, canonical_principal
from pushproxy.settings import setting

OPERATOR = "operator"
REQUESTER = "requester"
APPROVER = "approver"
ROLES = (OPERATOR, REQUESTER, APPROVER)
# Entra ID app role values (the `value` of each appRoles entry of the app registration).
APP_ROLE_VALUES = {"PushProxy.Operator": OPERATOR, "PushProxy.Requester": REQUESTER, "PushProxy.Approver": APPROVER}
NAME_HEADER = "X-MS-CLIENT-PRINCIPAL-NAME"
PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
# Easy Auth's default when the payload names no role claim type.
DEFAULT_ROLE_TYPE = "roles"
MAX_PRINCIPAL_HEADER = 16 * 1024


@dataclass(frozen=True)
class Caller:
    """The authenticated person behind a request (None: nobody authenticated) and the roles they hold."""

    name: str | None
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name) or headers.get(name.lower())
    return value if value and value.strip() else None


def caller(headers: Mapping[str, str]) -> Caller:
    """The caller of a request, from the App Service authentication headers (or the local roles file)."""
    raw_name = _header(headers, NAME_HEADER)
    if raw_name is None:
        return Caller(None, frozenset())
    try:
        name = canonical_principal(raw_name, NAME_HEADER)
    except PrincipalError as exc:
        raise ApiError(400, "invalid_input", str(exc), field=NAME_HEADER) from None
    if setting("PUSHPROXY_ROLE_SOURCE") == "file" or setting("PUSHPROXY_ROLES_FILE"):
        return Caller(name, roles_from_file(name))
    return Caller(name, roles_from_principal(_header(headers, PRINCIPAL_HEADER)))


def roles_from_principal(encoded: str | None) -> frozenset[str]:
    """Our roles among the app-role claims of an Easy Auth principal (role claims are those of type `role_typ`)."""
    if not encoded or len(encoded) > MAX_PRINCIPAL_HEADER:
        return frozenset()
    try:
        payload = json.loads(base64.b64decode(encoded, validate=False))
    except (binascii.Error, ValueError):
        return frozenset()
    if not isinstance(payload, dict):
        return frozenset()
    role_type = payload.get("role_typ") or DEFAULT_ROLE_TYPE
    claims = payload.get("claims")
    if not isinstance(claims, list):
        return frozenset()
    return frozenset(
        APP_ROLE_VALUES[claim["val"]]
        for claim in claims
        if isinstance(claim, dict) and claim.get("typ") == role_type and claim.get("val") in APP_ROLE_VALUES
    )


def load_roles_file(path: Path) -> dict[str, frozenset[str]]:
    """The local roles file: `{"alice@fabrikam.com": ["operator", "approver"], ...}`, names made canonical."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ApiError(503, "roles_unavailable", f"the roles file {path} (PUSHPROXY_ROLES_FILE) does not exist") from None
    except (OSError, ValueError, UnicodeDecodeError):
        raise ApiError(503, "roles_unavailable", f"the roles file {path} is not a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(503, "roles_unavailable", f"the roles file {path} is not a JSON object of name to roles")
    roles: dict[str, frozenset[str]] = {}
    for raw_name, held in data.items():
        try:
            name = canonical_principal(raw_name, "roles file name")
        except PrincipalError as exc:
            raise ApiError(503, "roles_unavailable", f"the roles file {path}: {exc}") from None
        if not isinstance(held, list) or any(r not in ROLES for r in held):
            raise ApiError(503, "roles_unavailable",
                           f"the roles file {path}: each name maps to a list of {', '.join(ROLES)}")
        roles[name] = roles.get(name, frozenset()) | frozenset(held)
    return roles


def roles_from_file(name: str) -> frozenset[str]:
    path = setting("PUSHPROXY_ROLES_FILE")
    if not path:
        return frozenset()  # no roles file: nobody holds a role, every route but the document is refused
    return load_roles_file(Path(path)).get(name, frozenset())


def require(who: Caller, *roles: str) -> str:
    """The caller's canonical name if they hold one of `roles`; 403 otherwise (401-like cases are 403 too: a
    function key alone is a program, not a person)."""
    if who.name is None:
        raise ApiError(403, "unauthenticated",
                       "no authenticated principal: turn on App Service authentication (a function key alone grants no role)")
    if not any(who.has(role) for role in roles):
        raise ApiError(403, "forbidden", f"{who.name} does not hold the {' or '.join(roles)} role")
    return who.name
