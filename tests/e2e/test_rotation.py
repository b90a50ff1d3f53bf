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


def decide_by_group(**decisions: str) -> Any:
    """A decider that answers each approval group as told (default approve), as alice."""

    def decide(status: dict[str, Any]) -> dict[str, Any]:
        group = status["awaiting"]["group"]
        decision = decisions.get(group, "approve")
        return {"decision": decision, "approver": "alice", "comment": f"{decision} {group}",
                "state_hash": status["awaiting"].get("state_hash") or None}

    return decide


def test_a_rejected_retirement_keeps_the_old_certificate_as_previous(onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    clock = synced_clock(world)
    view = rotate(world, rotation_spec(world, approval={"policy": "required"}), clock, decide_by_group(retire="reject"))
    assert view["outcome"] == "rejected", view
    new = view["new_certificate"]["thumbprint"]
    auth = world.org()["auth_config"]
    assert (auth["current"], auth["previous"]) == (new, old)  # the organisation works on the new one
    thumbs = {_thumbprint(k["key"]) for k in world.service_principal()["keyCredentials"]}
    assert {new, old} <= thumbs
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 2  # staged, published; never cleared


def _someone_removes_our_new_key_while_we_wait(world: World, host: Any, clock: JumpClock, spec: Any) -> tuple[str, Any]:
    """Run the rotation until it waits on its effective date, then take the new key off the service principal
    (as a person or another tool would)."""
    instance_id, _ = rotation_runner.start_or_resume(host, spec, requested_by="e2e")
    status = rotation_runner.run(host, instance_id, decide=decide_by_group(), timeout=120)  # stops at the timer
    view = rotation_view(status)
    assert view["phase"] == "staged", view
    new = view["new_certificate"]["thumbprint"]
    state = world.graph.state()
    tenant = next(iter(state["tenants"].values()))
    sp = next(s for s in tenant["servicePrincipals"] if s["appId"] == "00000002-0000-0ff1-ce00-000000000000")
    sp["keyCredentials"] = [k for k in sp["keyCredentials"] if _thumbprint(k["key"]) != new]
    world.graph.put_state(state)
    return instance_id, view


def test_publish_asks_again_when_the_state_no_longer_matches_and_a_rejection_keeps_the_current(
    onboarded: tuple[World, str],
) -> None:
    world, old = onboarded
    clock = synced_clock(world)
    host = world.host(clock=clock)
    spec = rotation_spec(world, approval={"policy": "required"})
    instance_id, view = _someone_removes_our_new_key_while_we_wait(world, host, clock, spec)
    clock.jump_to(datetime.fromisoformat(view["next_date"]) + timedelta(seconds=1))
    final = rotation_view(rotation_runner.run(host, instance_id, decide=decide_by_group(publish="reject"), timeout=120))
    assert final["outcome"] == "rejected", final
    assert [a["group"] for a in final["approvals"]] == ["plan", "publish"]
    assert world.org()["auth_config"]["current"] == old
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 1  # staged only


def test_someone_else_publishing_during_the_wait_is_not_fought(onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    clock = synced_clock(world)
    host = world.host(clock=clock)
    instance_id, _ = rotation_runner.start_or_resume(host, rotation_spec(world), requested_by="e2e")
    view = rotation_view(rotation_runner.run(host, instance_id, timeout=120))
    new = view["new_certificate"]["thumbprint"]
    org = world.org()  # an administrator publishes it early (Set-AuthConfig -PublishCertificate)
    org["auth_config"] = {**org["auth_config"], "current": new, "previous": old, "next": "", "next_effective": None}
    world.put_org(org)

    final = rotate(world, rotation_spec(world), clock, host=host)

    assert final["outcome"] == "done", final
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 2  # our staging, then -ClearPreviousCertificate
    assert any("already published" in n for n in final["notes"])


def test_someone_else_staging_another_certificate_during_the_wait_stops_the_rotation(onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    clock = synced_clock(world)
    host = world.host(clock=clock)
    instance_id, _ = rotation_runner.start_or_resume(host, rotation_spec(world), requested_by="e2e")
    view = rotation_view(rotation_runner.run(host, instance_id, timeout=120))
    ours = view["new_certificate"]["thumbprint"]
    org = world.org()  # someone stages their own certificate (on one server only, its key not on the tenant)
    now = datetime.fromisoformat(world.exchange.request("GET", "/_emulator/clock")["now"])
    org["certificates"].append({"thumbprint": "THEIRS", "subject": AUTH_SUBJECT, "servers": [org["servers"][0]["name"]],
                                "not_before": (now - timedelta(hours=1)).isoformat(),
                                "not_after": (now + timedelta(days=700)).isoformat()})
    org["auth_config"] = {**org["auth_config"], "next": "THEIRS", "next_effective": (now + timedelta(days=20)).isoformat()}
    world.put_org(org)
    theirs = world.org()["auth_config"]["next"]

    final = rotate(world, rotation_spec(world), clock, host=host)

    assert final["outcome"] == "blocked", final
    auth = world.org()["auth_config"]
    assert (auth["current"], auth["next"]) == (old, theirs)  # theirs left alone, ours never published
    assert ours != theirs
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 1


def test_emergency_an_expired_certificate_is_replaced_at_once(onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    clock = synced_clock(world)
    clock.advance(days=30)  # the certificate expired yesterday
    view = rotate(world, rotation_spec(world, approval={"policy": "required"}), clock, approver("alice"))
    assert view["outcome"] == "done", view
    assert view["mode"] == "emergency"
    new = view["new_certificate"]["thumbprint"]
    assert world.org()["auth_config"]["current"] == new
    journal = world.exchange.journal()
    imported = index(journal, ok_op("Import-ExchangeCertificate"))
    assigned = index(journal, ok_op("Set-AuthConfig", CertificateThumbprint=1))
    restarted = index(journal, ok_op("Restart-"))
    assert imported and assigned and restarted and imported[-1] < assigned[0] < restarted[0]
    assert count_ok(journal, "Set-AuthConfig") == 2  # made current, then the expired one cleared
    assert not index(journal, ok_op("Set-AuthConfig", NewCertificateThumbprint=1))
    assert old not in {_thumbprint(k["key"]) for k in world.service_principal()["keyCredentials"]}


def test_repair_a_current_certificate_missing_on_one_server_is_imported(world: World) -> None:
    assert world.onboard(world.spec())["outcome"] == "done"
    org = world.org()
    current = org["auth_config"]["current"]
    for cert in org["certificates"]:
        if cert["thumbprint"] == current:
            cert["servers"] = cert["servers"][:1]
    world.put_org(org)
    world.exchange.clear_journal()
    view = rotate(world, rotation_spec(world), synced_clock(world))
    assert view["mode"] == "repair" and view["outcome"] == "done", view
    assert count_ok(world.exchange.journal(), "Import-ExchangeCertificate") == 1
    assert count_ok(world.exchange.journal(), "New-ExchangeCertificate") == 0
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 0
    cert = next(c for c in world.org()["certificates"] if c["thumbprint"] == current)
    assert len(cert["servers"]) == 2


def test_one_workflow_per_tenant(onboarded: tuple[World, str]) -> None:
    world, _ = onboarded
    from pushproxy.errors import PushProxyError
    from pushproxy.onboarding import runner

    clock = synced_clock(world)
    host = world.host(clock=clock)
    instance_id, _ = rotation_runner.start_or_resume(host, rotation_spec(world), requested_by="e2e")
    assert rotation_view(rotation_runner.run(host, instance_id, timeout=120))["phase"] == "staged"
    with pytest.raises(PushProxyError, match="rotation-"):
        runner.start_or_resume(host, world.spec(), requested_by="e2e")
    assert rotation_runner.start_or_resume(host, rotation_spec(world), requested_by="e2e") == (instance_id, True)


def test_a_waiting_rotation_survives_a_deployment_on_the_version_it_started_with(onboarded: tuple[World, str]) -> None:
    """Orchestration versioning (host.json defaultVersion "2", CurrentOrOlder, Reject): the instance records the
    version it started with; an older deployment does not run it when the wait ends (forward protection), a newer
    one does, and the instance still sees its own version (context.version) and completes."""
    from pushproxy.onboarding import runner

    world, _ = onboarded
    clock = synced_clock(world)
    spec = rotation_spec(world)
    first = runner.open_host(world.database, clock=clock)
    world.hosts.append(first)
    assert (first.default_version, first.version_match) == ("2", "CurrentOrOlder")  # from host.json
    instance_id, _ = rotation_runner.start_or_resume(first, spec, requested_by="e2e")
    view = rotation_view(rotation_runner.run(first, instance_id, timeout=120))
    assert (view["phase"], view["version"]) == ("staged", "2")
    first.close()

    clock.jump_to(datetime.fromisoformat(view["next_date"]) + timedelta(seconds=1))
    older = runner.open_host(world.database, clock=clock, default_version="1")
    world.hosts.append(older)
    older.run_until_idle()
    assert rotation_view(older.get_status(instance_id))["phase"] == "staged"  # rejected: left for a newer host
    assert not index(world.exchange.journal(), ok_op("Set-AuthConfig", PublishCertificate=1))
    older.close()

    newer = runner.open_host(world.database, clock=clock, default_version="3")
    world.hosts.append(newer)
    clock.advance(seconds=31)  # the rejected work is looked at again
    final = rotate(world, spec, clock, host=newer)
    assert final["outcome"] == "done" and final["version"] == "2", final
    assert len(index(world.exchange.journal(), ok_op("Set-AuthConfig", PublishCertificate=1))) == 1


def test_a_deployment_of_version_3_finishes_waiting_v2_instances_on_v2_and_starts_new_ones_as_v3(
    onboarded: tuple[World, str],
) -> None:
    """A rotation started under "2" waits (staged); the deployment brings a version "3" whose code after the wait
    differs (tests/e2e/rotation_v3_app.py). The waiting instance resumes and finishes on the v2 path; a new one
    starts as "3" and takes the v3 path; while it waits, an older ("2") host refuses it (Reject) and leaves it."""
    from pushproxy.local import LocalHost
    from pushproxy.onboarding import runner
    from tests.e2e.rotation_v3_app import V3_NOTE

    world, _ = onboarded
    clock = synced_clock(world)
    spec = rotation_spec(world)
    versioning = {"version_match": "CurrentOrOlder", "version_failure": "Reject"}

    def v3_host() -> LocalHost:
        host = LocalHost(runner.product_app("tests.e2e.rotation_v3_app:build_app"), database=world.database,
                         clock=clock, default_version="3", **versioning)
        world.hosts.append(host)
        return host

    def published() -> int:
        return len(index(world.exchange.journal(), ok_op("Set-AuthConfig", PublishCertificate=1)))

    def jump_over(view: dict[str, Any]) -> None:
        clock.jump_to(datetime.fromisoformat(view["next_date"]) + timedelta(seconds=1))

    v2 = world.host(clock=clock)
    instance_id, _ = rotation_runner.start_or_resume(v2, spec, requested_by="e2e")
    waiting = rotation_view(rotation_runner.run(v2, instance_id, timeout=120))
    assert (waiting["phase"], waiting["version"]) == ("staged", "2")
    v2.close()

    # The deployment: version "3" takes over while the v2 instance waits.
    new_code = v3_host()
    jump_over(waiting)
    first = rotate(world, spec, clock, host=new_code)
    assert (first["outcome"], first["version"]) == ("done", "2"), first
    assert V3_NOTE not in first["notes"]  # finished on the path it started on
    assert published() == 1

    # A new rotation (the certificate expires again) starts as "3".
    expiring_current(world, days_left=29)
    instance_id, _ = rotation_runner.start_or_resume(new_code, spec, requested_by="e2e")
    staged = rotation_view(rotation_runner.run(new_code, instance_id, timeout=120))
    assert (staged["phase"], staged["version"]) == ("staged", "3")
    new_code.close()

    # Rolled back to "2" meanwhile: that host does not run a "3" instance when its wait ends (Reject: left as is).
    old_code = world.host(clock=clock)
    assert old_code.default_version == "2"
    jump_over(staged)
    old_code.run_until_idle()
    assert rotation_view(old_code.get_status(instance_id))["phase"] == "staged"
    assert published() == 1
    old_code.close()

    clock.advance(seconds=31)  # the rejected work is looked at again, by version "3"
    second = rotate(world, spec, clock, host=v3_host())
    assert (second["outcome"], second["version"]) == ("done", "3"), second
    assert V3_NOTE in second["notes"]
    assert published() == 2


def test_the_cli_stops_at_the_wait_and_status_shows_the_phase_and_the_next_date(onboarded: tuple[World, str]) -> None:
    import json
    import os
    import subprocess
    import sys

    from tests.support.exchange_standin import REPO

    world, _ = onboarded
    spec_path = world.tmp / "spec.json"
    spec_path.write_text(rotation_spec(world).to_json(), encoding="utf-8")
    database = world.tmp / "cli.sqlite"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pushproxy", *args, "--database", str(database)], cwd=REPO,
                              env=dict(os.environ), capture_output=True, text=True, timeout=180, check=False)

    dry = cli("rotate", "--spec", str(spec_path), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["mode"] == "renew"
    # The test app has no Policy.Read.All: the dry run's plan says so, as the workflow's does.
    assert any("could not be read" in n for n in json.loads(dry.stdout)["notes"]), dry.stdout
    done = cli("rotate", "--spec", str(spec_path), "--auto-approve", "--json")
    assert done.returncode == 6, done.stderr  # waits on its effective date: the same command continues it
    view = json.loads(done.stdout)
    assert view["phase"] == "staged" and view["next_date"]
    assert "rotation staged, publishes on" in done.stderr and "pushproxy serve" in done.stderr
    listed = cli("status", "--json")
    row = next(r for r in json.loads(listed.stdout) if r["instance_id"] == "rotation-fabrikam.com")
    assert (row["phase"], row["next_date"]) == ("staged", view["next_date"])
    again = cli("rotate", "--spec", str(spec_path), "--auto-approve")
    assert again.returncode == 6 and "Resuming" in again.stderr + again.stdout
    assert count_ok(world.exchange.journal(), "New-ExchangeCertificate") == 1


def test_a_tenant_policy_refusing_a_5_year_key_gets_a_shorter_certificate(onboarded: tuple[World, str]) -> None:
    """The tenant caps key lifetimes at 365 days (appManagementPolicy asymmetricKeyLifetime), which refuses
    Exchange's 5-year certificate: the rotation reads the policy (Policy.Read.All) and plans a 365-day one, made
    and imported by pushproxy (New-ExchangeCertificate has no lifetime parameter), whose key the tenant accepts."""
    world, _ = onboarded
    state = world.graph.state()
    tenant = next(iter(state["tenants"].values()))
    tenant["policies"]["maxCertificateLifetimeDays"] = 365
    for app in state["applications"].values():
        app["roles"] = sorted({*app["roles"], "Policy.Read.All"})
    world.graph.put_state(state)

    view = rotate(world, rotation_spec(world), synced_clock(world))

    assert view["outcome"] == "done", view
    assert view["plan"]["create"]["lifetime_days"] == 365
    assert any("lifetime policy allows 365 days" in n for n in view["plan"]["notes"])
    new = view["new_certificate"]["thumbprint"]
    cert = next(c for c in world.org()["certificates"] if c["thumbprint"] == new)
    lifetime = datetime.fromisoformat(cert["not_after"]) - datetime.fromisoformat(cert["not_before"])
    assert lifetime <= timedelta(days=365) and len(cert["servers"]) == 2
    assert count_ok(world.exchange.journal(), "New-ExchangeCertificate") == 0
    assert new in {_thumbprint(k["key"]) for k in world.service_principal()["keyCredentials"]}


def test_without_policy_read_the_rotation_notes_it_and_the_tenant_refuses_the_5_year_key(onboarded: tuple[World, str]) -> None:
    world, old = onboarded
    state = world.graph.state()
    next(iter(state["tenants"].values()))["policies"]["maxCertificateLifetimeDays"] = 365
    world.graph.put_state(state)
    view = rotate(world, rotation_spec(world), synced_clock(world))
    assert view["outcome"] == "failed" and "CredentialInvalidLifetimeAsPerAppPolicy" in (view["error"] or ""), view
    assert any("Policy.Read.All" in n for n in view["notes"])
    assert world.org()["auth_config"]["current"] == old  # never staged: the organisation keeps working
    assert count_ok(world.exchange.journal(), "Set-AuthConfig") == 0
    # The plan said, before anything was created, that the policy was not checked and what happens if it refuses.
    assert any("could not be read" in n and "removed" in n for n in view["plan"]["notes"]), view["plan"]["notes"]
    assert_created_certificate_removed(world, view, old)


def assert_created_certificate_removed(world: World, view: dict[str, Any], old: str) -> None:
    """The certificate the refused run created is gone from every server, recorded; everything else is as it was."""
    new = view["new_certificate"]["thumbprint"]
    journal = world.exchange.journal()
    removals = [e for e in journal if ok_op("Remove-ExchangeCertificate")(e)]
    # Once on each of the two Mailbox servers (two AD sites: created on one, imported on the other).
    assert len({str(e["parameters"]["Server"]).lower() for e in removals}) == len(removals) == 2, removals
    assert all(e["parameters"]["Thumbprint"] == new for e in removals), removals
    assert new not in {c["thumbprint"] for c in world.org()["certificates"]}
    assert old in {c["thumbprint"] for c in world.org()["certificates"]}
    removal = next(c for c in view["changes"] if c["kind"] == "remove_created_certificate")
    assert removal["outcome"] == "removed" and len(removal["result"]["removed"]) == 2
    assert "removed from" in (view["error"] or "") and "current certificate stays" in (view["error"] or "")


def test_a_refused_key_upload_removes_the_certificate_this_run_made(onboarded: tuple[World, str]) -> None:
    """403 on the upload (the consent was revoked after the pre-check, which blocks a plan whose token lacks
    Application.ReadWrite.All). The run ends failed with Graph's own message, and the certificate it created and
    imported does not stay on the servers, unstaged."""
    world, old = onboarded
    world.graph.faults([{"when": {"operation": "PATCH /v1.0/servicePrincipals"},
                         "fail": {"kind": "http", "status": 403, "code": "Authorization_RequestDenied",
                                  "message": "Insufficient privileges to complete the operation."}}])
    view = rotate(world, rotation_spec(world), synced_clock(world))
    assert view["outcome"] == "failed", view
    assert "Insufficient privileges to complete the operation" in (view["error"] or ""), view["error"]
    assert world.org()["auth_config"]["current"] == old
    assert_created_certificate_removed(world, view, old)
