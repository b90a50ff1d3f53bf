"""`pushproxy rotate --spec FILE`: renew one organisation's Auth certificate from this machine (local Durable host).

The rotation waits weeks on durable timers (the staging period, the retirement). On one machine it continues under
`pushproxy serve`, or by running `pushproxy rotate` again after the date it prints: the timer is due then, and the
same instance goes on (its id is `rotation-<domain>`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from pushproxy import rotation_runner
from pushproxy.commands import exit_codes
from pushproxy.commands.onboard import TerminalApprover, load_spec
from pushproxy.local import default_database_path
from pushproxy.onboarding import runner
from pushproxy.rotation_view import headline, rotation_view

OUTCOMES = {"done": exit_codes.DONE, "nothing_to_do": exit_codes.DONE, "superseded": exit_codes.DONE,
            "blocked": exit_codes.BLOCKED, "rejected": exit_codes.REJECTED, "timed_out": exit_codes.REJECTED}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "rotate",
        help="renew the Auth certificate (create, import, upload, stage, publish, retire)",
        description="Renew one organisation's Auth certificate before it expires. Re-running it continues the "
        "tenant's unfinished rotation; a rotation waiting on its dates also continues under `pushproxy serve`.",
        epilog=exit_codes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--spec", required=True, type=Path, help="the TenantSpec (JSON)")
    parser.add_argument("--dry-run", action="store_true", help="discover and show the rotation plan; change nothing")
    parser.add_argument("--auto-approve", action="store_true", help="approve every step without asking")
    parser.add_argument("--force", action="store_true",
                        help="renew even when the current certificate is not within rotation.renew_before_days")
    parser.add_argument("--json", action="store_true", help="print the rotation's status as JSON on stdout")
    parser.add_argument("--database", type=Path, default=None, help="local host database (default ~/.local/share/pushproxy/local.sqlite)")
    parser.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    parser.set_defaults(func=run)


class RotationApprover(TerminalApprover):
    """The terminal question for a rotation step: its lines, then y/n (or `pushproxy approve` elsewhere)."""

    def __call__(self, status: dict[str, Any]) -> dict[str, Any] | None:
        awaiting = status["awaiting"]
        key = (awaiting["group"], awaiting.get("state_hash") or "")
        if self.asked != key:
            self.asked = key
            self.console.print(f"[bold]Rotation step for approval: {awaiting['group']}[/]")
            for line in awaiting.get("steps") or []:
                self.console.print(f"  • {line}")
            self.console.print(f"Approve as [bold]{self.user}[/]? \\[y]es / \\[n]o")
        line = self._line()
        if line is None:
            return None
        answer = line.strip().lower()
        if answer in ("y", "yes", "n", "no"):
            decision = "approve" if answer.startswith("y") else "reject"
            return {"decision": decision, "approver": self.user, "comment": f"{decision}d on the terminal",
                    "state_hash": key[1] or None}
        self.console.print("Please answer y or n.")
        return None


def dry_run(spec: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    from pushproxy.outcome import message
    from pushproxy.rotation import plan_rotation
    from pushproxy.rotation_steps import read_key_policy

    _, exchange, tenant = runner.dry_run(spec)
    # The tenant's key-lifetime policy, as the workflow reads it (read-only): the plan shortens the lifetime, or
    # says that the policy could not be read.
    from pushproxy.onboarding.steps import operator_registration

    with operator_registration(spec):  # the operator's own spec, in this process, as runner.dry_run binds it
        policy = asyncio.run(read_key_policy({"spec": spec.to_dict()}))
    result = policy["result"] if policy.get("ok") else {}
    unread = None if result.get("readable") else str(result.get("error") or message(policy))
    return plan_rotation(exchange, tenant, spec, datetime.now(UTC), key_lifetime_limit_days=result.get("max_days"),
                         key_policy_unread=unread).to_dict()


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    console = Console(stderr=args.json)
    if args.dry_run:
        plan = dry_run(spec)
        console.print(f"[bold]{plan['mode']}[/]: {plan['reason']}")
        for line in plan["steps"]:
            console.print(f"  • {line}")
        for note in plan["notes"]:
            console.print(f"  [dim]note: {note}[/]")
        if args.json:
            print(json.dumps(plan, indent=2))
        return exit_codes.BLOCKED if plan["mode"] == "blocked" else exit_codes.DONE

    user = runner.current_user()
    host = runner.open_host(args.database)
    try:
        try:
            if args.auto_approve:
                # As `pushproxy onboard --auto-approve`: the local operator's run starts under approval policy auto
                # (recorded as "policy:auto"); approving one's own request is refused inside the workflow.
                from dataclasses import replace

                spec = replace(spec, approval=replace(spec.approval, policy="auto"))
            instance_id, resumed = rotation_runner.start_or_resume(host, spec, requested_by=user, force=args.force)
        except rotation_runner.Busy as busy:
            console.print(f"[red]{busy.instance_id} is running for {spec.tenant_domain}[/]: one workflow per tenant at "
                          "a time; finish it first (`pushproxy status`)")
            return exit_codes.FAILED
        console.print(f"{'Resuming' if resumed else 'Started'} rotation [bold]{instance_id}[/] "
                      f"(database {args.database or default_database_path()})")
        shown: list[Any] = [None]

        def on_status(status: dict[str, Any]) -> None:
            line = (status.get("phase"), status.get("next_date"))
            if line != shown[0]:
                shown[0] = line
                console.print(f"  {headline(status)}")

        if args.auto_approve:
            def decide(status: dict[str, Any]) -> dict[str, Any] | None:
                return {"decision": "approve", "approver": user, "comment": "--auto-approve",
                        "state_hash": status["awaiting"].get("state_hash") or None}
        else:
            decide = RotationApprover(console, user)
        try:
            final = rotation_runner.run(host, instance_id, decide=decide, on_status=on_status, timeout=args.timeout)
        except TimeoutError:
            console.print(f"[yellow]{instance_id} is still running[/] after {args.timeout:g} s; run the same command again.")
            return exit_codes.STILL_RUNNING
        view = rotation_view(final)
        if args.json:
            print(json.dumps(view, indent=2))
        if runner.runtime_of(final) not in runner.FINAL:
            console.print(f"[bold]{headline(view)}[/]. It continues under `pushproxy serve`, or run `pushproxy rotate "
                          f"--spec {args.spec}` again after {str(view['next_date'])[:16]} UTC.")
            return exit_codes.STILL_RUNNING
        outcome = view.get("outcome") or "failed"
        console.print(f"Rotation {outcome}" + (f": {view['error']}" if view.get("error") else ""))
        return OUTCOMES.get(outcome, exit_codes.FAILED)
    finally:
        host.close()
