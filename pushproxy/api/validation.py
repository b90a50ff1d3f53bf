"""Validation of what callers send, before anything reaches Exchange, Graph or the Durable client.

Every failure is an ApiError 400 naming the field and the reason. Beyond TenantSpec's own rules, no string
anywhere in a body may carry PowerShell metacharacters: nothing we send is ever interpreted as PowerShell (the
client binds parameters), but a refused request is better than a value we have to reason about later.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pushproxy.api.errors import bad_input
from pushproxy.errors import SpecError
from pushproxy.registry.models import normalize_domain

MAX_BODY_BYTES = 64 * 1024
# Quoting, escaping, variables, statement separators, pipes and redirection, and control characters.
_METACHARACTERS = re.compile(r"[`$;|&<>'\"\x00-\x1f\x7f]")
_INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
DECISIONS = ("approve", "reject")
MAX_NAME = 256
MAX_COMMENT = 2000


def parse_json_object(body: bytes | None, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is missing, too large, not JSON or not an object."""
    if not body or not body.strip():
        if required:
            raise bad_input("body", "is required (a JSON object)")
        return {}
    if len(body) > MAX_BODY_BYTES:
        raise bad_input("body", f"is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise bad_input("body", f"is not valid JSON{where}") from None
    if not isinstance(data, dict):
        raise bad_input("body", "must be a JSON object")
    check_no_metacharacters(data)
    return data


def check_no_metacharacters(value: Any, path: str = "") -> None:
    """400 naming the first string (or key) that carries a PowerShell metacharacter or a control character."""
    if isinstance(value, str):
        found = _METACHARACTERS.search(value)
        if found:
            char = found.group()
            shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
            raise bad_input(path or "body", f"must not contain {shown} (PowerShell metacharacter or control character)")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            check_no_metacharacters(str(key), where)
            check_no_metacharacters(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_no_metacharacters(item, f"{path}[{index}]")


def tenant_domain(value: str, field: str = "tenant") -> str:
    """A tenant domain from a route: lower case, DNS rules."""
    check_no_metacharacters(value, field)
    try:
        return normalize_domain(value, field)
    except SpecError as exc:
        raise bad_input(exc.field, exc.reason) from None


def instance_id(value: str, field: str = "id") -> str:
    if not isinstance(value, str) or not _INSTANCE_ID.match(value):
        raise bad_input(field, "is not an instance id (letters, digits, '.', '_', ':' and '-')")
    return value


@dataclass(frozen=True)
class OnboardingRequest:
    spec: dict[str, Any]  # TenantSpec.to_dict(): secrets by reference only
    requested_by: str | None


def onboarding(tenant: str, body: bytes | None, principal: str | None) -> OnboardingRequest:
    """`POST /api/tenants/{tenant}/onboarding`: the validated TenantSpec and who asks for it."""
    from pushproxy.spec import TenantSpec

    domain = tenant_domain(tenant)
    data = parse_json_object(body)
    # `requested_by` rides along with the spec but is not part of it.
    who = requested_by(data, principal)
    data = {k: v for k, v in data.items() if k != "requested_by"}
    if "tenant_domain" not in data:
        # The route names the tenant; a body without it is about the same tenant.
        data = {"tenant_domain": domain, **data}
    try:
        spec = TenantSpec.from_dict(data)
    except SpecError as exc:
        raise bad_input(exc.field, exc.reason) from None
    if spec.tenant_domain != domain:
        raise bad_input("tenant_domain", f"is {spec.tenant_domain}, but the route names {domain}")
    return OnboardingRequest(spec=spec.to_dict(), requested_by=who)


@dataclass(frozen=True)
class ApprovalRequest:
    decision: str
    approver: str
    comment: str | None
    state_hash: str | None = None  # the plan the approver saw (from GET); a different one waiting is a 409


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_input(field, "must be a non-empty string")
    if len(value) > MAX_NAME:
        raise bad_input(field, f"must be at most {MAX_NAME} characters")
    check_no_metacharacters(value, field)
    return value.strip()


def approval(body: bytes | None, principal: str | None) -> ApprovalRequest:
    """`POST /api/onboardings/{id}/approval`: the decision, and the approver (the App Service principal first)."""
    data = parse_json_object(body)
    unknown = sorted(set(data) - {"decision", "comment", "approver", "state_hash"})
    if unknown:
        raise bad_input(unknown[0], "unknown field (expected decision, comment, approver, state_hash)")
    state_hash = data.get("state_hash")
    if state_hash is not None and (not isinstance(state_hash, str) or not re.fullmatch(r"[0-9a-fA-F]{8,128}", state_hash)):
        raise bad_input("state_hash", "must be the hexadecimal state_hash of the plan being approved")
    decision = data.get("decision")
    if decision not in DECISIONS:
        raise bad_input("decision", "must be approve or reject")
    comment = data.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise bad_input("comment", "must be a string or null")
        if len(comment) > MAX_COMMENT:
            raise bad_input("comment", f"must be at most {MAX_COMMENT} characters")
    if principal:
        # Authentication (App Service Easy Auth) vouches for this header; the body's `approver` can't override it.
        approver = _name(principal, "X-MS-CLIENT-PRINCIPAL-NAME")
    elif "approver" in data:
        approver = _name(data["approver"], "approver")
    else:
        raise bad_input("approver", "is required when the request carries no authenticated principal")
    return ApprovalRequest(decision=str(decision), approver=approver, comment=comment, state_hash=state_hash)


def requested_by(body: dict[str, Any] | None, principal: str | None) -> str | None:
    """Who asks for an onboarding: the App Service principal when present, else the body's `requested_by`."""
    if principal:
        return _name(principal, "X-MS-CLIENT-PRINCIPAL-NAME")
    if body and body.get("requested_by") is not None:
        return _name(body["requested_by"], "requested_by")
    return None


def verification_request(body: bytes | None) -> list[str] | None:
    """`POST /api/verifications`: an optional `{"tenants": [...]}` to verify only those."""
    data = parse_json_object(body, required=False)
    unknown = sorted(set(data) - {"tenants"})
    if unknown:
        raise bad_input(unknown[0], "unknown field (expected tenants)")
    if "tenants" not in data:
        return None
    tenants = data["tenants"]
    if not isinstance(tenants, list) or not tenants:
        raise bad_input("tenants", "must be a non-empty list of tenant domains")
    return sorted({tenant_domain(t, f"tenants[{i}]") if isinstance(t, str) else _not_domain(i) for i, t in enumerate(tenants)})


def _not_domain(index: int) -> str:
    raise bad_input(f"tenants[{index}]", "must be a tenant domain (a string)")
