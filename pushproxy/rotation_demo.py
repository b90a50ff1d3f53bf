"""`pushproxy demo --rotation`: the Auth certificate's whole renewal on the stand-ins, weeks in seconds.

The stand-in organisation is onboarded, then the clock jumps to 29 days before its Auth certificate expires (the
product's clock, a JumpClock, and the Exchange stand-in's, `PUT /_emulator/clock`, together). The rotation then
runs with the product's defaults (renew 60 days ahead, stage 30 days, retire 7 days after publishing, remove our
old key once it expired), auto-approved, and each durable timer is jumped over when the workflow waits on it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from pushproxy import rotation_runner
from pushproxy.clock import JumpClock
from pushproxy.onboarding import demo, runner
from pushproxy.rotation_view import headline, rotation_view
from pushproxy.spec import TenantSpec


def run_rotation_demo(console: Console, keep: bool = False) -> int:
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="pushproxy-rotation-demo-"))
    console.rule("pushproxy demo --rotation")
    with demo.standins(workdir) as (exchange, graph, secret):
        os.environ.update(demo.secret_environment(secret))  # in the demo tenant's namespace (pushproxy.secrets)
        os.environ["PUSHPROXY_REGISTRY_PATH"] = str(workdir / "registry.sqlite")
        base = demo.demo_spec(exchange, graph, secret["client_id"], 1.0).to_dict()
        base["exchange"]["windows_powershell_url"] = exchange.origin + "/wsman"
        spec = TenantSpec.from_dict(base)
        clock = JumpClock()
        clock.on_jump.append(lambda at: exchange.admin("PUT", "/_emulator/clock", {"now": at.isoformat()}))
        host = runner.open_host(workdir / "local.sqlite", clock=clock)
        try:
            console.print("Onboarding the stand-in organisation first …")
            instance_id, _ = runner.start_or_resume(host, spec, requested_by="pushproxy demo")
            onboarded = runner.drive(host, instance_id, timeout=120).output or {}
            console.print(f"  onboarding: {onboarded.get('outcome')}")
            org = exchange.admin("GET", "/_emulator/state")["organizations"][demo.TENANT_DOMAIN]
            current = org["auth_config"]["current"]
            cert = next(c for c in org["certificates"] if c["thumbprint"] == current)
            expires = datetime.fromisoformat(cert["not_after"])
            jump_to = expires - timedelta(days=29)
            clock.jump_to(jump_to)
            console.print(f"[bold]The clock jumps to {jump_to:%Y-%m-%d}[/]: the Auth certificate {current[:12]}… "
                          f"expires on {expires:%Y-%m-%d}, in 29 days.")
            exchange.admin("DELETE", "/_emulator/journal")
            graph.admin("DELETE", "/_emulator/journal")
            rotation_id, _ = rotation_runner.start_or_resume(host, spec, requested_by="pushproxy demo")
            shown: list[Any] = [None]

            def on_status(status: dict[str, Any]) -> None:
                key = (status.get("phase"), status.get("next_date"))
                if key != shown[0]:
                    shown[0] = key
                    console.print(f"  {clock.now():%Y-%m-%d %H:%M}  {headline(status)}")

            def jump(when: str) -> None:
                target = datetime.fromisoformat(when) + timedelta(seconds=1)
                gap = target - clock.now()
                console.print(f"  [cyan]⏩ {gap.days} days {gap.seconds // 3600} h later[/]")
                clock.jump_to(target)

            final = rotation_runner.run(host, rotation_id, on_status=on_status, jump=jump, timeout=300)
            view = rotation_view(final)
            demo._print_calls(console, "Cmdlets run on Exchange", demo.calls(exchange.admin("GET", "/_emulator/journal")))
            demo._print_calls(console, "Graph calls", demo.calls(graph.admin("GET", "/_emulator/journal")))
            for approval in view["approvals"]:
                console.print(f"  approved {approval['group']} by {approval['approver']} at {approval['time'][:16]}")
        finally:
            host.close()
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    ok = view.get("outcome") == "done"
    elapsed = time.monotonic() - started
    console.rule()
    if ok:
        new = (view.get("new_certificate") or {}).get("thumbprint", "?")
        console.print(f"[bold green]Rotation demo complete[/] in {elapsed:.1f} s: {new[:12]}… is current, the old "
                      "certificate retired and its key removed after it expired.")
    else:
        console.print(f"[bold red]Rotation demo failed[/]: {view.get('outcome')} {view.get('error') or ''}")
    return 0 if ok else 1
