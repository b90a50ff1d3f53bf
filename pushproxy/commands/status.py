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
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        table = Table(title="Onboardings", title_justify="left")
        for column in ("instance_id", "runtime_status", "phase", "updated"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(e(row[c]) for c in ("instance_id", "runtime_status", "phase", "updated")))
        console.print(table)
        return 0
    finally:
        host.close()
