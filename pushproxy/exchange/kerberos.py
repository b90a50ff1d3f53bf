"""Kerberos credentials for the remoting client: a TGT acquired explicitly into a private in-memory cache.

With a password (krb5_get_init_creds_password) or a keytab (krb5_get_init_creds_keytab), the ticket goes into a
new MEMORY credential cache of this process, never into the user's own cache (KRB5CCNAME), and the cache is
destroyed when the session closes. pypsrp then authenticates with that cache (pyspnego's KerberosCCache).

A keytab arrives through a secret reference as base64 text (Key Vault secrets are text). It is handed to MIT
Kerberos through an in-memory file (memfd), so the key never lands on disk.

Acquiring the ticket first, apart from the HTTP exchange, lets each failure be named: a wrong password, an
unknown principal, clock skew, an unreachable KDC. Inside pypsrp's 401 handling they would all read alike.
The realm's KDCs come from krb5.conf (KRB5_CONFIG), as for any MIT Kerberos program (docs/deploy.md).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from pushproxy.errors import ExchangeError

ACQUIRE_OPERATION = "acquire Kerberos ticket"
_KDC = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})(?::\d{1,5})?$")
_REALM = re.compile(r"^[A-Z0-9](?:[A-Z0-9.-]{0,252})$")

# MIT krb5 com_err codes (krb5_err.et: ERROR_TABLE_BASE_krb5 = -1765328384), by what they mean to an admin.
_BASE = -1765328384
_C_PRINCIPAL_UNKNOWN = _BASE + 6
_CLIENT_REVOKED = _BASE + 18
_KEY_EXPIRED = _BASE + 23
_PREAUTH_FAILED = _BASE + 24
_BAD_INTEGRITY = _BASE + 31  # the password is wrong and the principal doesn't require pre-authentication
_TKT_EXPIRED = _BASE + 32
_SKEW = _BASE + 37
_KDCREP_SKEW = _BASE + 151
_REALM_UNKNOWN = _BASE + 154
_KDC_UNREACH = _BASE + 156
_PREAUTH_GENERIC = _BASE + 210
_KT_NOTFOUND = _BASE + 181
_NO_DEFAULT_REALM = _BASE + 224

_MISSING_LIBRARY = (
    "Kerberos needs the gssapi and krb5 Python packages and the MIT Kerberos library (libkrb5); {detail}. "
    "Install them (pip install gssapi krb5; apt-get install libkrb5-dev to build them), or use basic over https "
    "(docs/deploy.md)"
)


def _libraries() -> Any:
    """The krb5 module, after checking gssapi and pyspnego's Kerberos support load too."""
    try:
        import gssapi  # noqa: F401 - pyspnego needs it for Kerberos; we check it here to name it
        import krb5
        from spnego._gss import HAS_GSSAPI
    except ImportError as exc:
        raise ExchangeError(_MISSING_LIBRARY.format(detail=f"{exc.name or exc} is missing"), cmdlet=ACQUIRE_OPERATION,
                            server=None, error_id="KerberosUnavailable", transient=False) from None
    if not HAS_GSSAPI:
        raise ExchangeError(_MISSING_LIBRARY.format(detail="pyspnego could not load them"), cmdlet=ACQUIRE_OPERATION,
                            server=None, error_id="KerberosUnavailable", transient=False)
    ensure_realm_config()
    return krb5


_config_lock = threading.Lock()


def realm_config(realm: str, kdcs: list[str]) -> str:
    """A krb5.conf for one realm: its KDCs over TCP (a hybrid connection carries TCP only), no DNS guessing."""
    lines = ["[libdefaults]", f"  default_realm = {realm}", "  dns_lookup_kdc = false", "  dns_lookup_realm = false",
             "  dns_canonicalize_hostname = false", "  rdns = false", "  udp_preference_limit = 1",
             "[realms]", f"  {realm} = {{"]
    lines += [f"    kdc = {kdc if ':' in kdc else kdc + ':88'}" for kdc in kdcs]
    lines += ["  }", ""]
    return "\n".join(lines)


def ensure_realm_config() -> None:
    """With PUSHPROXY_KERBEROS_REALM set and no KRB5_CONFIG of the process's own, write one and point MIT at it."""
    from pushproxy.settings import setting

    realm = (setting("PUSHPROXY_KERBEROS_REALM") or "").strip().upper()
    if not realm or "KRB5_CONFIG" in os.environ:
        return
    kdcs = [k.strip() for k in (setting("PUSHPROXY_KERBEROS_KDCS") or "").split(",") if k.strip()]
    if not kdcs or any(not _KDC.match(k) for k in kdcs) or not _REALM.match(realm):
        raise ExchangeError("PUSHPROXY_KERBEROS_REALM needs PUSHPROXY_KERBEROS_KDCS: a comma-separated list of the "
                            "domain controllers' names (host or host:port), e.g. dc01.contoso.local,dc02.contoso.local",
                            cmdlet=ACQUIRE_OPERATION, server=None, error_id="KerberosConfig", transient=False)
    with _config_lock:
        if "KRB5_CONFIG" in os.environ:
            return
        import tempfile

        handle, path = tempfile.mkstemp(prefix="pushproxy-krb5-", suffix=".conf")
        os.write(handle, realm_config(realm, kdcs).encode())
        os.close(handle)
        os.environ.update({"KRB5_CONFIG": path})


@dataclass
class KerberosCredential:
    """A TGT in a private MEMORY cache. `spnego_credential()` is what pypsrp gets as its username."""

    principal: str
    ccache_name: str
    end_time: int  # when the ticket expires (POSIX seconds, the KDC's word)
    _ccache: Any = field(repr=False)
    _context: Any = field(repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def spnego_credential(self) -> Any:
        import spnego

        return spnego.KerberosCCache(ccache=self.ccache_name, principal=self.principal)

    def destroy(self) -> None:
        """Forget the ticket (the MEMORY cache lives as long as the process otherwise)."""
        with self._lock:
            ccache, self._ccache = self._ccache, None
        if ccache is not None:
            try:
                _libraries().cc_destroy(self._context, ccache)
            except Exception:  # noqa: BLE001 - nothing to do about a cache that is already gone
                pass


def acquire(principal: str, *, password: str | None = None, keytab_b64: str | None = None,
            server: str | None = None) -> KerberosCredential:
    """Get a TGT for `principal` with a password or a keytab (base64), into a new MEMORY cache."""
    if (password is None) == (keytab_b64 is None):
        raise ValueError("acquire needs exactly one of password or keytab_b64")
    krb5 = _libraries()
    keytab_fd: int | None = None
    try:
        ctx = krb5.init_context()
        princ = krb5.parse_name_flags(ctx, principal.encode())
        opt = krb5.get_init_creds_opt_alloc(ctx)
        krb5.get_init_creds_opt_set_canonicalize(opt, True)
        if keytab_b64 is not None:
            keytab_fd = _keytab_file(keytab_b64, server)
            kt = krb5.kt_resolve(ctx, f"FILE:/proc/{os.getpid()}/fd/{keytab_fd}".encode())
            creds = krb5.get_init_creds_keytab(ctx, princ, opt, keytab=kt)
        else:
            assert password is not None
            creds = krb5.get_init_creds_password(ctx, princ, opt, password=password.encode())
        ccache = krb5.cc_new_unique(ctx, b"MEMORY")
        krb5.cc_initialize(ctx, ccache, creds.client)
        krb5.cc_store_cred(ctx, ccache, creds)
        name = f"MEMORY:{ccache.name.decode()}" if isinstance(ccache.name, bytes) else f"MEMORY:{ccache.name}"
        return KerberosCredential(principal=principal, ccache_name=name, end_time=int(creds.times.endtime),
                                  _ccache=ccache, _context=ctx)
    except krb5.Krb5Error as exc:
        raise from_krb5_error(exc, principal, server, keytab=keytab_b64 is not None) from None
    finally:
        if keytab_fd is not None:
            os.close(keytab_fd)


def _keytab_file(keytab_b64: str, server: str | None) -> int:
    try:
        data = base64.b64decode("".join(keytab_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data.startswith(b"\x05\x02"):  # MIT/Windows keytab format version 0x502
        raise ExchangeError("the keytab secret is not a base64 keytab (expected the base64 of a keytab file, "
                            "e.g. base64 -w0 svc.keytab)", cmdlet=ACQUIRE_OPERATION, server=server,
                            error_id="KerberosKeytab", transient=False)
    fd = os.memfd_create("pushproxy-keytab")
    os.write(fd, data)
    return fd


def from_krb5_error(exc: Any, principal: str, server: str | None, *, keytab: bool = False) -> ExchangeError:
    """A krb5 library error as an ExchangeError an admin can act on; the KDC's own words are kept."""
    code = getattr(exc, "err_code", None)
    text = str(exc)
    transient = False
    if code in (_PREAUTH_FAILED, _BAD_INTEGRITY, _PREAUTH_GENERIC):
        what = "the keytab's key is out of date (the password changed since it was made)" if keytab else "wrong password"
        message = f"Kerberos refused the credential for {principal}: {what}"
    elif code == _C_PRINCIPAL_UNKNOWN:
        message = f"Kerberos does not know the principal {principal}: check the user name (user@REALM, realm in capitals)"
    elif code == _KT_NOTFOUND:
        message = f"the keytab holds no key for {principal}: make it for this principal (ktpass / ktutil)"
    elif code in (_SKEW, _KDCREP_SKEW):
        message = ("the clocks differ by more than the realm allows (5 minutes by default): synchronise this "
                   "machine's clock with the domain controllers")
    elif code == _KEY_EXPIRED:
        message = f"the password of {principal} has expired: change it in Active Directory"
    elif code == _CLIENT_REVOKED:
        message = f"the account {principal} is disabled or locked out"
    elif code == _TKT_EXPIRED:
        message = f"the Kerberos ticket for {principal} has expired: a new session acquires a new one"
        transient = True
    elif code == _KDC_UNREACH:
        message = ("no KDC answered: the domain controllers' Kerberos port (TCP 88) must be reachable from here "
                   "(a hybrid connection per domain controller, or the VNet) and named in krb5.conf")
        transient = True
    elif code in (_REALM_UNKNOWN, _NO_DEFAULT_REALM):
        message = "the realm's KDCs are not configured: krb5.conf (KRB5_CONFIG) must name them (docs/deploy.md)"
    else:
        message = "Kerberos failed"
    return ExchangeError(f"{message} ({text.strip()})", cmdlet=ACQUIRE_OPERATION, server=server,
                         error_id=f"Kerberos:{code}", transient=transient)


def for_endpoint(endpoint: Any, password: str | None, server: str | None) -> KerberosCredential | None:
    """The ticket a session on `endpoint` authenticates with: from the password or the keytab secret.

    None when neither is configured: pypsrp then uses the process's own ticket cache (kinit beforehand).
    """
    _libraries()  # a missing gssapi is said plainly here, not as an ImportError from inside pypsrp
    keytab_ref = getattr(endpoint, "keytab_ref", None)
    if keytab_ref:
        from pushproxy.errors import SecretError
        from pushproxy.secrets import resolve_secret

        try:
            keytab = resolve_secret(keytab_ref)
        except SecretError as exc:
            raise ExchangeError(f"the keytab {keytab_ref} could not be read: {exc}", cmdlet=ACQUIRE_OPERATION,
                                server=server, error_id="KerberosKeytab", transient=False) from None
        return acquire(endpoint.username, keytab_b64=keytab, server=server)
    if password is not None and endpoint.username:
        return acquire(endpoint.username, password=password, server=server)
    return None
