"""Onboarding wall time against both stand-ins (verification wait 0), and requests per onboarding from the journals.

    python benchmarks/bench_onboarding.py [RUNS]

Each full run starts from the stand-ins' default state (proxy disabled, no AuthServer, no tenant key) on a fresh
local-host database; each repeat run onboards an organisation that is already in place (the plan is empty). The
new-certificate run starts from an organisation with no Auth certificate at all (two Mailbox servers in two AD
sites), so the certificate is created, copied to the other server, its key uploaded, then made current.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from pushproxy.onboarding import demo, runner  # noqa: E402


def _counts(exchange: demo.StandIn, graph: demo.StandIn) -> dict[str, int]:
    stats = exchange.admin("GET", "/_emulator/stats") or {}
    graph_journal = graph.admin("GET", "/_emulator/journal")
    ex_journal = exchange.admin("GET", "/_emulator/journal")
    return {
        "wsman": sum(v for k, v in stats.items() if k.startswith("wsman.") and k != "wsman.faults"),
        "ntlm": int(stats.get("auth.ntlm_handshakes", 0)),
        "cmdlets": sum(1 for e in ex_journal if "-" in str(e.get("operation", ""))),
        "graph": sum(1 for e in graph_journal if "/v1.0/" in str(e.get("operation", ""))),
        "token": sum(1 for e in graph_journal if "/oauth2/" in str(e.get("operation", ""))),
    }


def _reset(exchange: demo.StandIn, graph: demo.StandIn, ex_state: Any, gr_state: Any) -> None:
    exchange.admin("PUT", "/_emulator/state", ex_state)
    graph.admin("PUT", "/_emulator/state", gr_state)
    for s in (exchange, graph):
        s.admin("DELETE", "/_emulator/journal")


def _one_run(host: Any, spec: Any, exchange: demo.StandIn, graph: demo.StandIn) -> tuple[float, dict[str, int]] | None:
    for s in (exchange, graph):
        s.admin("DELETE", "/_emulator/journal")
    started = time.perf_counter()
    instance_id, _ = runner.start_or_resume(host, spec, requested_by="bench")
    final = runner.drive(host, instance_id, timeout=120)
    elapsed = time.perf_counter() - started
    outcome = final.output.get("outcome") if isinstance(final.output, dict) else final.output
    return (elapsed, _counts(exchange, graph)) if outcome == "done" else None


def main(runs: int = 5) -> int:
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="bench-onboarding-"))
    os.environ["PUSHPROXY_REGISTRY_PATH"] = str(workdir / "registry.sqlite")
    rows: dict[str, list[tuple[float, dict[str, int]]]] = {"full": [], "repeat": [], "new_certificate": []}
    with demo.standins(workdir) as (exchange, graph, secret):
        os.environ.update(demo.secret_environment(secret))
        spec = demo.demo_spec(exchange, graph, secret["client_id"], wait_s=0)
        ex_state = exchange.admin("GET", "/_emulator/state")
        gr_state = graph.admin("GET", "/_emulator/state")
        no_cert = json.loads(json.dumps(ex_state))
        for org in no_cert["organizations"].values():
            org["certificates"], org["auth_config"] = [], {}
        for i in range(runs):
            for start, kinds in ((ex_state, ("full", "repeat")), (no_cert, ("new_certificate",))):
                _reset(exchange, graph, start, gr_state)
                host = runner.open_host(workdir / f"local-{i}-{kinds[0]}.sqlite")
                try:
                    for kind in kinds:
                        result = _one_run(host, spec, exchange, graph)
                        if result is None:
                            console.print(f"[red]run {i} {kind}: not done[/]")
                            return 1
                        rows[kind].append(result)
                finally:
                    host.close()
    shutil.rmtree(workdir, ignore_errors=True)
    console.print(f"Onboarding against the stand-ins, {runs} runs each, verification wait 0 s")
    for kind, label in (("full", "full onboarding (3 changes)"), ("repeat", "repeat (empty plan)"),
                        ("new_certificate", "no Auth certificate yet")):
        times = [t for t, _ in rows[kind]]
        counts = rows[kind][-1][1]
        console.print(
            f"  {label:28} wall median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}); "
            f"WSMan requests {counts['wsman']}, NTLM handshakes {counts['ntlm']}, cmdlets {counts['cmdlets']}, "
            f"Graph calls {counts['graph']}, token requests {counts['token']}",
            soft_wrap=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
