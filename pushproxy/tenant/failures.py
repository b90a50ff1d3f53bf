"""Turn what msgraph-sdk, azure-identity and httpx raise into TenantError, explained in plain words.

Callers branch on `code`, `status` and `transient`; the message says what happened and what to do. No token,
assertion or secret ever reaches a message: only Graph's code and message, Entra's AADSTS text and the request id.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
from kiota_abstractions.api_error import APIError

from pushproxy.errors import SecretError, TenantError

TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_AADSTS = re.compile(r"AADSTS(\d+)")

# AADSTS codes at the token endpoint, each as one sentence that tells the operator what to fix.
_FEDERATION = (
    "the application's federated credential does not match this managed identity: on the application, add (or fix) "
    "a federated credential whose issuer is the managed identity's tenant issuer, whose subject is the managed "
    "identity's object (principal) id and whose audience is api://AzureADTokenExchange"
)
_AADSTS_EXPLAINED: dict[str, str] = {
    "7000215": (
        "the client secret is not valid: it is wrong, or the secret's ID was stored instead of its value; create a "
        "new secret on the application and store its value where the spec's secret reference points"
    ),
    "7000222": (
        "the client secret has expired: create a new secret on the application and store its value where the spec's "
        "secret reference points"
    ),
    "700016": (
        "the application is not consented in this tenant: a tenant administrator must grant admin consent to it "
        "(or the spec names the wrong tenant)"
    ),
    "70021": _FEDERATION,
    "700211": _FEDERATION,
    "700212": _FEDERATION,
    "700213": _FEDERATION,
    "700024": (
        "the clock is off: the client assertion is outside its valid time range; check the time of the machine "
        "running pushproxy (NTP), or the managed identity's token has expired"
    ),
    "90002": "the tenant does not exist: check the tenant id or domain in the spec, and the authority (cloud)",
    "700027": "the certificate that signed the client assertion is not registered on the application: upload it there",
    "1002012": "the requested scope is not valid",
}
_TRACE = re.compile(r"Trace ID: ([0-9a-fA-F-]{8,})")
_CORRELATION = re.compile(r"Correlation ID: ([0-9a-fA-F-]{8,})")
# Graph codes that mean "try again later" whatever the status says.
TRANSIENT_CODES = {"UnknownError", "serviceNotAvailable", "TooManyRequests", "activityLimitReached"}


def ids_suffix(request_id: str | None, client_request_id: str | None = None, date: str | None = None) -> str:
    """`(request-id …, client-request-id …, date …)`: what Microsoft support asks for, in every error we report."""
    parts = [f"request-id {request_id}" if request_id else None]
    if client_request_id and client_request_id != request_id:
        parts.append(f"client-request-id {client_request_id}")
    if date:
        parts.append(f"date {date}")
    shown = [p for p in parts if p]
    return f" ({', '.join(shown)})" if shown else ""


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
    client_request_id: str | None = None
    date: str | None = None
    main = getattr(exc, "error", None)
    if main is not None:
        code = getattr(main, "code", None)
        message = getattr(main, "message", None) or ""
        inner = getattr(main, "inner_error", None)
        if inner is not None:
            request_id = getattr(inner, "request_id", None) or _from_additional(inner, "request-id")
            client_request_id = getattr(inner, "client_request_id", None) or _from_additional(
                inner, "client-request-id"
            )
            when: Any = getattr(inner, "date", None) or _from_additional(inner, "date")
            date = when.isoformat() if hasattr(when, "isoformat") else (str(when) if when else None)
    headers = getattr(exc, "response_headers", None) or {}
    if request_id is None:
        request_id = _header(headers, "request-id")
    if client_request_id is None:
        client_request_id = _header(headers, "client-request-id")
    if not message:
        message = str(getattr(exc, "message", "") or f"HTTP {status}")
    explained = explain_graph_error(status, code, message, operation=operation, client_id=client_id)
    return TenantError(
        f"{operation}: {explained}{ids_suffix(request_id, client_request_id, date)}",
        code=code or (f"HTTP{status}" if status else None),
        request_id=request_id,
        status=status,
        transient=status in TRANSIENT_STATUS or (code in TRANSIENT_CODES and status != 403),
    )


def tenant_error_from_auth(exc: ClientAuthenticationError, *, tenant: str, client_id: str | None) -> TenantError:
    """A TenantError from a failed token request (Entra's AADSTS code and its first line, no payload)."""
    text = str(getattr(exc, "message", None) or exc)
    match = _AADSTS.search(text)
    aadsts = match.group(1) if match else None
    first = next((line.strip() for line in text.splitlines() if "AADSTS" in line), text.splitlines()[0] if text else "")
    first = first[:400]
    explained = _AADSTS_EXPLAINED.get(aadsts or "")
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    trace_id, correlation_id = _token_ids(response, text)
    # Entra's description repeats the ids and a timestamp; the suffix carries them once.
    first = re.split(r"\s*Trace ID:", first)[0].strip()
    message = f"sign-in to tenant {tenant} as application {client_id} failed"
    message += f": {explained} ({first})" if explained else f": {first}"
    suffix = ""
    if trace_id or correlation_id:
        suffix = f" (trace id {trace_id or '?'}, correlation id {correlation_id or '?'})"
    return TenantError(
        message + suffix,
        code=f"AADSTS{aadsts}" if aadsts else "AuthenticationFailed",
        request_id=trace_id or correlation_id,
        status=status,
        transient=status in TRANSIENT_STATUS if status else False,
    )


def _token_ids(response: Any, text: str) -> tuple[str | None, str | None]:
    """Entra's trace_id and correlation_id: from the error body (azure-identity keeps the response), else its text."""
    body: Any = None
    if response is not None:
        try:
            body = json.loads(response.text())
        except (AttributeError, TypeError, ValueError):
            body = None
    if isinstance(body, dict):
        trace, corr = body.get("trace_id"), body.get("correlation_id")
        if trace or corr:
            return (str(trace) if trace else None, str(corr) if corr else None)
    t, c = _TRACE.search(text), _CORRELATION.search(text)
    return (t.group(1) if t else None, c.group(1) if c else None)


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
