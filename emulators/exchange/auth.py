"""Which HTTP authentication the stand-in offers and accepts on an endpoint, as Exchange's IIS configures it.

`/PowerShell` runs Exchange's own Kerberos module: Kerberos is always on, advertised as `Negotiate` (assumption:
the module answers with the Negotiate scheme, and accepts only a Kerberos token inside it, raw or SPNEGO-wrapped).
IIS Windows authentication (NTLM, and NTLM inside Negotiate) and Basic are off until the organisation's
`powershell_virtual_directory` state switches them on, as `Set-PowerShellVirtualDirectory` would. A 401 offers
only what is on, as IIS does. `/wsman` is the WinRM service, whose defaults (Negotiate with Kerberos or NTLM) the
stand-in keeps, plus Basic as before (a stand-in convenience, noted in README.md).

Kerberos is accepted through pyspnego with gssapi and the keytab named by `--keytab` (KRB5_KTNAME), for the
service principal `HTTP/<--kerberos-host>`; the realm comes from KRB5_CONFIG, as for any MIT Kerberos program.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

NTLM_OID = b"\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"  # 1.3.6.1.4.1.311.2.2.10, DER
BASIC_REALM = 'Basic realm="exchange-standin"'


@dataclass(frozen=True)
class Offer:
    """What one endpoint accepts on one listener."""

    kerberos: bool
    ntlm: bool
    basic: bool

    def challenge(self) -> list[tuple[str, str]]:
        """WWW-Authenticate headers of a 401: only the methods that are on."""
        headers = []
        if self.kerberos or self.ntlm:
            headers.append(("WWW-Authenticate", "Negotiate"))
        if self.ntlm:
            headers.append(("WWW-Authenticate", "NTLM"))
        if self.basic:
            headers.append(("WWW-Authenticate", BASIC_REALM))
        return headers

    def allows_scheme(self, scheme: str) -> bool:
        scheme = scheme.lower()
        if scheme == "basic":
            return self.basic
        if scheme == "ntlm":
            return self.ntlm
        if scheme in ("negotiate", "kerberos"):
            return self.kerberos or self.ntlm
        return False


EXCHANGE_DEFAULT = Offer(kerberos=True, ntlm=False, basic=False)
WINRM_SERVICE = Offer(kerberos=True, ntlm=True, basic=True)


def powershell_offer(basic_authentication: bool, windows_authentication: bool) -> Offer:
    """`/PowerShell` with the virtual directory's settings."""
    return Offer(kerberos=True, ntlm=windows_authentication, basic=basic_authentication)


def is_ntlm_token(token: bytes) -> bool:
    """An NTLM message, raw or as the mechanism of a SPNEGO NegTokenInit (which lists the mechanisms it offers).

    Only the first mechanism counts for NegTokenInit: its optimistic token is that one's; a client offering
    Kerberos first and NTLM second is still sending Kerberos.
    """
    if token.startswith(b"NTLMSSP\x00"):
        return True
    if token[:1] == b"\x60":  # [APPLICATION 0] NegTokenInit: find the mechTypes list's first OID
        at = token.find(b"\x30", 2)
        first_oid = token.find(b"\x06", at) if at >= 0 else -1
        return first_oid >= 0 and token[first_oid:first_oid + len(NTLM_OID)] == NTLM_OID
    if token[:1] == b"\xa1":  # NegTokenResp: the NTLM Authenticate message rides in it
        return b"NTLMSSP\x00" in token
    return False


@dataclass(frozen=True)
class KerberosAcceptor:
    """The stand-in's Kerberos identity: HTTP/<host> in a keytab. Made once, at start-up."""

    host: str
    keytab: Path

    @classmethod
    def configure(cls, host: str, keytab: Path) -> KerberosAcceptor:
        """Check the keytab is readable and point MIT Kerberos at it (KRB5_KTNAME is per process)."""
        if not keytab.is_file():
            raise ValueError(f"--keytab {keytab}: no such file")
        try:
            import gssapi  # noqa: F401 - pyspnego's Kerberos needs it; say so now, not at the first request
        except ImportError as exc:
            raise ValueError(f"--keytab needs the gssapi package ({exc})") from None
        os.environ["KRB5_KTNAME"] = f"FILE:{keytab}"
        return cls(host, keytab)
