"""`pushproxy offboard --spec FILE` and `pushproxy prune --spec FILE`: take an organisation off the proxy, or remove
our keys of expired certificates, from this machine, on the local Durable host (the same workflows as in Azure)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from pushproxy import offboarding_runner
from pushproxy.commands import exit_codes
from pushproxy.commands.onboard import TerminalApprover, load_spec
from pushproxy.local import default_database_path
from pushproxy.onboarding import render, runner


def register(sub: Any) -> None:
    offboard = sub.add_parser(
        "offboard",
        help="take one organisation off the push-notification proxy, undoing only what pushproxy made",
        description="Disable the push-notification proxy, remove from the tenant's Exchange Online service principal "
        "every key pushproxy uploaded (and no other), and with --remove-auth-server the AuthServer pushproxy created. "
        "The Auth certificate stays. Each group of changes is approved first. Re-running it continues an unfinished "
        "offboarding.",
        epilog=exit_codes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    offboard.add_argument("--remove-auth-server", action="store_true",
                          help="also remove the AuthServer, if an onboarding of ours created it")
    offboard.add_argument("--comment", default=None, help="why (recorded with the run)")
    _common(offboard)
    offboard.set_defaults(func=run, workflow="offboarding")

    prune = sub.add_parser(
        "prune",
        help="remove the keys pushproxy uploaded whose certificates have expired (after approval)",
        description="Remove from the tenant's Exchange Online service principal the keys pushproxy uploaded whose "
        "certificates have expired. Keys pushproxy did not upload are counted and never touched.",
        epilog=exit_codes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    prune.add_argument("--comment", default=None, help="why (recorded with the run)")
    _common(prune)
    prune.set_defaults(func=run, workflow="prune", remove_auth_server=False)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--spec", required=True, type=Path, help="the TenantSpec (JSON)")
    parser.add_argument("--dry-run", action="store_true", help="discover and show the plan; change nothing")
    parser.add_argument("--auto-approve", action="store_true", help="approve every group without asking")
    parser.add_argument("--json", action="store_true", help="print the final report as JSON on stdout")
    parser.add_argument("--database", type=Path, default=None,
                        help="local host database (default ~/.local/share/pushproxy/local.sqlite)")
    parser.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")


def run(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    console = Console(stderr=args.json)  # progress on stderr when --json owns stdout
    workflow: str = args.workflow
    if args.dry_run:
        plan = offboarding_runner.dry_run(spec, workflow, remove_auth_server=args.remove_auth_server)
        render.print_plan(console, [c.to_dict() for c in plan.changes], [p.to_dict() for p in plan.blocking])
        for note in plan.notes:
            console.print(f"  found: {note}")
        if args.json:
            print(json.dumps(plan.to_dict(), indent=2))
        return exit_codes.BLOCKED if plan.is_blocked else exit_codes.DONE

    if args.auto_approve:
        # As `pushproxy onboard --auto-approve`: on one machine whoever holds the spec and its secrets is the
        # operator, so the run starts under approval policy auto (recorded as "policy:auto"); approving one's own
        # request is refused inside the workflow (pushproxy.approvals).
        from dataclasses import replace

        spec = replace(spec, approval=replace(spec.approval, policy="auto"))
    user = runner.current_user()
    host = runner.open_host(args.database)
    try:
        try:
            instance_id, resumed = offboarding_runner.start_or_resume(
                host, spec, workflow, requested_by=user, remove_auth_server=args.remove_auth_server, comment=args.comment)
        except offboarding_runner.WorkflowRunning as exc:
            console.print(f"[red]{exc}[/]")
            return exit_codes.FAILED
        console.print(f"{'Resuming' if resumed else 'Started'} {workflow} [bold]{instance_id}[/] "
                      f"(database {args.database or default_database_path()})")
        progress = render.ProgressPrinter(console)

        def on_status(status: dict[str, Any]) -> None:
            status["instance_id"] = instance_id
            progress(status)

        if args.auto_approve:
            def decide(status: dict[str, Any]) -> dict[str, Any] | None:
                console.print(f"[yellow]Auto-approving[/] the {status['awaiting']['group']} changes as {user} (--auto-approve)")
                return {"decision": "approve", "approver": user, "comment": "--auto-approve",
                        "state_hash": status["awaiting"]["state_hash"]}
        else:
            decide = TerminalApprover(console, user)
        try:
            final = runner.drive(host, instance_id, on_status=on_status, decide=decide, timeout=args.timeout)
        except TimeoutError:
            console.print(f"[yellow]{instance_id} is still running[/] after {args.timeout:g} s (--timeout). Run the "
                          "same command again to continue it.")
            return exit_codes.STILL_RUNNING
        report = final.output if isinstance(final.output, dict) else {"outcome": "failed", "error": final.output}
        render.print_summary(console, report, blockers_shown=progress.blockers_shown)
        if args.json:
            print(json.dumps(report, indent=2))
        return exit_codes.for_outcome(report.get("outcome"))
    finally:
        host.close()
