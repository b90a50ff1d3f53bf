"""Start the Exchange stand-in (`python -m emulators.exchange`) in a subprocess for a test, and talk to its admin API.

    with start_exchange_standin(tls=True) as ex:
        wsman = WSMan("127.0.0.1", port=ex.port, path="PowerShell", ssl=True, auth="ntlm",
                      username=ex.user, password=ex.password, cert_validation=ex.cert_path)
        ...
        assert ex.journal()[-1]["operation"] == "Get-ExchangeServer"
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / ".." / "shared" / "fixtures"
DEFAULT_USER = "admin@fabrikam.com"
DEFAULT_PASSWORD = "P@ssw0rd!"  # noqa: S105 - the stand-in's documented test account
# THE switch. Exchange's /PowerShell takes only Kerberos unless an admin enables Basic or Windows authentication
# (Set-PowerShellVirtualDirectory). Tests that aren't about authentication use NTLM or Basic, so the stand-ins they
# start have both switched on; tests about authentication pass enable_auth="" (Exchange as installed) or one method.
TESTS_ENABLE_AUTH = "basic,windows"


class StandIn:
    """A running stand-in: its URLs, its account, and its admin API."""

    def __init__(self, process: subprocess.Popen[str], url: str, cert_path: str | None, user: str, password: str,
                 workdir: tempfile.TemporaryDirectory[str]) -> None:
        self.process = process
        self.url = url  # .../PowerShell
        parts = urlsplit(url)
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.cert_path = cert_path
        self.user = user
        self.password = password
        self._workdir = workdir
        self._stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def __repr__(self) -> str:
        return f"StandIn(url={self.url!r}, user={self.user!r})"

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    # -- admin API -------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        context = None
        if self.tls:
            import ssl

            context = ssl.create_default_context(cafile=self.cert_path)
        try:
            with urllib.request.urlopen(req, timeout=30, context=context) as response:  # noqa: S310 - loopback
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw else None

    def state(self) -> dict[str, Any]:
        return self.request("GET", "/_emulator/state")

    def put_state(self, state: dict[str, Any]) -> dict[str, Any]:
        return self.request("PUT", "/_emulator/state", state)

    def org_state(self, org: str = "fabrikam.com") -> dict[str, Any]:
        return self.state()["organizations"][org]

    def journal(self) -> list[dict[str, Any]]:
        return self.request("GET", "/_emulator/journal")

    def clear_journal(self) -> None:
        self.request("DELETE", "/_emulator/journal")

    def faults(self, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return self.request("POST", "/_emulator/faults", {"rules": rules})

    def clear_faults(self) -> None:
        self.request("DELETE", "/_emulator/faults")

    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/_emulator/stats")

    def wsman_kwargs(self, auth: str = "ntlm", org: str | None = None, windows: bool = False) -> dict[str, Any]:
        """Keyword arguments for `pypsrp.wsman.WSMan` that reach this stand-in."""
        path = ("wsman" if windows else "PowerShell") if org is None else f"{org}/{'wsman' if windows else 'PowerShell'}"
        kwargs: dict[str, Any] = {
            "server": self.host, "port": self.port, "path": path, "ssl": self.tls, "auth": auth,
            "username": self.user, "password": self.password, "operation_timeout": 5, "read_timeout": 15,
        }
        if self.tls:
            kwargs["cert_validation"] = self.cert_path
        if auth == "basic" and not self.tls:
            kwargs["encryption"] = "never"
        return kwargs

    # -- lifecycle -------------------------------------------------------------------------------------------

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._workdir.cleanup()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_exchange_standin(*args: str, tls: bool = False, user: str = DEFAULT_USER,
                           password: str = DEFAULT_PASSWORD, timeout: float = 30.0,
                           enable_auth: str = TESTS_ENABLE_AUTH, env: dict[str, str] | None = None,
                           url_host: str | None = None) -> StandIn:
    """Start `python -m emulators.exchange` on 127.0.0.1, a free port, with extra CLI `args`; wait until ready.

    `enable_auth`: /PowerShell methods besides Kerberos (see TESTS_ENABLE_AUTH). `env`: extra environment (a
    Kerberos realm's KRB5_CONFIG). `url_host`: the host name to put in `.url` (Kerberos needs a name, not an IP).
    """
    workdir = tempfile.TemporaryDirectory(prefix="exchange-standin-")
    cmd = [sys.executable, "-m", "emulators.exchange", "--listen", "127.0.0.1:0", "--user", user,
           f"--password={password}", f"--enable-auth={enable_auth}", *args]  # `=`: a value may start with "-"
    cert_path = None
    if tls:
        cert_path = str(Path(workdir.name) / "standin.pem")
        cmd += ["--tls", "--cert-out", cert_path]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    process = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line_holder: list[str] = []
    reader = threading.Thread(target=lambda: line_holder.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = line_holder[0] if line_holder else ""
    if not line.startswith("listening on "):
        process.kill()
        _, err = process.communicate(timeout=5)
        workdir.cleanup()
        raise RuntimeError(f"the Exchange stand-in did not start: {line!r} {err[-2000:]}")
    url = line.split("listening on ", 1)[1].strip()
    if url_host is not None:
        url = url.replace("://127.0.0.1:", f"://{url_host}:", 1)
    return StandIn(process, url, cert_path, user, password, workdir)
