"""Offboarding and pruning end to end on the local host, against both stand-ins over real sockets."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pushproxy import offboarding_runner
from pushproxy.onboarding import runner
from pushproxy.plan import metadata_url
from pushproxy.registry import open_registry
from tests.e2e.conftest import DOMAIN, TENANT_ID, World, approver, count_ok
from tests.e2e.test_next_certificate import _stage_next_certificate

REPO = Path(__file__).resolve().parents[2]
ACS = "https://accounts.accesscontrol.windows.net"


def thumb(key_b64: str) -> str:
    return hashlib.sha1(base64.b64decode(key_b64), usedforsecurity=False).hexdigest().upper()


def offboard(world: World, spec: Any, *, decide: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
             workflow: str = "offboarding", remove_auth_server: bool = False, host: Any = None) -> dict[str, Any]:
    host = host or world.host()
    instance_id, _ = offboarding_runner.start_or_resume(host, spec, workflow, requested_by="e2e",
                                                        remove_auth_server=remove_auth_server)
    final = runner.drive(host, instance_id, decide=decide, timeout=90)
    assert runner.runtime_of(final) == "Completed", (runner.runtime_of(final), final.output)
    report: dict[str, Any] = final.output
    return report


def certificate(subject: str, not_before: datetime, not_after: datetime) -> bytes:
    """A self-signed certificate's DER with the given validity (someone else's, possibly long expired)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name.from_rfc4514_string(subject)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def add_foreign_keys(world: World, *, expired: int = 1, valid: int = 1) -> list[dict[str, Any]]:
    """Someone else's keys on the service principal, with every field set: they must come out exactly as they went in."""
    state = world.graph.state()
    sp = state["tenants"][TENANT_ID]["servicePrincipals"][0]
    added = []
    now = datetime.now(UTC)
    for i in range(expired + valid):
        old = i < expired
        not_before = now - timedelta(days=800 if old else 10)
        not_after = now - timedelta(days=30) if old else now + timedelta(days=300)
        not_before, not_after = not_before.replace(microsecond=0), not_after.replace(microsecond=0)
        der = certificate(f"CN=someone else {i}", not_before, not_after)
        key = {
            "keyId": f"0000000{i}-1111-4222-8333-444444444444",
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": base64.b64encode(der).decode(),
            "displayName": f"someone else's key {i}",
            "customKeyIdentifier": base64.b64encode(hashlib.sha1(der, usedforsecurity=False).digest()).decode(),
            "startDateTime": not_before.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
            "endDateTime": not_after.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        }
        sp["keyCredentials"].append(key)
        added.append(key)
    world.graph.put_state(state)
    return [k for k in world.service_principal()["keyCredentials"] if k["keyId"] in {a["keyId"] for a in added}]


def foreign_auth_server(world: World) -> dict[str, Any]:
    org = world.org()
    other = {"name": "ACS - 4d6c2b1a", "auth_metadata_url": f"{ACS}/{TENANT_ID}/metadata/json/1", "realm": TENANT_ID,
             "enabled": True}
    org["auth_servers"] = [*org["auth_servers"], other]
    world.put_org(org)
    return other


def test_offboarding_removes_only_our_keys_disables_the_proxy_and_keeps_everything_else(world: World) -> None:
    # An AuthServer we did not create: hybrid modern auth's EvoSts (not the ACS issuer, so onboarding creates ours).
    org = world.org()
    evo = {"name": "EvoSts - 9a1b2c3d", "auth_metadata_url":
           f"https://login.windows.net/{TENANT_ID}/federationmetadata/2007-06/federationmetadata.xml", "enabled": True}
    org["auth_servers"] = [evo]
    world.put_org(org)
    # Ours: the current certificate's key and a staged next one's (two certificates), uploaded by one onboarding.
    org = _stage_next_certificate(world, effective_in=timedelta(days=5))
    ours = {org["auth_config"]["current"], org["auth_config"]["next"]}
    assert world.onboard(world.spec(approval={"policy": "required"}), decide=approver("alice"))["outcome"] == "done"
    foreign = add_foreign_keys(world)
    before_keys = world.service_principal()["keyCredentials"]
    theirs_before = [k for k in before_keys if thumb(k["key"]) not in ours]
    assert len(theirs_before) >= 3 and ours <= {thumb(k["key"]) for k in before_keys}
    world.exchange.clear_journal()
    world.graph.clear_journal()

    report = offboard(world, world.spec(approval={"policy": "required"}), decide=approver("bob"), remove_auth_server=True)

    assert report["outcome"] == "done", report
    assert report["workflow"] == "offboarding"
    assert [c["kind"] for c in report["plan"]] == ["disable_push_proxy", "remove_auth_server", "remove_tenant_keys"]
    assert [(a["group"], a["approver"]) for a in report["approvals"]] == [("on_premises", "bob"), ("tenant", "bob")]
    assert any("Auth certificate" in n and "stays" in n for n in report["plan_notes"])
    assert any("keys we did not upload stay: " in n for n in report["plan_notes"])
    # The proxy is off; the AuthServer we created is gone, the one we found stays, so does the Auth certificate.
    org = world.org()
    assert not org["push_proxy"]["enabled"]
    assert [a["name"] for a in org["auth_servers"]] == [evo["name"]]
    assert org["auth_config"]["current"] in ours
    assert any("we did not create stay: EvoSts" in n for n in report["plan_notes"])
    # Our keys are gone; every other key is there exactly as it was, field by field.
    after = world.service_principal()["keyCredentials"]
    assert not ours & {thumb(k["key"]) for k in after}
    assert sorted(after, key=lambda k: k["keyId"]) == sorted(theirs_before, key=lambda k: k["keyId"])
    assert all(f in after for f in foreign)
    # One write on each side: Disable-PushNotificationProxy with -Confirm:$false, one PATCH.
    journal = world.exchange.journal()
    disables = [e for e in journal if e["operation"] == "Disable-PushNotificationProxy" and e["outcome"] == "ok"]
    assert len(disables) == 1 and disables[0]["parameters"].get("Confirm") in (False, "False", "false")
    assert count_ok(journal, "Remove-AuthServer") == 1
    assert count_ok(world.graph.journal(), "PATCH /v1.0/servicePrincipals") == 1
    # The registry keeps the tenant, marked offboarded, with who approved it; it is no longer verified.
    registry = open_registry()
    tenant = registry.get_tenant(DOMAIN)
    assert tenant is not None and tenant.is_offboarded and tenant.offboarded_by == ("bob",)
    (run,) = registry.list_offboardings(DOMAIN)
    assert run.outcome == "done" and run.instance_id == f"offboarding-{DOMAIN}"
    from pushproxy import fleet

    assert fleet.list_fleet(registry, None) == [] and fleet.list_fleet(registry, [DOMAIN]) == []


def test_remove_auth_server_removes_ours_and_never_one_we_found(world: World) -> None:
    assert world.onboard(world.spec())["outcome"] == "done"
    found = foreign_auth_server(world)

    report = offboard(world, world.spec(), remove_auth_server=True)

    assert report["outcome"] == "done", report
    assert [c["kind"] for c in report["plan"]] == ["disable_push_proxy", "remove_auth_server", "remove_tenant_keys"]
    names = [a["name"] for a in world.org()["auth_servers"]]
    assert names == [found["name"]]
    removes = [e for e in world.exchange.journal() if e["operation"] == "Remove-AuthServer" and e["outcome"] == "ok"]
    assert len(removes) == 1


def test_an_auth_server_we_found_is_never_removed_even_when_asked(world: World) -> None:
    # Hybrid Wizard's ACS server for the tenant: the onboarding reuses it, so it is not ours.
    foreign_auth_server(world)
    assert world.onboard(world.spec())["changed"] == ["upload_tenant_key", "enable_push_proxy"]

    report = offboard(world, world.spec(), remove_auth_server=True)

    assert report["outcome"] == "done", report
    assert "remove_auth_server" not in [c["kind"] for c in report["plan"]]
    assert [a["name"] for a in world.org()["auth_servers"]] == ["ACS - 4d6c2b1a"]
    assert count_ok(world.exchange.journal(), "Remove-AuthServer") == 0


def test_a_rejection_changes_nothing(world: World) -> None:
    assert world.onboard(world.spec())["outcome"] == "done"
    org_before, keys_before = world.org(), world.service_principal()["keyCredentials"]
    world.exchange.clear_journal()
    world.graph.clear_journal()

    report = offboard(world, world.spec(approval={"policy": "required"}), decide=approver("bob", "reject"))

    assert report["outcome"] == "rejected"
    assert world.writes() == ([], [])
    assert world.org()["push_proxy"] == org_before["push_proxy"]
    assert world.service_principal()["keyCredentials"] == keys_before
    tenant = open_registry().get_tenant(DOMAIN)
    assert tenant is not None and not tenant.is_offboarded


def test_a_tenant_never_onboarded_has_nothing_to_undo(world: World) -> None:
    report = offboard(world, world.spec())

    assert report["outcome"] == "blocked"
    assert [p["code"] for p in report["blocking"]] == ["not_onboarded"]
    assert "nothing to undo" in report["blocking"][0]["message"]
    assert world.writes() == ([], [])


def test_proxy_disabled_by_hand_leaves_only_the_keys(world: World) -> None:
    assert world.onboard(world.spec())["outcome"] == "done"
    org = world.org()
    org["push_proxy"]["enabled"] = False
    world.put_org(org)
    world.exchange.clear_journal()

    report = offboard(world, world.spec())

    assert report["outcome"] == "done", report
    assert [c["kind"] for c in report["plan"]] == ["remove_tenant_keys"]
    assert "the push-notification proxy is already disabled" in report["plan_notes"]
    # Not asked: the AuthServer we created stays.
    assert [a["auth_metadata_url"] for a in world.org()["auth_servers"]] == [metadata_url(DOMAIN)]
    assert count_ok(world.exchange.journal(), "Disable-PushNotificationProxy") == 0


def test_onboarding_again_after_offboarding_works(world: World) -> None:
    spec = world.spec()
    assert world.onboard(spec)["outcome"] == "done"
    assert offboard(world, spec)["outcome"] == "done"
    assert open_registry().get_tenant(DOMAIN).is_offboarded  # type: ignore[union-attr]

    report = world.onboard(spec)

    assert report["outcome"] == "done", report
    assert report["changed"] == ["upload_tenant_key", "enable_push_proxy"]
    registry = open_registry()
    tenant = registry.get_tenant(DOMAIN)
    assert tenant is not None and not tenant.is_offboarded
    from pushproxy import fleet

    assert fleet.list_fleet(registry, None) == [DOMAIN]
    # The key uploaded again is ours again: a second offboarding removes it.
    again = offboard(world, spec)
    assert [c["kind"] for c in again["plan"]] == ["disable_push_proxy", "remove_tenant_keys"]


def test_offboarding_a_second_time_has_nothing_left_to_do(world: World) -> None:
    spec = world.spec()
    assert world.onboard(spec)["outcome"] == "done"
    assert offboard(world, spec)["outcome"] == "done"
    world.exchange.clear_journal()
    world.graph.clear_journal()

    report = offboard(world, spec)

    assert report["outcome"] == "done" and report["plan"] == []
    assert world.writes() == ([], [])


def test_offboarding_is_refused_while_another_workflow_of_the_tenant_runs(world: World) -> None:
    host = world.host()
    spec = world.spec(approval={"policy": "required"})
    instance_id, _ = runner.start_or_resume(host, spec, requested_by="e2e")
    runner.drive(host, instance_id, until=runner.next_wait())
    try:
        offboarding_runner.start_or_resume(host, spec, "offboarding", requested_by="e2e")
    except offboarding_runner.WorkflowRunning as exc:
        assert exc.instance_id == instance_id
    else:
        raise AssertionError("an offboarding started while the onboarding runs")


def _expire_our_key(world: World) -> str:
    """Make the key our onboarding uploaded look expired (its endDateTime in the past), as time would."""
    state = world.graph.state()
    sp = state["tenants"][TENANT_ID]["servicePrincipals"][0]
    current = world.org()["auth_config"]["current"]
    key = next(k for k in sp["keyCredentials"] if thumb(k["key"]) == current)
    key["endDateTime"] = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    world.graph.put_state(state)
    return current


def test_verification_reports_our_expired_key_and_prune_removes_it_after_approval(world: World) -> None:
    from pushproxy import fleet

    assert world.onboard(world.spec())["outcome"] == "done"
    foreign = add_foreign_keys(world, expired=2, valid=1)
    expired = _expire_our_key(world)

    record, _ = asyncio.run(fleet.verify_tenant(open_registry(), DOMAIN, now=datetime.now(UTC), expiry_warning_days=60,
                                                verification_id="v-prune"))
    found = [f for f in record.findings if f.kind == "expired_key"]
    assert [f.detail["thumbprint"] for f in found] == [expired]
    assert record.facts["keys"]["foreign"] >= 3 and record.facts["keys"]["foreign_expired"] >= 2

    report = offboard(world, world.spec(approval={"policy": "required"}), workflow="prune", decide=approver("carol"))

    assert report["outcome"] == "done", report
    assert report["workflow"] == "prune"
    assert [(c["kind"], c["details"]["thumbprints"]) for c in report["plan"]] == [("remove_tenant_keys", [expired])]
    after = world.service_principal()["keyCredentials"]
    assert expired not in {thumb(k["key"]) for k in after}
    assert all(f in after for f in foreign)  # someone else's expired keys are never pruned
    assert world.org()["push_proxy"]["enabled"]  # a prune touches nothing on Exchange
    tenant = open_registry().get_tenant(DOMAIN)
    assert tenant is not None and not tenant.is_offboarded


def test_host_killed_mid_apply_then_resumed_makes_each_change_once(world: World) -> None:
    spec = world.spec()
    assert world.onboard(spec)["outcome"] == "done"
    add_foreign_keys(world)
    spec_path = world.tmp / "spec.json"
    spec_path.write_text(spec.to_json(), encoding="utf-8")
    world.exchange.clear_journal()
    world.graph.clear_journal()
    # Hold Disable-PushNotificationProxy long enough to kill the host while that activity runs.
    world.exchange.faults([{"when": {"cmdlet": "Disable-PushNotificationProxy"}, "fail": {"kind": "delay", "delay_s": 2.0},
                            "times": 1}])
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.offboarding_process", str(world.database), str(spec_path)],
        cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    instance_id = f"offboarding-{DOMAIN}"
    observer = world.host()
    try:
        deadline = time.monotonic() + 60
        while True:
            status = observer.get_status(instance_id, show_history=False)
            custom = status.custom_status if status else None
            if isinstance(custom, dict) and custom.get("current") == "disable_push_proxy":
                break
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the host never reached disable_push_proxy"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert runner.runtime_of(observer.get_status(instance_id)) == "Running"
    deadline = time.monotonic() + 10
    while count_ok(world.exchange.journal(), "Disable-PushNotificationProxy") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)

    final = runner.drive(observer, instance_id, timeout=90)

    report = final.output
    assert report["outcome"] == "done", report
    # Each change exactly once, from the journals: the resumed step found the proxy already off.
    assert count_ok(world.exchange.journal(), "Disable-PushNotificationProxy") == 1
    assert count_ok(world.graph.journal(), "PATCH /v1.0/servicePrincipals") == 1
    disable = next(c for c in report["changes"] if c["kind"] == "disable_push_proxy")
    assert disable["outcome"] in ("disabled", "none")


def test_requests_per_offboarding(world: World) -> None:
    """Not a timing: the number of WSMan messages and Graph calls one offboarding takes (printed for the report)."""
    spec = world.spec()
    assert world.onboard(spec)["outcome"] == "done"
    add_foreign_keys(world)
    world.exchange.clear_journal()
    world.graph.clear_journal()

    report = offboard(world, spec, remove_auth_server=True)

    assert report["outcome"] == "done"
    from collections import Counter

    exchange = world.exchange.journal()
    graph = [e for e in world.graph.journal() if "/v1.0/" in str(e.get("endpoint", e.get("operation", "")))]
    print(f"\noffboarding: {len(exchange)} Exchange journal entries: {dict(Counter(e['operation'] for e in exchange))}")
    print(f"offboarding: {len(graph)} Graph calls: {dict(Counter(e['operation'] for e in graph))}")
    print(f"offboarding: Graph journal (all): {dict(Counter(e['operation'] for e in world.graph.journal()))}")
    wsman = {k: v for k, v in world.exchange.stats().items() if k.startswith("wsman.")}
    print(f"offboarding: WSMan messages: {sum(v for v in wsman.values() if isinstance(v, int))} {wsman}")
    assert count_ok(world.graph.journal(), "PATCH /v1.0/servicePrincipals") == 1




def test_cli_offboard_dry_run_then_auto_approve_json_then_prune(world: World, capsys: Any) -> None:
    import json

    from pushproxy.cli import main

    spec_file = world.tmp / "spec.json"
    spec_file.write_text(json.dumps(world.spec_dict(approval={"policy": "required"})), encoding="utf-8")
    db = ["--database", str(world.database)]
    # Never onboarded: nothing to undo, exit 3 (blocked), nothing changed.
    assert main(["offboard", "--spec", str(spec_file), "--dry-run", "--json", *db]) == 3
    assert json.loads(capsys.readouterr().out)["blocking"][0]["code"] == "not_onboarded"
    assert main(["onboard", "--spec", str(spec_file), "--auto-approve", "--json", *db]) == 0
    capsys.readouterr()
    world.exchange.clear_journal()
    world.graph.clear_journal()

    assert main(["offboard", "--spec", str(spec_file), "--dry-run", "--json", *db]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [c["kind"] for c in plan["changes"]] == ["disable_push_proxy", "remove_tenant_keys"]
    assert world.writes() == ([], [])

    code = main(["offboard", "--spec", str(spec_file), "--auto-approve", "--json", "--comment", "leaving", *db])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["outcome"] == "done" and report["comment"] == "leaving"
    assert main(["prune", "--spec", str(spec_file), "--dry-run", "--json", *db]) == 0
    assert json.loads(capsys.readouterr().out)["changes"] == []  # our key is gone already: nothing to prune
