"""Terminal output escapes every value it did not write: a name such as `bob[/]` is text, never rich markup."""

from __future__ import annotations

import io

from rich.console import Console

from pushproxy.onboarding import render
from pushproxy.spec import TenantSpec

HOSTILE = ["bob[/]", "[bold red]alice", "[/][link=https://attacker.example]x", "eve\\[/]"]


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None), out


def status() -> dict[str, object]:
    return {
        "phase": "awaiting_approval",
        "plan": [{"group": "tenant", "kind": "upload_tenant_key", "summary": "key for [/]CN=x"}],
        "awaiting": {"group": "tenant", "state_hash": "ab" * 16, "deadline": "[/]"},
        "approvals": [{"decision": "approve", "group": "on_premises", "approver": name, "time": "t", "comment": name}
                      for name in HOSTILE],
        "done": [{"kind": "ensure_auth_server", "outcome": "[/]created"}],
        "notes": HOSTILE, "error": "Exchange said [/]no",
        "probe": {"server": "EXCH[/]01", "result_type": "Failed", "attempts": 1, "error": "[/]"},
    }


def test_status_summary_and_progress_print_hostile_names_as_text() -> None:
    out_console, out = console()
    render.print_status(out_console, "onboarding-fabrikam.com", "Running", status())
    render.print_group_for_approval(out_console, status())
    render.print_summary(out_console, {"tenant": "fabrikam.com", "outcome": "done", **status(),
                                       "changes": [{"kind": "[/]", "outcome": "created", "error": "[/]"}]})
    render.ProgressPrinter(out_console)(status())
    render.print_plan(out_console, [], [{"code": "[/]", "server": "[/]", "message": "bob[/]"}])
    text = out.getvalue()
    for name in ("bob[/]", "[bold red]alice", "Exchange said [/]no"):
        assert name in text


def test_an_approver_named_with_brackets_is_a_valid_name() -> None:
    spec = TenantSpec.from_dict({
        "tenant_domain": "fabrikam.com", "tenant_id": "11111111-2222-3333-4444-555555555555",
        "exchange": {"url": "https://mail.fabrikam.com/PowerShell", "auth": "kerberos"},
        "graph": {"mode": "workload_identity", "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
        "approval": {"approvers": ["bob[/]"]},
    })
    assert spec.approval.approvers == ("bob[/]",)
