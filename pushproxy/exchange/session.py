"""One remote PowerShell session: one runspace pool (one NTLM handshake), cmdlets run one at a time.

A session belongs to the thread that opened it: pypsrp's pool, its requests session and the NTLM sealing
sequence numbers are not thread-safe, so using it from another thread raises at once instead of corrupting it.
Activities that run in parallel each open their own session.

Every cmdlet is built with add_cmdlet/add_parameter (the Exchange endpoint is NoLanguage: no scripts) and runs
under an overall deadline: begin_invoke, then poll_invoke in slices no longer than what is left, then stop().
Opening the pool (WSMan Create, then the PSRP handshake's Receives) runs under the same deadline, enforced on
every message by the transport (pypsrp's open() has no timeout of its own).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from pypsrp.complex_objects import PSInvocationState
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import ObjectMeta

from pushproxy.errors import ExchangeError
from pushproxy.exchange import failures, kerberos
from pushproxy.exchange.endpoint import ExchangeEndpoint, TlsSettings
from pushproxy.exchange.transport import RequestCounter, SendDeadline, build_wsman

log = logging.getLogger(__name__)

EXCHANGE_CONFIGURATION = "Microsoft.Exchange"
OPEN_OPERATION = "open runspace pool"  # what an ExchangeError names when the open itself ran out of time
WINDOWS_POWERSHELL_CONFIGURATION = "Microsoft.PowerShell"
# Exchange's throttling faults: how many times a session itself waits and tries again before the error goes up
# (transient, to the activity's retry policy), and the wait when the fault gives no hint.
THROTTLE_ATTEMPTS = 3
DEFAULT_THROTTLE_WAIT_S = 5.0


class SwitchParameter:
    """Marker for a switch parameter (`-Force`): pypsrp sends it as <Nil/>, which PowerShell binds as present."""

    def __repr__(self) -> str:
        return "SWITCH"


SWITCH = SwitchParameter()


@dataclass(frozen=True)
class CmdletOutput:
    """What one cmdlet produced: output objects, and its error records (for callers that expect some)."""

    objects: list[Any]
    errors: list[Any]
    warnings: list[str]


class ExchangeSession:
    """A context manager holding one runspace pool on one endpoint. Not to be shared between threads."""

    def __init__(
        self,
        endpoint: ExchangeEndpoint,
        password: str | None,
        *,
        url: str | None = None,
        configuration_name: str = EXCHANGE_CONFIGURATION,
        tls: TlsSettings | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._url = url or endpoint.url
        self._tls = tls  # None: the endpoint's `tls`
        self._configuration_name = configuration_name
        self.__password = password  # name-mangled and never in repr; only handed to pypsrp on open
        self._pool: RunspacePool | None = None
        self._counter: RequestCounter | None = None
        self._owner = threading.get_ident()
        self._broken: str | None = None  # why the connection can no longer be trusted
        self._keys_exchanged = False
        self._kerberos: kerberos.KerberosCredential | None = None  # this session's own ticket, if Kerberos

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"ExchangeSession(url={self._url!r}, auth={self.endpoint.auth!r}, user={self.endpoint.username!r}, {state})"

    # -- lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> ExchangeSession:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Open the runspace pool (WSMan Create plus the PSRP handshake), within the call deadline.

        A throttled Create (PowerShellMaxConcurrency, or the cmdlet quota) is tried again after the wait Exchange
        asks for, a few times; then the error goes up as transient, for the activity's retry policy.
        """
        self._check_thread()
        if self._pool is not None:
            return
        for attempt in range(THROTTLE_ATTEMPTS):
            try:
                self._open_once()
                return
            except ExchangeError as exc:
                if not failures.throttled(exc.message) or attempt == THROTTLE_ATTEMPTS - 1:
                    raise
                self._wait_throttled(exc)

    @staticmethod
    def _wait_throttled(exc: ExchangeError) -> None:
        wait = exc.retry_after_s if exc.retry_after_s is not None else DEFAULT_THROTTLE_WAIT_S
        log.info("Exchange throttled the request (%s); waiting %.1f s as it asks", exc.error_id, wait)
        time.sleep(wait)

    def _open_once(self) -> None:
        wsman = None
        deadline: SendDeadline | None = None
        limit = self.endpoint.call_deadline_s
        host = urlsplit(self._url).hostname or self.endpoint.host  # the WinRM endpoint may be another server
        if self.endpoint.auth == "kerberos" and self._kerberos is None:
            self._kerberos = kerberos.for_endpoint(self.endpoint, self.__password, host)
        try:
            wsman, self._counter, deadline = build_wsman(self.endpoint, self.__password, url=self._url, tls=self._tls,
                                                         kerberos=self._kerberos)
            pool = RunspacePool(wsman, configuration_name=self._configuration_name)
            with deadline.bound(limit):
                pool.open()
        except Exception as exc:
            if wsman is not None:
                wsman.transport.close()  # don't leave the socket of a refused open behind
            self._forget_ticket()
            if isinstance(exc, requests.exceptions.Timeout) and deadline is not None and deadline.cut:
                # The shell may exist on the server; it idles out there (nothing to Delete it through safely).
                raise ExchangeError(f"did not open within {limit:g} s", cmdlet=OPEN_OPERATION, server=host, error_id="Deadline", transient=True) from None
            offered = self._counter.offered_auth if self._counter else ()
            raise failures.from_exception(exc, cmdlet=None, server=host, auth=self.endpoint.auth, offered=offered) from None
        self._pool = pool

    def close(self) -> None:
        """Close the pool (WSMan Delete). Errors on close are logged, not raised: the work is done."""
        pool, self._pool = self._pool, None
        if pool is None:
            self._forget_ticket()
            return
        try:
            pool.close()
        except Exception as exc:  # a dropped connection on close must not mask the caller's result
            log.info("closing the Exchange session failed: %s", type(exc).__name__)
        finally:
            try:
                pool.connection.transport.close()
            except Exception:  # noqa: S110  # best effort: the socket may already be gone
                pass
            self._forget_ticket()

    def _forget_ticket(self) -> None:
        ticket, self._kerberos = self._kerberos, None
        if ticket is not None:
            ticket.destroy()

    def secure_string(self, value: str) -> Any:
        """`value` as a SecureString parameter (e.g. a one-time PFX password): encrypted with the session key,
        which the first call exchanges (PSRP PublicKey / EncryptedSessionKey)."""
        self._check_thread()
        if self._pool is None:
            raise RuntimeError("the session is not open: use `with ExchangeSession(...)`")
        if not self._keys_exchanged:
            self._pool.exchange_keys()
            self._keys_exchanged = True
        return self._pool.serialize(value, ObjectMeta("SS"))

    @property
    def requests_sent(self) -> int:
        """WSMan messages sent so far on this session's connection."""
        return self._counter.wsman_messages if self._counter else 0

    def _check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError("an ExchangeSession belongs to the thread that created it; open one per thread")

    # -- running cmdlets ---------------------------------------------------------------------------------
    def run(
        self,
        cmdlet: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        server: str | None = None,
        deadline_s: float | None = None,
    ) -> CmdletOutput:
        """Run one cmdlet; return its output and error records. Raises only for a terminating failure.

        `server` names the server the call concerns, for error messages (pass -Server in `parameters`). A request
        Exchange refuses as throttled never started the cmdlet: it is sent again after the wait Exchange asks for.
        """
        for attempt in range(THROTTLE_ATTEMPTS):
            try:
                return self._run_once(cmdlet, parameters, server=server, deadline_s=deadline_s)
            except ExchangeError as exc:
                if not failures.throttled(exc.message) or attempt == THROTTLE_ATTEMPTS - 1:
                    raise
                self._wait_throttled(exc)
        raise AssertionError("unreachable")

    def _run_once(
        self,
        cmdlet: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        server: str | None = None,
        deadline_s: float | None = None,
    ) -> CmdletOutput:
        self._check_thread()
        if self._pool is None:
            raise RuntimeError("the session is not open: use `with ExchangeSession(...)`")
        if self._broken:
            # After a transport failure pypsrp's sealing state and the server's may disagree: don't reuse it.
            raise ExchangeError(f"the session broke earlier ({self._broken}); open a new one", cmdlet=cmdlet, server=server, error_id="SessionBroken", transient=True)
        ps = PowerShell(self._pool)
        ps.add_cmdlet(cmdlet)
        for name, value in (parameters or {}).items():
            if isinstance(value, SwitchParameter):
                ps.add_parameter(name)
            else:
                ps.add_parameter(name, value)
        limit = self.endpoint.call_deadline_s if deadline_s is None else deadline_s
        deadline = time.monotonic() + limit
        transport = self._pool.connection.transport
        base_read_timeout = transport.read_timeout

        def past_deadline() -> ExchangeError:
            return ExchangeError(f"did not finish within {limit:g} s; stopped", cmdlet=cmdlet, server=server, error_id="Deadline", transient=True)

        try:
            # Command and Send use the transport's read timeout: bound it by the time left, so a server that
            # never answers cannot hold the call past its deadline (Receive gets its own bound below).
            transport.read_timeout = max(1, min(base_read_timeout, math.ceil(limit) + 1))
            ps.begin_invoke()
            while ps.state == PSInvocationState.RUNNING:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    transport.read_timeout = 5  # the stop signal gets a short wait of its own
                    self._stop(ps)
                    raise past_deadline()
                # Each Receive long-polls at most the time left (pypsrp adds 2 s of HTTP slack).
                ps.poll_invoke(timeout=max(1, min(math.ceil(remaining), math.ceil(self.endpoint.operation_timeout_s))))
        except ExchangeError:
            raise
        except Exception as exc:
            refused = failures.from_exception(exc, cmdlet=cmdlet, server=server)
            if isinstance(exc, WSManFaultError) and failures.throttled(refused.message):
                raise refused from None  # a SOAP fault on a sound connection: the session stays usable
            self._broken = type(exc).__name__
            if time.monotonic() >= deadline and isinstance(exc, requests.exceptions.Timeout):
                raise past_deadline() from None
            raise failures.from_exception(exc, cmdlet=cmdlet, server=server) from None
        finally:
            transport.read_timeout = base_read_timeout
        errors = list(ps.streams.error)
        # A WarningRecord's text is its `message` (its str() is the ToString, None over the wire).
        warnings = [str(getattr(w, "message", None) or w) for w in ps.streams.warning]
        if ps.had_errors or ps.state == PSInvocationState.FAILED:
            if errors:
                raise failures.from_error_record(errors[-1], cmdlet=cmdlet, server=server)
            raise ExchangeError("the cmdlet failed without an error record", cmdlet=cmdlet, server=server, transient=False)
        return CmdletOutput(objects=list(ps.output), errors=errors, warnings=warnings)

    def invoke(
        self,
        cmdlet: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        server: str | None = None,
        deadline_s: float | None = None,
    ) -> list[Any]:
        """Run one cmdlet and return its output; any error record (even non-terminating) raises ExchangeError."""
        result = self.run(cmdlet, parameters, server=server, deadline_s=deadline_s)
        if result.errors:
            # Exchange writes non-terminating errors by default: had_errors stays False, so look at the stream.
            raise failures.from_error_record(result.errors[0], cmdlet=cmdlet, server=server)
        return result.objects

    @staticmethod
    def _stop(ps: PowerShell) -> None:
        try:
            ps.stop()
        except Exception as exc:  # the deadline error is what matters; a failed stop is only logged
            log.info("stopping a cmdlet past its deadline failed: %s", type(exc).__name__)
