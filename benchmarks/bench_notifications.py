"""What notifications cost an onboarding: a full onboarding against both stand-ins (two approval groups, so three
events: two approval.awaited and one workflow.completed), with no channel, with a webhook that answers 200, and
with a webhook that is down (connection refused, so every delivery retries on its own timers).

    python benchmarks/bench_notifications.py [RUNS]

Per event, the raising workflow pays the `raise_notification` activity: from its TaskScheduled to its
TaskCompleted in the onboarding's own history (host time). The onboarding's wall time, start to its output, is
compared across the three; the deliveries run beside it and are not part of it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402

from pushproxy.onboarding import demo, runner  # noqa: E402
from pushproxy.spec import TenantSpec  # noqa: E402
from tests.notifications.receiver import Receiver  # noqa: E402

SECRET_ENV = "PUSHPROXY_BENCH_WEBHOOK_HMAC"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: connections are refused


def _raise_costs(host: Any, instance_id: str) -> list[float]:
    """Milliseconds from each raise_notification's scheduling to its completion, in the onboarding's history."""
    history = host.get_status(instance_id, show_history=True).history or []
    scheduled = {e["EventId"]: e["Timestamp"] for e in history
                 if e.get("EventType") == "TaskScheduled" and e.get("Name") == "raise_notification"}
    costs = []
    for e in history:
        if e.get("EventType") == "TaskCompleted" and e.get("TaskScheduledId") in scheduled:
            start = datetime.fromisoformat(scheduled[e["TaskScheduledId"]])
            costs.append((datetime.fromisoformat(e["Timestamp"]) - start).total_seconds() * 1000)
    return costs


def _approve(custom: dict[str, Any]) -> dict[str, Any]:
    return {"decision": "approve", "approver": "bench", "state_hash": custom["awaiting"]["state_hash"]}


def main(runs: int = 3) -> int:
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="bench-notifications-"))
    os.environ["PUSHPROXY_REGISTRY_PATH"] = str(workdir / "registry.sqlite")
    os.environ[SECRET_ENV] = "bench-hmac-key"
    receiver = Receiver(workdir)
    channels = {
        "no channel": None,
        "webhook up (200)": {"url": receiver.url, "ca_bundle": str(receiver.ca_path)},
        "webhook down (refused)": {"url": f"https://127.0.0.1:{_closed_port()}/hook"},
    }
    rows: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in channels}
    try:
        with demo.standins(workdir) as (exchange, graph, secret):
            os.environ[demo.EXCHANGE_PASSWORD_ENV] = secret["password"]
            os.environ[demo.GRAPH_SECRET_ENV] = secret["client_secret"]
            base = demo.demo_spec(exchange, graph, secret["client_id"], wait_s=0).to_dict()
            spec = TenantSpec.from_dict({**base, "approval": {"policy": "required", "timeout_s": 3600}})
            ex_state = exchange.admin("GET", "/_emulator/state")
            gr_state = graph.admin("GET", "/_emulator/state")
            for i in range(runs):
                for label, target in channels.items():
                    if target is None:
                        os.environ.pop("PUSHPROXY_NOTIFICATION_CHANNELS", None)
                    else:
                        os.environ["PUSHPROXY_NOTIFICATION_CHANNELS"] = json.dumps([
                            {"name": "bench", "kind": "webhook", "secret_ref": f"env:{SECRET_ENV}", **target}])
                    exchange.admin("PUT", "/_emulator/state", ex_state)
                    graph.admin("PUT", "/_emulator/state", gr_state)
                    host = runner.open_host(workdir / f"local-{i}-{len(rows[label])}-{label[:7]}.sqlite")
                    try:
                        started = time.perf_counter()
                        instance_id, _ = runner.start_or_resume(host, spec, requested_by="carol")
                        final = runner.drive(host, instance_id, decide=_approve, timeout=180)
                        elapsed = time.perf_counter() - started
                        if not isinstance(final.output, dict) or final.output.get("outcome") != "done":
                            console.print(f"[red]{label}, run {i}: not done: {final.output}[/]")
                            return 1
                        rows[label].append((elapsed, _raise_costs(host, instance_id)))
                    finally:
                        host.close()
    finally:
        receiver.close()
        shutil.rmtree(workdir, ignore_errors=True)
    console.print(f"Notifications on a full onboarding against the stand-ins ({runs} runs each, 3 events a run)")
    quiet = statistics.median(t for t, _ in rows["no channel"])
    for label, results in rows.items():
        walls = [t for t, _ in results]
        costs = [c for _, cs in results for c in cs]
        console.print(
            f"  {label:24} onboarding wall median {statistics.median(walls):.2f} s "
            f"({statistics.median(walls) - quiet:+.2f} s vs no channel); raise_notification per event: median "
            f"{statistics.median(costs):.0f} ms, max {max(costs):.0f} ms ({len(costs)} events)",
            soft_wrap=True)
    console.print(f"  webhook deliveries received: {len(receiver.received)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
