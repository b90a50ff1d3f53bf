"""`pushproxy serve` as a subprocess for HTTP API tests, with its own local database and registry."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import requests

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")
OPERATOR = "olivia@provider.example"
REQUESTER = "alice@provider.example"
APPROVER = "bob@provider.example"
ROLES: dict[str, list[str]] = {OPERATOR: ["operator"], REQUESTER: ["requester"], APPROVER: ["approver"],
                               "carol@provider.example": ["approver"]}


def as_(principal: str | None) -> dict[str, str]:
    """The header an authenticating reverse proxy (or App Service authentication) sets for `principal`."""
    return {} if principal is None else {"X-MS-CLIENT-PRINCIPAL-NAME": principal}


class Served:
    """A running `pushproxy serve` on 127.0.0.1 (port 0), for one test module."""

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None,
                 roles: dict[str, list[str]] | None = None) -> None:
        self.workdir = workdir
        # Who holds which role (pushproxy.api.roles): the local roles file `pushproxy serve` reads.
        self.roles_path = workdir / "roles.json"
        self.roles_path.write_text(json.dumps(ROLES if roles is None else roles), encoding="utf-8")
        self.local_db = workdir / "local.sqlite"
        self.registry_path = workdir / "registry.sqlite"
        self.env = {
            **os.environ,
            "PUSHPROXY_REGISTRY_PATH": str(self.registry_path),
            "PUSHPROXY_SECRETS_FILE": str(workdir / "secrets.json"),
            "PUSHPROXY_ROLES_FILE": str(self.roles_path),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.log_path = workdir / "serve.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pushproxy", "serve", "--host", "127.0.0.1", "--port", "0",
             "--database", str(self.local_db)],
            cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=self._log, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"pushproxy serve did not start: {line!r}\n{self.log_path.read_text()}")
        self.base_url = line.removeprefix("listening on ")
        # Keep draining stdout so a chatty process never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def request(self, method: str, path: str, who: str | None = REQUESTER, **kw: Any) -> requests.Response:
        """A request as `who` (a requester by default; None: no authenticated principal)."""
        headers = {**as_(who), **kw.pop("headers", {})}
        return requests.request(method, self.url(path), timeout=30, headers=headers, **kw)

    def register(self, domain: str, spec: dict[str, Any], who: str = OPERATOR) -> requests.Response:
        """`PUT /api/tenants/{domain}` as the operator."""
        return self.request("PUT", f"/api/tenants/{domain}", who=who, data=json.dumps(spec),
                            headers={"Content-Type": "application/json"})

    def client_binding(self) -> str:
        from pushproxy.local.http_api import client_binding

        return json.dumps(client_binding(self.base_url, "pushproxy"))

    def durable(self, work: Any) -> Any:
        """Run `work(client)` with the SDK's real DurableOrchestrationClient against this server."""
        import azure.durable_functions as df
        from azure.durable_functions.models.utils import http_utils

        async def main() -> Any:
            # The SDK keeps one aiohttp session per process, bound to the loop that made it: set aside the one of
            # the local host's function loop (in-process hosts of other tests), use a fresh one on this loop.
            saved, http_utils._client_session = http_utils._client_session, None
            try:
                return await work(df.DurableOrchestrationClient(self.client_binding()))
            finally:
                if http_utils._client_session is not None:
                    await http_utils._client_session.close()
                http_utils._client_session = saved

        return run(main())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
