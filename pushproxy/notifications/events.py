"""The events pushproxy tells people about, their one JSON shape (EVENT_SCHEMA, also in openapi.json), and a
builder per event type. Pure: no clock, no environment, no I/O, so an orchestrator can build an event and its
id is the same on every replay.

Every event carries the tenant, the workflow's instance id, a one-line summary, links (the status, and the
approval when one is awaited) and the time. Links are paths here (an orchestrator may not read the app's public
address from the settings); the activity that raises the event makes them absolute (`with_base_url`).

No secret, secret reference, certificate or key material ever goes into an event: the builders copy named
fields only, and every string passes `scrub`, which blanks anything shaped like a reference (`env:NAME`,
`file:NAME`, `keyvault:NAME`, `path:/FILE`), a PEM block or a long base64 run (DER, keys, tokens).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SCHEMA_VERSION = "pushproxy.event/1"

APPROVAL_AWAITED = "approval.awaited"
WORKFLOW_COMPLETED = "workflow.completed"
WORKFLOW_FAILED = "workflow.failed"
DRIFT_FOUND = "drift.found"
CERTIFICATE_EXPIRING = "certificate.expiring"
KEY_REMOVED = "key.removed"
VERIFICATION_COMPLETED = "verification.completed"
EVENT_TYPES: tuple[str, ...] = (
    APPROVAL_AWAITED, WORKFLOW_COMPLETED, WORKFLOW_FAILED, DRIFT_FOUND, CERTIFICATE_EXPIRING, KEY_REMOVED,
    VERIFICATION_COMPLETED,
)

# Where a person looks at a workflow, by workflow name (the HTTP API's routes). A workflow without a route of its
# own yet links to the tenant.
STATUS_ROUTES: dict[str, str] = {
    "onboarding": "/api/onboardings/{id}",
    "rotation": "/api/rotations/{id}",
    "offboarding": "/api/offboardings/{id}",
    "prune": "/api/offboardings/{id}",
    "verification": "/api/verifications/{id}",
}
APPROVAL_ROUTES: dict[str, str] = {
    "onboarding": "/api/onboardings/{id}/approval",
    "rotation": "/api/rotations/{id}/approval",
    "offboarding": "/api/offboardings/{id}/approval",
    "prune": "/api/offboardings/{id}/approval",
}
CONSOLE_ROUTE = "/api/console/workflows/{id}"
# Fixed namespace of our event ids (uuid5): the same event, raised again after a crash or a replay, has the same id.
EVENT_NAMESPACE = uuid.UUID("6f1c2a8e-41f0-5d3e-9b7a-2c54e0d9a1f3")

_REFERENCE = re.compile(r"\b(?:env|file|keyvault):[A-Za-z0-9_.\-]+|\bpath:/\S*", re.IGNORECASE)
_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)", re.DOTALL)
# 40+ base64 characters in one run: DER, a private key, a token. Kept: 40 or 64 hex digits (a thumbprint
# names a certificate publicly, and people need it to act), and a hyphenated run of letters (a long domain
# label, an instance id), which base64 material is not: it has a digit, + / =, or no hyphen at all.
_BLOB = re.compile(r"[A-Za-z0-9+/=_\-]{40,}")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def _is_material(run: str) -> bool:
    if _HEX.match(run) and len(run) in (40, 64):  # a SHA-1 thumbprint, a SHA-256 pin
        return False
    return any(c.isdigit() or c in "+/=" for c in run) or ("-" not in run and "_" not in run)


MAX_TEXT = 500  # one finding's message, one error: a notification is a pointer to the status, not the status


def scrub(text: object) -> str:
    """`text` as a notification may carry it: references, PEM blocks and long base64 runs blanked, cut to size."""
    value = str(text)
    value = _PEM.sub("[redacted key material]", value)
    value = _REFERENCE.sub("[secret reference]", value)
    value = _BLOB.sub(lambda m: "[redacted]" if _is_material(m.group(0)) else m.group(0), value)
    value = " ".join(value.split())
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def _clean(value: Any) -> Any:
    """Scrub every string of a JSON value (keys are ours, never data)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(value)


def event_id(*parts: object) -> str:
    """A stable id from what makes an event itself (workflow run, type, subject): receivers deduplicate on it."""
    return str(uuid.uuid5(EVENT_NAMESPACE, "|".join(str(p) for p in parts)))


@dataclass(frozen=True)
class Event:
    """One thing that happened, as every channel is told about it (EVENT_SCHEMA)."""

    id: str
    type: str
    occurred_at: str  # ISO 8601, UTC
    summary: str
    tenant: str | None = None
    workflow: str | None = None
    workflow_id: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"type: {self.type!r} is not one of {', '.join(EVENT_TYPES)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "tenant": self.tenant,
            "workflow": self.workflow,
            "workflow_id": self.workflow_id,
            "summary": scrub(self.summary),
            "links": {k: str(v) for k, v in self.links.items()},
            "data": _clean(self.data),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event:
        if not isinstance(d, Mapping):
            raise ValueError("event: must be a JSON object")
        for name in ("id", "type", "occurred_at", "summary"):
            if not isinstance(d.get(name), str) or not d.get(name):
                raise ValueError(f"event.{name}: required, a string")
        return cls(
            id=str(d["id"]),
            type=str(d["type"]),
            occurred_at=str(d["occurred_at"]),
            summary=str(d["summary"]),
            tenant=d.get("tenant") or None,
            workflow=d.get("workflow") or None,
            workflow_id=d.get("workflow_id") or None,
            links={str(k): str(v) for k, v in (d.get("links") or {}).items()},
            data=dict(d.get("data") or {}),
        )

    def with_base_url(self, base_url: str | None) -> Event:
        """The same event with its links made absolute under the app's public address (unchanged without one)."""
        if not base_url:
            return self
        base = base_url.rstrip("/")
        links = {k: (base + v if v.startswith("/") else v) for k, v in self.links.items()}
        return Event(self.id, self.type, self.occurred_at, self.summary, self.tenant, self.workflow,
                     self.workflow_id, links, self.data)


def _links(workflow: str, instance_id: str, *, approval: bool = False, tenant: str | None = None) -> dict[str, str]:
    route = STATUS_ROUTES.get(workflow)
    links = {"status": route.format(id=instance_id) if route else f"/api/tenants/{tenant or ''}"}
    if approval and workflow in APPROVAL_ROUTES:
        links["approval"] = APPROVAL_ROUTES[workflow].format(id=instance_id)
        # The approval console's page of the workflow: what a person opens from the notification to decide.
        links["console"] = CONSOLE_ROUTE.format(id=instance_id)
    if tenant:
        links["tenant"] = f"/api/tenants/{tenant}"
    return links


def _iso(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


# ----------------------------------------------------------------------------------------------- the builders


def approval_awaited(
    *, workflow: str, instance_id: str, run_started_at: datetime | str, tenant: str, group: str,
    changes: Iterable[Mapping[str, Any]], state_hash: str, deadline: datetime | str, occurred_at: datetime | str,
    requested_by: str | None = None, approvers: Iterable[str] = (),
) -> Event:
    """A group of changes waits for a person: which group, the changes in short form, until when."""
    short = [scrub(c.get("summary") or c.get("kind") or "") for c in changes]
    what = "on-premises" if group == "on_premises" else group
    return Event(
        id=event_id(instance_id, _iso(run_started_at), APPROVAL_AWAITED, group, state_hash),
        type=APPROVAL_AWAITED,
        occurred_at=_iso(occurred_at),
        summary=f"{tenant}: {len(short)} {what} change(s) of the {workflow} await approval until {_iso(deadline)}",
        tenant=tenant, workflow=workflow, workflow_id=instance_id,
        links=_links(workflow, instance_id, approval=True, tenant=tenant),
        data={"group": group, "changes": short, "state_hash": state_hash, "deadline": _iso(deadline),
              "requested_by": requested_by, "approvers": list(approvers)},
    )


def workflow_ended(
    *, workflow: str, instance_id: str, report: Mapping[str, Any], occurred_at: datetime | str,
) -> Event:
    """A workflow (onboarding, rotation, offboarding) ended: `done` is workflow.completed, with what changed;
    anything else (failed, blocked, rejected, timed_out) is workflow.failed, with why."""
    tenant = str(report.get("tenant") or "") or None
    outcome = str(report.get("outcome") or "failed")
    started = report.get("started_at") or ""
    changed = [str(k) for k in report.get("changed") or ()]
    approvals = [{"group": a.get("group"), "decision": a.get("decision"), "approver": a.get("approver"),
                  "time": a.get("time")} for a in report.get("approvals") or () if isinstance(a, Mapping)]
    probe = report.get("probe") if isinstance(report.get("probe"), Mapping) else None
    data: dict[str, Any] = {"outcome": outcome, "changed": changed, "approvals": approvals,
                            "started_at": started or None, "finished_at": report.get("finished_at"),
                            "remediation": bool(report.get("remediation"))}
    if probe is not None:
        data["probe"] = {"server": probe.get("server"), "succeeded": bool(probe.get("succeeded")),
                         "result_type": probe.get("result_type")}
    if outcome == "done":
        kind = WORKFLOW_COMPLETED
        what = f"changed {', '.join(changed)}" if changed else "nothing needed changing"
        summary = f"{tenant}: {workflow} done: {what}"
    else:
        kind = WORKFLOW_FAILED
        blockers = [scrub(b.get("message") or b.get("code") or "") for b in report.get("blocking") or ()
                    if isinstance(b, Mapping)]
        reason = report.get("error") or ("; ".join(blockers) if blockers else None) or {
            "rejected": "a person rejected the changes", "timed_out": "nobody decided before the approval deadline",
            "blocked": "the plan is blocked"}.get(outcome, outcome)
        data["error"] = scrub(reason)
        data["blocking"] = blockers
        summary = f"{tenant}: {workflow} {outcome.replace('_', ' ')}: {scrub(reason)}"
    return Event(
        id=event_id(instance_id, started, kind, outcome),
        type=kind, occurred_at=_iso(occurred_at), summary=summary, tenant=tenant, workflow=workflow,
        workflow_id=instance_id, links=_links(workflow, instance_id, tenant=tenant), data=data,
    )


def drift_found(
    *, tenant: str, verification_id: str, state: str, findings: Iterable[Mapping[str, Any]],
    fingerprints: Iterable[str], occurred_at: datetime | str,
) -> Event:
    """New findings on one tenant (each is sent once, while it stands: fleet_events decides which are new)."""
    listed = [{"kind": f.get("kind"), "severity": f.get("severity"), "message": f.get("message")} for f in findings]
    prints = sorted(fingerprints)
    first = listed[0]["message"] if listed else ""
    more = f" (and {len(listed) - 1} more)" if len(listed) > 1 else ""
    return Event(
        id=event_id(tenant, DRIFT_FOUND, _iso(occurred_at), *prints),
        type=DRIFT_FOUND, occurred_at=_iso(occurred_at), summary=f"{tenant} is {state}: {first}{more}",
        tenant=tenant, workflow="verification", workflow_id=verification_id,
        links={"status": f"/api/tenants/{tenant}", "tenant": f"/api/tenants/{tenant}"},
        data={"state": state, "findings": listed},
    )


def certificate_expiring(
    *, tenant: str, verification_id: str, thumbprint: str, not_after: str, days_left: int, threshold: int,
    occurred_at: datetime | str,
) -> Event:
    """The Auth certificate is `threshold` days or fewer from expiry, and no renewal is staged."""
    return Event(
        id=event_id(tenant, CERTIFICATE_EXPIRING, thumbprint, threshold),
        type=CERTIFICATE_EXPIRING, occurred_at=_iso(occurred_at),
        summary=f"{tenant}: the Auth certificate {thumbprint} expires in {days_left} day(s) ({not_after[:10]}) "
                "and no renewal is staged",
        tenant=tenant, workflow="verification", workflow_id=verification_id,
        links={"status": f"/api/tenants/{tenant}", "tenant": f"/api/tenants/{tenant}"},
        data={"thumbprint": thumbprint, "not_after": not_after, "days_left": days_left, "threshold": threshold},
    )


def key_removed(
    *, tenant: str, verification_id: str, thumbprint: str, message: str, onboarding_id: str | None,
    uploaded_at: str | None, occurred_at: datetime | str,
) -> Event:
    """A key one of our onboardings put on the service principal is gone (maybe hybrid clean-up mode)."""
    return Event(
        id=event_id(tenant, KEY_REMOVED, _iso(occurred_at), thumbprint, onboarding_id or ""),
        type=KEY_REMOVED, occurred_at=_iso(occurred_at),
        summary=f"{tenant}: the key of {thumbprint} was removed from the Exchange Online service principal; "
                "a person decides what to do",
        tenant=tenant, workflow="verification", workflow_id=verification_id,
        links={"status": f"/api/tenants/{tenant}", "tenant": f"/api/tenants/{tenant}"},
        data={"thumbprint": thumbprint, "message": message, "onboarding_id": onboarding_id,
              "uploaded_at": uploaded_at},
    )


def verification_completed(*, summary: Mapping[str, Any], occurred_at: datetime | str) -> Event:
    """The fleet's verification ended: how many tenants are healthy, drifting, failing; remediations started."""
    verification_id = str(summary.get("verification_id") or "verification")
    counts = {k: int(summary.get(k) or 0) for k in ("total", "healthy", "drifting", "failing")}
    remediations = [str(r) for r in summary.get("remediations") or ()]
    return Event(
        id=event_id(verification_id, summary.get("started_at") or "", VERIFICATION_COMPLETED),
        type=VERIFICATION_COMPLETED, occurred_at=_iso(occurred_at),
        summary=(f"verification of {counts['total']} tenant(s): {counts['healthy']} healthy, "
                 f"{counts['drifting']} drifting, {counts['failing']} failing"
                 + (f"; {len(remediations)} remediation(s) started" if remediations else "")),
        workflow="verification", workflow_id=verification_id,
        links={"status": STATUS_ROUTES["verification"].format(id=verification_id), "fleet": "/api/tenants"},
        data={**counts, "remediations": remediations, "started_at": summary.get("started_at"),
              "finished_at": summary.get("finished_at")},
    )


# ------------------------------------------------------------------------------------------------- the schema

EVENT_SCHEMA: dict[str, Any] = {
    "title": "NotificationEvent",
    "description": "What a generic webhook receives as its body (a Teams channel gets an Adaptive Card built from "
                   "it). `id` is stable: a redelivery carries the same id, so receivers deduplicate on it.",
    "type": "object",
    "required": ["schema", "id", "type", "occurred_at", "summary", "tenant", "workflow", "workflow_id", "links",
                 "data"],
    "additionalProperties": False,
    "properties": {
        "schema": {"type": "string", "const": SCHEMA_VERSION},
        "id": {"type": "string", "format": "uuid", "description": "stable per event: deduplicate on it"},
        "type": {"type": "string", "enum": list(EVENT_TYPES)},
        "occurred_at": {"type": "string", "format": "date-time"},
        "summary": {"type": "string", "maxLength": MAX_TEXT},
        "tenant": {"type": ["string", "null"], "description": "the tenant domain; null for verification.completed"},
        "workflow": {"type": ["string", "null"], "enum": ["onboarding", "rotation", "offboarding", "verification",
                                                          None]},
        "workflow_id": {"type": ["string", "null"], "description": "the Durable instance id"},
        "links": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string"}, "approval": {"type": "string"},
                           "tenant": {"type": "string"}, "fleet": {"type": "string"}},
            "additionalProperties": {"type": "string"},
        },
        "data": {"type": "object", "description": "type-specific: see the README's event list"},
    },
}
