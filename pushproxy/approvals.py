"""Approvals bound to what was shown: a decision counts only for the group, and the plan, its approver saw.

Every workflow that stops for a person (onboarding, rotation, offboarding) uses this module. The interface:

- `ApprovalRules(requester, approvers, policy)`: who may decide. Built by the workflow from its own input (the
  operator's registered approvers and policy, and who started the run), never from the event.
- `open_wait(group, plan_hash, opened_at, round_no, deadline)` -> `Awaiting`: what the workflow publishes in its
  custom status as `awaiting` (`awaiting.to_dict()`). Its `state_hash` is the approval hash of this one wait: the
  plan's state hash, the group, the round and the instant the wait began, hashed. Approvers are shown that value
  and must send it back; nobody can send it before the wait exists.
- `judge(event_data, awaiting, rules)` -> `Verdict`: pure. The accepted `Decision`, or why the event is ignored.
- `await_decision(context, awaiting, rules, publish=..., note=...)`: the orchestrator side, used with
  `yield from`. It publishes the wait, consumes `approval` events until one is accepted or the deadline timer
  fires (in intervals of at most 3 days), notes each ignored event (`note(text)`), and returns a `Decision` (`decision` is "approve", "reject" or
  "timed_out"). Deterministic: it reads only the context and the events.

The event (from the HTTP API, `pushproxy approve`, the Durable `raiseEvent` webhook or the console alike):
`{"decision": "approve"|"reject", "approver": NAME, "group": GROUP, "state_hash": AWAITING_HASH, "comment"?,
"early_key_removal"?}` (the last only means something to a rotation's retire step).
Everything is checked here, inside the workflow, whichever door the event came through: the group and hash,
the approver's name (pushproxy.principals: NFKC and case-folded, invisible and bidirectional controls refused),
self-approval (approver == requester) and the approver list. Why the hash carries the wait's own instant:
Durable buffers events raised before a wait starts, so without it an event aimed at the tenant group while the
on-premises group is awaited, or the second of two simultaneous approvals of one group, would be consumed by
the next wait as if someone had approved what it shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pushproxy.principals import PrincipalError, canonical_principal
from pushproxy.timers import deadline_timer

# Each wait listens for its own event name, `approval-<first 24 hex of its approval hash>` (`awaiting.event` in the
# custom status), not one shared name. Why: azure-functions-durable 1.7.0 keeps an event that arrived while nothing
# waited for its name (a second, simultaneous approval; one raised while an activity ran) in `deferred_tasks`,
# keyed by the name and never removed, and completes EVERY later wait of that name with it at once: with one
# shared name, a wait that ignores such an event would be handed it again forever (the orchestrator dies of
# recursion). Under its own name a stale event has no later wait to reach.
EVENT_NAME = "approval"
DECISIONS = ("approve", "reject")
AUTO_APPROVER = "policy:auto"
MAX_COMMENT = 1000
# A note quotes an event's fields at most this long: the custom status is small, and a note is read by people.
_QUOTE = 64

Outcome = Literal["approve", "reject", "timed_out"]


@dataclass(frozen=True)
class ApprovalRules:
    """Who may decide: not the requester, and, when the operator listed approvers, only one of them."""

    requester: str | None = None
    approvers: tuple[str, ...] = ()
    policy: str = "required"

    def refusal(self, approver: str) -> str | None:
        """Why `approver` (canonical) may not decide, or None. Names compare in canonical form; a registered
        name that can't be canonical matches nobody."""
        requester = _canonical_or_none(self.requester)
        listed = {c for c in (_canonical_or_none(a) for a in self.approvers) if c}
        if requester is not None and approver == requester:
            return f"{_quote(approver)} requested this run and cannot approve it (self-approval)"
        if self.approvers and approver not in listed:
            return f"{_quote(approver)} is not one of this tenant's approvers"
        return None


@dataclass(frozen=True)
class Awaiting:
    """One wait for one group's decision, as published in the custom status."""

    group: str
    state_hash: str  # the approval hash of this wait: what an approver is shown and sends back
    plan_state_hash: str
    deadline: str
    round: int = 1

    @property
    def event_name(self) -> str:
        """The external event this one wait listens for: its own name, so that an event meant for another wait
        can never be handed to this one (see EVENT_NAME)."""
        return f"{EVENT_NAME}-{self.state_hash[:24]}"

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "state_hash": self.state_hash, "plan_state_hash": self.plan_state_hash,
                "deadline": self.deadline, "round": self.round, "event": self.event_name}


@dataclass(frozen=True)
class Decision:
    """What a wait ended with."""

    decision: Outcome
    group: str
    state_hash: str  # the approval hash it was given for
    approver: str | None = None
    comment: str | None = None
    # A rotation's retire step: the approver allows removing the retired certificate's key before it expires.
    early_key_removal: bool = False


@dataclass(frozen=True)
class Verdict:
    decision: Decision | None
    reason: str = ""


def approval_hash(plan_hash: str, group: str, round_no: int, opened_at: datetime) -> str:
    """The hash shown to this wait's approvers: the plan's state, the group, and the wait itself."""
    text = "\n".join((plan_hash, group, str(round_no), opened_at.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()


def open_wait(group: str, plan_hash: str, opened_at: datetime, round_no: int, deadline: datetime) -> Awaiting:
    """The wait for `group`'s decision on the plan `plan_hash`, begun at `opened_at` (the orchestration's clock)."""
    return Awaiting(group, approval_hash(plan_hash, group, round_no, opened_at), plan_hash, deadline.isoformat(), round_no)


def judge(data: Any, awaiting: Awaiting, rules: ApprovalRules) -> Verdict:
    """Accept an `approval` event for this wait, or say why it is ignored (never for another group or plan)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return Verdict(None, "its data is not JSON")
    if not isinstance(data, dict):
        return Verdict(None, "its data is not an object")
    decision = data.get("decision")
    if decision not in DECISIONS:
        return Verdict(None, "decision must be approve or reject")
    group = data.get("group")
    if group != awaiting.group:
        shown = _quote(group) if isinstance(group, str) else "no group"
        return Verdict(None, f"it is for {shown}, not the {awaiting.group} group awaited")
    given = data.get("state_hash")
    if given != awaiting.state_hash:
        what = f"{given[:12]}…" if isinstance(given, str) and given else "no state_hash"
        return Verdict(None, f"it was given for another plan or wait ({what}), not the one shown for {awaiting.group}")
    try:
        approver = canonical_principal(data.get("approver"), "approver")
    except PrincipalError as exc:
        return Verdict(None, str(exc))
    refused = rules.refusal(approver)
    if refused:
        return Verdict(None, refused)
    comment = data.get("comment")
    if not isinstance(comment, str):
        comment = None
    elif len(comment) > MAX_COMMENT:
        comment = comment[:MAX_COMMENT]
    early = data.get("early_key_removal") is True
    return Verdict(Decision(decision, awaiting.group, awaiting.state_hash, approver, comment, early))


def await_decision(
    context: Any,
    awaiting: Awaiting,
    rules: ApprovalRules,
    *,
    deadline: datetime,
    publish: Callable[[Awaiting], None],
    note: Callable[[str], None],
) -> Generator[Any, Any, Decision]:
    """Wait for this group's decision: the first accepted event, or "timed_out" at `deadline` (durable timer).

    `publish(awaiting)` is called once the wait is open (put it in the custom status); `note(text)` for each
    ignored event (then publish again if the note shows there). Under policy `auto` it returns at once.
    """
    publish(awaiting)
    if rules.policy == "auto":
        return Decision("approve", awaiting.group, awaiting.state_hash, AUTO_APPROVER,
                        "approved by the tenant's approval policy")
    # The deadline is raced in intervals of at most 3 days (pushproxy.timers): the event can win in any of them.
    # A deadline within 3 days is one timer, kept across ignored events, as it always was.
    timer = deadline_timer(context, deadline)
    event = context.wait_for_external_event(awaiting.event_name)
    while True:
        if timer is None:
            return Decision("timed_out", awaiting.group, awaiting.state_hash)
        winner = yield context.task_any([event, timer])
        if winner is timer:
            timer = deadline_timer(context, deadline)
            continue  # the same event task waits on: it was never completed
        verdict = judge(event.result, awaiting, rules)
        if verdict.decision is None:
            note(f"ignored an approval event: {verdict.reason}")
            event = context.wait_for_external_event(awaiting.event_name)
            continue
        timer.cancel()
        return verdict.decision


def same_person(a: object, b: object) -> bool:
    """Whether two names are one person, as the workflow compares them (a name that can't be one matches nobody)."""
    ca, cb = _canonical_or_none(a), _canonical_or_none(b)
    return ca is not None and ca == cb


def _canonical_or_none(name: object) -> str | None:
    if name is None:
        return None
    try:
        return canonical_principal(name)
    except PrincipalError:
        return None


def _quote(value: str) -> str:
    text = value if len(value) <= _QUOTE else value[: _QUOTE - 1] + "…"
    return repr(text)
