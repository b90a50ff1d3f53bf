"""`pushproxy demo`: onboard the stand-ins' default tenant end to end, twice, on this machine, with no Azure.

The Exchange and Graph stand-ins run as subprocesses on 127.0.0.1, linked so that the probe checks the tenant's
keys. The spec names its secrets as `env:` references, set only in this process's environment.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from rich.console import Console

from pushproxy.onboarding import render, runner
from pushproxy.spec import TenantSpec

TENANT_DOMAIN = "fabrikam.com"
TENANT_ID = "11111111-2222-3333-4444-555555555555"
EXCHANGE_USER = "admin@fabrikam.com"
# The names the demo's spec gives (env:EXCHANGE_PASSWORD); the variables are in the tenant's namespace
# (pushproxy.secrets: PUSHPROXY_FABRIKAM_COM___EXCHANGE_PASSWORD).
EXCHANGE_PASSWORD_ENV = "EXCHANGE_PASSWORD"
GRAPH_SECRET_ENV = "GRAPH_SECRET"


def secret_environment(secret: dict[str, Any]) -> dict[str, str]:
    """The environment variables behind the demo spec's env: references, in the demo tenant's namespace."""
    from pushproxy.secrets import tenant_env_name

    return {tenant_env_name(TENANT_DOMAIN, EXCHANGE_PASSWORD_ENV): secret["password"],
            tenant_env_name(TENANT_DOMAIN, GRAPH_SECRET_ENV): secret["client_secret"]}
DEMO_AUTH = "basic"  # over HTTPS; see DEMO_AUTH_ASSUMPTION
DEMO_AUTH_ASSUMPTION = (
    "Exchange's /PowerShell accepts only Kerberos by default. This demo has no KDC, so it assumes the admin ran "
    "Set-PowerShellVirtualDirectory -Identity '<server>\\PowerShell (Default Web Site)' -BasicAuthentication $true "
    "and signs in with Basic over HTTPS. Against your servers, prefer auth: kerberos (docs/deploy.md)."
)
# Operations that change something, as the journals name them.
WRITE_PREFIXES = ("New-", "Set-", "Enable-", "Disable-", "Remove-", "Restart-")


@dataclass
class StandIn:
    """A stand-in subprocess and where it listens."""

    process: subprocess.Popen[str]
    url: str
    cert_path: Path

    @property
    def origin(self) -> str:
        """scheme://host:port: the admin API lives at the origin."""
        parts = self.url.split("/", 3)
        return "/".join(parts[:3])

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        r = requests.request(method, self.origin + path, json=body, timeout=30, verify=str(self.cert_path))
        r.raise_for_status()
        return r.json() if r.content else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(module: str, args: list[str], workdir: Path, cert_path: Path, env: dict[str, str] | None = None) -> StandIn:
    log = open(workdir / f"{module.rsplit('.', 1)[-1]}.log", "w")  # noqa: SIM115  # closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=_repo_root(),
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        process.wait()
        raise RuntimeError(f"{module} did not start ({line!r}); see {log.name}")
    return StandIn(process, line.removeprefix("listening on "), cert_path)


def _repo_root() -> Path:
    # The stand-ins are run as modules from the source tree (emulators/ is never deployed).
    return Path(__file__).resolve().parents[2]


@contextmanager
def standins(workdir: Path) -> Iterator[tuple[StandIn, StandIn, dict[str, str]]]:
    """Both stand-ins, linked, and the secrets they expect (returned, never written to disk)."""
    client_id = str(uuid.uuid4())
    client_secret = secrets.token_urlsafe(24)
    password = secrets.token_urlsafe(18)
    graph_cert, exchange_cert = workdir / "graph.pem", workdir / "exchange.pem"
    graph = _start(
        "emulators.graph",
        ["--tls", "--cert-out", str(graph_cert), "--client-id", client_id, f"--client-secret={client_secret}"],
        workdir,
        graph_cert,
    )
    exchange: StandIn | None = None
    try:
        exchange = _start(
            "emulators.exchange",
            [
                "--tls",
                "--cert-out",
                str(exchange_cert),
                "--user",
                EXCHANGE_USER,
                # `=`: a generated secret may start with "-", which argparse would take for an option.
                f"--password={password}",
                "--tenant-state",
                f"{graph.origin}/_emulator/state",
                # Exchange takes only Kerberos by default; the demo has no KDC, so it assumes (and says) that the
                # admin ran Set-PowerShellVirtualDirectory -BasicAuthentication $true, and uses Basic over HTTPS.
                "--enable-auth=basic",
            ],
            workdir,
            exchange_cert,
            # The probe reads the Graph stand-in's state over HTTPS: trust its self-signed certificate.
            env={"SSL_CERT_FILE": str(graph_cert)},
        )
        yield exchange, graph, {"client_id": client_id, "client_secret": client_secret, "password": password}
    finally:
        if exchange is not None:
            exchange.stop()
        graph.stop()


def demo_spec(exchange: StandIn, graph: StandIn, client_id: str, wait_s: float) -> TenantSpec:
    return TenantSpec.from_dict(
        {
            "tenant_domain": TENANT_DOMAIN,
            "tenant_id": TENANT_ID,
            "exchange": {
                "url": exchange.url,
                "auth": DEMO_AUTH,
                "username": EXCHANGE_USER,
                "password_ref": f"env:{EXCHANGE_PASSWORD_ENV}",
                "tls": {"mode": "ca_bundle", "ca_bundle": str(exchange.cert_path)},
            },
            "graph": {
                "mode": "secret",
                "client_id": client_id,
                "secret_ref": f"env:{GRAPH_SECRET_ENV}",
                "authority": graph.origin,
                "graph_url": graph.origin,
                "ca_bundle": str(graph.cert_path),
            },
            "approval": {"policy": "auto"},
            "verification": {"restart_health_manager": False, "wait_s": wait_s, "probe_deadline_s": 30, "probe_interval_s": 1},
            "retry": {"first_retry_interval_s": 0.5, "max_attempts": 5},
        }
    )


def calls(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal entries worth showing: cmdlets and Graph calls, not WSMan plumbing or token requests."""
    return [e for e in journal if "-" in str(e.get("operation", "")).split(" ")[0] or " /v1.0/" in str(e.get("operation", ""))]


def writes(journal: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in journal:
        op = str(e.get("operation", ""))
        if op.startswith(WRITE_PREFIXES) or op.split(" ")[0] in ("PATCH", "POST", "PUT", "DELETE") and "/v1.0/" in op:
            out.append(e)
    return out


def _print_calls(console: Console, title: str, entries: list[dict[str, Any]]) -> None:
    console.print(f"[bold]{title}[/] ({len(entries)})")
    lines: list[list[Any]] = []  # [text, outcome, count]: repeats in a row are folded (the probe retries)
    for e in entries:
        params = e.get("parameters") or {}
        shown = " ".join(f"-{k} {_short(v)}" for k, v in params.items()) if isinstance(params, dict) else ""
        text = f"{e.get('operation')} {shown}".strip()
        outcome = e.get("outcome", "")
        if lines and lines[-1][0] == text and lines[-1][1] == outcome:
            lines[-1][2] += 1
        else:
            lines.append([text, outcome, 1])
    for text, outcome, count in lines:
        colour = "green" if outcome == "ok" else "red"
        times = f"  ×{count}" if count > 1 else ""
        console.print(f"  [{colour}]{outcome:5}[/] {text}{times}", soft_wrap=True)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 70 else text[:67] + "…"


def run_demo(console: Console, wait_s: float = 3.0, keep: bool = False) -> int:
    """Onboard the default tenant, then again to show an empty plan. 0 when both runs end as expected."""
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="pushproxy-demo-"))
    console.rule("pushproxy demo")
    console.print(f"Working directory: {workdir}" + ("" if keep else " (removed at the end; --keep keeps it)"))
    with standins(workdir) as (exchange, graph, secret):
        console.print(f"Exchange stand-in: {exchange.url}")
        console.print(f"Authentication:    Basic over HTTPS. {DEMO_AUTH_ASSUMPTION}")
        console.print(f"Graph stand-in:    {graph.origin}  (the probe checks the tenant's keys there)")
        # Secrets live only in this process's environment; the spec names them.
        os.environ.update(secret_environment(secret))
        # The demo never writes to a real registry.
        os.environ["PUSHPROXY_REGISTRY_PATH"] = str(workdir / "registry.sqlite")
        spec = demo_spec(exchange, graph, secret["client_id"], wait_s)
        (workdir / "tenant-spec.json").write_text(spec.to_json(), encoding="utf-8")
        console.print(f"TenantSpec: {workdir / 'tenant-spec.json'} (secrets by reference: env:…)")
        host = runner.open_host(workdir / "local.sqlite")
        try:
            outcomes = []
            for attempt in (1, 2):
                console.rule(f"Onboarding run {attempt}")
                exchange.admin("DELETE", "/_emulator/journal")
                graph.admin("DELETE", "/_emulator/journal")
                report = _onboard_once(console, host, spec)
                outcomes.append(report)
                ex_journal = exchange.admin("GET", "/_emulator/journal")
                gr_journal = graph.admin("GET", "/_emulator/journal")
                _print_calls(console, "Cmdlets run on Exchange", calls(ex_journal))
                _print_calls(console, "Graph calls", calls(gr_journal))
                changed = writes(ex_journal) + writes(gr_journal)
                console.print(f"Changes made in this run: [bold]{len(changed)}[/]")
        finally:
            host.close()
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    first, second = outcomes
    elapsed = time.monotonic() - started
    ok = first.get("outcome") == "done" and second.get("outcome") == "done" and not second.get("plan")
    console.rule()
    if ok:
        console.print(f"[bold green]Demo complete[/] in {elapsed:.1f} s: onboarded, verified, and the second plan was empty.")
    else:
        console.print(f"[bold red]Demo failed[/] after {elapsed:.1f} s: first {first.get('outcome')}, second {second.get('outcome')}")
    return 0 if ok else 1


def _onboard_once(console: Console, host: Any, spec: TenantSpec) -> dict[str, Any]:
    instance_id, _ = runner.start_or_resume(host, spec, requested_by="pushproxy demo")
    # The plan before any later phase, each phase once; an approval says who approved (policy:auto here).
    on_status = render.ProgressPrinter(
        console, wait_note=f"  waiting {spec.verification.wait_s:g} s for the health manager (120 s in a real run) …"
    )

    final = runner.drive(host, instance_id, on_status=on_status, timeout=120)
    report = final.output if isinstance(final.output, dict) else {"outcome": runner.runtime_of(final), "error": str(final.output)}
    if not report.get("plan") and report.get("outcome") == "done":
        console.print("[green]The plan is empty[/]: everything is already in place; nothing was changed.")
    render.print_summary(console, report, blockers_shown=on_status.blockers_shown)
    return report
