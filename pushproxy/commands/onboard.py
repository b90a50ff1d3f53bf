"""`pushproxy onboard --spec FILE`: onboard one organisation from this machine, on the local Durable host."""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.status import Status

from pushproxy.api.views import json_value
from pushproxy.approvals import same_person
from pushproxy.commands import exit_codes
from pushproxy.errors import SpecError
from pushproxy.local import default_database_path
from pushproxy.onboarding import render, runner
from pushproxy.spec import TenantSpec


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "onboard",
        help="onboard one organisation (discover, plan, approve, apply, verify)",
        description="Onboard one organisation to the push-notification proxy. Re-running it for a tenant whose "
        "onboarding is unfinished continues that onboarding.",
        epilog=exit_codes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--spec", required=True, type=Path, help="the TenantSpec (JSON)")
    parser.add_argument("--dry-run", action="store_true", help="discover and show the plan; change nothing")
    parser.add_argument("--auto-approve", action="store_true", help="approve every group without asking")
    parser.add_argument("--json", action="store_true", help="print the final report as JSON on stdout")
    parser.add_argument("--database", type=Path, default=None, help="local host database (default ~/.local/share/pushproxy/local.sqlite)")
    parser.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    parser.set_defaults(func=run)


def load_spec(path: Path) -> TenantSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError("spec", f"cannot read {path}: {exc.strerror}") from None
    return TenantSpec.from_json(text)


class TerminalApprover:
    """Asks on the terminal once per awaited group, without blocking: an approval from another terminal
    (`pushproxy approve`) is picked up while the question is open."""

    def __init__(self, console: Console, user: str, spinner: Status | None = None, requester: str | None = None) -> None:
        self.console = console
        self.user = user
        # Nobody approves their own request (the workflow refuses it whatever door it comes through): the one
        # who started the run is not asked, only told who can decide.
        self.own_request = requester is not None and same_person(user, requester)
        # The spinner redraws its line: stopped while a question is open, so it never overwrites the prompt.
        self.spinner = spinner
        self.asked: tuple[str, str] | None = None
        self._pending = ""
        self._eof = False

    def __call__(self, status: dict[str, Any]) -> dict[str, Any] | None:
        awaiting = status["awaiting"]
        key = (awaiting["group"], awaiting["state_hash"])
        if self.asked != key:
            self.asked = key
            if self.spinner is not None:
                self.spinner.stop()
            render.print_group_for_approval(self.console, status)
            if self.own_request:
                self.console.print(
                    f"You ({render.e(self.user)}) requested this onboarding, so you cannot approve it: another approver "
                    f"runs `pushproxy approve {status.get('instance_id') or '<id>'}`. Waiting for that decision."
                )
            else:
                self.console.print(
                    f"Approve as [bold]{render.e(self.user)}[/]? \\[y]es / \\[n]o "
                    f"(or from another terminal: pushproxy approve {status.get('instance_id') or '<id>'})"
                )
        if self.own_request:
            return None
        line = self._line()
        if line is None:
            return None
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return {"decision": "approve", "approver": self.user, "comment": "approved on the terminal",
                    "group": key[0], "state_hash": key[1]}
        if answer in ("n", "no"):
            return {"decision": "reject", "approver": self.user, "comment": "rejected on the terminal",
                    "group": key[0], "state_hash": key[1]}
        self.console.print("Please answer y or n.")
        return None

    def _line(self) -> str | None:
        """One typed line if there is one, else None at once. Reads the file descriptor itself: Python's
        buffered stdin could hold a line that select() no longer reports."""
        if "\n" not in self._pending and not self._eof:
            try:
                fd = sys.stdin.fileno()
                ready, _, _ = select.select([fd], [], [], 0)
                if ready:
                    chunk = os.read(fd, 4096)
                    self._eof = not chunk
                    self._pending += chunk.decode(errors="replace")
            except (OSError, ValueError):  # no usable stdin: wait for `pushproxy approve`
                self._eof = True
        if "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            return line
        if self._eof and self._pending:
            line, self._pending = self._pending, ""
            return line
        return None


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    # Progress goes to stderr when --json owns stdout.
    console = Console(stderr=args.json)
    if args.dry_run:
        plan, _, _ = runner.dry_run(spec)
        render.print_plan(console, [c.to_dict() for c in plan.changes], [p.to_dict() for p in plan.blocking])
        for note in plan.notes:
            if note.startswith("hybrid: "):  # which hybrid mode, what it means for push, what the app lacks
                console.print(f"  • {render.e(note)}")
        if args.json:
            print(json.dumps(plan.to_dict(), indent=2))
        return exit_codes.BLOCKED if plan.is_blocked else exit_codes.DONE

    user = runner.current_user()
    if args.auto_approve:
        # On one machine the one at the terminal holds the spec and its secrets: the operator. --auto-approve is
        # their approval policy for the run it starts (recorded as "policy:auto"), not a self-approval.
        spec = replace(spec, approval=replace(spec.approval, policy="auto"))
    host = runner.open_host(args.database)
    try:
        instance_id, resumed = runner.start_or_resume(host, spec, requested_by=user)
        requester: str | None = user
        if resumed:
            # The SDK's attribute is `input_`: JSON text on some hosts, parsed on others.
            started = json_value(getattr(host.get_status(instance_id, show_history=False), "input_", None))
            started_with = started.get("spec") if isinstance(started, dict) else None
            requester = started.get("requested_by") if isinstance(started, dict) else None
            if started_with != spec.to_dict():
                console.print(
                    "[yellow]Note[/]: an unfinished onboarding of this tenant exists; it continues with the spec it "
                    "was started with, not the one given now."
                )
        console.print(f"{'Resuming' if resumed else 'Started'} onboarding [bold]{render.e(instance_id)}[/] (database {render.e(args.database or default_database_path())})")

        progress = render.ProgressPrinter(console)
        spinner = console.status("onboarding…", spinner="dots") if not args.json and console.is_terminal else None

        def on_status(status: dict[str, Any]) -> None:
            status["instance_id"] = instance_id
            progress(status)
            if spinner is not None and status.get("phase") != "awaiting_approval":
                spinner.start()  # again after a question (a no-op while it spins)

        own_request = requester is not None and same_person(user, requester)
        if args.auto_approve and not own_request:
            # A resumed run someone else requested, waiting for a group: approve it as this user.
            def decide(status: dict[str, Any]) -> dict[str, Any] | None:
                console.print(f"[yellow]Auto-approving[/] the {render.e(status['awaiting']['group'])} changes as {render.e(user)} (--auto-approve)")
                return {
                    "decision": "approve",
                    "approver": user,
                    "comment": "--auto-approve",
                    "group": status["awaiting"]["group"],
                    "state_hash": status["awaiting"]["state_hash"],
                }
        else:
            decide = TerminalApprover(console, user, spinner=spinner, requester=requester)

        if spinner is not None:
            spinner.start()
        try:
            final = runner.drive(host, instance_id, on_status=on_status, decide=decide, timeout=args.timeout)
        except TimeoutError:
            console.print(
                f"[yellow]{instance_id} is still running[/] after {args.timeout:g} s (--timeout). Run the same command "
                "again to continue it; `pushproxy status` shows where it is."
            )
            return exit_codes.STILL_RUNNING
        finally:
            if spinner is not None:
                spinner.stop()
        report = final.output if isinstance(final.output, dict) else {"outcome": "failed", "error": final.output}
        render.print_summary(console, report, blockers_shown=progress.blockers_shown)
        if args.json:
            print(json.dumps(report, indent=2))
        return exit_codes.for_outcome(report.get("outcome"))
    finally:
        host.close()
