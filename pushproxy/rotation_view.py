"""What a person sees of a rotation (GET /api/rotations/{id}, `pushproxy rotate`, `pushproxy status`)."""

from __future__ import annotations

from typing import Any


def runtime(status: Any) -> str | None:
    value = getattr(status, "runtime_status", None)
    return None if value is None else str(getattr(value, "value", value))


def rotation_view(status: Any) -> dict[str, Any]:
    """The rotation's custom status, flattened with the instance's runtime facts."""
    custom = getattr(status, "custom_status", None)
    if isinstance(custom, str):
        import json

        try:
            custom = json.loads(custom)
        except ValueError:
            custom = None
    custom = custom if isinstance(custom, dict) else {}
    output = getattr(status, "output", None)
    return {
        "id": getattr(status, "instance_id", None),
        "runtime_status": runtime(status),
        "phase": custom.get("phase"),
        "mode": custom.get("mode"),
        "reason": custom.get("reason"),
        "next_date": custom.get("next_date"),
        "waiting_for": custom.get("waiting_for"),
        "awaiting": custom.get("awaiting"),
        "new_certificate": custom.get("new_certificate"),
        "old_certificate": custom.get("old_certificate"),
        "plan": custom.get("plan"),
        "changes": custom.get("changes") or [],
        "approvals": custom.get("approvals") or [],
        "restarts": custom.get("restarts") or [],
        "probe": custom.get("probe"),
        "notes": custom.get("notes") or [],
        "error": custom.get("error"),
        "requested_by": custom.get("requested_by"),
        "version": custom.get("version"),
        "outcome": output.get("outcome") if isinstance(output, dict) else None,
    }


def headline(view: dict[str, Any]) -> str:
    """One line: phase and the next date, e.g. "staged: publishes on 2027-01-05"."""
    phase = view.get("phase") or "unknown"
    when = view.get("next_date")
    if phase == "staged" and when:
        return f"rotation staged, publishes on {when[:10]}"
    if phase in ("waiting_to_retire", "waiting_for_expiry") and when:
        return f"rotation published, retires the old certificate on {when[:10]}"
    if phase == "awaiting_approval":
        group = (view.get("awaiting") or {}).get("group")
        return f"rotation awaiting approval ({group})"
    return f"rotation {phase}" + (f", next {when[:10]}" if when else "")
