"""A staged next Auth certificate, end to end: onboarding puts its key on the service principal next to the
current one's (before Exchange signs with it), keeps the tenant's own key, and a second run has nothing to do."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pushproxy.registry import open_registry
from tests.e2e.conftest import DOMAIN, World, approver, count_ok


def _thumbprint(key_b64: str) -> str:
    return hashlib.sha1(base64.b64decode(key_b64), usedforsecurity=False).hexdigest().upper()


def _stage_next_certificate(world: World, *, effective_in: timedelta, published: bool = True) -> dict[str, Any]:
    """Set-AuthConfig -NewCertificateThumbprint/-NewCertificateEffectiveDate, as the stand-in's state: a second valid
    2048-bit certificate, staged as the next one, on every server (`published`) or only on the first one (Exchange
    pushes it within one AD site; the default organisation has two)."""
    org = world.org()
    servers = [s["name"] for s in org["servers"]]
    now = datetime.now(UTC)
    org["certificates"].append(
        {
            "thumbprint": "NEXT-PLACEHOLDER",
            "subject": "CN=Microsoft Exchange Server Auth Certificate",
            "not_before": (now - timedelta(hours=1)).isoformat(),
            "not_after": (now + timedelta(days=5 * 365)).isoformat(),
            "key_size": 2048,
            "servers": servers if published else servers[:1],
        }
    )
    org["auth_config"] = {**org["auth_config"], "next": "NEXT-PLACEHOLDER", "next_effective": (now + effective_in).isoformat()}
    world.put_org(org)
    after = world.org()
    assert after["auth_config"]["next"] not in ("", "NEXT-PLACEHOLDER")
    return after


def _verify(world: World) -> Any:
    from pushproxy import fleet

    record, _ = asyncio.run(
        fleet.verify_tenant(open_registry(), DOMAIN, now=datetime.now(UTC), expiry_warning_days=60, verification_id="v-next")
    )
    return record


def test_staged_next_certificate_gets_its_key_uploaded_next_to_the_current_one(world: World) -> None:
    org = _stage_next_certificate(world, effective_in=timedelta(days=5))
    current, staged = org["auth_config"]["current"], org["auth_config"]["next"]
    keys_before = world.service_principal()["keyCredentials"]
    assert len(keys_before) >= 1 and not {current, staged} & {_thumbprint(k["key"]) for k in keys_before}

    report = world.onboard(world.spec(approval={"policy": "required"}), decide=approver("alice"))

    assert report["outcome"] == "done", report
    uploads = [c for c in report["plan"] if c["kind"] == "upload_tenant_key"]
    assert [[(k["source"], k["thumbprint"]) for k in c["details"]["keys"]] for c in uploads] == [
        [("discovery", current), ("next", staged)]
    ]
    assert report["changed"] == ["ensure_auth_server", "upload_tenant_key", "enable_push_proxy"]
    assert [c["result"]["thumbprints"] for c in report["changes"] if c["kind"] == "upload_tenant_key"] == [
        [current, staged]
    ]
    # Both keys are on the service principal, and the tenant's own key survived (by key bytes: PATCH re-sends kept keys).
    keys_after = world.service_principal()["keyCredentials"]
    assert {_thumbprint(k["key"]) for k in keys_after} >= {current, staged}
    assert {k["key"] for k in keys_before} <= {k["key"] for k in keys_after}
    assert len(keys_after) == len(keys_before) + 2
    # Exchange was not touched for the next certificate: it stays staged, not assigned.
    assert world.org()["auth_config"]["current"] == current and world.org()["auth_config"]["next"] == staged
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 0
    assert report["probe"]["succeeded"]
    record = _verify(world)
    assert (record.state, list(record.findings)) == ("healthy", [])

    world.exchange.clear_journal()
    world.graph.clear_journal()
    again = world.onboard(world.spec())

    assert again["outcome"] == "done"
    assert again["plan"] == [] and again["changes"] == []
    assert world.writes() == ([], [])


def test_staged_next_certificate_missing_on_a_server_is_a_note_and_does_not_block(world: World) -> None:
    org = _stage_next_certificate(world, effective_in=timedelta(days=5), published=False)
    staged = org["auth_config"]["next"]

    report = world.onboard(world.spec())

    assert report["outcome"] == "done", report
    assert [c["details"].get("source") for c in report["plan"] if c["kind"] == "upload_tenant_key"] == ["discovery"]
    # The advice is Microsoft's repair (export, import), not -PublishCertificate, which copies no certificate.
    assert any(staged in n and "Import-ExchangeCertificate" in n for n in report["plan_notes"]), report["plan_notes"]
    assert not any("PublishCertificate" in n for n in report["plan_notes"]), report["plan_notes"]
    assert staged not in {_thumbprint(k["key"]) for k in world.service_principal()["keyCredentials"]}
    # Verification reports it for a person, and would not start a remediation for it.
    from pushproxy.verification import should_remediate

    record = _verify(world)
    assert [f.kind for f in record.findings] == ["next_cert_key_missing"]
    assert record.findings[0].detail["uploadable"] is False
    assert not should_remediate(record, "onboard")
