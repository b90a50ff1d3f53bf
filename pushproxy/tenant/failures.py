"""Turn what msgraph-sdk, azure-identity and httpx raise into TenantError, explained in plain words.

Callers branch on `code`, `status` and `transient`; the message says what happened and what to do. No token,
assertion or secret ever reaches a message: only Graph's code and message, Entra's AADSTS text and the request id.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from kiota_abstractions.api_error import APIError

from pushproxy.errors import SecretError, TenantError

TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_AADSTS = re.compile(r"AADSTS(\d+)")

# AADSTS codes at the token endpoint, explained.
_AADSTS_EXPLAINED: dict[str, str] = {
    "700016": "the application is not known in this tenant: an administrator of the tenant must consent to it (admin consent)",
    "7000215": "the client secret is wrong or expired",
    "7000222": "the client secret has expired",
    "90002": "the tenant does not exist (check the tenant id or domain)",
    "700027": "the client assertion's signature could not be checked: is the certificate registered on the application?",
    "700211": "no federated credential of the application matches the managed identity's issuer",
    "700213": "no federated credential of the application matches the managed identity (subject)",
    "700212": "no federated credential of the application matches the assertion's audience",
    "700024": "the client assertion is expired or not yet valid (clock skew?)",
    "1002012": "the requested scope is not valid",
}


def explain_graph_error(
    status: int | None, code: str | None, message: str, *, operation: str, client_id: str | None
) -> str:
    """Graph's message, preceded by what it means for us when it is one of the common failures."""
    text = message or "no message"
    low = f"{code or ''} {text}".lower()
    if status == 403 or (code or "") == "Authorization_RequestDenied":
        needed = "Organization.Read.All" if "organization" in operation.lower() else "Application.ReadWrite.All"
        if operation.upper().startswith("GET") and needed != "Organization.Read.All":
            needed = "Application.Read.All (or Application.ReadWrite.All)"
        return (
            f"the application {client_id or ''} has not been granted {needed} (an application permission with admin consent) "
            f"in this tenant, so Graph refused {operation}: {text}"
        )
    if "lock" in low:
        return (
            "the Exchange Online service principal is locked (servicePrincipalLockConfiguration): its keyCredentials "
            f"cannot be changed until a tenant administrator lifts the lock: {text}"
        )
    if "policy" in low and ("lifetime" in low or "credential" in low):
        return (
            "a tenant app-management policy refuses this certificate (its lifetime is longer than the policy allows, "
            "often the 5-year default of New-ExchangeCertificate): ask the tenant administrator for an exemption for "
            f"the Exchange Online service principal, or use a shorter-lived Auth certificate: {text}"
        )
    if status == 429:
        return f"Graph is throttling us (429) and the retry budget is spent: {text}"
    if status == 401:
        return f"Graph did not accept the access token: {text}"
    return text


def tenant_error_from_api(exc: APIError, *, operation: str, client_id: str | None) -> TenantError:
    """A TenantError from msgraph-sdk's ODataError (or kiota's APIError)."""
    status = getattr(exc, "response_status_code", None)
    code: str | None = None
    message = ""
    request_id: str | None = None
    main = getattr(exc, "error", None)
    if main is not None:
        code = getattr(main, "code", None)
        message = getattr(main, "message", None) or ""
        inner = getattr(main, "inner_error", None)
        if inner is not None:
            request_id = getattr(inner, "request_id", None) or _from_additional(inner, "request-id")
    headers = getattr(exc, "response_headers", None) or {}
    if request_id is None:
        request_id = _header(headers, "request-id")
    if not message:
        message = str(getattr(exc, "message", "") or f"HTTP {status}")
    return TenantError(
        f"{operation}: {explain_graph_error(status, code, message, operation=operation, client_id=client_id)}",
        code=code or (f"HTTP{status}" if status else None),
        request_id=request_id,
        status=status,
        transient=status in TRANSIENT_STATUS,
    )


def tenant_error_from_auth(exc: ClientAuthenticationError, *, tenant: str, client_id: str | None) -> TenantError:
    """A TenantError from a failed token request (Entra's AADSTS code and its first line, no payload)."""
    text = str(getattr(exc, "message", None) or exc)
    match = _AADSTS.search(text)
    aadsts = match.group(1) if match else None
    first = next((line.strip() for line in text.splitlines() if "AADSTS" in line), text.splitlines()[0] if text else "")
    first = first[:400]
    explained = _AADSTS_EXPLAINED.get(aadsts or "")
    status = getattr(getattr(exc, "response", None), "status_code", None)
    message = f"sign-in to tenant {tenant} as application {client_id} failed"
    message += f": {explained} ({first})" if explained else f": {first}"
    return TenantError(
        message,
        code=f"AADSTS{aadsts}" if aadsts else "AuthenticationFailed",
        status=status,
        transient=status in TRANSIENT_STATUS if status else False,
    )


def tenant_error_from_exception(
    exc: BaseException, *, operation: str, tenant: str, client_id: str | None
) -> TenantError | None:
    """The TenantError for any exception a Graph call may raise, or None when it is not ours to translate."""
    if isinstance(exc, TenantError):
        return exc
    if isinstance(exc, SecretError):
        return None  # already clear and secret-free; let it through as it is
    if isinstance(exc, APIError):
        return tenant_error_from_api(exc, operation=operation, client_id=client_id)
    if isinstance(exc, ClientAuthenticationError):
        return tenant_error_from_auth(exc, tenant=tenant, client_id=client_id)
    if isinstance(exc, httpx.TimeoutException):
        return TenantError(
            f"{operation}: Graph did not answer in time ({type(exc).__name__})", code="Timeout", transient=True
        )
    if isinstance(exc, httpx.TransportError | ServiceRequestError | ServiceResponseError | ConnectionError):
        return TenantError(
            f"{operation}: connection to Graph failed ({type(exc).__name__})", code="ConnectionFailed", transient=True
        )
    return None


def _header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name) or headers.get(name.title())
    except AttributeError:
        return None
    if isinstance(value, list | set | tuple):
        value = next(iter(value), None)
    return str(value) if value else None


def _from_additional(obj: Any, key: str) -> str | None:
    extra = getattr(obj, "additional_data", None) or {}
    value = extra.get(key)
    return str(value) if value else None
