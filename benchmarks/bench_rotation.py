"""One Auth certificate rotation with the defaults, on both stand-ins: wall time, activities, WSMan requests, cmdlets
and Graph calls (from the stand-ins' journals and stats), with the clock jumping over the weeks.

    python benchmarks/bench_rotation.py

The organisation is onboarded first (not counted), then its certificate is 29 days from expiry: the rotation
creates, imports on the second Mailbox server (another AD site), uploads, stages, publishes after the timer,
restarts the services on both servers, probes, retires and removes the old key.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pushproxy import rotation_runner  # noqa: E402
from pushproxy.clock import JumpClock  # noqa: E402
from pushproxy.onboarding import demo, runner  # noqa: E402
from pushproxy.rotation_view import rotation_view  # noqa: E402
from pushproxy.spec import TenantSpec  # noqa: E402


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="pushproxy-bench-rotation-"))
    try:
        with demo.standins(workdir) as (exchange, graph, secret):
            os.environ.update(demo.secret_environment(secret))  # in the demo tenant's namespace, as the demo does
            os.environ["PUSHPROXY_REGISTRY_PATH"] = str(workdir / "registry.sqlite")
            base = demo.demo_spec(exchange, graph, secret["client_id"], 0.0).to_dict()
            base["exchange"]["windows_powershell_url"] = exchange.origin + "/wsman"
            spec = TenantSpec.from_dict(base)
            clock = JumpClock()
            clock.on_jump.append(lambda at: exchange.admin("PUT", "/_emulator/clock", {"now": at.isoformat()}))
            host = runner.open_host(workdir / "local.sqlite", clock=clock)
            try:
                onboarding, _ = runner.start_or_resume(host, spec, requested_by="bench")
                runner.drive(host, onboarding, timeout=120)
                org = exchange.admin("GET", "/_emulator/state")["organizations"][demo.TENANT_DOMAIN]
                cert = next(c for c in org["certificates"] if c["thumbprint"] == org["auth_config"]["current"])
                clock.jump_to(datetime.fromisoformat(cert["not_after"]) - timedelta(days=29))
                for s in (exchange, graph):
                    s.admin("DELETE", "/_emulator/journal")
                started = time.perf_counter()
                instance_id, _ = rotation_runner.start_or_resume(host, spec, requested_by="bench")
                final = rotation_runner.run(host, instance_id, timeout=300, jump=lambda when: clock.jump_to(
                    datetime.fromisoformat(when) + timedelta(seconds=1)))
                elapsed = time.perf_counter() - started
                history = host.get_status(instance_id, show_history=True)
                events: list[Any] = list(getattr(history, "history", None) or [])
            finally:
                host.close()
            view = rotation_view(final)
            stats = exchange.admin("GET", "/_emulator/stats") or {}
            ex_journal = exchange.admin("GET", "/_emulator/journal")
            gr_journal = graph.admin("GET", "/_emulator/journal")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    activities = sum(1 for e in events if isinstance(e, dict) and e.get("EventType") in ("TaskScheduled", 4))
    print(f"outcome: {view['outcome']}  mode: {view['mode']}  wall time: {elapsed:.1f} s")
    timers = [e for e in events if isinstance(e, dict) and e.get("EventType") in ("TimerCreated", 10)]
    longest = max((_fire_span(events, e) for e in timers), default=0.0)
    print(f"activities scheduled: {activities or 'n/a'}  (changes recorded: {len(view['changes'])})")
    # The clock jumps to each wait's end, so a wait is one interval here; in real time each wait is a chain of
    # timers of at most 3 days (pushproxy.timers): about 10 for the 28-day staging wait, 3 for retire_after_days.
    print(f"durable timers created: {len(timers)}  longest single timer: {longest:.2f} days (Azure Storage allows 6)")
    print(f"WSMan requests: {sum(v for k, v in stats.items() if k.startswith('wsman.') and k != 'wsman.faults')}"
          f"  NTLM handshakes: {stats.get('auth.ntlm_handshakes', 0)}")
    print(f"cmdlets: {sum(1 for e in ex_journal if '-' in str(e.get('operation', '')))}"
          f"  of which changes: {sum(1 for e in ex_journal if str(e.get('operation', '')).startswith(('New-', 'Set-', 'Import-', 'Export-', 'Restart-')))}")
    print(f"Graph calls: {sum(1 for e in gr_journal if '/v1.0/' in str(e.get('operation', '')))}"
          f"  PATCHes: {sum(1 for e in gr_journal if str(e.get('operation', '')).startswith('PATCH'))}"
          f"  token requests: {sum(1 for e in gr_journal if '/oauth2/' in str(e.get('operation', '')))}")
    return 0 if view["outcome"] == "done" else 1


def _fire_span(events: list[Any], timer: dict[str, Any]) -> float:
    """Days between the episode that created `timer` and its FireAt."""
    started = None
    for e in events:
        if e.get("EventType") in ("OrchestratorStarted", 12):
            started = e.get("Timestamp")
        if e is timer:
            break
    if not started or not timer.get("FireAt"):
        return 0.0
    span = datetime.fromisoformat(str(timer["FireAt"]).replace("Z", "+00:00")) - datetime.fromisoformat(
        str(started).replace("Z", "+00:00"))
    return span.total_seconds() / 86400


if __name__ == "__main__":
    raise SystemExit(main())
