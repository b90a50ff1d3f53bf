"""A host an attacker controls, on loopback: it speaks just enough WSMan and Entra ID token endpoint to make a client
present its credentials (401 with Basic/Negotiate/NTLM challenges; an OpenID configuration whose token endpoint
is itself), with or without TLS, and records every request it receives."""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Attacker:
    """`with Attacker(tls, workdir) as a:` -> a.url (https://127.0.0.1:PORT or http://...), a.received."""

    tls: bool
    workdir: Path
    received: list[Received] = field(default_factory=list)

    def __enter__(self) -> Attacker:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.received.append(Received(self.command, self.path, dict(self.headers.items()), body))
                if self.path.endswith("/.well-known/openid-configuration"):
                    tenant = self.path.strip("/").split("/")[0]
                    base = owner.url
                    self._json(200, {"token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                                     "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                                     "issuer": f"{base}/{tenant}/v2.0", "jwks_uri": f"{base}/{tenant}/keys",
                                     "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"]})
                elif "/oauth2/" in self.path:
                    self._json(401, {"error": "invalid_client", "error_description": "AADSTS7000215"})
                else:  # a WSMan endpoint: ask for credentials every way Exchange might
                    self.send_response(401)
                    for scheme in ('Basic realm="exchange"', "Negotiate", "NTLM", "Kerberos"):
                        self.send_header("WWW-Authenticate", scheme)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls:
            self.cert_path = self.workdir / f"attacker-{id(self)}.pem"
            key_path = self.workdir / f"attacker-{id(self)}.key"
            _self_signed(self.cert_path, key_path)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, key_path)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        port = self.server.server_address[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def credentials(self, secrets: list[str]) -> list[Received]:
        """Requests that carried a credential: an Authorization header, a client secret or assertion, or any of
        `secrets` anywhere in the request."""
        found = []
        for r in self.received:
            text = (json.dumps(r.headers) + r.body.decode("latin-1") + r.path)
            if any(h.lower() == "authorization" for h in r.headers) or "client_secret" in text or \
                    "client_assertion" in text or any(s in text for s in secrets):
                found.append(r)
        return found


def _self_signed(cert_path: Path, key_path: Path) -> None:
    """A certificate for 127.0.0.1 (IP SAN) that is its own CA: clients trust it through a CA bundle."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.invalid")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
