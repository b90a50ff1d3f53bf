"""A property over event payloads: whatever a run holds (its spec's secret references, the secrets behind them,
certificates and keys), no body a channel receives carries any of it. Builders copy named fields only, so a secret
anywhere else in their input never reaches a body; free text they do copy (a summary, an error, a finding's
message) is scrubbed of references, PEM blocks and base64 material, should a message ever quote one."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pushproxy.notifications import events
from pushproxy.notifications.channels import Channel
from pushproxy.notifications.fleet_events import NoticeState, tenant_events
from pushproxy.notifications.send import body_of

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{2,20}", fullmatch=True)
REFS = st.builds(lambda scheme, name: f"{scheme}:{name}", st.sampled_from(["env", "file", "keyvault"]), NAMES) | \
    st.builds(lambda name: f"path:/etc/pushproxy/{name}.pem", NAMES)
# Secrets as they are: a password (anything), a client secret or key (base64 material), a PEM.
PASSWORDS = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=12, max_size=30)
MATERIAL = st.binary(min_size=30, max_size=300).map(lambda b: base64.b64encode(b).decode())
PEMS = MATERIAL.map(lambda m: f"-----BEGIN PRIVATE KEY-----\n{m}\n-----END PRIVATE KEY-----")
PLAIN = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=60)


@st.composite
def runs(draw: Any) -> dict[str, Any]:
    """A run's secrets, and the inputs every builder sees, with the secrets planted where a careless builder
    would pick them up: in the spec, in change details, comments, probe exceptions, finding details; and quoted
    (references, material) in the free text that is copied."""
    password, material, pem = draw(PASSWORDS), draw(MATERIAL), draw(PEMS)
    refs = draw(st.lists(REFS, min_size=3, max_size=3, unique=True))
    spec = {"exchange": {"password_ref": refs[0]}, "graph": {"secret_ref": refs[1], "certificate_ref": refs[2]},
            "resolved": {"password": password, "secret": material, "pem": pem}}
    quoted = draw(st.sampled_from([refs[0], refs[1], refs[2], material, pem]))
    before, after = draw(PLAIN), draw(PLAIN)
    # Free text of the run's own (a server name, an error) that happens to spell a secret is not a leak.
    assume(not any(s in before + " " + after for s in (password, material, pem, *refs)))
    text = before + " " + quoted + " " + after
    change = {"kind": "upload_tenant_key", "summary": text, "details": {"key": material, "ref": refs[1], "pem": pem}}
    report = {"tenant": "fabrikam.com", "outcome": draw(st.sampled_from(["done", "failed", "blocked", "rejected"])),
              "started_at": NOW.isoformat(), "finished_at": NOW.isoformat(), "changed": ["upload_tenant_key"],
              "approvals": [{"group": "tenant", "decision": "approve", "approver": "alice", "comment": password,
                             "time": NOW.isoformat()}],
              "probe": {"server": "ex1", "succeeded": False, "result_type": "Failed", "exception": pem},
              "blocking": [{"code": "x", "message": text}], "error": text, "changes": [change], "spec": spec}
    finding = {"kind": "probe_failed", "severity": "failure", "message": text,
               "detail": {"server": "ex1", "password": password, "key": material}}
    removed = {"kind": "key_removed", "severity": "failure", "message": text,
               "detail": {"thumbprint": "AB" * 20, "onboarding_id": "onboarding-fabrikam.com", "pem": pem}}
    return {"secrets": [password, material, pem, *refs], "spec": spec, "change": change, "report": report,
            "findings": [finding, removed]}


def bodies(run: dict[str, Any]) -> list[bytes]:
    raised = [
        events.approval_awaited(workflow="onboarding", instance_id="onboarding-fabrikam.com", run_started_at=NOW,
                                tenant="fabrikam.com", group="tenant", changes=[run["change"]], state_hash="h",
                                deadline=NOW, occurred_at=NOW, requested_by="carol"),
        events.workflow_ended(workflow="onboarding", instance_id="onboarding-fabrikam.com", report=run["report"],
                              occurred_at=NOW),
        events.verification_completed(summary={"verification_id": "verification", "total": 1, "failing": 1,
                                               "started_at": NOW.isoformat(), "spec": run["spec"]}, occurred_at=NOW),
    ]
    record = {"domain": "fabrikam.com", "state": "failing", "findings": run["findings"],
              "facts": {"spec": run["spec"], "auth_certificate": {"thumbprint": "AB" * 20, "days_left": 5,
                                                                  "not_after": NOW.isoformat(), "der": run["secrets"][1]}}}
    fleet, _ = tenant_events(record, NoticeState(), verification_id="verification", occurred_at=NOW.isoformat())
    raised += fleet
    assert {e.type for e in raised} >= {"approval.awaited", "drift.found", "key.removed", "certificate.expiring"}
    out = []
    for event in raised:
        for kind in ("webhook", "teams"):
            channel = Channel(name="c", kind=kind, url="https://hooks.example.com/x")
            out.append(body_of(channel, event.with_base_url("https://pushproxy.example.com").to_dict()))
    return out


def without_secrets(value: Any, secrets: list[str]) -> Any:
    """`value` with every secret replaced by a marker, wherever it is planted."""
    if isinstance(value, str):
        for i, secret in enumerate(secrets):
            value = value.replace(secret, f"<secret {i}>")
        return value
    if isinstance(value, dict):
        return {k: without_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v, secrets) for v in value]
    return value


@settings(max_examples=100, deadline=None)
@given(runs())
def test_no_secret_of_the_run_appears_in_any_body(run: dict[str, Any]) -> None:
    # The same run with its secrets taken out: what a body says of its own (a password drawn as "AdaptiveCard" is
    # in every Teams card) is not a leak; only what the secrets add to a body is.
    skeletons = bodies(without_secrets(run, run["secrets"]))
    for body, skeleton in zip(bodies(run), skeletons, strict=True):
        text = body.decode("utf-8")
        parsed = json.dumps(json.loads(text), ensure_ascii=False)  # and as a receiver decodes it
        own = skeleton.decode("utf-8")
        own_parsed = json.dumps(json.loads(own), ensure_ascii=False)
        for secret in run["secrets"]:
            assert text.count(secret) <= own.count(secret) and parsed.count(secret) <= own_parsed.count(secret), (
                secret, text)
        assert "-----BEGIN" not in text
