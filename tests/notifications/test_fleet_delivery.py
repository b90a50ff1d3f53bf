"""The fleet's verification tells what is news: a drift seen on three successive verifications is sent once; a
new finding is sent when it appears; each verification's summary is sent every time."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from pushproxy.local import LocalHost
from pushproxy.outcome import ok
from pushproxy.registry import VerificationRecord, shared_registry
from tests.notifications.conftest import channel, deliveries, drive, runtime
from tests.notifications.receiver import Receiver
from tests.orchestrators import stub_app
from tests.orchestrators.test_onboarding_decisions import Clock

PROXY_OFF = {"kind": "proxy_disabled", "severity": "drift", "message": "the push-notification proxy is disabled",
             "detail": {}}
PROBE = {"kind": "probe_failed", "severity": "failure", "message": "the probe failed on ex1: timeout 42 s",
         "detail": {"server": "ex1"}}


def fleet(findings: list[dict[str, Any]]) -> None:
    """Stub fleet activities: one tenant whose verification finds `findings` (stored, as verify_tenant does)."""

    def verify(payload: dict) -> dict:
        state = "failing" if any(f["severity"] == "failure" for f in findings) else "drifting" if findings else "healthy"
        record = VerificationRecord.from_dict({"domain": payload["tenant"], "verified_at": payload["now"],
                                               "state": state, "findings": findings,
                                               "verification_id": payload["verification_id"]})
        shared_registry().put_verification(record)
        return ok({"record": record.to_dict(), "policy": "off"}, "verified")

    stub_app.SCRIPT.update({
        "list_fleet": [ok({"tenants": ["fabrikam.com"]}, "none")],
        "verify_tenant": [verify],
        "record_verification_summary": [lambda p: ok(p, "recorded")],
    })


def verify_once(host: LocalHost, clock: Clock) -> None:
    host.start_new("verification", "verification", {"tenants": None, "batch_size": 5, "expiry_warning_days": 60})
    drive(host, clock, lambda: runtime(host, "verification") == "Completed"
          and all(s.runtime_status.value == "Completed" for s in deliveries(host)))
    clock.t += timedelta(days=1)


def bodies(receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    return [b for b in (json.loads(r.body) for r in receiver.received) if b["type"] == kind]


def types(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["type"] for r in receiver.received]


def test_a_drift_seen_on_three_verifications_is_sent_once(host: LocalHost, clock: Clock, receiver: Receiver,
                                                          configure: Any) -> None:
    configure(channel(receiver))
    fleet([PROXY_OFF])
    for _ in range(3):
        verify_once(host, clock)
    # (A verification's events are delivered in parallel: their order among themselves is not promised.)
    assert sorted(types(receiver)) == ["drift.found"] + ["verification.completed"] * 3
    (drift,) = bodies(receiver, "drift.found")
    assert drift["tenant"] == "fabrikam.com" and [f["kind"] for f in drift["data"]["findings"]] == ["proxy_disabled"]
    summaries = bodies(receiver, "verification.completed")
    assert len({s["id"] for s in summaries}) == 3 and all(s["data"]["drifting"] == 1 for s in summaries)

    # A new finding is news, alone (the standing one is not told again), whatever its message says next time.
    fleet([PROXY_OFF, PROBE])
    verify_once(host, clock)
    fleet([PROXY_OFF, {**PROBE, "message": "the probe failed on ex1: timeout 57 s"}])
    verify_once(host, clock)
    assert sorted(types(receiver)[4:]) == ["drift.found", "verification.completed", "verification.completed"]
    assert [[f["kind"] for f in d["data"]["findings"]] for d in bodies(receiver, "drift.found")] == [
        ["proxy_disabled"], ["probe_failed"]]
