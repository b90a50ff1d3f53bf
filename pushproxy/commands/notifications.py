"""`pushproxy notifications [--status failed] [--tenant T] [--json]`: the deliveries of events to channels, as
the registry recorded them (the same records `GET /api/notifications` lists), and the configured channels."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from pushproxy.notifications.config import configured_channels
from pushproxy.notifications.delivery import STATUSES
from pushproxy.notifications.store import NotificationLog
from pushproxy.registry import open_registry


def register(sub: Any) -> None:
    parser = sub.add_parser("notifications", help="list notification deliveries (e.g. --status failed) and channels")
    parser.add_argument("--status", choices=STATUSES, default=None, help="only deliveries in this status")
    parser.add_argument("--tenant", default=None, help="only this tenant's")
    parser.add_argument("--limit", type=int, default=100, help="at most this many, newest first (default 100)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    channels = configured_channels()  # a bad configuration is exit code 2, naming the field
    with open_registry() as registry:
        listed = NotificationLog(registry).deliveries(args.status, args.tenant, max(1, args.limit))
    if args.json:
        print(json.dumps({"channels": [c.describe() for c in channels],
                          "notifications": [d.to_dict() for d in listed], "count": len(listed)}, indent=2))
        return 0
    console = Console()
    if not channels:
        console.print("no notification channels are configured (PUSHPROXY_NOTIFICATION_CHANNELS)", style="yellow")
    table = Table(title="Notifications" + (f" ({args.status})" if args.status else ""), title_justify="left")
    for column in ("occurred_at", "type", "tenant", "channel", "status", "attempts", "last_error"):
        table.add_column(column, overflow="fold")
    for d in listed:
        table.add_row(d.occurred_at, d.type, d.tenant or "-", d.channel, d.status, str(len(d.attempts)),
                      d.last_error or "")
    console.print(table)
    return 0
