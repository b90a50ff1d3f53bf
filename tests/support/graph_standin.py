"""Start the Graph stand-in (`python -m emulators.graph`) as a subprocess for a test.

    with start_graph_standin() as g:          # HTTPS, an application consented in every tenant
        g.url, g.cert_path, g.client_id, g.client_secret, g.tenant_id
        g.state(); g.put_state(s); g.journal(); g.clear_journal(); g.faults([...]); g.clear_faults()
        g.credential_spec("secret")           # a GraphCredentialSpec dict (secret_ref env:... set by g.env())

The default application (unless `--client-id` is passed) has a random secret; `g.env()` gives the environment
variables that make the secret reference and the managed identity endpoint (IDENTITY_ENDPOINT/HEADER) work.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TENANT_ID = "11111111-2222-3333-4444-555555555555"
EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
DEFAULT_MI_CLIENT_ID = "a1a1a1a1-0000-4000-8000-000000000001"


class StandIn:
    """A running Graph stand-in; a context manager that stops it on exit."""

    def __init__(self, args: list[str], tls: bool) -> None:
        self._tmp = tempfile.mkdtemp(prefix="graph-standin-")
        self.tls = tls
        self.cert_path: str | None = str(Path(self._tmp) / "graph-standin.pem") if tls else None
        self.client_id: str | None = None
        self.client_secret: str | None = None
        if "--client-id" in args:
            self.client_id = args[args.index("--client-id") + 1]
            if "--client-secret" in args:
                self.client_secret = args[args.index("--client-secret") + 1]
        else:
            self.client_id = str(uuid.uuid4())
            self.client_secret = secrets.token_urlsafe(24)
            # `=`: a generated secret may start with "-", which argparse would take for an option.
            args = [*args, "--client-id", self.client_id, f"--client-secret={self.client_secret}"]
        if "--identity-header" in args:
            self.identity_header = args[args.index("--identity-header") + 1]
        else:
            self.identity_header = secrets.token_hex(16)
            args = [*args, "--identity-header", self.identity_header]
        cmd = [sys.executable, "-m", "emulators.graph", "--listen", "127.0.0.1:0", *args]
        if tls:
            cmd += ["--tls", "--cert-out", self.cert_path or ""]
        # stderr goes to a file: a pipe nobody reads fills up and blocks the server mid-test.
        self.stderr_path = Path(self._tmp) / "stderr.log"
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.process.kill()
            self.process.wait()
            err = self.stderr_path.read_text()
            self._stderr.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise RuntimeError(f"graph stand-in did not start: {line!r} {err[-2000:]}")
        self.url = line.removeprefix("listening on ")
        self.base_url = self.url
        self.authority = self.url
        self.graph_url = self.url
        self.msi_endpoint = f"{self.url}/msi/token"
        self.tenant_id = DEFAULT_TENANT_ID
        self._http = requests.Session()

    # ---------------------------------------------------------------------------------------- admin API

    def state(self) -> dict[str, Any]:
        return self._admin("GET", "/_emulator/state")

    def put_state(self, state: dict[str, Any]) -> dict[str, Any]:
        return self._admin("PUT", "/_emulator/state", state)

    def journal(self) -> list[dict[str, Any]]:
        return self._admin("GET", "/_emulator/journal")

    def clear_journal(self) -> None:
        self._admin("DELETE", "/_emulator/journal")

    def faults(self, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return self._admin("POST", "/_emulator/faults", {"rules": rules})

    def other_writer_adds(self, key_credential: dict[str, Any], tenant_id: str = DEFAULT_TENANT_ID) -> None:
        """Another writer adds a key through the primary (replicas see it after their lag)."""
        self._admin("POST", "/_emulator/writes", {"tenant": tenant_id, "keyCredential": key_credential})

    def clear_faults(self) -> None:
        self._admin("DELETE", "/_emulator/faults")

    def _admin(self, method: str, path: str, body: Any = None) -> Any:
        # verify per request: a session-level path loses to REQUESTS_CA_BUNDLE in requests.
        r = self._http.request(
            method, self.url + path, json=body, timeout=30, verify=self.cert_path if self.tls else True
        )
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    # ---------------------------------------------------------------------------------------- for clients

    def service_principal(
        self, tenant_id: str = DEFAULT_TENANT_ID, app_id: str = EXCHANGE_ONLINE_APP_ID
    ) -> dict[str, Any]:
        """The service principal as the state holds it (with key bytes)."""
        tenant = self.state()["tenants"][tenant_id]
        return next(sp for sp in tenant["servicePrincipals"] if sp["appId"] == app_id)

    def env(self, secret_env: str = "GRAPH_STANDIN_SECRET", domains: tuple[str, ...] = ()) -> dict[str, str]:
        """Environment for the client: the secret behind `env:<secret_env>` (as the library reads it, and within
        each of `domains`' namespaces, as a tenant's spec reads it) and the managed identity endpoint."""
        from pushproxy.secrets import tenant_env_name

        out = {"IDENTITY_ENDPOINT": self.msi_endpoint, "IDENTITY_HEADER": self.identity_header}
        if self.client_secret:
            out[secret_env] = self.client_secret
            out.update({tenant_env_name(domain, secret_env): self.client_secret for domain in domains})
        return out

    def credential_spec(self, mode: str = "secret", **extra: Any) -> dict[str, Any]:
        """A GraphCredentialSpec dict pointed at this stand-in."""
        spec: dict[str, Any] = {
            "mode": mode,
            "client_id": self.client_id,
            "authority": self.authority,
            "graph_url": self.graph_url,
            "ca_bundle": self.cert_path,
        }
        if mode == "secret":
            spec["secret_ref"] = "env:GRAPH_STANDIN_SECRET"
        spec.update(extra)
        return spec

    # ---------------------------------------------------------------------------------------- lifetime

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()
        self._stderr.close()
        self._http.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> StandIn:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# Replication lag of the stand-in's replicas (ms) in the tests that write keys: one replica current, one behind.
# GRAPH_STANDIN_LAG_MS=0,2000 (say) runs them against a slower directory.
TEST_LAG_MS = os.environ.get("GRAPH_STANDIN_LAG_MS", "0,150")


def start_graph_standin(*args: str, tls: bool = True, lag_ms: str | None = None) -> StandIn:
    """Start the stand-in with extra command-line `args`; wait until it listens. `lag_ms`: replication lag per
    replica ("0,150"), None for a directory where every read sees every write at once."""
    started = time.monotonic()
    if lag_ms:
        args = (*args, "--replication-lag-ms", lag_ms)
    standin = StandIn(list(args), tls)
    standin.startup_s = time.monotonic() - started  # type: ignore[attr-defined]
    return standin


__all__ = [
    "StandIn",
    "start_graph_standin",
    "make_certificate",
    "DEFAULT_TENANT_ID",
    "EXCHANGE_ONLINE_APP_ID",
    "DEFAULT_MI_CLIENT_ID",
    "TEST_LAG_MS",
]


def make_certificate(
    subject: str = "CN=Microsoft Exchange Server Auth Certificate", days: int = 365, key_size: int = 2048
) -> tuple[bytes, str]:
    """A self-signed certificate: (public DER, PEM of the private key followed by the certificate)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name.from_rfc4514_string(subject)
    now = datetime.now(UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now - timedelta(days=1) + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem += cert.public_bytes(serialization.Encoding.PEM)
    return cert.public_bytes(serialization.Encoding.DER), pem.decode()
