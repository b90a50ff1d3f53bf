"""Drift classification, pure: each kind of drift from one healthy baseline, and the remediation decision."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest

from pushproxy import verification as v
from pushproxy.exchange.models import (
    AuthCertificate,
    AuthConfig,
    AuthServer,
    ExchangeDiscovery,
    ExchangeServer,
    ProbeResult,
    PushProxyState,
    ServerCertificate,
)
from pushproxy.tenant.models import KeyCredentialInfo, ServicePrincipal, TenantDiscovery, TenantFacts, TenantProblem

NOW = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)
DOMAIN = "fabrikam.com"
CUR = "A" * 40
NEXT = "B" * 40
URL = f"https://accounts.accesscontrol.windows.net/metadata/json/1/?realm={DOMAIN}"


def cert(thumbprint: str = CUR, days_left: float = 900, key_size: int = 2048) -> AuthCertificate:
    return AuthCertificate(thumbprint, "CN=Microsoft Exchange Server Auth Certificate", NOW - timedelta(days=100),
                           NOW + timedelta(days=days_left), key_size, "sha256WithRSAEncryption", "MIIB")


def server(name: str = "EX1", build: str = "15.2.1544.4", ok: bool = True) -> ExchangeServer:
    return ExchangeServer(name, f"{name.lower()}.{DOMAIN}", ("Mailbox",), True, False, False, build,
                          f"Version {build}", None, ok)


def exchange(**changes: object) -> ExchangeDiscovery:
    base = ExchangeDiscovery(
        realm=DOMAIN,
        servers=(server(),),
        auth_config=AuthConfig(CUR, None, None, None, "00000002-0000-0ff1-ce00-000000000000", DOMAIN),
        auth_certificates=(ServerCertificate("EX1", CUR, "current", True, cert()),),
        auth_servers=(AuthServer("MicrosoftSts", URL, DOMAIN, True),),
        push_proxy=PushProxyState(True, True, DOMAIN, "https://outlook.office365.com/PushNotifications"),
        blocking=(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def key(thumbprint: str) -> KeyCredentialInfo:
    return KeyCredentialInfo(key_id=f"k-{thumbprint[:4]}", type="AsymmetricX509Cert", usage="Verify", thumbprint=thumbprint)


def tenant(keys: tuple[str, ...] = (CUR,), blocking: tuple[TenantProblem, ...] = ()) -> TenantDiscovery:
    sp = ServicePrincipal("sp1", "00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online",
                          tuple(key(k) for k in keys))
    facts = TenantFacts("11111111-2222-3333-4444-555555555555", "Fabrikam", (DOMAIN,))
    return TenantDiscovery(DOMAIN, facts, True, sp, blocking)


OK_PROBE = ProbeResult("EX1", "Succeeded", None, None, True)


def observe(**changes: object) -> v.TenantObservation:
    base = v.TenantObservation(DOMAIN, exchange=exchange(), tenant=tenant(), probes=(OK_PROBE,))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def classify(observation: v.TenantObservation, days: int = 60):  # type: ignore[no-untyped-def]
    return v.classify(observation, now=NOW, expiry_warning_days=days, verification_id="verification-x")


def kinds(observation: v.TenantObservation) -> list[str]:
    return [f.kind for f in classify(observation).findings]


def test_everything_in_place_is_healthy() -> None:
    record = classify(observe())
    assert record.state == "healthy"
    assert record.findings == ()
    assert record.facts["auth_certificate"]["thumbprint"] == CUR
    assert record.verification_id == "verification-x"


def test_disabled_proxy_is_drift() -> None:
    record = classify(observe(exchange=exchange(push_proxy=PushProxyState(True, False, DOMAIN, None))))
    assert (record.state, [f.kind for f in record.findings]) == ("drifting", ["proxy_disabled"])


def test_proxy_app_gone_is_drift() -> None:
    assert kinds(observe(exchange=exchange(push_proxy=PushProxyState(False, False, None, None)))) == ["proxy_disabled"]


def test_proxy_enabled_for_another_organisation_is_drift() -> None:
    assert kinds(observe(exchange=exchange(push_proxy=PushProxyState(True, True, "contoso.com", None)))) == ["proxy_disabled"]


def test_key_missing_from_the_service_principal_is_drift() -> None:
    record = classify(observe(tenant=tenant(keys=("C" * 40,))))
    assert [f.kind for f in record.findings] == ["key_missing"]
    assert record.findings[0].detail["thumbprint"] == CUR


def test_auth_server_gone_is_drift() -> None:
    assert kinds(observe(exchange=exchange(auth_servers=()))) == ["auth_server_missing"]


def test_auth_server_with_a_wrong_url_is_drift() -> None:
    wrong = AuthServer("MicrosoftSts", URL.replace(DOMAIN, "contoso.com"), "contoso.com", True)
    assert kinds(observe(exchange=exchange(auth_servers=(wrong,)))) == ["auth_server_wrong"]


def test_disabled_auth_server_is_wrong() -> None:
    assert kinds(observe(exchange=exchange(auth_servers=(AuthServer("ACS - {x}", URL, DOMAIN, False),)))) == ["auth_server_wrong"]


def test_auth_server_is_matched_on_url_not_name() -> None:
    hybrid = AuthServer("ACS - {8a3c0a8e-1a2b-4c5d-9e0f-123456789abc}", URL.upper(), DOMAIN, True)
    assert kinds(observe(exchange=exchange(auth_servers=(hybrid,)))) == []


TENANT_ID = "11111111-2222-3333-4444-555555555555"  # the tenant() facts' id
OTHER_TENANT = "99999999-8888-7777-6666-555555555555"
ACS = "https://accounts.accesscontrol.windows.net"
EVOSTS = AuthServer("EvoSts - 3c1d", f"https://login.windows.net/{DOMAIN}/federationmetadata/2007-06/federationmetadata.xml",
                    TENANT_ID, True)


@pytest.mark.parametrize("tenant_id", [TENANT_ID, None])  # the spec's id, or the one the tenant discovery read
def test_hybrid_wizard_path_form_naming_the_tenant_id_is_healthy(tenant_id: str | None) -> None:
    hcw = AuthServer("ACS - 8a3c0a8e-1a2b-4c5d-9e0f-123456789abc", f"{ACS}/{TENANT_ID}/metadata/json/1", TENANT_ID, True)
    assert kinds(observe(exchange=exchange(auth_servers=(hcw, EVOSTS)), tenant_id=tenant_id)) == []


def test_the_spec_tenant_id_counts_when_the_tenant_could_not_be_read() -> None:
    hcw = AuthServer("ACS - 1", f"{ACS}/{TENANT_ID}/metadata/json/1", TENANT_ID, True)
    assert kinds(observe(exchange=exchange(auth_servers=(hcw,)), tenant=None, tenant_error="down", tenant_id=TENANT_ID)) == [
        "tenant_unreachable"]


def test_path_form_naming_the_tenant_domain_is_healthy() -> None:
    hcw = AuthServer("ACS - 2", f"{ACS}/{DOMAIN}/metadata/json/1", TENANT_ID, True)
    assert kinds(observe(exchange=exchange(auth_servers=(hcw,)))) == []


def test_path_form_naming_another_tenant_is_wrong_and_evosts_is_not_the_acs_server() -> None:
    other = AuthServer("ACS - 3", f"{ACS}/{OTHER_TENANT}/metadata/json/1", OTHER_TENANT, True)
    record = classify(observe(exchange=exchange(auth_servers=(EVOSTS, other)), tenant_id=TENANT_ID))
    assert [(f.kind, f.detail.get("name")) for f in record.findings] == [("auth_server_wrong", "ACS - 3")]
    assert kinds(observe(exchange=exchange(auth_servers=(EVOSTS,)), tenant_id=TENANT_ID)) == ["auth_server_missing"]


def test_observation_with_a_tenant_id_round_trips() -> None:
    obs = observe(tenant_id=TENANT_ID)
    assert v.TenantObservation.from_dict(json.loads(json.dumps(obs.to_dict()))) == obs


@pytest.mark.parametrize(("days_left", "expected"), [(61, []), (60, ["cert_expiring"]), (12, ["cert_expiring"]), (0.5, ["cert_expiring"])])
def test_certificate_near_expiry_is_drift(days_left: float, expected: list[str]) -> None:
    c = cert(days_left=days_left)
    ex = exchange(auth_certificates=(ServerCertificate("EX1", CUR, "current", True, c),))
    assert kinds(observe(exchange=ex)) == expected


def test_expiry_threshold_is_configurable() -> None:
    ex = exchange(auth_certificates=(ServerCertificate("EX1", CUR, "current", True, cert(days_left=80)),))
    assert [f.kind for f in classify(observe(exchange=ex), days=90).findings] == ["cert_expiring"]
    assert classify(observe(exchange=ex), days=60).findings == ()


def test_expired_certificate_fails() -> None:
    ex = exchange(auth_certificates=(ServerCertificate("EX1", CUR, "current", True, cert(days_left=-3)),))
    record = classify(observe(exchange=ex))
    assert (record.state, [f.kind for f in record.findings]) == ("failing", ["cert_expired"])


def test_certificate_on_no_server_is_drift() -> None:
    ex = exchange(auth_certificates=(ServerCertificate("EX1", CUR, "current", False, None, "not found"),))
    assert kinds(observe(exchange=ex)) == ["cert_missing"]


def test_staged_next_certificate_without_its_key_is_drift() -> None:
    ex = exchange(auth_config=AuthConfig(CUR, NEXT, NOW + timedelta(days=3), None, None, DOMAIN))
    assert kinds(observe(exchange=ex)) == ["next_cert_key_missing"]
    assert kinds(observe(exchange=ex, tenant=tenant(keys=(CUR, NEXT)))) == []


def test_server_below_the_gate_fails() -> None:
    ex = exchange(servers=(server(), server("EX2", "15.0.712.24", ok=False)))
    record = classify(observe(exchange=ex))
    assert (record.state, [f.kind for f in record.findings]) == ("failing", ["server_below_gate"])
    assert record.findings[0].detail["server"] == "EX2"


def test_failing_probe_fails() -> None:
    bad = ProbeResult("EX1", "Failed", "The remote server returned an error: (401) Unauthorized.", None, False)
    record = classify(observe(probes=(bad,)))
    assert (record.state, [f.kind for f in record.findings]) == ("failing", ["probe_failed"])
    assert "401" in record.findings[0].message


def test_probe_that_could_not_run_fails() -> None:
    assert kinds(observe(probes=(), probe_error="timed out")) == ["probe_failed"]


def test_unreachable_exchange_fails_but_the_tenant_is_still_checked() -> None:
    record = classify(observe(exchange=None, exchange_error="connection refused", probes=()))
    assert record.state == "failing"
    assert [f.kind for f in record.findings] == ["exchange_unreachable"]
    assert "connection refused" in record.findings[0].message


def test_unreachable_tenant_fails() -> None:
    assert kinds(observe(tenant=None, tenant_error="AADSTS700016")) == ["tenant_unreachable"]


def test_tenant_blocking_problem_fails() -> None:
    problem = TenantProblem("no_exchange_service_principal", "no Exchange Online service principal")
    assert kinds(observe(tenant=tenant(blocking=(problem,)))) == ["tenant_blocked"]


def test_several_findings_are_listed_in_a_stable_order() -> None:
    ex = exchange(auth_servers=(), push_proxy=PushProxyState(True, False, DOMAIN, None))
    bad = ProbeResult("EX1", "Failed", "x", None, False)
    assert kinds(observe(exchange=ex, tenant=tenant(keys=()), probes=(bad,))) == [
        "proxy_disabled", "auth_server_missing", "key_missing", "probe_failed"]


def test_observation_round_trips_through_plain_json() -> None:
    obs = observe(exchange_error=None, probe_error="x")
    assert v.TenantObservation.from_dict(json.loads(json.dumps(obs.to_dict()))) == obs


def test_unverifiable_tenant_is_failing_and_names_why() -> None:
    record = v.unverifiable(DOMAIN, "no spec in the registry", now=NOW)
    assert record.state == "failing"
    assert record.findings[0].kind == "unverifiable"


@pytest.mark.parametrize(
    ("spec", "policy"),
    [
        ({}, "onboard"),
        ({"approval": {"policy": "required"}}, "onboard"),
        ({"approval": {"policy": "auto"}}, "off"),
        ({"approval": {"policy": "auto"}, "remediation": {"policy": "onboard"}}, "onboard"),
        ({"remediation": {"policy": "off"}}, "off"),
    ],
)
def test_remediation_policy_comes_from_the_spec(spec: dict[str, object], policy: str) -> None:
    assert v.remediation_policy(spec) == policy


def test_remediation_only_for_what_onboarding_or_rotation_fixes() -> None:
    drift = classify(observe(tenant=tenant(keys=())))
    assert v.should_remediate(drift, "onboard")
    assert v.remediation_workflow(drift) == "onboarding"
    assert not v.should_remediate(drift, "off")
    # An expiring certificate is the rotation's to renew (issue 15), started through the same policy.
    expiring = classify(observe(exchange=exchange(
        auth_certificates=(ServerCertificate("EX1", CUR, "current", True, cert(days_left=5)),))))
    assert v.should_remediate(expiring, "onboard")
    assert v.remediation_workflow(expiring) == "rotation"
    assert not v.should_remediate(expiring, "off")
    assert not v.should_remediate(classify(observe()), "onboard")


def test_no_remediation_while_something_blocks_it() -> None:
    ex = exchange(servers=(server("EX2", "15.0.712.24", ok=False),), auth_servers=())
    assert not v.should_remediate(classify(observe(exchange=ex)), "onboard")
    assert not v.should_remediate(classify(observe(tenant=None, tenant_error="x")), "onboard")


def test_summary_counts_each_state() -> None:
    records = [{"domain": "a.example", "state": "healthy"}, {"domain": "b.example", "state": "failing"},
               {"domain": "c.example", "state": "drifting"}, {"domain": "d.example", "state": "healthy"}]
    summary = v.summarize("verification", NOW.isoformat(), NOW.isoformat(), records, ["c.example"])
    assert (summary.total, summary.healthy, summary.drifting, summary.failing) == (4, 2, 1, 1)
    assert summary.remediations == ("c.example",)


def test_a_discovery_blocking_problem_fails_and_prevents_remediation() -> None:
    from pushproxy.exchange.models import BlockingProblem

    ex = exchange(blocking=(BlockingProblem("no_mailbox_server", "the organisation has no Mailbox server"),))
    record = classify(observe(exchange=ex, tenant=tenant(keys=())))
    assert [f.kind for f in record.findings] == ["exchange_blocked", "key_missing"]
    assert record.state == "failing"
    assert not v.should_remediate(record, "onboard")


# Each drift, as a change to the healthy observation, and the kind it must produce.
DRIFT_CHANGES: dict[str, object] = {
    "proxy_disabled": lambda o: dataclasses.replace(
        o, exchange=dataclasses.replace(o.exchange, push_proxy=PushProxyState(True, False, DOMAIN, None))),
    "auth_server_missing": lambda o: dataclasses.replace(o, exchange=dataclasses.replace(o.exchange, auth_servers=())),
    "key_missing": lambda o: dataclasses.replace(o, tenant=tenant(keys=())),
    "cert_expiring": lambda o: dataclasses.replace(o, exchange=dataclasses.replace(
        o.exchange, auth_certificates=(ServerCertificate("EX1", CUR, "current", True, cert(days_left=10)),))),
    "server_below_gate": lambda o: dataclasses.replace(o, exchange=dataclasses.replace(
        o.exchange, servers=(server(), server("EX9", "15.0.712.24", ok=False)))),
    "probe_failed": lambda o: dataclasses.replace(o, probes=(ProbeResult("EX1", "Failed", "x", None, False),)),
    # The key gone, and the registry says we uploaded it: removed (it takes key_missing's place when both are drawn).
    "key_removed": lambda o: dataclasses.replace(
        o, tenant=tenant(keys=()), key_uploads=(v.KeyUpload(CUR, "onboarding-x", NOW - timedelta(days=9)),)),
}


def _apply(kinds_: list[str]) -> v.TenantObservation:
    # Order matters only where two drifts touch the same object: apply the certificate before the key change.
    observation = observe()
    for kind in kinds_:
        observation = DRIFT_CHANGES[kind](observation)  # type: ignore[operator]
    return observation


def test_every_combination_of_drifts_is_reported_and_classified_consistently() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.sampled_from(sorted(DRIFT_CHANGES)), unique=True))
    def check(drifts: list[str]) -> None:
        record = classify(_apply(drifts))
        found = {f.kind for f in record.findings}
        wanted = set(drifts) - {"key_missing"} if "key_removed" in drifts else set(drifts)
        assert wanted <= found  # nothing hides another
        assert found <= wanted | {"probe_failed"}  # and nothing is invented
        expected = "failing" if any(f.severity == "failure" for f in record.findings) else (
            "drifting" if record.findings else "healthy")
        assert record.state == expected
        assert [f.kind for f in record.findings] == sorted(
            (f.kind for f in record.findings), key=v.DRIFT_KINDS.index)
        assert v.should_remediate(record, "onboard") == (
            bool(found & (v.REMEDIABLE_KINDS | v.ROTATION_KINDS)) and not found & v.PREVENTS_REMEDIATION)

    check()


# A key we uploaded and that is gone since (maybe Exchange hybrid clean-up mode) is reported, never re-added.

UPLOADED = v.KeyUpload(CUR, "onboarding-fabrikam.com", NOW - timedelta(days=40))


def test_a_key_we_uploaded_and_that_is_gone_is_removed_not_missing_and_not_remediated() -> None:
    record = classify(observe(tenant=tenant(keys=()), key_uploads=(UPLOADED,)))
    assert [f.kind for f in record.findings] == ["key_removed"]
    finding = record.findings[0]
    assert (finding.severity, record.state) == ("failure", "failing")
    assert finding.detail["thumbprint"] == CUR
    assert finding.detail["onboarding_id"] == "onboarding-fabrikam.com"
    for words in ("removed from the shared Exchange Online service principal", "clean-up mode",
                  "dedicated", "will not re-add it automatically", "onboarding by hand"):
        assert words in finding.message
    assert "key_removed" not in v.REMEDIABLE_KINDS
    assert not v.should_remediate(record, "onboard")


def test_a_removed_key_stops_remediation_of_other_drift_too() -> None:
    # Any onboarding plans the missing key again: fixing the proxy would re-add the key behind the person's back.
    ex = exchange(push_proxy=PushProxyState(True, False, DOMAIN, None))
    record = classify(observe(exchange=ex, tenant=tenant(keys=()), key_uploads=(UPLOADED,)))
    assert [f.kind for f in record.findings] == ["proxy_disabled", "key_removed"]
    assert not v.should_remediate(record, "onboard")


def test_a_key_we_never_uploaded_is_still_missing_and_remediable() -> None:
    record = classify(observe(tenant=tenant(keys=()), key_uploads=()))
    assert [f.kind for f in record.findings] == ["key_missing"]
    assert v.should_remediate(record, "onboard")


def test_without_a_thumbprint_match_another_of_our_keys_gone_counts_as_removed() -> None:
    # We uploaded the key of an older certificate (NEXT here); the current one's key is missing and ours is gone too.
    older = v.KeyUpload(NEXT, "onboarding-fabrikam.com", NOW - timedelta(days=400))
    record = classify(observe(tenant=tenant(keys=()), key_uploads=(older,)))
    assert [f.kind for f in record.findings] == ["key_removed"]
    assert record.findings[0].detail["uploaded_thumbprint"] == NEXT
    # A record that can't say which key it uploaded still says we uploaded one.
    unknown = v.KeyUpload(None, "onboarding-fabrikam.com", None)
    assert kinds(observe(tenant=tenant(keys=()), key_uploads=(unknown,))) == ["key_removed"]


def test_a_certificate_changed_outside_pushproxy_while_our_key_stays_is_missing() -> None:
    # Our older key is still there, so nothing removed keys: the current certificate's key is just new to the SP.
    older = v.KeyUpload(NEXT, "onboarding-fabrikam.com", NOW - timedelta(days=400))
    assert kinds(observe(tenant=tenant(keys=(NEXT,)), key_uploads=(older,))) == ["key_missing"]


def test_a_present_key_we_uploaded_is_healthy() -> None:
    assert classify(observe(key_uploads=(UPLOADED,))).state == "healthy"


def test_key_uploads_come_from_successful_upload_changes_of_the_registry() -> None:
    from pushproxy.registry.models import OnboardingRecord

    def change(outcome: str, thumbprint: str | None) -> dict[str, object]:
        return {"kind": "upload_tenant_key", "group": "tenant", "summary": "s",
                "details": {"thumbprint": None, "source": "create_auth_certificate"}, "outcome": outcome,
                "result": {"action": outcome, "thumbprint": thumbprint}}

    records = [
        OnboardingRecord(DOMAIN, "first", NOW - timedelta(days=50), "done", finished_at=NOW - timedelta(days=50),
                         changes=({"kind": "enable_push_proxy", "group": "exchange", "outcome": "enabled"},
                                  change("added", CUR.lower()))),
        OnboardingRecord(DOMAIN, "failed", NOW - timedelta(days=10), "failed", changes=(change("failed", None),)),
        OnboardingRecord(DOMAIN, "retried", NOW - timedelta(days=5), "done", changes=(change("none", NEXT),)),
    ]
    uploads = v.key_uploads(records)
    assert [(u.thumbprint, u.instance_id) for u in uploads] == [(NEXT, "retried"), (CUR, "first")]


def test_observation_with_key_uploads_round_trips_through_plain_json() -> None:
    obs = observe(key_uploads=(UPLOADED, v.KeyUpload(None, "x", None)))
    assert v.TenantObservation.from_dict(json.loads(json.dumps(obs.to_dict()))) == obs


# A staged next certificate's missing key: remediable when an onboarding's plan would upload it (valid, on every
# Mailbox server, not yet effective), reported only when a person must act, key_removed when we uploaded it before.

def staged(effective: datetime | None = NOW + timedelta(days=5), next_cert: AuthCertificate | None = None,
           present: bool = True) -> ExchangeDiscovery:
    c = next_cert or cert(NEXT)
    base = exchange()
    return dataclasses.replace(
        base,
        auth_config=AuthConfig(CUR, NEXT, effective, None, None, DOMAIN),
        auth_certificates=base.auth_certificates + (ServerCertificate("EX1", NEXT, "next", present, c if present else None),),
    )


def test_a_staged_valid_next_certificate_without_its_key_is_remediated() -> None:
    record = classify(observe(exchange=staged()))
    assert (record.state, [f.kind for f in record.findings]) == ("drifting", ["next_cert_key_missing"])
    finding = record.findings[0]
    assert finding.detail["uploadable"] is True and finding.detail["thumbprint"] == NEXT
    assert v.remediable_findings(record) == [finding]
    assert v.should_remediate(record, "onboard") and not v.should_remediate(record, "off")
    assert classify(observe(exchange=staged(), tenant=tenant(keys=(CUR, NEXT)))).state == "healthy"


@pytest.mark.parametrize(
    ("ex", "words"),
    [
        (lambda: staged(present=False), "on no Mailbox server"),
        (lambda: staged(next_cert=cert(NEXT, days_left=-1)), "expired"),
        (lambda: staged(next_cert=cert(NEXT, key_size=1024)), "1024-bit"),
        (lambda: staged(effective=NOW - timedelta(hours=2)), "took effect"),
    ],
    ids=["unpublished", "expired", "weak", "effective-passed"],
)
def test_a_staged_next_certificate_a_person_must_fix_is_reported_not_remediated(ex: object, words: str) -> None:
    record = classify(observe(exchange=ex()))  # type: ignore[operator]
    assert [f.kind for f in record.findings] == ["next_cert_key_missing"]
    finding = record.findings[0]
    assert finding.detail["uploadable"] is False and words in finding.message and words in finding.detail["reason"]
    assert not v.should_remediate(record, "onboard")


def test_a_next_key_we_uploaded_and_that_is_gone_is_removed_and_not_remediated() -> None:
    ours = v.KeyUpload(NEXT, "onboarding-fabrikam.com", NOW - timedelta(days=3))
    record = classify(observe(exchange=staged(), key_uploads=(ours,)))
    assert [f.kind for f in record.findings] == ["key_removed"]
    finding = record.findings[0]
    assert (finding.detail["thumbprint"], finding.detail["onboarding_id"]) == (NEXT, "onboarding-fabrikam.com")
    assert "staged next Auth certificate" in finding.message and "will not re-add it automatically" in finding.message
    assert record.state == "failing" and not v.should_remediate(record, "onboard")


def test_a_next_key_missing_after_clean_up_removed_our_current_key_is_not_remediated() -> None:
    # Our current key is gone (clean-up mode's mark): the next key is not pushed behind the person's back either.
    record = classify(observe(exchange=staged(), tenant=tenant(keys=()), key_uploads=(UPLOADED,)))
    assert [f.kind for f in record.findings] == ["key_removed", "key_removed"]
    assert [f.detail["thumbprint"] for f in record.findings] == [CUR, NEXT]
    assert not v.should_remediate(record, "onboard")


def test_a_next_certificate_equal_to_the_current_one_is_not_a_second_finding() -> None:
    ex = exchange(auth_config=AuthConfig(CUR, CUR, NOW + timedelta(days=3), None, None, DOMAIN))
    assert kinds(observe(exchange=ex, tenant=tenant(keys=()))) == ["key_missing"]


def test_our_expired_keys_are_reported_and_a_prune_remediates_them_while_foreign_ones_are_only_counted() -> None:
    old, foreign_old = "C" * 40, "D" * 40
    sp = ServicePrincipal("sp1", "00000002-0000-0ff1-ce00-000000000000", "EXO", (
        key(CUR),
        dataclasses.replace(key(old), end=NOW - timedelta(days=3)),
        dataclasses.replace(key(foreign_old), end=NOW - timedelta(days=300)),
    ))
    tn = dataclasses.replace(tenant(), service_principal=sp)
    uploads = (v.KeyUpload(CUR, "onboarding-2"), v.KeyUpload(old, "onboarding-1"))
    record = classify(observe(tenant=tn, key_uploads=uploads))
    expired = [f for f in record.findings if f.kind == v.EXPIRED_KEY]
    assert [f.detail["thumbprint"] for f in expired] == [old]  # someone else's expired key is not ours to report
    assert record.facts["keys"] == {"ours": 2, "ours_expired": 1, "foreign": 1, "foreign_expired": 1}
    assert record.state == "drifting"
    assert not v.should_remediate(record, "onboard")  # an onboarding would not remove it
    assert v.remediation_workflow(record, "onboard") == "prune"
    assert v.remediation_workflow(record, "off") is None
    # What an onboarding fixes goes first; the next verification prunes.
    both = classify(observe(exchange=exchange(push_proxy=PushProxyState(True, False, DOMAIN, None)), tenant=tn,
                            key_uploads=uploads))
    assert v.remediation_workflow(both, "onboard") == "onboarding"


def test_a_valid_certificate_missing_on_a_server_is_drift_an_onboarding_repairs() -> None:
    c = cert(days_left=400)
    ex = exchange(auth_certificates=(ServerCertificate("EX1", CUR, "current", True, c),
                                     ServerCertificate("EX2", CUR, "current", False, None)))
    record = classify(observe(exchange=ex))
    assert [f.kind for f in record.findings] == ["cert_not_everywhere"]
    assert record.findings[0].detail["servers"] == ["EX2"]
    assert v.remediation_workflow(record) == "onboarding"
