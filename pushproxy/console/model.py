"""The console's view models: what each page shows, built from the API's own views (pushproxy.api.views,
pushproxy.rotation_view) and the fleet's rows. Pure: plain data in, frozen dataclasses out; the template only
lays them out (and escapes every value: pushproxy.console.pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pushproxy.console.diff import GroupView, grouped, json_object, rotation_changes

# The workflows a person decides on, by instance-id prefix (`<workflow>-<tenant>`), and where the JSON API shows
# each (the page links to it for the full record).
WORKFLOWS: dict[str, str] = {
    "onboarding": "/api/onboardings/{id}",
    "offboarding": "/api/offboardings/{id}",
    "prune": "/api/offboardings/{id}",
    "rotation": "/api/rotations/{id}",
}
ACTIVE = frozenset({"Pending", "Running", "ContinuedAsNew", "ContinuingAsNew", "Suspended"})
# Fleet states a person should look at; every state is shown by a word (and an icon), never by colour alone.
ATTENTION_STATES = ("failing", "drifting", "unverified")
STATE_LABELS = {"healthy": "Healthy", "drifting": "Drifting", "failing": "Failing", "unverified": "Not verified yet",
                "offboarded": "Offboarded"}
RECENT = 20


def workflow_of(instance_id: str) -> str | None:
    """`onboarding-fabrikam.com` -> "onboarding"; None for an instance that is not one of WORKFLOWS."""
    prefix = instance_id.split("-", 1)[0]
    return prefix if prefix in WORKFLOWS and "-" in instance_id else None


@dataclass(frozen=True)
class WorkflowRow:
    """One line of the console's lists."""

    id: str
    workflow: str
    tenant: str
    phase: str
    runtime_status: str
    requested_by: str
    created: str
    updated: str
    waiting_group: str | None = None
    deadline: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class Approval:
    group: str
    decision: str
    approver: str
    comment: str
    time: str


@dataclass(frozen=True)
class WorkflowPage:
    """`GET /api/console/workflows/{id}`: everything an approver needs to decide in a minute."""

    row: WorkflowRow
    groups: tuple[GroupView, ...]
    plan_notes: tuple[str, ...]
    blockers: tuple[str, ...]
    run_notes: tuple[str, ...]
    state_hash: str | None  # of the plan (what was read)
    state_read_at: str | None
    awaiting: Mapping[str, Any] | None  # group, state_hash (the wait's), deadline
    approvals: tuple[Approval, ...]
    done: tuple[str, ...]
    error: str | None
    api_url: str
    is_rotation: bool = False
    # A rotation waiting on its durable timer (issue 15): until when, and for what (publish, retire, key removal).
    next_date: str | None = None
    waiting_for: str | None = None

    @property
    def waiting(self) -> bool:
        return bool(self.awaiting) and self.row.phase == "awaiting_approval" and self.row.runtime_status in ACTIVE

    @property
    def finished(self) -> bool:
        return self.row.runtime_status not in ACTIVE


@dataclass(frozen=True)
class FleetSummary:
    counts: tuple[tuple[str, str, int], ...]  # (state, label, count)
    attention: tuple[Mapping[str, Any], ...]  # tenant rows needing a person: tenant, state, label, reasons
    total: int
    verified_at: str | None


@dataclass(frozen=True)
class ConsolePage:
    """`GET /api/console`: what waits for a decision (oldest first), what runs, what ended lately, the fleet."""

    waiting: tuple[WorkflowRow, ...]
    running: tuple[WorkflowRow, ...]
    recent: tuple[WorkflowRow, ...]
    fleet: FleetSummary
    notes: tuple[str, ...] = field(default_factory=tuple)



def _s(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def row(view: Mapping[str, Any], workflow: str) -> WorkflowRow:
    """A list row from a workflow's API view (onboarding_view or rotation_view)."""
    awaiting = (json_object(view.get("awaiting")) or None)
    output = json_object(view.get("output"))
    instance_id = _s(view.get("id"))
    return WorkflowRow(
        id=instance_id,
        workflow=workflow,
        tenant=_s(view.get("tenant")) or instance_id.split("-", 1)[-1],
        phase=_s(view.get("phase"), "unknown"),
        runtime_status=_s(view.get("runtime_status"), "Unknown"),
        requested_by=_s(view.get("requested_by"), "unknown"),
        created=_s(view.get("created") or view.get("started_at")),
        updated=_s(view.get("last_updated")),
        waiting_group=_s(awaiting.get("group")) if awaiting else None,
        deadline=_s(awaiting.get("deadline")) if awaiting else None,
        outcome=_s(output.get("outcome") or view.get("outcome")) or None,
    )


def console_page(views: list[tuple[str, Mapping[str, Any]]], fleet_view: Mapping[str, Any],
                 notes: tuple[str, ...] = ()) -> ConsolePage:
    """The console from every workflow's view (workflow name, view) and `GET /api/tenants`'s fleet view."""
    rows = [row(v, w) for w, v in views]
    waiting = sorted((r for r in rows if r.runtime_status in ACTIVE and r.phase == "awaiting_approval"),
                     key=lambda r: (r.created, r.id))
    running = sorted((r for r in rows if r.runtime_status in ACTIVE and r.phase != "awaiting_approval"),
                     key=lambda r: (r.created, r.id))
    recent = sorted((r for r in rows if r.runtime_status not in ACTIVE), key=lambda r: (r.updated or r.created, r.id),
                    reverse=True)[:RECENT]
    return ConsolePage(tuple(waiting), tuple(running), tuple(recent), fleet_summary(fleet_view), notes)


def fleet_summary(fleet_view: Mapping[str, Any]) -> FleetSummary:
    tenants = [t for t in fleet_view.get("tenants") or () if isinstance(t, Mapping)]
    counts: dict[str, int] = {"healthy": 0, "drifting": 0, "failing": 0}
    for t in tenants:
        state = _s(t.get("state"), "unverified")
        counts[state] = counts.get(state, 0) + 1
    attention = tuple(
        {"tenant": _s(t.get("tenant")), "state": _s(t.get("state")), "label": STATE_LABELS.get(_s(t.get("state")), _s(t.get("state"))),
         "reasons": [str(r) for r in t.get("reasons") or ()][:3], "verified_at": _s(t.get("verified_at"), "never")}
        for t in sorted(tenants, key=lambda t: (ATTENTION_STATES.index(t["state"]) if t.get("state") in ATTENTION_STATES else 9,
                                                _s(t.get("tenant"))))
        if t.get("state") in ATTENTION_STATES
    )
    summary = json_object(fleet_view.get("summary"))
    return FleetSummary(tuple((s, STATE_LABELS.get(s, s), n) for s, n in counts.items()), attention, len(tenants),
                        _s(summary.get("finished_at") or summary.get("started_at")) or None)


def workflow_page(view: Mapping[str, Any], workflow: str) -> WorkflowPage:
    """One workflow's page from its API view: the plan as rows, notes, blockers, hashes, approvals, deadline."""
    awaiting = (json_object(view.get("awaiting")) or None)
    is_rotation = workflow == "rotation"
    if is_rotation:
        steps = [str(s) for s in (awaiting or {}).get("steps") or ()]
        group = (awaiting or {}).get("group")
        plan = (json_object(view.get("plan")) or None)
        groups = rotation_changes(plan if group in (None, "plan") else None, steps)
        plan_notes: tuple[str, ...] = tuple(str(n) for n in ([plan.get("reason")] if plan and plan.get("reason") else []))
        blockers: tuple[str, ...] = (str(view.get("reason")),) if view.get("mode") == "blocked" and view.get("reason") else ()
        state_hash = _s((plan or {}).get("state_hash")) or None
        read_at = _s((plan or {}).get("read_at")) or None
        done = tuple(_s(c.get("summary") or c.get("step") or c.get("kind")) for c in view.get("changes") or ()
                     if isinstance(c, Mapping))
    else:
        custom = json_object(view.get("custom"))
        groups = grouped([c for c in view.get("plan") or () if isinstance(c, Mapping)])
        plan_notes = tuple(str(n) for n in custom.get("plan_notes") or ())
        blockers = tuple(_s(p.get("message")) + (f" ({p['server']})" if p.get("server") else "")
                         for p in custom.get("blocking") or () if isinstance(p, Mapping))
        state_hash = _s(custom.get("state_hash")) or None
        read_at = _s(custom.get("state_read_at")) or None
        done = tuple(f"{_s(d.get('summary') or d.get('kind'))}: {_s(d.get('outcome'))}" for d in view.get("done") or ()
                     if isinstance(d, Mapping))
    approvals = tuple(Approval(_s(a.get("group")), _s(a.get("decision")), _s(a.get("approver")), _s(a.get("comment")),
                               _s(a.get("time"))) for a in view.get("approvals") or () if isinstance(a, Mapping))
    output = json_object(view.get("output"))
    error = view.get("error") or output.get("error") or (view.get("custom") or {}).get("error")
    return WorkflowPage(
        row=row(view, workflow), groups=groups, plan_notes=plan_notes, blockers=blockers,
        run_notes=tuple(str(n) for n in view.get("notes") or ()), state_hash=state_hash, state_read_at=read_at,
        awaiting=awaiting, approvals=approvals, done=done, error=_s(error) or None,
        api_url=WORKFLOWS.get(workflow, "/api/onboardings/{id}").format(id=_s(view.get("id"))), is_rotation=is_rotation,
        next_date=_s(view.get("next_date")) or None if is_rotation else None,
        waiting_for=_s(view.get("waiting_for")) or None if is_rotation else None,
    )
