"""HTTP(S) for the stand-in: Kerberos/Basic/NTLM/Negotiate (pyspnego's server side; what is offered: auth.py), WinRM message encryption, the
channel binding over TLS, fault rules that act on HTTP, and the `/_emulator/*` admin API.

Traps this code exists to avoid (see ../shared/design/PSRP_STANDIN.md): NTLM authenticates the TCP connection and
its sealing sequence numbers, so the connection must never be dropped on an internal error (pypsrp would keep a
stale encryption context); every request is unwrapped and every response wrapped, in order.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import socket
import ssl
import struct
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import spnego
import spnego.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from emulators.exchange import auth, clock, wsman
from emulators.exchange.engine import EXCHANGE, WINDOWS_POWERSHELL, Endpoint, StandIn, TransportFault
from emulators.exchange.faults import FaultRuleError, parse_rules
from emulators.exchange.organisation import StateError

MAX_BODY = 16 * 1024 * 1024  # beyond this the request isn't read at all: the connection is closed
MAX_ENVELOPE = 512000  # WinRM's default MaxEnvelopeSizekb (500)
BOUNDARY = "Encrypted Boundary"
_WSMAN_PATH = re.compile(r"^/(?:(?P<org>[^/?]+)/)?(?P<ep>powershell|wsman)/?$", re.IGNORECASE)


class Credentials:
    """The one account the stand-in accepts, for Basic and (through NTLM_USER_FILE) for NTLM."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self._password = password
        self._install_ntlm_store()

    def __repr__(self) -> str:
        return f"Credentials(user={self.user!r}, password=***)"

    def check(self, user: str, password: str) -> bool:
        return user.lower() == self.user.lower() and password == self._password

    def _install_ntlm_store(self) -> None:
        # pyspnego's NTLM acceptor reads accounts from the file named by NTLM_USER_FILE. An in-memory file
        # (memfd) keeps the password off disk; UPN and DOMAIN\user spellings both resolve.
        lines = [f":{self.user}:{self._password}"]
        if "@" in self.user:
            local, domain = self.user.split("@", 1)
            lines += [f"{domain}:{local}:{self._password}", f"{domain.split('.')[0]}:{local}:{self._password}"]
        elif "\\" in self.user:
            domain, local = self.user.split("\\", 1)
            lines += [f"{domain}:{local}:{self._password}", f":{local}:{self._password}"]
        data = ("\n".join(lines) + "\n").encode()
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("ntlm-users")
            os.write(fd, data)
            os.environ["NTLM_USER_FILE"] = f"/proc/{os.getpid()}/fd/{fd}"
        else:  # pragma: no cover - non-Linux fallback: a private temp file removed at exit
            handle, path = tempfile.mkstemp(prefix="ntlm-users-")
            os.write(handle, data)
            os.close(handle)
            os.chmod(path, 0o600)
            os.environ["NTLM_USER_FILE"] = path
            import atexit

            atexit.register(os.remove, path)


class TlsIdentity:
    """A self-signed certificate made at start-up, and the channel-binding data derived from it."""

    def __init__(self, host: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host if not host[0].isdigit() else "localhost")])
        san: list[x509.GeneralName] = [x509.DNSName("localhost")]
        try:
            import ipaddress

            san.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            san.append(x509.DNSName(host))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        der = cert.public_bytes(serialization.Encoding.DER)
        # RFC 5929 tls-server-end-point: the certificate's hash with its signature hash (SHA-256 here).
        self.channel_binding = b"tls-server-end-point:" + hashlib.sha256(der).digest()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # ssl needs files; the key exists on disk only between these lines, in a private directory.
        with tempfile.TemporaryDirectory(prefix="exchange-standin-tls-") as folder:
            cert_path, key_path = Path(folder) / "cert.pem", Path(folder) / "key.pem"
            cert_path.write_bytes(self.pem)
            key_path.touch(mode=0o600)
            key_path.write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            self.context.load_cert_chain(cert_path, key_path)


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: StandIn, credentials: Credentials,
                 tls: TlsIdentity | None, kerberos: auth.KerberosAcceptor | None = None) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.credentials = credentials
        self.tls = tls
        self.kerberos = kerberos

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the connection's own thread, so a slow client can't stall accept().
        if self.tls is not None:
            try:
                request = self.tls.context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    @property
    def base_url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        return f"{'https' if self.tls else 'http'}://{host}:{port}"


class _Drop(Exception):
    """Close the connection without an answer."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandInServer

    # Per-connection authentication (NTLM/Negotiate authenticate the connection, not each request).
    auth_ctx: Any = None
    auth_scheme = ""
    auth_user: str | None = None

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK stall each reply ~40 ms.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # requests are in the journal; the access log would only be noise in test output

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise _Drop()
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", content_type: str | None = None,
              headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for key, value in headers or []:
            self.send_header(key, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _json_error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": {"code": code, "message": message}})

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- HTTP verbs -------------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            body = self._read_body()
            path = self.path.split("?", 1)[0]
            if path.startswith("/_emulator/"):
                self._admin(method, path, body)
                return
            match = _WSMAN_PATH.match(path)
            if match is None or method != "POST":
                self._send(404, b"Not Found", "text/plain")
                return
            self._wsman(match, body)
        except _Drop:
            self._drop()
        except Exception as exc:  # never drop the connection over our own bug: answer with a fault
            try:
                self._send(500, wsman.fault(wsman.WSManFault(wsman.INTERNAL_ERROR, f"Internal stand-in error: {exc!r}"),
                                            None, "exchange-standin"), "application/soap+xml;charset=UTF-8")
            except OSError:
                self.close_connection = True

    # -- admin API --------------------------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: bytes) -> None:
        app = self.server.app
        route = (method, path.rstrip("/"))
        if route == ("GET", "/_emulator/state"):
            self._json(200, app.state.to_json())
        elif route == ("PUT", "/_emulator/state"):
            try:
                app.state.replace(json.loads(body or b"null"))
            except ValueError as exc:  # JSON errors and StateError alike name what is wrong
                code = "bad_state" if isinstance(exc, StateError) else "bad_json"
                self._json_error(400, code, str(exc))
                return
            self._json(200, app.state.to_json())
        elif route == ("GET", "/_emulator/journal"):
            self._json(200, app.journal.entries())
        elif route == ("DELETE", "/_emulator/journal"):
            app.journal.clear()
            self._send(204)
        elif route == ("GET", "/_emulator/faults"):
            self._json(200, {"rules": app.faults.to_json()})
        elif route == ("POST", "/_emulator/faults"):
            try:
                rules = parse_rules(json.loads(body or b"null"))
            except ValueError as exc:
                self._json_error(400, "bad_rules" if isinstance(exc, FaultRuleError) else "bad_json", str(exc))
                return
            app.faults.add(rules)
            self._json(200, {"rules": app.faults.to_json()})
        elif route == ("DELETE", "/_emulator/faults"):
            app.faults.clear()
            self._send(204)
        elif route == ("GET", "/_emulator/clock"):
            self._json(200, clock.to_json())
        elif route == ("PUT", "/_emulator/clock"):
            try:
                wanted = json.loads(body or b"null")
                clock.set_now(dt.datetime.fromisoformat(str(wanted["now"])))
            except (ValueError, KeyError, TypeError) as exc:
                self._json_error(400, "bad_clock", f'a body {{"now": ISO 8601 with offset}} is required ({exc})')
                return
            self._json(200, clock.to_json())
        elif route == ("DELETE", "/_emulator/clock"):
            clock.reset()
            self._send(204)
        elif route == ("GET", "/_emulator/stats"):
            self._json(200, {**app.journal.stats_json(), "shells_open": app.shell_count()})
        else:
            self._json_error(404, "not_found", f"{method} {path} is not part of the admin API")

    # -- WSMan ------------------------------------------------------------------------------------------------

    def _offer(self, endpoint: Endpoint) -> auth.Offer:
        if endpoint.configuration != EXCHANGE:
            return auth.WINRM_SERVICE
        org = self.server.app.state.org(endpoint.org)
        vdir = org.powershell_vdir if org is not None else None
        if vdir is None:
            return auth.EXCHANGE_DEFAULT
        return auth.powershell_offer(vdir.basic_authentication, vdir.windows_authentication)

    def _challenge(self, offer: auth.Offer, token_header: str | None = None) -> None:
        headers = [("WWW-Authenticate", token_header)] if token_header else offer.challenge()
        self._send(401, b"", None, headers)

    def _refuse(self, offer: auth.Offer, counter: str) -> tuple[None, list[tuple[str, str]]]:
        self.auth_ctx = None
        self.auth_user = None
        self.server.app.journal.count(counter)
        self._challenge(offer)
        return None, []

    def _authenticate(self, offer: auth.Offer) -> tuple[str | None, list[tuple[str, str]]]:
        """The caller, or None after a 401 has been sent; plus headers the final response must carry."""
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        creds = self.server.credentials
        if scheme and not offer.allows_scheme(scheme):
            return self._refuse(offer, f"auth.refused.{scheme.lower()}")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if not creds.check(user, password):
                return self._refuse(offer, "auth.failed")
            return user, []
        if scheme.lower() in ("negotiate", "ntlm", "kerberos"):
            try:
                token = base64.b64decode(value.strip())
            except ValueError:
                return self._refuse(offer, "auth.failed")
            if self.auth_ctx is None or self.auth_ctx.complete:
                if scheme.lower() != "ntlm" and auth.is_ntlm_token(token) and not offer.ntlm:
                    # IIS Windows authentication is off: Exchange's Kerberos module takes Kerberos only.
                    return self._refuse(offer, "auth.refused.ntlm_in_negotiate")
                cbt = None
                if self.server.tls is not None:
                    cbt = spnego.channel_bindings.GssChannelBindings(application_data=self.server.tls.channel_binding)
                kerberos = self.server.kerberos
                # Kerberos: accept only tickets for HTTP/<host>, the SPN IIS answers to.
                self.auth_ctx = spnego.server(
                    hostname=kerberos.host if kerberos else "unspecified", service="HTTP" if kerberos else "host",
                    protocol="ntlm" if scheme.lower() == "ntlm" else "negotiate", channel_bindings=cbt,
                )
                self.auth_scheme = "Negotiate" if scheme.lower() != "ntlm" else "NTLM"
                self.auth_user = None
            try:
                out = self.auth_ctx.step(token)
                protocol = self.auth_ctx.negotiated_protocol if self.auth_ctx.complete or out else None
            except (spnego.exceptions.SpnegoError, ValueError, AttributeError, struct.error):
                # The reason stays on the server (the journal's counter), as on IIS: the client gets a bare 401.
                # (pyspnego 0.12 hides MIT's reason, e.g. clock skew, behind an AttributeError: an error token
                # came back but the context never started.)
                counter = "auth.failed.ntlm" if auth.is_ntlm_token(token) else "auth.failed.kerberos"
                return self._refuse(offer, counter)
            if not offer.ntlm and protocol == "ntlm":
                return self._refuse(offer, "auth.refused.ntlm_in_negotiate")
            token_header = f"{self.auth_scheme} {base64.b64encode(out).decode()}" if out else None
            if not self.auth_ctx.complete:
                self._challenge(offer, token_header)
                return None, []
            principal = self.auth_ctx.client_principal or creds.user
            if protocol == "kerberos" and principal.lower() != creds.user.lower():
                # Exchange would find no management role for another account; the stand-in knows one account.
                return self._refuse(offer, "auth.failed.unknown_account")
            self.auth_user = principal
            self.server.app.journal.count(
                "auth.kerberos_handshakes" if protocol == "kerberos" else "auth.ntlm_handshakes")
            return self.auth_user, [("WWW-Authenticate", token_header)] if token_header else []
        if self.auth_ctx is not None and self.auth_ctx.complete and self.auth_user:
            return self.auth_user, []
        self._challenge(offer)
        return None, []

    def _endpoint(self, match: re.Match[str]) -> Endpoint | None:
        state = self.server.app.state
        org = (match.group("org") or state.default_name).lower()
        if state.org(org) is None:
            return None
        return Endpoint(org, EXCHANGE if match.group("ep").lower() == "powershell" else WINDOWS_POWERSHELL)

    def _wsman(self, match: re.Match[str], body: bytes) -> None:
        endpoint = self._endpoint(match)
        if endpoint is None:
            self._send(404, b"Not Found", "text/plain")
            return
        user, extra_headers = self._authenticate(self._offer(endpoint))
        if user is None:
            return
        if not body:  # the empty POST that carries an NTLM handshake's last leg
            self._send(200, b"", None, extra_headers)
            return
        sealed = self.auth_ctx is not None and self.auth_ctx.complete and self.headers.get(
            "Content-Type", "").startswith("multipart/encrypted")
        try:
            plain = self._unwrap(body) if sealed else body
        except (ValueError, IndexError, struct.error, spnego.exceptions.SpnegoError):
            self._reply(wsman.fault(wsman.WSManFault(wsman.SCHEMA_INVALID, "The encrypted message could not be "
                                                     "decrypted.", "w:SchemaValidationError"), None,
                                    self._machine()), 500, False, extra_headers)
            return
        if not sealed and self.auth_ctx is not None and self.auth_ctx.complete and self.server.tls is None:
            self._reply(wsman.fault(wsman.WSManFault(
                0x80338012, "The WinRM service is configured to refuse unencrypted traffic: NTLM and Negotiate over "
                "HTTP must use message encryption.", "w:AccessDenied"), wsman.message_id_of(plain),
                self._machine()), 400, False, extra_headers)
            return
        status, response = self._process(plain, endpoint, user)
        if status is None:
            return
        self._reply(response, status, sealed, extra_headers)

    def _machine(self) -> str:
        return str(self.server.server_address[0])

    def _process(self, plain: bytes, endpoint: Endpoint, user: str) -> tuple[int | None, bytes]:
        app = self.server.app
        if len(plain) > MAX_ENVELOPE:
            return 500, wsman.fault(wsman.WSManFault(
                wsman.ENVELOPE_TOO_LARGE,
                f"The WS-Management service cannot process the request because the envelope size ({len(plain)} "
                f"bytes) exceeds the maximum of {MAX_ENVELOPE}.", "w:EncodingLimit"),
                wsman.message_id_of(plain), self._machine())
        try:
            request = wsman.parse(plain)
            return 200, app.handle(request, endpoint, user)
        except wsman.WSManFault as fault:
            app.journal.count("wsman.faults")
            return 500, wsman.fault(fault, wsman.message_id_of(plain), self._machine())
        except TransportFault as tf:
            if tf.fault.kind == "drop":
                raise _Drop() from None
            self._send(tf.fault.status, tf.fault.message.encode(), "text/plain")
            return None, b""
        except Exception as exc:  # a stand-in bug: a fault (sealed like any reply), never a dropped connection
            app.journal.count("wsman.internal_errors")
            return 500, wsman.fault(wsman.WSManFault(wsman.INTERNAL_ERROR, f"Internal stand-in error: {exc!r}"),
                                    wsman.message_id_of(plain), self._machine())

    def _reply(self, data: bytes, status: int, sealed: bool, extra_headers: list[tuple[str, str]]) -> None:
        if sealed:
            payload = self._wrap(data)
            self._send(status, payload,
                       f'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="{BOUNDARY}"',
                       extra_headers)
        else:
            self._send(status, data, "application/soap+xml;charset=UTF-8", extra_headers)

    def _unwrap(self, body: bytes) -> bytes:
        # Exchange's own boundary has a space ("-- Encrypted Boundary"); accept both, as pypsrp does.
        parts = [p for p in re.split(rb"--\s*" + re.escape(BOUNDARY.encode()) + rb"(?:--)?\r\n", body) if p]
        message = b""
        for i in range(0, len(parts) - 1, 2):
            header, payload = parts[i], parts[i + 1]
            expected = int(header.split(b"Length=")[1].split(b"\r\n")[0])
            payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
            sig_len = struct.unpack("<i", payload[:4])[0]
            plain = self.auth_ctx.unwrap_winrm(payload[4:4 + sig_len], payload[4 + sig_len:])
            if len(plain) != expected:
                raise ValueError("decrypted length does not match OriginalContent Length")
            message += plain
        return message

    def _wrap(self, data: bytes) -> bytes:
        result = self.auth_ctx.wrap_winrm(data)
        length = len(data) + result.padding_length
        return (
            f"--{BOUNDARY}\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n"
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={length}\r\n"
            f"--{BOUNDARY}\r\n\tContent-Type: application/octet-stream\r\n"
        ).encode() + struct.pack("<i", len(result.header)) + result.header + result.data + f"--{BOUNDARY}--\r\n".encode()


def serve(app: StandIn, host: str, port: int, credentials: Credentials, tls: TlsIdentity | None,
          kerberos: auth.KerberosAcceptor | None = None) -> StandInServer:
    """Bind and start serving in a background thread; returns the server (call `shutdown()` to stop)."""
    server = StandInServer((host, port), app, credentials, tls, kerberos)
    threading.Thread(target=server.serve_forever, name="exchange-standin", daemon=True).start()
    return server
