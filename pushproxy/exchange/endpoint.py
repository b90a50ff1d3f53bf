"""How to reach one Exchange organisation: URL, auth, credential reference, TLS verification, timeouts.

Validated on construction so bad input fails with a SpecError naming the field, before any socket is opened.
It holds a *reference* to the password (`env:`, `file:`, `keyvault:`), never the password. With Kerberos, a
keytab (base64, behind `keytab_ref`) can stand in for the password; with neither, the process's own ticket cache.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pushproxy.errors import SpecError
from pushproxy.secrets import bad_ref_reason, is_secret_ref

AuthMethod = Literal["negotiate", "ntlm", "kerberos", "basic"]
TlsMode = Literal["system", "ca_bundle", "pinned"]
AUTH_METHODS: tuple[str, ...] = ("negotiate", "ntlm", "kerberos", "basic")
TLS_MODES: tuple[str, ...] = ("system", "ca_bundle", "pinned")

# Every pattern is used with re.fullmatch: `$` would let a trailing line break through.
# A DNS name or NetBIOS name: letters, digits, hyphen, dots. Nothing PowerShell could read as syntax.
_HOST_NAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The account goes into the HTTP authentication exchange (Basic, NTLM, Kerberos), never into PowerShell; still,
# only what account names hold: DOMAIN\user, user@realm or a bare name, from letters, digits, `.`, `_`, `-` and
# `$` (a computer account), with no space, quote, `;` or control character.
_USER = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}\\)?[A-Za-z0-9_][A-Za-z0-9_.$-]{0,103}(?:@[A-Za-z0-9_][A-Za-z0-9_.-]{0,252})?")


def _fail(prefix: str, name: str, reason: str) -> SpecError:
    return SpecError(f"{prefix}.{name}" if prefix else name, reason)


@dataclass(frozen=True)
class TlsSettings:
    """How the server's TLS certificate is checked: system CAs, a CA bundle file, or a pinned SHA-256."""

    mode: TlsMode = "system"
    ca_bundle: str | None = None
    pinned_sha256: str | None = None  # lower-case hex of SHA-256(DER of the server's certificate)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "ca_bundle": self.ca_bundle, "pinned_sha256": self.pinned_sha256}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, field_prefix: str = "tls") -> TlsSettings:
        if d is None:
            d = {}
        if not isinstance(d, Mapping):
            raise SpecError(field_prefix, "must be an object with mode, ca_bundle, pinned_sha256")
        # A stray `"verify": false` ignored would look as if it had switched verification off: refuse it.
        unknown = sorted(str(k) for k in d if k not in ("mode", "ca_bundle", "pinned_sha256"))
        if unknown:
            raise _fail(field_prefix, unknown[0], "unknown field")
        mode = d.get("mode", "system")
        if mode not in TLS_MODES:
            # The value is not shown: a password pasted into the wrong field must not be printed back.
            raise _fail(field_prefix, "mode", f"must be one of {', '.join(TLS_MODES)}")
        ca_bundle = d.get("ca_bundle") or None
        pin = d.get("pinned_sha256") or None
        if mode == "ca_bundle":
            if not isinstance(ca_bundle, str) or not ca_bundle.strip():
                raise _fail(field_prefix, "ca_bundle", "a CA bundle path is required when mode is ca_bundle")
        elif ca_bundle is not None:
            raise _fail(field_prefix, "ca_bundle", f"only allowed when mode is ca_bundle (mode is {mode})")
        if mode == "pinned":
            if not isinstance(pin, str):
                raise _fail(field_prefix, "pinned_sha256", "a SHA-256 fingerprint is required when mode is pinned")
            pin = pin.replace(":", "").strip().lower()
            if not _SHA256_HEX.fullmatch(pin):
                raise _fail(field_prefix, "pinned_sha256", "must be 64 hex digits (colons allowed)")
        elif pin is not None:
            raise _fail(field_prefix, "pinned_sha256", f"only allowed when mode is pinned (mode is {mode})")
        return cls(mode=mode, ca_bundle=ca_bundle, pinned_sha256=pin)


@dataclass(frozen=True)
class ExchangeEndpoint:
    """One organisation's remote PowerShell endpoint. Build it with `from_dict`, which validates every field."""

    url: str  # https://mail.contoso.com/PowerShell, or http://... with Kerberos/NTLM message encryption
    auth: AuthMethod
    username: str | None
    password_ref: str | None  # a secret reference, never the secret
    tls: TlsSettings = field(default_factory=TlsSettings)
    operation_timeout_s: float = 20.0  # WSMan OperationTimeout: how long one Receive long-polls
    connect_timeout_s: float = 30.0
    call_deadline_s: float = 300.0  # overall limit for one cmdlet, enforced with stop()
    servers: tuple[str, ...] = ()  # names to address with -Server; empty: every server Get-ExchangeServer lists
    windows_powershell_url: str | None = None  # template with {server}; default <scheme>://{server}:5985|5986/wsman
    # The WinRM HTTPS listener often presents another certificate than IIS (self-signed vs the public one), so a
    # pin made for /PowerShell would refuse it. None: the same settings as `tls`.
    windows_powershell_tls: TlsSettings | None = None
    keytab_ref: str | None = None  # Kerberos only: a secret reference to the base64 of a keytab for `username`

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def is_https(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    @property
    def windows_powershell_tls_settings(self) -> TlsSettings:
        """The TLS check for the Windows PowerShell (WinRM) endpoint: its own settings, else the same as `tls`."""
        return self.windows_powershell_tls if self.windows_powershell_tls is not None else self.tls

    def windows_powershell_url_for(self, server: str) -> str:
        """The Windows PowerShell (WinRM) endpoint of one server, where Restart-Service can run."""
        if self.windows_powershell_url:
            return self.windows_powershell_url.replace("{server}", server)
        return f"https://{server}:5986/wsman" if self.is_https else f"http://{server}:5985/wsman"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "auth": self.auth,
            "username": self.username,
            "password_ref": self.password_ref,
            "tls": self.tls.to_dict(),
            "operation_timeout_s": self.operation_timeout_s,
            "connect_timeout_s": self.connect_timeout_s,
            "call_deadline_s": self.call_deadline_s,
            "servers": list(self.servers),
            "windows_powershell_url": self.windows_powershell_url,
            "windows_powershell_tls": self.windows_powershell_tls.to_dict() if self.windows_powershell_tls else None,
            "keytab_ref": self.keytab_ref,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], field_prefix: str = "") -> ExchangeEndpoint:
        """Validate and build. Raises SpecError naming the field (prefixed, e.g. `exchange.url`)."""
        p = field_prefix
        if not isinstance(d, Mapping):
            raise SpecError(p or "endpoint", "must be an object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise _fail(p, unknown[0], "unknown field")

        url = _validate_url(d.get("url"), p, "url")
        auth = d.get("auth", "negotiate")
        if auth not in AUTH_METHODS:
            # The value is not shown: a password pasted into the wrong field must not be printed back.
            raise _fail(p, "auth", f"must be one of {', '.join(AUTH_METHODS)}")
        https = urlsplit(url).scheme == "https"
        if auth == "basic" and not https:
            # Basic has no message encryption: over http the password would cross the wire in clear.
            raise _fail(p, "auth", "basic needs an https URL (over http the password would travel in clear)")

        username = d.get("username")
        password_ref = d.get("password_ref")
        if username is not None and (not isinstance(username, str) or not _USER.fullmatch(username)):
            raise _fail(p, "username", "must be an account name: DOMAIN\\user, user@realm or a bare name (letters, "
                        "digits, '.', '_', '-'; no space, quote, ';' or control character)")
        if password_ref is not None and not is_secret_ref(password_ref):
            # Say why without echoing the value: it may be a password pasted in the wrong place.
            raise _fail(p, "password_ref", bad_ref_reason(password_ref, "password"))
        keytab_ref = d.get("keytab_ref")
        if keytab_ref is not None:
            if auth != "kerberos":
                raise _fail(p, "keytab_ref", f"only for kerberos auth (auth is {auth})")
            if not is_secret_ref(keytab_ref):
                raise _fail(p, "keytab_ref", bad_ref_reason(keytab_ref, "keytab") + " (to the base64 of a keytab)")
            if password_ref is not None:
                raise _fail(p, "keytab_ref", "give password_ref or keytab_ref, not both")
        if auth != "kerberos":  # Kerberos may use the ticket cache; the others need both
            if not username:
                raise _fail(p, "username", f"required for {auth} auth")
            if not password_ref:
                raise _fail(p, "password_ref", f"required for {auth} auth")
        elif (password_ref or keytab_ref) and not username:
            raise _fail(p, "username", "required with password_ref or keytab_ref: the Kerberos principal, e.g. svc-push@CONTOSO.COM")

        if d.get("tls") is not None and not isinstance(d.get("tls"), Mapping):
            raise _fail(p, "tls", "must be an object with mode, ca_bundle, pinned_sha256 (e.g. {\"mode\": \"system\"})")
        tls = TlsSettings.from_dict(d.get("tls"), f"{p}.tls" if p else "tls")
        if not https and tls.mode != "system":
            raise _fail(p, "tls.mode", "TLS settings apply to https URLs only")

        operation_timeout = _seconds(d.get("operation_timeout_s", 20.0), p, "operation_timeout_s", 1, 3600)
        connect_timeout = _seconds(d.get("connect_timeout_s", 30.0), p, "connect_timeout_s", 0.1, 600)
        deadline = _seconds(d.get("call_deadline_s", 300.0), p, "call_deadline_s", 0.1, 86400)

        servers_raw = d.get("servers")
        servers_raw = () if servers_raw is None else servers_raw
        if isinstance(servers_raw, str) or not isinstance(servers_raw, list | tuple):
            raise _fail(p, "servers", "must be a list of server names")
        servers: list[str] = []
        for i, name in enumerate(servers_raw):
            if not isinstance(name, str) or not _HOST_NAME.fullmatch(name):
                raise _fail(p, f"servers[{i}]", "must be a server name or FQDN (letters, digits, '-', '.')")
            servers.append(name)
        if len({s.lower() for s in servers}) != len(servers):
            raise _fail(p, "servers", "lists a server twice")

        wps = d.get("windows_powershell_url")
        if wps is not None:
            _validate_url(wps.replace("{server}", "server") if isinstance(wps, str) else wps, p, "windows_powershell_url")
        wps_tls = None
        if d.get("windows_powershell_tls") is not None:
            wps_tls_field = f"{p}.windows_powershell_tls" if p else "windows_powershell_tls"
            if not isinstance(d["windows_powershell_tls"], Mapping):
                raise SpecError(wps_tls_field, "must be an object with mode, ca_bundle, pinned_sha256 (or null: the same as tls)")
            wps_tls = TlsSettings.from_dict(d["windows_powershell_tls"], wps_tls_field)
            wps_https = urlsplit(wps).scheme == "https" if wps else https  # the default WinRM URL follows url's scheme
            if not wps_https and wps_tls.mode != "system":
                raise _fail(p, "windows_powershell_tls.mode", "TLS settings apply to https URLs only (the Windows PowerShell URL is http)")

        return cls(
            url=url,
            auth=auth,
            username=username,
            password_ref=password_ref,
            tls=tls,
            operation_timeout_s=operation_timeout,
            connect_timeout_s=connect_timeout,
            call_deadline_s=deadline,
            servers=tuple(servers),
            windows_powershell_url=wps,
            windows_powershell_tls=wps_tls,
            keytab_ref=keytab_ref,
        )


def _validate_url(value: Any, prefix: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(prefix, name, "required: an http(s) URL such as https://mail.contoso.com/PowerShell")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise _fail(prefix, name, "must not contain spaces, line breaks or control characters")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _fail(prefix, name, "is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise _fail(prefix, name, "must start with https:// (or http:// with Kerberos/NTLM encryption)")
    if parts.username is not None or parts.password is not None:
        raise _fail(prefix, name, "must not carry a user name or password (use username and password_ref)")
    host = parts.hostname or ""
    if not host or not (_HOST_NAME.fullmatch(host) or _is_ip(host)):
        raise _fail(prefix, name, "needs a valid host name")
    if parts.query or parts.fragment:
        raise _fail(prefix, name, "must not have a query or fragment")
    if port == 0:
        raise _fail(prefix, name, "port 0 is not a port")
    if not parts.path.strip("/"):
        raise _fail(prefix, name, "needs the endpoint path, e.g. /PowerShell")
    return value


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _seconds(value: Any, prefix: str, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):  # NaN, Infinity
        raise _fail(prefix, name, "must be a finite number of seconds")
    if not low <= value <= high:
        raise _fail(prefix, name, f"must be between {low:g} and {high:g} seconds")
    return float(value)
