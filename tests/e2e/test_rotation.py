"""The Auth certificate's renewal end to end, on the stand-ins (two Mailbox servers in two AD sites), with a clock
that jumps over the weeks: the order of the changes is proven from the stand-ins' journals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from pushproxy import rotation_runner
from pushproxy.clock import JumpClock
from pushproxy.onboarding.runner import runtime_of
from pushproxy.rotation_view import rotation_view
from tests.e2e.conftest import World, approver, count_ok

AUTH_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"


def _thumbprint(key_b64: str) -> str:
    import base64
    import hashlib

    return hashlib.sha1(base64.b64decode(key_b64), usedforsecurity=False).hexdigest().upper()


def expiring_current(world: World, *, days_left: float, key_size: int = 2048, on: list[str] | None = None) -> str:
    """Replace the current Auth certificate with one that expires in `days_left` days (stand-in time)."""
    org = world.org()
    servers = [s["name"] for s in org["servers"]]
    now = datetime.fromisoformat(world.exchange.request("GET", "/_emulator/clock")["now"])
    org["certificates"].append({
        "thumbprint": "CURRENT-PLACEHOLDER", "subject": AUTH_SUBJECT,
        "not_before": (now - timedelta(days=365)).isoformat(),
        "not_after": (now + timedelta(days=days_left)).isoformat(),
        "key_size": key_size, "servers": servers if on is None else on,
    })
    org["auth_config"] = {**org["auth_config"], "current": "CURRENT-PLACEHOLDER", "previous": "", "next": ""}
    world.put_org(org)
    return str(world.org()["auth_config"]["current"])


def rotation_spec(world: World, **sections: Any) -> Any:
    """The test spec, with the stand-in's Windows PowerShell endpoint for the restarts."""
    return world.spec(exchange={"windows_powershell_url": world.exchange.base_url + "/wsman"}, **sections)


def synced_clock(world: World) -> JumpClock:
    clock = JumpClock()

    def tell_exchange(instant: datetime) -> None:
        world.exchange.request("PUT", "/_emulator/clock", {"now": instant.isoformat()})

    clock.on_jump.append(tell_exchange)
    return clock


def rotate(world: World, spec: Any, clock: JumpClock, decide: Any = None, *, host: Any = None) -> dict[str, Any]:
    host = host or world.host(clock=clock)
    instance_id, _ = rotation_runner.start_or_resume(host, spec, requested_by="e2e")
    final = rotation_runner.run(host, instance_id, decide=decide, timeout=240,
                                jump=lambda when: clock.jump_to(datetime.fromisoformat(when) + timedelta(seconds=1)))
    assert runtime_of(final) == "Completed", (runtime_of(final), final.output)
    return rotation_view(final) | {"output": final.output}


def index(journal: list[dict[str, Any]], predicate: Any) -> list[int]:
    return [i for i, e in enumerate(journal) if predicate(e)]


def ok_op(name: str, **params: Any) -> Any:
    def match(e: dict[str, Any]) -> bool:
        if not str(e.get("operation", "")).startswith(name) or e.get("outcome") != "ok":
            return False
        p = e.get("parameters") or {}
        return all(k in p for k in params)
    return match


@pytest.fixture
def onboarded(world: World) -> tuple[World, str]:
    """An onboarded organisation whose current Auth certificate (with our key on the tenant) expires in 29 days."""
    old = expiring_current(world, days_left=29)
    report = world.onboard(world.spec())
    assert report["outcome"] == "done", report
    world.exchange.clear_journal()
    world.graph.clear_journal()
    return world, old


def test_the_whole_chain_in_order(onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    clock = synced_clock(world)
    foreign = [k for k in world.service_principal()["keyCredentials"] if _thumbprint(k["key"]) != old]
    started = clock.now()

    view = rotate(world, rotation_spec(world, approval={"policy": "required"}), clock, approver("alice"))

    assert view["outcome"] == "done", view
    new = view["new_certificate"]["thumbprint"]
    auth = world.org()["auth_config"]
    assert (auth["current"], auth["previous"], auth["next"]) == (new, "", "")
    # Each approval is recorded with who gave it: the plan and the retirement.
    assert [(a["group"], a["approver"]) for a in view["approvals"]] == [("plan", "alice"), ("retire", "alice")]

    journal = world.exchange.journal()
    created = index(journal, ok_op("New-ExchangeCertificate"))
    imported = index(journal, ok_op("Import-ExchangeCertificate"))
    staged = index(journal, ok_op("Set-AuthConfig", NewCertificateThumbprint=1))
    published = index(journal, ok_op("Set-AuthConfig", PublishCertificate=1))
    cleared = index(journal, ok_op("Set-AuthConfig", ClearPreviousCertificate=1))
    restarts = index(journal, ok_op("Restart-"))
    assert len(created) == len(imported) == len(staged) == len(published) == len(cleared) == 1, journal
    assert created[0] < imported[0] < staged[0] < published[0] < restarts[0] < cleared[0]

    # Graph: the key went in before staging; our old key came off only after the old certificate expired.
    graph = world.graph.journal()
    patches = [e for e in graph if str(e.get("operation", "")).startswith("PATCH") and e.get("outcome") == "ok"]
    assert len(patches) == 2, patches
    upload_time = datetime.fromisoformat(patches[0]["time"])
    stage_time = datetime.fromisoformat(journal[staged[0]]["wall_time"])
    assert upload_time < stage_time
    # Times in the Exchange journal are stand-in (jumped) times: publish after the effective date, staging
    # 30 days (rotation.staging_days) ahead of the staging instant, clamped a day before the old one expires.
    effective = view["changes"][[c["kind"] for c in view["changes"]].index("stage_auth_certificate")]["result"]["effective"]
    assert datetime.fromisoformat(journal[published[0]]["time"]) >= datetime.fromisoformat(effective)
    old_expiry = started + timedelta(days=29)
    assert datetime.fromisoformat(effective) <= old_expiry - timedelta(hours=23)
    removal = next(c for c in view["changes"] if c["kind"] == "remove_retired_key")
    assert removal["outcome"] == "removed" and datetime.fromisoformat(removal["at"]) >= old_expiry - timedelta(minutes=5)
    keys = world.service_principal()["keyCredentials"]
    thumbs = {_thumbprint(k["key"]) for k in keys}
    assert new in thumbs and old not in thumbs
    assert {k["key"] for k in foreign} <= {k["key"] for k in keys}  # every other key intact
    # The new certificate is on both Mailbox servers (two AD sites: Exchange pushed it to one site only).
    cert = next(c for c in world.org()["certificates"] if c["thumbprint"] == new)
    assert len(cert["servers"]) == 2


def test_a_rejected_plan_changes_nothing(onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    clock = synced_clock(world)
    view = rotate(world, rotation_spec(world, approval={"policy": "required"}), clock, approver("bob", "reject"))
    assert view["outcome"] == "rejected"
    assert world.org()["auth_config"]["current"] == old
    assert count_ok(world.exchange.journal(), "New-ExchangeCertificate") == 0
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 0


def test_nothing_to_do_when_the_certificate_is_far_from_expiry(world: World) -> None:
    clock = synced_clock(world)
    view = rotate(world, rotation_spec(world), clock)
    assert view["outcome"] == "nothing_to_do", view
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 0
