"""What an approval console page costs to render, at 50, 100 and 500 tenants with 50 waiting workflows (and
10 running, 40 ended), and how it grows.

Run from the repository root: `python benchmarks/bench_console.py [--sizes 50 100 500] [--waiting 50]`.

Measured, per fleet size, in this process (median of --repeat runs):
- fleet read: the registry's tenants and latest verifications from a real SQLite registry (what `GET
  /api/console` reads besides the Durable statuses);
- build: the view models from the workflows' Durable statuses (the SDK's own DurableOrchestrationStatus, with the
  custom status an onboarding publishes) and the fleet view;
- render: Jinja2, autoescaped, the HTML sent;
- one workflow page (the plan as rows; it does not grow with the fleet).
Not measured: listing the instances from Durable (one get_status_by per workflow type: the task hub's cost,
Azure Table storage in Azure, SQLite on one machine), and the network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def plan(domain: str) -> list[dict[str, Any]]:
    """An onboarding plan of the usual size: certificate created, copied to two servers, AuthServer, key, proxy."""
    return [
        {"kind": "create_auth_certificate", "group": "on_premises", "summary": f"Create a new Auth certificate on EX1 ({domain})",
         "details": {"server": "EX1", "reason": "none is valid", "replaces": "A" * 40}},
        {"kind": "import_auth_certificate", "group": "on_premises", "summary": "Copy it to EX2, EX3",
         "details": {"from": "EX1", "servers": ["EX2", "EX3"], "thumbprint": None}},
        {"kind": "ensure_auth_server", "group": "on_premises", "summary": "Create the AuthServer MicrosoftSts",
         "details": {"action": "create", "name": "MicrosoftSts",
                     "auth_metadata_url": f"https://accounts.accesscontrol.windows.net/metadata/json/1/?realm={domain}"}},
        {"kind": "upload_tenant_key", "group": "tenant", "summary": "Add the new key to Office 365 Exchange Online",
         "details": {"service_principal_id": "sp", "keys": [{"thumbprint": None, "source": "create_auth_certificate"}]}},
        {"kind": "assign_auth_certificate", "group": "on_premises", "summary": "Make it current",
         "details": {"thumbprint": None, "replaces": "A" * 40}},
        {"kind": "enable_push_proxy", "group": "on_premises", "summary": f"Enable the proxy for {domain}",
         "details": {"organization": domain, "was": {"enabled": False, "organization": None}}},
    ]


def statuses(waiting: int, running: int, ended: int) -> list[Any]:
    from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus

    now = datetime(2026, 12, 2, tzinfo=UTC)
    out = []
    for i in range(waiting + running + ended):
        domain = f"tenant{i:04d}.example"
        phase = "awaiting_approval" if i < waiting else ("applying" if i < waiting + running else "done")
        custom = {"phase": phase, "tenant": domain, "requested_by": "alice@provider.example", "plan": plan(domain),
                  "blocking": [], "plan_notes": ["the staged next certificate is not published everywhere"],
                  "state_hash": "ab" * 32, "state_read_at": now.isoformat(),
                  "awaiting": {"group": "on_premises", "state_hash": "cd" * 32, "deadline": (now + timedelta(days=3)).isoformat(),
                               "round": 1, "event": "approval-" + "cd" * 12} if phase == "awaiting_approval" else None,
                  "done": [], "approvals": [], "notes": [], "error": None}
        out.append(DurableOrchestrationStatus(
            name="onboarding", instanceId=f"onboarding-{domain}", createdTime=(now + timedelta(minutes=i)).isoformat(),
            lastUpdatedTime=(now + timedelta(minutes=i + 1)).isoformat(), input={"requested_by": "alice@provider.example"},
            output={"outcome": "done"} if phase == "done" else None,
            runtimeStatus="Completed" if phase == "done" else "Running", customStatus=custom))
    return out


def registry_with(tenants: int, directory: Path) -> Any:
    from pushproxy.registry import open_registry
    from pushproxy.registry.models import Finding, VerificationRecord

    registry = open_registry(directory / f"registry-{tenants}.sqlite")
    now = datetime.now(UTC)
    for i in range(tenants):
        domain = f"tenant{i:04d}.example"
        registry.register_tenant({"tenant_domain": domain, "tenant_id": "11111111-2222-3333-4444-555555555555",
                                  "exchange": {"url": f"https://mail.{domain}/PowerShell", "auth": "ntlm",
                                               "username": "svc", "password_ref": "env:X"},
                                  "graph": {"mode": "secret", "client_id": "c", "secret_ref": "env:Y"}}, "olivia")
        state = ("healthy", "drifting", "failing")[i % 10 % 3] if i % 10 < 3 else "healthy"
        findings = () if state == "healthy" else (Finding("probe", f"the probe failed on EX1 of {domain}", "failure"),)
        registry.put_verification(VerificationRecord(domain, now, state, findings))
    return registry


def fleet(registry: Any) -> dict[str, Any]:
    from pushproxy.api import views

    tenants = [t for t in registry.list_tenants() if not t.is_offboarded]
    return views.fleet_view(tenants, registry.list_verifications(), registry.latest_verification_summary())


def median_ms(work: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 500])
    parser.add_argument("--waiting", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()

    from functions.console import workflow_view
    from pushproxy.console import model, pages

    all_statuses = statuses(args.waiting, 10, 40)
    views_of = [("onboarding", workflow_view(s, "onboarding")) for s in all_statuses]
    print(f"console page: {args.waiting} waiting, 10 running, 40 ended workflows; median of {args.repeat} runs")
    print(f"{'tenants':>8} {'fleet read ms':>14} {'build ms':>9} {'render ms':>10} {'total ms':>9} {'HTML KiB':>9}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            registry = registry_with(size, Path(tmp))
            read_ms, fleet_view = median_ms(lambda r=registry: fleet(r), args.repeat)
            build_ms, page = median_ms(lambda fv=fleet_view: model.console_page(views_of, fv), args.repeat)
            render_ms, html = median_ms(lambda p=page: pages.render("console.html", principal="bob@x", page=p), args.repeat)
            total = read_ms + build_ms + render_ms
            rows.append((size, total))
            print(f"{size:>8} {read_ms:>14.1f} {build_ms:>9.2f} {render_ms:>10.2f} {total:>9.1f} {len(html) / 1024:>9.1f}")
    one = workflow_view(all_statuses[0], "onboarding")
    wf_ms, html = median_ms(lambda: pages.render("workflow.html", principal="bob@x", page=model.workflow_page(one, "onboarding"),
                                                 token="t" * 64, error=None, decided=None,
                                                 cannot_decide=None), args.repeat)
    print(f"one workflow page (6 changes): {wf_ms:.2f} ms, {len(html) / 1024:.1f} KiB")
    if len(rows) >= 2:
        (n0, t0), (n1, t1) = rows[0], rows[-1]
        print(f"growth: {n0} -> {n1} tenants ({n1 / n0:.0f}x): {t0:.1f} -> {t1:.1f} ms ({t1 / t0:.1f}x); the fleet read "
              "(every tenant's registration and verification) is what grows; the page lists only the tenants "
              "needing attention")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
