"""`pushproxy verify [--tenant T] [--json]`: verify the fleet on this machine and print each tenant's state.

Runs the same verification orchestrator as the timer in Azure, on the local host (SQLite), against the registry
(PUSHPROXY_REGISTRY_PATH). Exit code 0 when the verification ran, whatever it found, unless --fail-on says
otherwise (5 when a tenant is at or past the named state, for cron and CI alerting); 1 when it could not run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pushproxy.errors import PushProxyError, SpecError


def register(sub: Any) -> None:
    parser = sub.add_parser("verify", help="verify onboarded tenants: healthy, drifting or failing, and why",
                            description=__doc__)
    parser.add_argument("--tenant", action="append", default=None, metavar="DOMAIN",
                        help="verify only this tenant (repeatable); default: every onboarded tenant")
    parser.add_argument("--json", action="store_true", help="print JSON (as GET /api/tenants)")
    parser.add_argument("--database", type=Path, default=None,
                        help="local host database (default $PUSHPROXY_LOCAL_DB or ~/.local/share/pushproxy/local.sqlite)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the verification (default 3600)")
    parser.add_argument("--fail-on", choices=FAIL_ON, default=None,
                        help="exit 5 when a tenant is failing (--fail-on failing) or drifting or failing (--fail-on drifting)")
    parser.set_defaults(func=run)


# --fail-on X: the states that make the exit code non-zero.
FAIL_ON = ("drifting", "failing")
FAILING_STATES = {"drifting": ("drifting", "failing"), "failing": ("failing",)}


def exit_code(fleet: dict[str, Any], fail_on: str | None) -> int:
    """0, or 5 (exit_codes.UNHEALTHY) when --fail-on names a state some tenant is in (or worse)."""
    from pushproxy.commands import exit_codes

    if fail_on and any(row.get("state") in FAILING_STATES[fail_on] for row in fleet.get("tenants", [])):
        return exit_codes.UNHEALTHY
    return exit_codes.DONE



class VerifyError(PushProxyError):
    pass


class VerifyInputError(VerifyError, SpecError):
    """A bad option (exit code 2, bad input): says which and why, like SpecError."""

    def __init__(self, message: str) -> None:
        PushProxyError.__init__(self, message)
        self.field, self.reason = "--tenant", message


def run(args: argparse.Namespace) -> int:
    from pushproxy.api import validation, views
    from pushproxy.api.durable import new_verification_id, running_verification_local, verification_input
    from pushproxy.api.errors import ApiError
    from pushproxy.local import default_database_path
    from pushproxy.onboarding.runner import open_host
    from pushproxy.registry import open_registry

    try:
        tenants = sorted({validation.tenant_domain(t, "--tenant") for t in args.tenant}) if args.tenant else None
    except ApiError as exc:
        raise VerifyInputError(exc.message) from None
    database = Path(args.database).expanduser() if args.database else default_database_path()
    host = open_host(database)
    try:
        # One verification at a time: join the one that runs, else start one under its own id.
        verification_id = running_verification_local(host)
        if verification_id is None:
            verification_id = new_verification_id()
            host.start_new("verification", verification_id, verification_input(tenants))
        status = host.wait_for(verification_id, timeout=args.timeout)
        remediations = status.output.get("remediations", []) if isinstance(status.output, dict) else []
        # Take each remediation (an onboarding, or a prune) as far as its approval, so the plan is there for whoever
        # approves it.
        from pushproxy.tenant_workflows import blocking

        for domain in remediations:
            remediation = blocking(lambda i: host.get_status(i, show_history=False), domain)
            if remediation is not None:
                _run_until_it_waits(host, remediation)
    finally:
        host.close()
    if views.runtime_status_name(status) != "Completed":
        raise VerifyError(f"the verification ended {views.runtime_status_name(status)}: {status.output}")

    registry = open_registry()
    try:
        records = [t for t in registry.list_tenants() if (tenants is None or t.domain in tenants) and not t.is_offboarded]
        shown = {t.domain for t in records}
        verifications = [v for v in registry.list_verifications() if v.domain in shown]
        fleet = views.fleet_view(records, verifications, registry.latest_verification_summary())
        fleet["verification_id"] = verification_id
    finally:
        registry.close()
    # Named tenants missing from the registry still get a line: the verification reported them failing.
    for row in status.output.get("tenants", []) if isinstance(status.output, dict) else []:
        if row["tenant"] not in shown:
            fleet["tenants"].append({"tenant": row["tenant"], "state": row["state"], "reasons": row["reasons"]})
    if args.json:
        print(json.dumps(fleet, indent=2))
    else:
        print_fleet(fleet)
    return exit_code(fleet, getattr(args, "fail_on", None))


def _run_until_it_waits(host: Any, instance_id: str, timeout: float = 300.0) -> None:
    from pushproxy.local import WaitTimeout

    def waits(status: Any) -> bool:
        custom = status.custom_status if isinstance(status.custom_status, dict) else {}
        return custom.get("phase") in ("awaiting_approval", "blocked", "done", "failed", "rejected", "timed_out",
                                       "staged", "nothing_to_do")

    try:
        host.wait_for(instance_id, until=waits, timeout=timeout)
    except WaitTimeout:
        pass  # still discovering: it carries on with the next host that runs it (serve, onboard, verify)


STYLES = {"healthy": "green", "drifting": "yellow", "failing": "red", "unverified": "dim"}


def print_fleet(fleet: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from pushproxy.onboarding.render import e

    console = Console()
    table = Table(title="Tenants", title_justify="left")
    table.add_column("tenant", overflow="fold")
    table.add_column("state")
    table.add_column("why", overflow="fold")
    for row in fleet["tenants"]:
        state = row["state"]
        reasons = list(row["reasons"]) + ([row["rotation"]["message"]] if row.get("rotation") else [])
        hybrid = row.get("hybrid")
        if hybrid:  # which hybrid mode, and what it means for push notifications
            reasons.append(f"hybrid: {hybrid['mode']}: {hybrid['summary']}"
                           + (f" (push notifications: {hybrid['push']})" if hybrid["mode"] != "shared_principal" else ""))
        table.add_row(e(row["tenant"]), f"[{STYLES.get(state, '')}]{e(state)}[/]", e("\n".join(reasons) or "-"))
    console.print(table)
    summary = fleet.get("summary")
    if summary:
        line = f"{summary['total']} verified: {summary['healthy']} healthy, {summary['drifting']} drifting, {summary['failing']} failing"
        console.print(line)
        for domain in summary["remediations"]:
            console.print(f"remediation started for {e(domain)}: see `pushproxy status onboarding-{e(domain)}`, "
                          f"then `pushproxy approve onboarding-{e(domain)}` (or --reject)")
