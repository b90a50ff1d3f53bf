"""Validation of what callers send, before anything reaches Exchange, Graph or the Durable client.

Every failure is an ApiError naming the field and the reason (400; 413 for a body over the size bound). The rules
are the ones the CLI applies to a spec file (pushproxy.input_rules, pushproxy.spec): one validation, every door.
Each field is checked for where its value goes: a comment (kept in the audit, never sent anywhere) may hold `;`,
a user name (sent in the authentication exchange) may not hold a space or a control character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pushproxy.api.errors import ApiError, bad_input
from pushproxy.errors import SpecError
from pushproxy.input_rules import MAX_DOCUMENT_BYTES, TooLarge, check_name_text, comment, parse_json
from pushproxy.principals import PrincipalError, canonical_principal
from pushproxy.registry.models import normalize_domain

MAX_BODY_BYTES = MAX_DOCUMENT_BYTES
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
DECISIONS = ("approve", "reject")
MAX_NAME = 256
# What a requester may choose when starting an onboarding: nothing about the connection, the secrets, approval or
# remediation (the operator's registration holds those), only a note for the audit.
ONBOARDING_REQUEST_FIELDS = ("comment",)
# Onboarding statuses a list can be filtered by (Durable runtime statuses).
RUNTIME_STATUSES = ("Pending", "Running", "Completed", "Failed", "Terminated", "Suspended")
MAX_PAGE = 100


def parse_json_object(body: bytes | None, *, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is missing, not JSON, nested too deep or not an object; 413 when
    it is larger than MAX_BODY_BYTES."""
    if not body or not body.strip():
        if required:
            raise bad_input("body", "is required (a JSON object)")
        return {}
    try:
        data = parse_json(body, "body", max_bytes=MAX_BODY_BYTES)
    except TooLarge as exc:
        raise ApiError(413, "body_too_large", str(exc), field="body") from None
    except SpecError as exc:
        raise bad_input(exc.field, exc.reason) from None
    if not isinstance(data, dict):
        raise bad_input("body", "must be a JSON object")
    return data


def tenant_domain(value: str, field: str = "tenant") -> str:
    """A tenant domain from a route: lower case, DNS rules, NFKC-stable."""
    try:
        if isinstance(value, str):
            check_name_text(value, field)
        return normalize_domain(value, field)
    except SpecError as exc:
        raise bad_input(exc.field, exc.reason) from None


def instance_id(value: str, field: str = "id") -> str:
    if not isinstance(value, str) or not _INSTANCE_ID.fullmatch(value):
        raise bad_input(field, "is not an instance id (letters, digits, '.', '_', ':' and '-')")
    return value


def registration(tenant: str, body: bytes | None) -> Any:
    """`PUT /api/tenants/{tenant}`: the operator's TenantSpec for the tenant the route names."""
    from pushproxy.secrets import namespace_problem
    from pushproxy.spec import TenantSpec

    domain = tenant_domain(tenant)
    data = parse_json_object(body)
    if "tenant_domain" not in data:
        data = {"tenant_domain": domain, **data}  # the route names the tenant
    try:
        spec = TenantSpec.from_dict(data)
    except SpecError as exc:
        raise bad_input(exc.field, exc.reason) from None
    if spec.tenant_domain != domain:
        raise bad_input("tenant_domain", f"is {spec.tenant_domain}, but the route names {domain}")
    from pushproxy.bindings import bindings

    for binding in bindings(spec):
        problem = namespace_problem(binding.ref, domain)
        if problem:
            raise bad_input(binding.field, problem)
    return spec


@dataclass(frozen=True)
class OnboardingRequest:
    comment: str | None


def onboarding(body: bytes | None) -> OnboardingRequest:
    """`POST /api/tenants/{tenant}/onboarding`: what the requester may choose (ONBOARDING_REQUEST_FIELDS)."""
    data = parse_json_object(body, required=False)
    for key in data:
        if key not in ONBOARDING_REQUEST_FIELDS:
            raise bad_input(str(key), "is not something an onboarding request chooses: the tenant's connection, "
                            "secrets, approval and remediation are its registration (PUT /api/tenants/{tenant}, "
                            "operator only); a request carries only comment")
    try:
        return OnboardingRequest(comment=comment(data.get("comment")))
    except SpecError as exc:
        raise bad_input(exc.field, exc.reason) from None


def onboardings_query(params: Any) -> tuple[str | None, int, int]:
    """`GET /api/onboardings?status=…&limit=…&offset=…`: (status or None, limit, offset)."""
    unknown = sorted(set(params) - {"status", "limit", "offset", "code"})
    if unknown:
        raise bad_input(unknown[0], "unknown query parameter (expected status, limit, offset)")
    status = params.get("status")
    if status is not None:
        match = [s for s in RUNTIME_STATUSES if s.lower() == str(status).lower()]
        if not match:
            raise bad_input("status", f"must be one of {', '.join(RUNTIME_STATUSES)}")
        status = match[0]
    return status, _int(params.get("limit"), "limit", 50, 1, MAX_PAGE), _int(params.get("offset"), "offset", 0, 0, 10**6)


def _int(value: Any, field: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,7}", value):
        raise bad_input(field, "must be a whole number")
    number = int(value)
    if not low <= number <= high:
        raise bad_input(field, f"must be between {low} and {high}")
    return number


@dataclass(frozen=True)
class ApprovalRequest:
    decision: str
    approver: str
    comment: str | None
    state_hash: str | None = None  # the plan the approver saw (from GET); a different one waiting is a 409
    early_key_removal: bool = False  # a rotation's retire step only: remove the retired key before it expires


def _name(value: Any, field: str) -> str:
    """A person's name in canonical form (NFKC, case-folded; invisible and bidirectional characters refused)."""
    try:
        return canonical_principal(value, field)
    except PrincipalError as exc:
        raise bad_input(field, str(exc).partition(": ")[2] or str(exc)) from None


def approval(body: bytes | None, principal: str | None) -> ApprovalRequest:
    """`POST /api/onboardings/{id}/approval`: the decision, made by the authenticated `principal`."""
    data = parse_json_object(body)
    unknown = sorted(set(data) - {"decision", "comment", "approver", "state_hash", "early_key_removal"})
    if unknown:
        raise bad_input(unknown[0], "unknown field (expected decision, comment, approver, state_hash, early_key_removal)")
    early = data.get("early_key_removal", False)
    if not isinstance(early, bool):
        raise bad_input("early_key_removal", "must be true or false")
    state_hash = data.get("state_hash")
    if state_hash is not None and (not isinstance(state_hash, str) or not re.fullmatch(r"[0-9a-fA-F]{8,128}", state_hash)):
        raise bad_input("state_hash", "must be the hexadecimal state_hash of the plan being approved")
    decision = data.get("decision")
    if decision not in DECISIONS:
        raise bad_input("decision", "must be approve or reject")
    try:
        note = comment(data.get("comment"))
    except SpecError as exc:
        raise bad_input(exc.field, exc.reason) from None
    if principal:
        # The authenticated principal (pushproxy.api.roles) is the approver; a body can't name someone else.
        approver = _name(principal, "X-MS-CLIENT-PRINCIPAL-NAME")
        if data.get("approver") is not None and _name(data["approver"], "approver") != approver:
            raise bad_input("approver", "is the authenticated principal; a decision can't be made in another's name")
    else:
        raise ApiError(403, "unauthenticated", "no authenticated principal: a decision needs an approver")
    return ApprovalRequest(decision=str(decision), approver=approver, comment=note, state_hash=state_hash,
                           early_key_removal=early)


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
