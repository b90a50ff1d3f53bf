"""The Microsoft Teams message for an event: an Adaptive Card with the summary, a few facts and the link, posted to
a Teams Workflows webhook ("Post to a channel when a webhook request is received"; Office 365 connectors are
retired). The workflow expects a message activity whose attachment is the card:

    {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                         "contentUrl": null, "content": <AdaptiveCard>}]}

CARD_VERSION is 1.4: the highest version Teams renders in every client we know of (Teams documents up to 1.5 for
bots; 1.4 keeps mobile and the Workflows post alike). tests/notifications/test_teams.py checks the card against
the Adaptive Card 1.4 schema's required fields (AdaptiveCard: type, version; TextBlock: text; FactSet: facts of
title and value; Action.OpenUrl: url), plus a non-empty body, which Teams needs to show anything.
"""

from __future__ import annotations

from typing import Any

from pushproxy.notifications.events import (
    APPROVAL_AWAITED,
    CERTIFICATE_EXPIRING,
    DRIFT_FOUND,
    KEY_REMOVED,
    WORKFLOW_FAILED,
)

CARD_VERSION = "1.4"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TITLES = {
    "approval.awaited": "Approval awaited",
    "workflow.completed": "Workflow completed",
    "workflow.failed": "Workflow did not complete",
    "drift.found": "Drift found",
    "certificate.expiring": "Auth certificate expiring",
    "key.removed": "Key removed from the service principal",
    "verification.completed": "Fleet verification completed",
}
# Adaptive Card TextBlock colours: what needs a person stands out.
COLOURS = {APPROVAL_AWAITED: "Accent", WORKFLOW_FAILED: "Attention", DRIFT_FOUND: "Warning",
           CERTIFICATE_EXPIRING: "Warning", KEY_REMOVED: "Attention"}
MAX_FACTS = 8


def adaptive_card(event: dict[str, Any]) -> dict[str, Any]:
    """The Adaptive Card of one event (as EVENT_SCHEMA shapes it)."""
    kind = str(event.get("type"))
    facts = [{"title": "Tenant", "value": str(event.get("tenant") or "the fleet")}]
    if event.get("workflow_id"):
        facts.append({"title": "Workflow", "value": str(event["workflow_id"])})
    facts.append({"title": "When", "value": str(event.get("occurred_at"))})
    data = event.get("data") or {}
    for title, key in (("Group", "group"), ("Deadline", "deadline"), ("Outcome", "outcome"),
                       ("Days left", "days_left"), ("Thumbprint", "thumbprint")):
        if data.get(key) not in (None, ""):
            facts.append({"title": title, "value": str(data[key])})
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": TITLES.get(kind, kind), "weight": "Bolder", "size": "Medium", "wrap": True,
         **({"color": COLOURS[kind]} if kind in COLOURS else {})},
        {"type": "TextBlock", "text": str(event.get("summary") or kind), "wrap": True},
        {"type": "FactSet", "facts": facts[:MAX_FACTS]},
    ]
    listed = data.get("changes") or [f.get("message") for f in data.get("findings") or () if isinstance(f, dict)]
    for line in [str(x) for x in listed if x][:5]:
        body.append({"type": "TextBlock", "text": f"- {line}", "wrap": True, "spacing": "Small"})
    links = event.get("links") or {}
    actions = [{"type": "Action.OpenUrl", "title": title, "url": links[key]}
               # The console page, not the approval route: a person opening a link makes a GET, the route takes a POST.
               for key, title in (("console", "Approve or reject"), ("status", "Open the status"))
               if isinstance(links.get(key), str) and links[key].startswith("https://")]
    card: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
    if actions:
        card["actions"] = actions
    else:  # no public address configured: the path still tells a person where to look
        path = links.get("status")
        if path:
            body.append({"type": "TextBlock", "text": f"Status: {path}", "wrap": True, "isSubtle": True})
    return card


def teams_message(event: dict[str, Any]) -> dict[str, Any]:
    """The body posted to the Workflows webhook: a message with the card as its one attachment."""
    return {"type": "message", "summary": str(event.get("summary") or ""),
            "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(event)}]}
