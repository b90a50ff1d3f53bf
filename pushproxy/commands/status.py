"""`pushproxy status [ID]`: what an onboarding on this machine is doing, or every onboarding."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pushproxy.onboarding import render, runner
from pushproxy.onboarding.render import e


def register(sub: Any) -> None:
    parser = sub.add_parser("status", help="show one onboarding, offboarding or prune (by id) or all of them")
    parser.add_argument("id", nargs="?", help="instance id, e.g. onboarding-fabrikam.com")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--database", type=Path, default=None, help="local host database")
    parser.add_argument("--wide", action="store_true",
                        help="one line per row, however wide (long ids are folded, never cut, without it)")
    parser.set_defaults(func=run)


def _print_rotation(console: Console, status: Any) -> None:
    from pushproxy.rotation_view import headline, rotation_view

    view = rotation_view(status)
    console.print(f"[bold]{view['id']}[/] ({view['runtime_status']}): {headline(view)}")
    if view.get("waiting_for"):
        console.print(f"  waiting for: {view['waiting_for']}")
    if view.get("awaiting"):
        console.print(f"  awaiting approval: {view['awaiting'].get('group')}")
    for change in view["changes"]:
        console.print(f"  {change.get('at', '')[:16]}  {change['kind']}: {change.get('outcome')}")
    for approval in view["approvals"]:
        console.print(f"  {approval['time'][:16]}  {approval['group']} {approval['decision']}d by {approval['approver']}")
    if view.get("error"):
        console.print(f"  [red]{view['error']}[/]")


def run(args: argparse.Namespace) -> int:
    # Identifiers are folded onto the next line at the terminal's width, never cut; --wide keeps each on one line.
    console = Console(width=400) if getattr(args, "wide", False) else Console()
    host = runner.open_host(args.database)
    try:
        if args.id:
            status = host.get_status(args.id, show_history=False)
            if not status:
                console.print(f"no onboarding {e(repr(args.id))} in this database", style="red")
                return 1
            payload = {
                "instance_id": args.id,
                "runtime_status": runner.runtime_of(status),
                "custom_status": status.custom_status,
                "output": status.output,
            }
            if args.json:
                print(json.dumps(payload, indent=2, default=str))
            elif args.id.startswith("rotation-"):
                _print_rotation(console, status)
            else:
                render.print_status(console, args.id, payload["runtime_status"], status.custom_status)
            return 0
        rows = [
            {
                "instance_id": s.instance_id,
                "runtime_status": runner.runtime_of(s),
                "phase": (s.custom_status or {}).get("phase") if isinstance(s.custom_status, dict) else None,
                "updated": str(s.last_updated_time),
            }
            # The tenant workflows this machine runs: onboardings, then offboardings and prunes.
            for prefix in ("onboarding-", "offboarding-", "prune-")
            for s in host.get_status_by(instance_id_prefix=prefix)
        ]
        # Rotations wait for weeks: their phase and the next date (publish, retire, key removal).
        for s in host.get_status_by(instance_id_prefix="rotation-"):
            custom = s.custom_status if isinstance(s.custom_status, dict) else {}
            rows.append({"instance_id": s.instance_id, "runtime_status": runner.runtime_of(s),
                         "phase": custom.get("phase"), "next_date": custom.get("next_date"),
                         "updated": str(s.last_updated_time)})
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        table = Table(title="Onboardings and rotations", title_justify="left")
        columns = ("instance_id", "runtime_status", "phase", "next_date", "updated")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(e(row.get(c) or "-") for c in columns))
        console.print(table)
        return 0
    finally:
        host.close()
