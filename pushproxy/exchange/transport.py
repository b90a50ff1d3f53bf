"""The WSMan connection under a session: pypsrp's WSMan with our TLS policy and a request counter.

TLS: system CAs (`cert_validation=True`), a CA bundle (a path), or a pinned SHA-256 of the server's certificate.
pypsrp only takes a bool or a CA path, so the pin is enforced by mounting an HTTPS adapter whose urllib3 pools
carry `assert_fingerprint`: urllib3 compares the peer certificate's digest during the handshake and fails the
connection on a mismatch. With a pin, CA and host-name checks are off by design (the pin is stronger: it names
the one certificate); an `--insecure` switch is deliberately not offered, since a pin covers the self-signed case.

Deadline: pypsrp 0.9.1 is synchronous and its only bounds are the HTTP connect/read timeouts. While a SendDeadline
is set, every message (and pypsrp's NTLM round trips under it) gets timeouts no longer than the time left, and
none is sent once it has passed, so a server that stalls a Create or a Receive cannot outlast the caller's deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from pypsrp import _pool_manager
from pypsrp.wsman import WSMan
from requests.packages.urllib3.util.retry import Retry  # type: ignore[import-untyped]

from pushproxy.exchange.endpoint import ExchangeEndpoint, TlsSettings
from pushproxy.exchange.kerberos import KerberosCredential

# Shortest HTTP timeout handed to requests: a zero or negative one would mean "no timeout" or raise ValueError.
_MIN_TIMEOUT_S = 0.05


@dataclass
class RequestCounter:
    """WSMan messages sent on one connection (Create, Command, Send, Receive, Signal, Delete), and the methods the
    server's last 401 offered (its WWW-Authenticate schemes): a refusal is explained from them."""

    wsman_messages: int = 0
    offered_auth: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self) -> None:
        with self._lock:
            self.wsman_messages += 1


class DeadlineExceeded(requests.exceptions.Timeout):
    """A message was due to be sent after the deadline had passed (a Timeout, so it is classified transient)."""


@dataclass
class SendDeadline:
    """An optional monotonic instant that bounds every message sent on one connection."""

    at: float | None = None
    # True when the last message's timeouts were cut to the time left: a timeout then means the deadline passed.
    cut: bool = False

    @contextmanager
    def bound(self, seconds: float) -> Iterator[None]:
        self.at, self.cut = time.monotonic() + seconds, False
        try:
            yield
        finally:
            self.at = None

    def timeouts(self, requested: object, connect_s: float, read_s: float) -> tuple[float, float] | object:
        """The (connect, read) timeouts for one message: `requested` (pypsrp's) cut to the time left."""
        if self.at is None:
            return requested
        left = self.at - time.monotonic()
        if left <= 0:
            self.cut = True
            raise DeadlineExceeded("the deadline passed before the next WSMan message")
        if requested is None:
            connect, read = connect_s, read_s
        elif isinstance(requested, tuple):
            connect, read = requested
        else:
            connect = read = float(requested)  # type: ignore[arg-type]  # pypsrp passes an int or float
        self.cut = left < max(connect, read)
        return (max(_MIN_TIMEOUT_S, min(connect, left)), max(_MIN_TIMEOUT_S, min(read, left)))


def build_wsman(
    endpoint: ExchangeEndpoint, password: str | None, *, url: str | None = None, tls: TlsSettings | None = None,
    kerberos: KerberosCredential | None = None,
) -> tuple[WSMan, RequestCounter, SendDeadline]:
    """A pypsrp WSMan for `url` (default: the endpoint's), with our TLS policy, a message counter and a deadline.

    `tls` (default: the endpoint's `tls`) lets the Windows PowerShell endpoint check another certificate.
    `kerberos`: a ticket acquired for this session (kerberos.acquire); pypsrp authenticates with it, not with
    the password, and the service principal is HTTP/<host>, as IIS registers it (pypsrp's default is WSMAN/).
    """
    parts = urlsplit(url or endpoint.url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)  # pypsrp would default to 5985/5986: always pass it
    tls = tls if tls is not None else endpoint.tls
    cert_validation: bool | str = True
    if https and tls.mode == "ca_bundle" and tls.ca_bundle:
        cert_validation = tls.ca_bundle
    elif https and tls.mode == "pinned":
        cert_validation = False  # replaced by the fingerprint check below
    operation_timeout = max(1, int(round(endpoint.operation_timeout_s)))
    username: object = endpoint.username
    extra: dict[str, object] = {}
    if endpoint.auth == "kerberos":
        extra["negotiate_service"] = "HTTP"
        if kerberos is not None:
            username, password = kerberos.spnego_credential(), None
    wsman = WSMan(
        parts.hostname or "",
        port=port,
        path=parts.path.lstrip("/"),
        ssl=https,
        auth=endpoint.auth,
        username=username,  # type: ignore[arg-type]  # pypsrp hands it to pyspnego, which takes a Credential
        password=password,
        cert_validation=cert_validation,  # type: ignore[arg-type]  # pypsrp takes a CA path too
        # http: Kerberos/NTLM seal every message (auto); https: TLS protects it, no double wrapping.
        encryption="auto",
        operation_timeout=operation_timeout,
        # Receive long-polls for operation_timeout: the read timeout must outlast it.
        read_timeout=operation_timeout + 10,
        connection_timeout=max(1, int(round(endpoint.connect_timeout_s))),
        reconnection_retries=0,  # retries belong to the caller (a new session), not to a half-sealed connection
        reconnection_backoff=0.5,  # pypsrp sleeps backoff*(2**n-1) between Receive read-timeout retries
        **extra,  # type: ignore[arg-type]
    )
    counter = RequestCounter()
    deadline = SendDeadline()
    transport = wsman.transport
    # pypsrp builds its requests session lazily on the first send; build it now so we can mount the pin.
    session: requests.Session = transport._build_session()
    transport.session = session
    if https and tls.mode == "pinned" and tls.pinned_sha256:
        session.mount("https://", _pinned_adapter(tls.pinned_sha256))

    def record_challenge(response: requests.Response, **_: object) -> None:
        if response.status_code == 401:
            counter.offered_auth = offered_schemes(response.headers.get("WWW-Authenticate", ""))

    session.hooks["response"].append(record_challenge)
    original_send = transport.send

    def counting_send(message: bytes, **kwargs: object) -> bytes:
        # pypsrp resends a timed-out Receive up to 5 times with growing sleeps; once is enough here, since the
        # caller's deadline and the activity's retry policy take over after that.
        if isinstance(kwargs.get("retries_on_read_timeout"), int):
            kwargs["retries_on_read_timeout"] = min(int(kwargs["retries_on_read_timeout"]), 1)  # type: ignore[call-overload]
        if deadline.at is not None:
            # Under a deadline a resend would start another full timeout after the first: the caller decides.
            kwargs["retries_on_read_timeout"] = 0
            kwargs["timeout"] = deadline.timeouts(kwargs.get("timeout"), transport.connection_timeout, transport.read_timeout)
        counter.add()
        return original_send(message, **kwargs)  # type: ignore[arg-type]

    transport.send = counting_send  # type: ignore[method-assign]
    return wsman, counter, deadline


def offered_schemes(header: str) -> tuple[str, ...]:
    """The schemes of a WWW-Authenticate value (requests joins repeated headers with ", "), e.g. ("Negotiate",)."""
    schemes: list[str] = []
    for part in header.split(","):
        word = part.strip().split(" ", 1)[0]
        if word and "=" not in word and word.lower() not in (s.lower() for s in schemes):
            schemes.append(word)
    return tuple(schemes)


def _pinned_adapter(sha256_hex: str) -> requests.adapters.HTTPAdapter:
    # pypsrp's own adapter factory (it lets is_alive() refuse new connections), plus the pin on every pool.
    adapter = _pool_manager.create_request_adapter(max_retries=Retry(total=0, connect=0, read=0, status=0))
    adapter.poolmanager.connection_pool_kw["assert_fingerprint"] = sha256_hex
    return adapter


def probe_offered_auth(endpoint: ExchangeEndpoint, timeout_s: float = 15.0) -> tuple[str, ...]:
    """The sign-in methods the endpoint offers, from the 401 to one request that carries no credential.

    Nothing about us is sent but the URL; the TLS policy is the endpoint's, so a pin or CA bundle applies.
    """
    https = endpoint.is_https
    tls = endpoint.tls
    verify: bool | str = True
    with requests.Session() as session:
        if https and tls.mode == "ca_bundle" and tls.ca_bundle:
            verify = tls.ca_bundle
        elif https and tls.mode == "pinned" and tls.pinned_sha256:
            verify = False
            session.mount("https://", _pinned_adapter(tls.pinned_sha256))
        response = session.post(endpoint.url, data=b"", timeout=timeout_s, verify=verify,
                                headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
        if response.status_code != 401:
            return ()
        return offered_schemes(response.headers.get("WWW-Authenticate", ""))


def describe_offer(schemes: tuple[str, ...]) -> str:
    """What the schemes mean on Exchange's /PowerShell, in words."""
    names = {s.lower() for s in schemes}
    parts = []
    if "negotiate" in names or "kerberos" in names:
        parts.append("Kerberos (Negotiate)" if "ntlm" not in names else "Negotiate (Kerberos or NTLM)")
    if "ntlm" in names:
        parts.append("NTLM (Windows authentication is on)")
    if "basic" in names:
        parts.append("Basic (use it over https only)")
    return ", ".join(parts) if parts else "nothing recognisable (" + (", ".join(schemes) or "no 401") + ")"
