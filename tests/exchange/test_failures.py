"""Error mapping: pypsrp's real exception types and Exchange's error shapes, classified transient or permanent."""

from __future__ import annotations

import requests
from pypsrp.exceptions import AuthenticationError, InvalidPSRPOperation, WinRMTransportError, WSManFaultError

from pushproxy.exchange import failures


def test_transport_failures_are_transient() -> None:
    assert failures.from_exception(requests.exceptions.ConnectionError("reset"), cmdlet="Get-AuthConfig", server="ex1").transient
    assert failures.from_exception(requests.exceptions.ReadTimeout("slow"), cmdlet=None, server=None).transient
    err = failures.from_exception(WinRMTransportError("http", 503, "<html><body>Service Unavailable</body></html>"), cmdlet="Get-AuthConfig", server="ex1")
    assert err.transient and err.error_id == "HTTP503" and "Service Unavailable" in err.message and "<html>" not in err.message
    assert failures.from_exception(InvalidPSRPOperation("broken"), cmdlet=None, server=None).transient


def test_throttling_at_pool_creation_is_transient() -> None:
    fault = WSManFaultError(2144108120, "ex1", "[FailureCategory=AuthZ-ShellCreationThrottled] Fail to create a runspace because you have exceeded the maximum number of connections allowed : 18", None, None, None)
    err = failures.from_exception(fault, cmdlet=None, server="ex1")
    assert err.transient and err.error_id == "WSManFault:2144108120"


def test_permanent_failures() -> None:
    auth = failures.from_exception(AuthenticationError("Failed to authenticate the user bob with ntlm"), cmdlet=None, server="ex1")
    assert not auth.transient and auth.error_id == "HTTP401"
    assert not failures.from_exception(WinRMTransportError("http", 404, ""), cmdlet=None, server=None).transient
    assert not failures.from_exception(WSManFaultError(2150858811, "ex1", "The WS-Management service cannot process the request. The resource URI was not found", None, None, None), cmdlet=None, server=None).transient
    assert not failures.from_exception(requests.exceptions.SSLError("Fingerprints did not match. Expected x, got y"), cmdlet=None, server=None).transient
    assert not failures.from_exception(ValueError("odd"), cmdlet=None, server=None).transient


def test_exchange_error_ids_decide_before_the_words() -> None:
    not_found = "[Server=EX1,RequestId=1,TimeStamp=1] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 4F2C5E0A,Microsoft.Exchange.Management.SystemConfigurationTasks.GetExchangeCertificate"
    assert not failures.is_transient_text(not_found, "The operation couldn't be performed because object 'X' couldn't be found; try again later.")
    assert failures.is_transient_text("[FailureCategory=Cmdlet-ADTransientException] 1,Microsoft.Exchange.Foo", "Active Directory error")
    assert not failures.is_transient_text("NamedParameterNotFound,Set-AuthConfig", "A parameter cannot be found")
    assert not failures.is_transient_text("UnauthorizedAccess", "Access is denied.")
    assert failures.is_transient_text(None, "the server is busy, try again later")
