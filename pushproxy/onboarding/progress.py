"""What an onboarding run has done so far: the custom status while it runs, the report when it ends.

Plain data, no I/O and no clock of its own (the orchestrator passes `context.current_utc_datetime`), so it replays
identically. The custom status shape is the contract in docs/interfaces.md ("The function app").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pushproxy.plan import Change, OnboardingPlan

PHASES = (
    "discovering",
    "blocked",
    "awaiting_approval",
    "applying",
    "verifying",
    "done",
    "rejected",
    "timed_out",
    "failed",
)
# Custom status is capped by Durable (16 KB in Azure): keep only the latest notes.
MAX_NOTES = 10


@dataclass
class Progress:
    """The run's state, as a person (or the HTTP API) should see it."""

    tenant: str
    started_at: datetime
    requested_by: str | None = None
    remediation: bool = False
    phase: str = "discovering"
    plan: OnboardingPlan | None = None
    awaiting: dict[str, Any] | None = None
    current: str | None = None
    done: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    probe: dict[str, Any] | None = None
    waiting_until: str | None = None
    error: str | None = None
    finished_at: datetime | None = None
    # When the state the plan was made from was read (the orchestration's clock at planning): an approver sees how
    # old what they approve is.
    state_read_at: datetime | None = None

    def set_plan(self, plan: OnboardingPlan, read_at: datetime | None = None) -> None:
        self.plan = plan
        self.state_read_at = read_at

    def note(self, text: str) -> None:
        self.notes = (self.notes + [text])[-MAX_NOTES:]

    def approve(
        self, group: str, decision: str, approver: str, comment: str | None, at: datetime, state_hash: str
    ) -> None:
        self.approvals.append(
            {
                "group": group,
                "decision": decision,
                "approver": approver,
                "comment": comment,
                "time": at.isoformat(),
                "state_hash": state_hash,
            }
        )

    def complete_change(self, change: Change, action: str, result: dict[str, Any]) -> None:
        self.done.append({**change.to_dict(), "outcome": action, "result": _public(result)})

    def fail_change(self, change: Change, error: str) -> None:
        self.done.append({**change.to_dict(), "outcome": "failed", "error": error})

    def status(self) -> dict[str, Any]:
        """The custom status: phase, plan, what is done, what is awaited (docs/interfaces.md)."""
        plan = self.plan
        return {
            "phase": self.phase,
            "tenant": self.tenant,
            # Also in the input; here too because listing instances (get_status_by) returns no input in Azure.
            "requested_by": self.requested_by,
            "plan": [c.to_dict() for c in plan.changes] if plan else [],
            "blocking": [p.to_dict() for p in plan.blocking] if plan else [],
            "plan_notes": list(plan.notes) if plan else [],
            "state_hash": plan.state_hash if plan else None,
            "state_read_at": self.state_read_at.isoformat() if self.state_read_at else None,
            "awaiting": self.awaiting,
            "current": self.current,
            "done": [{k: v for k, v in d.items() if k != "result"} for d in self.done],
            "approvals": self.approvals,
            "probe": self.probe,
            "waiting_until": self.waiting_until,
            "notes": self.notes,
            "error": self.error,
        }

    def report(self) -> dict[str, Any]:
        """The orchestration's output: what changed, who approved it and when, and the probe's result."""
        plan = self.plan
        return {
            "tenant": self.tenant,
            "outcome": self.phase,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "requested_by": self.requested_by,
            "remediation": self.remediation,
            "plan": [c.to_dict() for c in plan.changes] if plan else [],
            "blocking": [p.to_dict() for p in plan.blocking] if plan else [],
            # What discovery found that needs no change from us but may need a person (e.g. a staged next
            # certificate that isn't published everywhere): the plan's notes, apart from the run's own.
            "plan_notes": list(plan.notes) if plan else [],
            "state_hash": plan.state_hash if plan else None,
            "changes": self.done,
            "changed": [d["kind"] for d in self.done if d.get("outcome") not in ("none", "failed")],
            "approvals": self.approvals,
            "probe": self.probe,
            "notes": self.notes,
            "error": self.error,
        }


def _public(result: dict[str, Any]) -> dict[str, Any]:
    """Keep the report small: a certificate's DER is public but large, and its thumbprint says which it is."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out[key] = _public(value)
        elif key not in ("der_b64", "key_b64"):
            out[key] = value
    return out
