"""Turn what pypsrp reports into ExchangeError, and decide whether a retry may help.

pypsrp raises only for transport and protocol trouble; a cmdlet's own failure is an ErrorRecord in
`streams.error` (non-terminating: had_errors stays False; terminating: had_errors True). Both end up here.
Text from the server is kept (Exchange's message is what an administrator needs) but cut short, and nothing
from our side that could hold a credential (request bodies, auth headers) is ever included.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import requests
import spnego.exceptions
from pypsrp.exceptions import (
    AuthenticationError,
    InvalidPipelineStateError,
    InvalidPSRPOperation,
    InvalidRunspacePoolStateError,
    WinRMTransportError,
    WSManFaultError,
)

from pushproxy.errors import ExchangeError
from pushproxy.exchange import values

_MAX_MESSAGE = 500
WSMAN_OPERATION_TIMEOUT = 0x80338029  # 2150858793: a Receive with no data yet; pypsrp polls again
WSMAN_RESOURCE_NOT_FOUND = 0x80338000 + 0x13B  # 2150858811: bad path or configuration name
WSMAN_SHELL_NOT_FOUND = 0x8033805B  # the shell is gone (idle timeout, server restart): reopen
WSMAN_ACCESS_DENIED = 5

# Exchange's own words for "try later": throttling, the AD or the server being briefly unavailable. On-premises
# throttling says "maximum number of 18 concurrent shells" (PowerShellMaxConcurrency) or "The user load quota of N
# requests per M seconds has been exceeded" (PowerShellMaxCmdlets).
_TRANSIENT_TEXT = re.compile(
    r"maximum number of (\d+ )?(concurrent )?(connections|shells)|user load quota|throttl|server ?busy|micro ?delay|"
    r"transient|temporarily|try again|timed? ?out|timeout|unavailable|connection (was )?(reset|closed|aborted)",
    re.IGNORECASE,
)
_TRANSIENT_ERROR_IDS = re.compile(
    r"ADTransientException|TransientException|ThrottlingException|ServerBusy|TimeoutException|"
    r"DataSourceTransientException|DataSourceOperationException",
    re.IGNORECASE,
)
# Permanent regardless of wording: a retry will fail the same way.
_PERMANENT_ERROR_IDS = re.compile(
    r"ManagementObjectNotFoundException|ParameterBinding|NamedParameterNotFound|CommandNotFoundException|"
    r"AccessDenied|UnauthorizedAccess|ScriptsNotAllowed|ParseException|InvalidOperation|ArgumentException|"
    r"ManagementObjectAlreadyExistsException|HostException",
    re.IGNORECASE,
)


# "The next request from this user will not be approved for at least Z milliseconds."
_RETRY_HINT = re.compile(r"not be approved for at least (\d+) milliseconds", re.IGNORECASE)
_THROTTLED = re.compile(r"maximum number of \d+ concurrent shells|user load quota", re.IGNORECASE)
MAX_HONOURED_WAIT_S = 300.0  # a longer hint is capped: the retry policy takes over from there


def throttled(text: str | None) -> bool:
    """Whether Exchange's message is one of its throttling refusals (wait, then retry)."""
    return bool(_THROTTLED.search(text or ""))


def retry_hint_s(text: str | None) -> float | None:
    """The wait Exchange asks for in a throttling message, in seconds (None when it gives none)."""
    match = _RETRY_HINT.search(text or "")
    return min(int(match.group(1)) / 1000.0, MAX_HONOURED_WAIT_S) if match else None


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def is_transient_text(error_id: str | None, message: str | None) -> bool:
    """Classify an Exchange error by its FullyQualifiedErrorId first, its message second."""
    eid = error_id or ""
    if _PERMANENT_ERROR_IDS.search(eid):
        return False
    if _TRANSIENT_ERROR_IDS.search(eid):
        return True
    return bool(_TRANSIENT_TEXT.search(message or ""))


def record_message(record: Any) -> str:
    """The human message of an ErrorRecord: the exception's Message, else the details, else its ToString."""
    exception = getattr(record, "exception", None)
    message = values.properties(exception).get("Message") if exception is not None else None
    if not message:
        message = getattr(record, "details_message", None)
    if not message:
        message = str(record)
    return _short(str(message))


def from_error_record(record: Any, *, cmdlet: str, server: str | None) -> ExchangeError:
    """One ErrorRecord (non-terminating or terminating) as an ExchangeError."""
    error_id = getattr(record, "fq_error", None)
    message = record_message(record)
    return ExchangeError(
        message,
        cmdlet=cmdlet,
        server=server,
        error_id=_short(error_id) if error_id else None,
        transient=throttled(message) or is_transient_text(error_id, message),
        retry_after_s=retry_hint_s(message),
    )


def from_exception(exc: BaseException, *, cmdlet: str | None, server: str | None, auth: str | None = None,
                   offered: tuple[str, ...] = ()) -> ExchangeError:
    """A transport or protocol exception as an ExchangeError, classified transient or permanent.

    `auth` is the method we used and `offered` the schemes of the server's 401, to explain a refusal.
    """
    if isinstance(exc, ExchangeError):
        return exc
    if isinstance(exc, AuthenticationError) or (isinstance(exc, ValueError) and "incompatible with the specified auth_provider" in str(exc)):
        # pypsrp's text names the user and the auth method, never the password; ours says what to do.
        return ExchangeError(explain_401(auth, offered), cmdlet=cmdlet, server=server, error_id="HTTP401", transient=False)
    if isinstance(exc, spnego.exceptions.SpnegoError):
        # The GSSAPI/Kerberos library's own words (e.g. "Server not found in Kerberos database"); no secret in them.
        return ExchangeError(f"Kerberos failed on the client side: {_short(str(exc))}", cmdlet=cmdlet, server=server, error_id="Kerberos", transient=False)
    if isinstance(exc, WSManFaultError):
        code = exc.code
        reason = _short(str(exc.reason or "")) or f"WSMan fault {code}"
        if code == WSMAN_RESOURCE_NOT_FOUND:
            reason = f"the endpoint or configuration was not found ({reason}); check the URL path, e.g. /PowerShell"
        transient = code in (WSMAN_OPERATION_TIMEOUT, WSMAN_SHELL_NOT_FOUND) or bool(_TRANSIENT_TEXT.search(reason))
        if code == WSMAN_ACCESS_DENIED or "access is denied" in reason.lower():
            transient = False
        full = str(exc.reason or "")
        if throttled(full):
            transient = True
        return ExchangeError(reason, cmdlet=cmdlet, server=server, error_id=f"WSManFault:{code}", transient=transient,
                             retry_after_s=retry_hint_s(full) if throttled(full) else None)
    if isinstance(exc, WinRMTransportError):
        status = int(exc.code)
        body = _short(_html_text(str(exc.response_text or "")))
        transient = status >= 500 or status in (408, 425, 429)
        message = f"HTTP {status} from the server" + (f": {body}" if body else "")
        return ExchangeError(message, cmdlet=cmdlet, server=server, error_id=f"HTTP{status}", transient=transient)
    if isinstance(exc, requests.exceptions.SSLError):
        text = str(exc)
        if "Fingerprints did not match" in text:
            message = "the server's TLS certificate does not match the pinned SHA-256"
        else:
            message = "TLS verification failed (check tls.mode, the CA bundle or the pin)"
        return ExchangeError(message, cmdlet=cmdlet, server=server, error_id="TLS", transient=False)
    if isinstance(exc, requests.exceptions.Timeout | socket.timeout | TimeoutError):
        return ExchangeError(f"timed out waiting for the server ({type(exc).__name__})", cmdlet=cmdlet, server=server, error_id="Timeout", transient=True)
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return ExchangeError(f"connection failed or was reset ({type(exc).__name__})", cmdlet=cmdlet, server=server, error_id="ConnectionError", transient=True)
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return ExchangeError("the connection broke mid-response", cmdlet=cmdlet, server=server, error_id="ConnectionError", transient=True)
    if isinstance(exc, InvalidRunspacePoolStateError | InvalidPipelineStateError | InvalidPSRPOperation):
        # A broken pool (the server dropped it): a new session may well work.
        return ExchangeError(f"the remote session broke ({type(exc).__name__})", cmdlet=cmdlet, server=server, error_id="PSRPState", transient=True)
    # Anything else is a bug or a protocol surprise: permanent, with the type only (its text may hold anything).
    return ExchangeError(f"unexpected {type(exc).__name__} from the remoting client", cmdlet=cmdlet, server=server, error_id=type(exc).__name__, transient=False)


VDIR = "'<server>\\PowerShell (Default Web Site)'"


def explain_401(auth: str | None, offered: tuple[str, ...]) -> str:
    """Why the server said 401, from what its WWW-Authenticate offered, and what to do about it.

    Exchange's /PowerShell offers `Negotiate` for its Kerberos module; `NTLM` only with Windows authentication on,
    `Basic` only with Basic authentication on. A wrong password is named only when the method was offered.
    """
    schemes = {s.lower() for s in offered}
    negotiate, ntlm, basic = "negotiate" in schemes or "kerberos" in schemes, "ntlm" in schemes, "basic" in schemes
    if not schemes:
        return "authentication failed (HTTP 401): check the user name and password"
    if negotiate and not ntlm and not basic and auth != "kerberos":
        return ("this server offers only Kerberos on /PowerShell; use `auth: kerberos`, or enable Basic over HTTPS with "
                f"`Set-PowerShellVirtualDirectory -Identity {VDIR} -BasicAuthentication $true`")
    if auth in ("ntlm", "negotiate") and not ntlm:
        other = "Kerberos and Basic" if basic else "Kerberos"
        return (f"this server offers {other} on /PowerShell, not NTLM (Windows authentication is off); use "
                f"`auth: kerberos`{' or `auth: basic` over https' if basic else ''}, or enable it with "
                f"`Set-PowerShellVirtualDirectory -Identity {VDIR} -WindowsAuthentication $true`")
    if auth == "basic" and not basic:
        return ("this server does not offer Basic on /PowerShell (it offers " + ", ".join(offered) + "); use "
                f"`auth: kerberos`, or enable Basic with `Set-PowerShellVirtualDirectory -Identity {VDIR} "
                "-BasicAuthentication $true` and use it over https only")
    if auth == "kerberos" and not negotiate:
        return ("this server does not offer Kerberos here (it offers " + ", ".join(offered) + "); "
                "use the auth it offers, or check the URL reaches Exchange's /PowerShell")
    if auth == "kerberos":
        return ("the server refused the Kerberos ticket (HTTP 401): check that its clock is within 5 minutes of the "
                "domain controllers', that HTTP/<host of the URL> is registered to the server (or its alternate "
                "service account), and that the account may use remote PowerShell")
    return f"authentication failed (HTTP 401, {auth} was offered and refused): check the user name and password"


def _html_text(body: str) -> str:
    # IIS error pages are HTML; keep the words.
    return re.sub(r"<[^>]+>", " ", body)
