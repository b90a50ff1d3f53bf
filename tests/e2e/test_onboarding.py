"""Onboarding end to end on the local host, against both stand-ins over real sockets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pushproxy.plan import metadata_url
from pushproxy.registry import open_registry
from tests.e2e.conftest import DOMAIN, TENANT_ID, World, approver, count_ok
from tests.support.graph_standin import EXCHANGE_ONLINE_APP_ID


def test_happy_path(world: World) -> None:
    keys_before = world.service_principal()["keyCredentials"]
    report = world.onboard(world.spec(approval={"policy": "required"}), decide=approver("alice"))

    assert report["outcome"] == "done"
    assert report["changed"] == ["ensure_auth_server", "upload_tenant_key", "enable_push_proxy"]
    assert [(a["group"], a["decision"], a["approver"]) for a in report["approvals"]] == [
        ("on_premises", "approve", "alice"),
        ("tenant", "approve", "alice"),
    ]
    assert report["probe"]["succeeded"] and report["probe"]["result_type"] == "Succeeded"
    org = world.org()
    assert org["push_proxy"]["enabled"] and org["push_proxy"]["organization"] == DOMAIN
    assert [a["auth_metadata_url"] for a in org["auth_servers"]] == [metadata_url(DOMAIN)]
    # The tenant's existing key is still there (PATCH re-sends kept keys, so by key bytes, not keyId), and ours
    # was added next to it.
    keys_after = world.service_principal()["keyCredentials"]
    assert len(keys_before) >= 1
    assert len(keys_after) == len(keys_before) + 1
    assert {k["key"] for k in keys_before} <= {k["key"] for k in keys_after}
    # The registry has the tenant and the run, with who approved what.
    registry = open_registry()
    assert registry.get_tenant(DOMAIN) is not None
    (run,) = registry.list_onboardings(DOMAIN)
    assert run.outcome == "done" and [a["approver"] for a in run.approvals] == ["alice", "alice"]


def test_second_run_has_an_empty_plan_and_writes_nothing(world: World) -> None:
    spec = world.spec()
    assert world.onboard(spec)["outcome"] == "done"
    world.exchange.clear_journal()
    world.graph.clear_journal()

    report = world.onboard(spec)

    assert report["outcome"] == "done"
    assert report["plan"] == [] and report["changes"] == [] and report["approvals"] == []
    assert report["probe"]["succeeded"]
    exchange_writes, graph_writes = world.writes()
    assert exchange_writes == [] and graph_writes == []
    assert count_ok(world.exchange.journal(), "Invoke-MonitoringProbe") == 1


def test_hybrid_wizard_auth_server_with_the_right_url_is_reused(world: World) -> None:
    org = world.org()
    org["auth_servers"] = [
        {"name": f"ACS - {uuid.uuid4()}", "auth_metadata_url": metadata_url(DOMAIN), "realm": DOMAIN, "enabled": True}
    ]
    world.put_org(org)

    report = world.onboard(world.spec())

    assert report["outcome"] == "done"
    assert "ensure_auth_server" not in [c["kind"] for c in report["plan"]]
    journal = world.exchange.journal()
    assert count_ok(journal, "New-AuthServer") == 0 and count_ok(journal, "Set-AuthServer") == 0
    assert [a["name"] for a in world.org()["auth_servers"]] == [org["auth_servers"][0]["name"]]


ACS = "https://accounts.accesscontrol.windows.net"


def _verify(world: World) -> Any:
    """Fleet verification of the onboarded tenant, as the verification workflow's activity runs it."""
    from pushproxy import fleet

    record, _ = asyncio.run(
        fleet.verify_tenant(open_registry(), DOMAIN, now=datetime.now(UTC), expiry_warning_days=60, verification_id="v-e2e")
    )
    return record


@pytest.mark.parametrize(
    "url",
    [f"{ACS}/{TENANT_ID}/metadata/json/1", f"{ACS}/{DOMAIN}/metadata/json/1"],
    ids=["path-form-tenant-id", "path-form-tenant-domain"],
)
def test_hybrid_wizard_path_form_auth_server_is_reused_probed_and_verified_healthy(world: World, url: str) -> None:
    # As the Hybrid Configuration Wizard leaves it: `ACS - {guid}`, the path form, Realm = the tenant GUID; its
    # EvoSts server (hybrid modern auth) next to it is neither used nor touched.
    org = world.org()
    org["tenant_id"] = TENANT_ID
    hcw = {"name": f"ACS - {uuid.uuid4()}", "auth_metadata_url": url, "realm": TENANT_ID, "enabled": True}
    evo = {"name": f"EvoSts - {uuid.uuid4()}", "type": "AzureAD", "realm": TENANT_ID, "enabled": True,
           "auth_metadata_url": f"https://login.windows.net/{DOMAIN}/federationmetadata/2007-06/federationmetadata.xml"}
    org["auth_servers"] = [hcw, evo]
    world.put_org(org)
    before = world.org()["auth_servers"]

    report = world.onboard(world.spec())

    assert report["outcome"] == "done", report
    assert "ensure_auth_server" not in [c["kind"] for c in report["plan"]]
    journal = world.exchange.journal()
    assert count_ok(journal, "New-AuthServer") == 0 and count_ok(journal, "Set-AuthServer") == 0
    assert world.org()["auth_servers"] == before
    assert report["probe"]["succeeded"]
    record = _verify(world)
    assert (record.state, list(record.findings)) == ("healthy", [])


def test_an_acs_server_of_another_tenant_does_not_count_we_create_ours(world: World) -> None:
    other = "99999999-8888-7777-6666-555555555555"
    org = world.org()
    org["tenant_id"] = TENANT_ID
    foreign = {"name": f"ACS - {other}", "auth_metadata_url": f"{ACS}/{other}/metadata/json/1", "realm": other, "enabled": True}
    org["auth_servers"] = [foreign]
    world.put_org(org)

    report = world.onboard(world.spec())

    assert report["outcome"] == "done", report
    assert report["changed"] == ["ensure_auth_server", "upload_tenant_key", "enable_push_proxy"]
    assert count_ok(world.exchange.journal(), "New-AuthServer") == 1
    after = {a["name"]: a["auth_metadata_url"] for a in world.org()["auth_servers"]}
    assert after == {foreign["name"]: foreign["auth_metadata_url"], "MicrosoftSts": metadata_url(DOMAIN)}
    assert report["probe"]["succeeded"]
    assert _verify(world).state == "healthy"


def _down_level(world: World) -> str:
    org = world.org()
    org["servers"][1]["version"] = "15.0.712.24"  # Exchange 2013 CU2
    world.put_org(org)
    return "server_below_minimum"


def test_current_certificate_missing_on_one_server_is_imported_there(world: World) -> None:
    """Repair (issue 15): the valid current certificate is copied to the Mailbox server that lacks it (export with
    its key on the one that has it, import), then the onboarding goes on; a second run has nothing to do."""
    org = world.org()
    for cert in org["certificates"]:
        cert["servers"] = cert["servers"][:1]
    world.put_org(org)
    current = world.org()["auth_config"]["current"]

    report = world.onboard(world.spec())

    assert report["outcome"] == "done", report
    assert report["changed"][0] == "import_auth_certificate"
    cert = next(c for c in world.org()["certificates"] if c["thumbprint"] == current)
    assert len(cert["servers"]) == 2
    assert world.org()["auth_config"]["current"] == current  # never replaced
    assert [c["kind"] for c in world.onboard(world.spec())["changes"]] == []


def _domain_not_verified(world: World) -> str:
    state = world.graph.state()
    tenant = state["tenants"][TENANT_ID]
    tenant["verifiedDomains"] = [d for d in tenant["verifiedDomains"] if d["name"].lower() != DOMAIN]
    world.graph.put_state(state)
    return "tenant_domain_not_verified"


def _no_service_principal(world: World) -> str:
    state = world.graph.state()
    tenant = state["tenants"][TENANT_ID]
    tenant["servicePrincipals"] = [sp for sp in tenant["servicePrincipals"] if sp["appId"] != EXCHANGE_ONLINE_APP_ID]
    world.graph.put_state(state)
    return "no_exchange_service_principal"


def test_a_current_certificate_whose_key_cannot_be_exported_blocks_with_nothing_changed(world: World) -> None:
    org = world.org()
    for cert in org["certificates"]:
        cert["servers"] = cert["servers"][:1]
        cert["exportable"] = False
    world.put_org(org)
    world.exchange.clear_journal()
    report = world.onboard(world.spec())
    assert report["outcome"] == "blocked", report
    assert "can't be exported" in report["error"]
    exchange_writes, graph_writes = world.writes()
    assert (exchange_writes, graph_writes) == ([], [])


@pytest.mark.parametrize("arrange", [_down_level, _domain_not_verified, _no_service_principal])
def test_blocking_problem_ends_the_run_with_a_report_and_no_write(world: World, arrange: Callable[[World], str]) -> None:
    code = arrange(world)
    world.exchange.clear_journal()
    world.graph.clear_journal()

    report = world.onboard(world.spec(approval={"policy": "required"}), decide=approver("nobody"))

    assert report["outcome"] == "blocked"
    assert [b["code"] for b in report["blocking"]] == [code]
    assert report["plan"] == [] and report["changes"] == [] and report["approvals"] == []
    assert world.writes() == ([], [])


def test_expired_auth_certificate_is_replaced_only_after_approval(world: World) -> None:
    org = world.org()
    servers = [s["name"] for s in org["servers"]]
    org["certificates"] = [
        {"thumbprint": "OLD", "not_before": "2019-01-01T00:00:00+00:00", "not_after": "2024-01-01T00:00:00+00:00", "servers": servers}
    ]
    org["auth_config"] = {**org["auth_config"], "current": "OLD"}
    world.put_org(org)
    expired = world.org()["auth_config"]["current"]
    seen_before_approval: list[list[str]] = []

    def decide(status: dict[str, object]) -> dict[str, str]:
        journal = world.exchange.journal()
        seen_before_approval.append([e["operation"] for e in journal if e["operation"].startswith(("New-", "Set-"))])
        return {"decision": "approve", "approver": "bob"}

    report = world.onboard(world.spec(approval={"policy": "required"}), decide=decide)

    assert seen_before_approval == [[], []]  # nothing was created while waiting for either approval
    assert report["outcome"] == "done", report
    # Made, copied to the other AD site's server, its key on the tenant, and only then current.
    assert [c["kind"] for c in report["plan"]] == [
        "create_auth_certificate",
        "import_auth_certificate",
        "ensure_auth_server",
        "upload_tenant_key",
        "assign_auth_certificate",
        "enable_push_proxy",
    ]
    journal = world.exchange.journal()
    assert count_ok(journal, "New-ExchangeCertificate") == 1
    assert count_ok(journal, "Import-ExchangeCertificate") == 1
    assert not any("PublishCertificate" in e["parameters"] for e in journal if e["operation"] == "Set-AuthConfig")
    org = world.org()
    on = next(c["servers"] for c in org["certificates"] if c["thumbprint"] == org["auth_config"]["current"])
    assert set(on) == {s["name"] for s in org["servers"]}  # on every Mailbox server
    new = world.org()["auth_config"]["current"]
    assert new != expired
    assert report["changes"][0]["result"]["certificate"]["thumbprint"] == new
    assert any(e["operation"] == "Set-AuthConfig" and e["parameters"].get("CertificateThumbprint") == new for e in journal)
    # The new certificate's key is in the tenant, and the probe (which checks it there) succeeded.
    assert report["probe"]["succeeded"]


def test_verification_restarts_the_health_manager_and_waits_on_a_durable_timer(world: World) -> None:
    from pushproxy.onboarding import runner
    from tests.e2e.conftest import FakeClock

    clock = FakeClock()
    host = world.host(clock=clock)
    spec = world.spec(
        exchange={"windows_powershell_url": f"{world.exchange.base_url}/wsman"},
        verification={"restart_health_manager": True, "wait_s": 120},
    )
    instance_id, _ = runner.start_or_resume(host, spec, requested_by="e2e")
    status = host.wait_for(instance_id, until=lambda s: bool((s.custom_status or {}).get("waiting_until")), timeout=60)
    assert status.custom_status["phase"] == "verifying"
    assert count_ok(world.exchange.journal(), "Invoke-MonitoringProbe") == 0  # still waiting the 120 s
    restart = [e for e in world.exchange.journal() if e["operation"] == "Restart-Service"]
    assert [(e["parameters"].get("Name"), e["outcome"]) for e in restart] == [("MSExchangeHM", "ok")]

    clock.advance(seconds=121)
    final = host.wait_for(instance_id, timeout=60)

    assert final.output["outcome"] == "done"
    assert final.output["probe"]["succeeded"]
    assert any("restarted MSExchangeHM" in n for n in final.output["notes"])


def test_no_secret_in_any_file_the_run_wrote(world: World) -> None:
    """History, custom status, the registry: every byte the local host and the registry wrote, WAL included."""
    report = world.onboard(world.spec(approval={"policy": "required"}), decide=approver("alice"))
    assert report["outcome"] == "done"
    for host in world.hosts:
        host.close()
    secrets = [world.exchange.password.encode(), str(world.graph.client_secret).encode()]
    written = [p for p in world.tmp.rglob("*") if p.is_file()]
    assert any(p.name.startswith("local.sqlite") for p in written)
    assert any(p.name.startswith("registry.sqlite") for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in secrets:
            assert secret not in data, f"a secret was written to {path.name}"
