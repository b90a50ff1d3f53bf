"""`pushproxy approve ID [--reject] [--comment TEXT]`: decide on what an onboarding awaits, from any terminal."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from pushproxy.errors import PushProxyError
from pushproxy.onboarding import render, runner


def register(sub: Any) -> None:
    parser = sub.add_parser("approve", help="approve (or reject) the changes an onboarding is waiting for")
    parser.add_argument("id", help="instance id, e.g. onboarding-fabrikam.com")
    parser.add_argument("--reject", action="store_true", help="reject instead: the onboarding ends with nothing changed")
    parser.add_argument("--comment", default=None, help="recorded with the decision")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.add_argument("--database", type=Path, default=None, help="local host database")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=args.json)
    host = runner.open_host(args.database)
    try:
        status = host.get_status(args.id, show_history=False)
        if not status:
            raise PushProxyError(f"no onboarding {args.id!r} in this database")
        custom = status.custom_status if isinstance(status.custom_status, dict) else {}
        awaiting = custom.get("awaiting")
        if runner.runtime_of(status) not in runner.ACTIVE or custom.get("phase") != "awaiting_approval" or not awaiting:
            raise PushProxyError(f"{args.id} is not waiting for an approval (phase {custom.get('phase', '?')})")
        render.print_group_for_approval(console, custom)
        event = {
            "decision": "reject" if args.reject else "approve",
            "approver": runner.current_user(),
            "comment": args.comment,
            # Bind the decision to the state shown above: if it changed meanwhile, the workflow ignores this.
            "state_hash": awaiting["state_hash"],
        }
        host.raise_event(args.id, "approval", event)
        console.print(f"{event['decision']}d the {awaiting['group']} changes of {args.id} as {event['approver']}")
        if args.json:
            print(json.dumps({"instance_id": args.id, **event}))
        return 0
    finally:
        host.close()
