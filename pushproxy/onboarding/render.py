"""How onboarding looks on a terminal (rich): the plan, the status of a run, the final summary."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

GROUP_TITLES = {"on_premises": "on-premises organisation", "tenant": "tenant (Microsoft Graph)"}


def plan_table(changes: list[dict[str, Any]], title: str = "Plan") -> Table:
    table = Table(title=title, show_lines=False, title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("group", overflow="fold")
    table.add_column("change", style="bold", overflow="fold")
    table.add_column("what it does", overflow="fold")
    for i, change in enumerate(changes, 1):
        table.add_row(str(i), change.get("group", ""), change.get("kind", ""), change.get("summary", ""))
    return table


def print_plan(console: Console, changes: list[dict[str, Any]], blocking: list[dict[str, Any]]) -> None:
    if blocking:
        console.print("[bold red]Blocked[/]: nothing will be changed until these are fixed:")
        for problem in blocking:
            where = f" ({problem['server']})" if problem.get("server") else ""
            console.print(f"  • [red]{problem['code']}[/]{where}: {problem['message']}")
        return
    if not changes:
        console.print("[green]The plan is empty[/]: everything is already in place.")
        return
    console.print(plan_table(changes))


def print_group_for_approval(console: Console, status: dict[str, Any]) -> None:
    awaiting = status.get("awaiting") or {}
    group = awaiting.get("group", "")
    changes = [c for c in status.get("plan", []) if c.get("group") == group]
    console.print(
        f"\n[bold]Approval needed[/] for the {GROUP_TITLES.get(group, group)} "
        f"(state {str(awaiting.get('state_hash', ''))[:12]}, deadline {awaiting.get('deadline', '?')}):"
    )
    console.print(plan_table(changes, title=f"Changes to the {GROUP_TITLES.get(group, group)}"))


def print_status(console: Console, instance_id: str, runtime: str, status: dict[str, Any] | None) -> None:
    status = status or {}
    console.print(f"[bold]{instance_id}[/]: {runtime}, phase [bold]{status.get('phase', '?')}[/]")
    if status.get("plan"):
        console.print(plan_table(status["plan"]))
    for done in status.get("done", []):
        console.print(f"  ✓ {done.get('kind')}: {done.get('outcome')}")
    if status.get("awaiting"):
        a = status["awaiting"]
        console.print(f"  awaiting approval of the {a.get('group')} changes until {a.get('deadline')}")
    for approval in status.get("approvals", []):
        console.print(f"  {approval['decision']} ({approval['group']}) by {escape(str(approval['approver']))} at {approval['time']}")
    if status.get("probe"):
        console.print(f"  probe: {status['probe'].get('result_type')}")
    for note in status.get("notes", []):
        # Notes quote what events carried (an approver's name): never markup.
        console.print(f"  note: {escape(str(note))}")
    if status.get("error"):
        console.print(f"  [red]error[/]: {status['error']}")


class ProgressPrinter:
    """Prints a run's progress from its successive custom statuses, each thing once and in the order it happened.

    The host runs everything that is due before a status is read, so one status may hold several steps at once
    (the plan, the approvals, the changes made and the verification): they are printed in the workflow's order,
    the plan before any phase that follows it, and `applying` even when its changes were all done between reads.
    """

    ORDER = ("discovering", "awaiting_approval", "applying", "verifying")

    def __init__(self, console: Console, *, show_approvals: bool = True, wait_note: str | None = None) -> None:
        self.console = console
        self.show_approvals = show_approvals
        self.wait_note = wait_note
        self.phases: list[str] = []
        self.plan_shown = False
        self.blockers_shown = False
        self.seen: set[str] = set()

    def _phase(self, phase: str) -> None:
        # Forward only: a later status still lists the changes made, which must not bring `applying` back.
        # Approval alone may come round again (the state changed after approval, and the new plan is asked for).
        if phase in self.phases and phase != "awaiting_approval":
            return
        if not self.phases or self.phases[-1] != phase:
            self.phases.append(phase)
            self.console.print(f"[dim]phase:[/] {phase}")

    def __call__(self, status: dict[str, Any]) -> None:
        phase = status.get("phase") or "?"
        if not self.phases:
            self._phase("discovering")
        if phase != "discovering" and not self.plan_shown:
            self.plan_shown = True
            self.blockers_shown = bool(status.get("blocking"))
            print_plan(self.console, status.get("plan") or [], status.get("blocking") or [])
        for approval in status.get("approvals") or []:
            key = f"approval:{approval.get('group')}:{approval.get('time')}"
            if key not in self.seen:
                self.seen.add(key)
                self._phase("awaiting_approval")
                if self.show_approvals and approval.get("approver") == "policy:auto":
                    self.console.print(
                        f"  [yellow]Auto-approved[/] the {approval.get('group')} changes (policy:auto: the spec's "
                        "approval policy is 'auto'; under 'required' the run waits for a person)"
                    )
                elif self.show_approvals:
                    self.console.print(
                        f"  {approval.get('decision')}d the {approval.get('group')} changes: {escape(str(approval.get('approver')))}"
                        + (f" ({approval['comment']})" if approval.get("comment") else "")
                    )
        current = status.get("current")
        done = status.get("done") or []
        if current or done:
            self._phase("applying")
        for change in done:
            key = f"done:{change.get('kind')}"
            if key not in self.seen:
                self.seen.add(key)
                mark = "[red]✗[/]" if change.get("outcome") == "failed" else "[green]✓[/]"
                self.console.print(f"  {mark} {change.get('kind')}: {change.get('outcome')}")
        if current and f"done:{current}" not in self.seen and f"current:{current}" not in self.seen:
            self.seen.add(f"current:{current}")
            self.console.print(f"  applying {current} …")
        if phase in self.ORDER:
            self._phase(phase)
        if status.get("waiting_until") and "wait" not in self.seen:
            self.seen.add("wait")
            self.console.print(self.wait_note or f"  waiting until {status['waiting_until']} before the probe …")
        probe = status.get("probe")
        if probe and f"probe:{probe.get('attempts')}" not in self.seen:
            self.seen.add(f"probe:{probe.get('attempts')}")
            self.console.print(f"  probe on {probe.get('server')}: {probe.get('result_type')} (attempt {probe.get('attempts', 1)})")


def print_summary(console: Console, report: dict[str, Any], *, blockers_shown: bool = False) -> None:
    outcome = report.get("outcome", "?")
    colour = {"done": "green", "blocked": "yellow", "rejected": "yellow", "timed_out": "yellow"}.get(outcome, "red")
    console.print(f"\n[bold {colour}]Onboarding of {report.get('tenant')}: {outcome}[/]")
    if report.get("blocking") and not blockers_shown:
        print_plan(console, [], report["blocking"])
    changed = [c for c in report.get("changes", []) if c.get("outcome") != "none"]
    if changed:
        table = Table(title="What changed", title_justify="left")
        table.add_column("change", style="bold", overflow="fold")
        table.add_column("outcome", overflow="fold")
        table.add_column("detail", overflow="fold")
        for c in report.get("changes", []):
            table.add_row(c.get("kind", ""), c.get("outcome", ""), _detail(c))
        console.print(table)
    elif outcome == "done":
        console.print("Nothing needed changing.")
    for a in report.get("approvals", []):
        console.print(f"  {a['group']}: {a['decision']} by {escape(str(a['approver']))} at {a['time']}")
    probe = report.get("probe")
    if probe:
        extra = f" ({probe.get('error')})" if probe.get("error") else ""
        console.print(
            f"  probe on {probe.get('server')}: [bold]{probe.get('result_type')}[/]{extra} after {probe.get('attempts', 1)} attempt(s)"
        )
    for note in report.get("plan_notes", []):
        console.print(f"  found: {note}")
    for note in report.get("notes", []):
        console.print(f"  note: {escape(str(note))}")
    if report.get("error"):
        console.print(f"  [red]error[/]: {report['error']}")


def _detail(change: dict[str, Any]) -> str:
    result = change.get("result") or {}
    if change.get("error"):
        return str(change["error"])
    if "certificate" in result:
        cert = result["certificate"] or {}
        return f"{cert.get('thumbprint', '')} until {str(cert.get('not_after', ''))[:10]}"
    if "thumbprint" in result:
        return str(result["thumbprint"])
    if "auth_server" in result:
        return f"{result['auth_server'].get('name')}: {result.get('reason', '')}"
    if "organization" in result:
        return f"organization {result.get('organization')}"
    return ""
