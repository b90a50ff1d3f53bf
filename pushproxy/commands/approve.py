"""`pushproxy approve ID [--reject] [--comment TEXT]`: decide on what an onboarding awaits, from any terminal.

On one machine nothing runs a workflow unless a command drives it. So after recording the decision, `approve`
runs the onboarding itself until it next waits for a person (the next group's approval) or ends, and prints its
progress. An `onboard` or `serve` running on the same database at the same time is fine: the host lets one
process at a time run an instance. `--no-wait` only records the decision; the next `pushproxy onboard --spec
...`, `pushproxy serve` or `pushproxy approve` on this database then carries it on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from pushproxy.api.views import json_value
from pushproxy.approvals import same_person
from pushproxy.commands import exit_codes
from pushproxy.errors import PushProxyError
from pushproxy.onboarding import render, runner
from pushproxy.onboarding.render import e


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "approve",
        help="approve (or reject) the changes an onboarding is waiting for, then run it to its next wait",
        description=__doc__,
        epilog=exit_codes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("id", help="instance id, e.g. onboarding-fabrikam.com")
    parser.add_argument("--reject", action="store_true", help="reject instead: the onboarding ends with nothing changed")
    parser.add_argument("--comment", default=None, help="recorded with the decision")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.add_argument("--database", type=Path, default=None, help="local host database")
    parser.add_argument("--no-wait", action="store_true",
                        help="only record the decision; the next onboard/serve/approve on this database runs it")
    parser.add_argument("--timeout", type=float, default=None, help="stop running it after this many seconds")
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
        user = runner.current_user()
        # The workflow refuses a requester's own approval whatever door it comes through (pushproxy.approvals);
        # saying so here spares a decision that would only be noted as ignored.
        started = json_value(getattr(status, "input_", None))
        requester = started.get("requested_by") if isinstance(started, dict) else None
        if isinstance(requester, str) and same_person(user, requester):
            raise PushProxyError(f"{user} requested {args.id} and cannot approve it: another approver must")
        render.print_group_for_approval(console, custom)
        event = {
            "decision": "reject" if args.reject else "approve",
            "approver": user,
            "comment": args.comment,
            # Bind the decision to the group and plan shown above: the workflow ignores it for any other wait,
            # and refuses it if this user requested the run (pushproxy.approvals).
            "group": awaiting["group"],
            "state_hash": awaiting["state_hash"],
        }
        host.raise_event(args.id, str(awaiting.get("event") or "approval"), event)  # this wait's own event
        console.print(f"{e(event['decision'])}d the {e(awaiting['group'])} changes of {e(args.id)} as {e(event['approver'])}")
        if args.json:
            print(json.dumps({"instance_id": args.id, **event}))
        if args.no_wait:
            console.print(
                f"Recorded only (--no-wait): `pushproxy onboard --spec …`, `pushproxy serve` or `pushproxy approve` "
                f"on this database carries {e(args.id)} on."
            )
            return exit_codes.DONE
        return _carry_on(console, host, args.id, awaiting, args.timeout)
    finally:
        host.close()


def _carry_on(console: Console, host: Any, instance_id: str, decided: dict[str, Any], timeout: float | None) -> int:
    """Run the onboarding until it waits for a person again or ends; the exit code says which."""
    progress = render.ProgressPrinter(console)
    progress.phases.append("awaiting_approval")  # where it is now; the plan was shown above
    progress.plan_shown = True
    try:
        final = runner.drive(host, instance_id, on_status=progress, timeout=timeout, until=runner.next_wait(decided))
    except TimeoutError:
        console.print(f"{e(instance_id)} still runs after {timeout:g} s; `pushproxy status {e(instance_id)}` shows where it is.")
        return exit_codes.STILL_RUNNING
    custom = final.custom_status if isinstance(final.custom_status, dict) else {}
    if runner.runtime_of(final) in runner.ACTIVE and custom.get("phase") == "awaiting_approval":
        group = (custom.get("awaiting") or {}).get("group")
        console.print(
            f"{e(instance_id)} now waits for approval of the {e(render.GROUP_TITLES.get(str(group), str(group)))} changes: "
            f"`pushproxy approve {e(instance_id)}` (or --reject)"
        )
        return exit_codes.DONE
    report = final.output if isinstance(final.output, dict) else {"outcome": custom.get("phase") or "failed"}
    render.print_summary(console, report, blockers_shown=progress.blockers_shown)
    return exit_codes.for_outcome(report.get("outcome"))
