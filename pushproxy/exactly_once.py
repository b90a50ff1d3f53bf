"""Each change made exactly once: the names that let a step find a change an earlier attempt may have made.

A change whose answer was lost (a call deadline passed, the connection dropped, the process was killed) may
have landed, or may still be landing. Before making it again, the step looks for it (pushproxy/onboarding/
steps.py), and for a new certificate that needs a mark the certificate itself carries:

- `operation_id(instance_id, started_at, kind)`: one change of one run. Instance ids are per tenant and reused
  by later runs, so the run's start (the orchestration's clock, identical on replay) is part of it.
- `certificate_marker(operation_id)`: the Subject Key Identifier New-ExchangeCertificate is given for that
  change (-SubjectKeyIdentifier, hexadecimal, a GUID's 16 bytes as in the cmdlet reference's example). It is in
  the certificate's DER, so Get-ExchangeCertificate's RawData shows it over remote PowerShell. The FriendlyName
  would not do: Exchange keeps it in the Windows certificate store, outside the DER, and over remoting an
  ExchangeCertificate carries only RawData (../shared/fixtures/exchange/e19-GetExchangeCertificate.xml).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from datetime import datetime


def operation_id(instance_id: str, started_at: datetime, kind: str) -> str:
    """One change of one run, e.g. `onboarding-fabrikam.com@2026-12-01T10:00:00+00:00/create_auth_certificate`."""
    return f"{instance_id}@{started_at.isoformat()}/{kind}"


def certificate_marker(operation: str) -> str:
    """The Subject Key Identifier (32 upper-case hex digits) of the certificate that `operation` creates."""
    return hashlib.sha256(f"pushproxy certificate {operation}".encode()).hexdigest()[:32].upper()
