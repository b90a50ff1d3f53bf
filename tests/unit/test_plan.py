"""plan_onboarding: a pure function of the two discoveries, exhaustively."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pushproxy.exchange.models import (
    AuthCertificate,
    AuthConfig,
    AuthServer,
    BlockingProblem,
    ExchangeDiscovery,
    ExchangeServer,
    PushProxyState,
    ServerCertificate,
)
from pushproxy.plan import GROUPS, KINDS, OnboardingPlan, metadata_url, plan_onboarding, state_fingerprint
from pushproxy.tenant.models import KeyCredentialInfo, ServicePrincipal, TenantDiscovery, TenantFacts, TenantProblem

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
DOMAIN = "fabrikam.com"
THUMB = "A" * 40
OTHER = "B" * 40


def server(name: str, *, build: str = "15.2.1544.4", ok: bool = True, mailbox: bool = True, edge: bool = False) -> ExchangeServer:
    return ExchangeServer(
        name=name,
        fqdn=f"{name.lower()}.{DOMAIN}",
        roles=("Edge",) if edge else ("Mailbox",),
        is_mailbox=mailbox and not edge,
        is_client_access=mailbox and not edge,
        is_edge=edge,
        build=build,
        admin_display_version=f"Version {build}",
        release=None,
        meets_minimum=ok,
    )


def cert(thumb: str = THUMB, *, expired: bool = False, key_size: int = 2048, future: bool = False) -> AuthCertificate:
    start = NOW + timedelta(days=1) if future else NOW - timedelta(days=400)
    end = NOW - timedelta(days=1) if expired else NOW + timedelta(days=1000)
    return AuthCertificate(thumb, "CN=Microsoft Exchange Server Auth Certificate", start, end, key_size, "sha256WithRSAEncryption", "MIIB")


def exchange(
    *,
    servers: tuple[ExchangeServer, ...] = (server("EX1"), server("EX2")),
    thumbprint: str | None = THUMB,
    certificate: AuthCertificate | None = None,
    missing_on: tuple[str, ...] = (),
    auth_servers: tuple[AuthServer, ...] | None = None,
    proxy: PushProxyState | None = None,
    blocking: tuple[BlockingProblem, ...] = (),
) -> dict[str, Any]:
    c = certificate if certificate is not None else cert()
    certs = tuple(
        ServerCertificate(s.name, thumbprint, "current", s.name not in missing_on, c if s.name not in missing_on else None)
        for s in servers
        if s.is_mailbox and thumbprint
    )
    if auth_servers is None:
        auth_servers = (AuthServer("MicrosoftSts", metadata_url(DOMAIN), DOMAIN, True),)
    if proxy is None:
        proxy = PushProxyState(True, True, DOMAIN, "https://outlook.office365.com/PushNotifications", "OnPrem-Proxy")
    return ExchangeDiscovery(
        realm=DOMAIN,
        servers=servers,
        auth_config=AuthConfig(thumbprint, None, None, None, "00000002-0000-0ff1-ce00-000000000000", DOMAIN),
        auth_certificates=certs,
        auth_servers=auth_servers,
        push_proxy=proxy,
        blocking=blocking,
    ).to_dict()


def key(thumb: str, key_id: str = "k1") -> KeyCredentialInfo:
    return KeyCredentialInfo(key_id, "AsymmetricX509Cert", "Verify", thumbprint=thumb)


def tenant(
    *, keys: tuple[str, ...] = (THUMB,), verified: bool = True, sp: bool = True, blocking: tuple[TenantProblem, ...] = ()
) -> dict[str, Any]:
    facts = TenantFacts("11111111-2222-3333-4444-555555555555", "Fabrikam", (DOMAIN,) if verified else ("other.com",))
    principal = (
        ServicePrincipal("sp-1", "00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online",
                         tuple(key(t, f"k{i}") for i, t in enumerate(keys)))
        if sp
        else None
    )
    return TenantDiscovery(DOMAIN, facts, verified, principal, blocking).to_dict()


def plan(ex: dict[str, Any] | None = None, tn: dict[str, Any] | None = None, now: datetime = NOW) -> OnboardingPlan:
    return plan_onboarding(ex if ex is not None else exchange(), tn if tn is not None else tenant(), DOMAIN, now)


def test_plan_is_empty_when_everything_is_in_place() -> None:
    p = plan()
    assert p.is_empty and not p.is_blocked
    assert p.probe_server == "ex1.fabrikam.com"


def test_fresh_organisation_gets_every_change_in_order() -> None:
    p = plan(
        exchange(thumbprint=None, auth_servers=(), proxy=PushProxyState(False, False, None, None)),
        tenant(keys=()),
    )
    assert p.kinds() == list(KINDS)
    assert [c.group for c in p.changes] == ["on_premises", "on_premises", "on_premises", "tenant", "on_premises", "on_premises"]
    assert p.changes[0].details["server"] == "EX1"
    assert p.changes[1].details == {"thumbprint": None, "source": "create_auth_certificate", "from": "EX1", "servers": ["EX2"]}
    assert p.changes[3].details == {
        "thumbprint": None,
        "source": "create_auth_certificate",
        "service_principal_id": "sp-1",
        "keys": [{"thumbprint": None, "source": "create_auth_certificate"}],
    }


NEW_CERTIFICATE = ["create_auth_certificate", "import_auth_certificate", "upload_tenant_key", "assign_auth_certificate"]


def test_a_new_certificate_is_everywhere_and_its_key_on_the_tenant_before_it_becomes_current() -> None:
    """Exchange signs with the current certificate at once: every Mailbox server must hold it (Exchange pushes it only
    within one AD site) and Entra ID must know its key by then, or tokens fail in between."""
    servers = (server("EX1"), server("EX2"), server("EX3"), server("EDGE1", edge=True))
    p = plan(exchange(servers=servers, thumbprint=None, auth_servers=(), proxy=PushProxyState(False, False, None, None)),
             tenant(keys=()))
    order = p.kinds()
    assert order.index("create_auth_certificate") < order.index("import_auth_certificate")
    assert order.index("import_auth_certificate") < order.index("assign_auth_certificate")
    assert order.index("upload_tenant_key") < order.index("assign_auth_certificate")
    assert p.changes[order.index("import_auth_certificate")].details["servers"] == ["EX2", "EX3"]
    assert "PublishCertificate" not in " ".join(c.summary for c in p.changes)


def test_a_single_mailbox_server_needs_no_import() -> None:
    p = plan(exchange(servers=(server("EX1"),), thumbprint=None), tenant(keys=()))
    assert p.kinds() == ["create_auth_certificate", "upload_tenant_key", "assign_auth_certificate"]


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [(cert(expired=True), "expired"), (cert(key_size=1024), "1024-bit"), (cert(future=True), "not valid before")],
)
def test_unusable_certificate_is_replaced_and_key_uploaded(certificate: AuthCertificate, reason: str) -> None:
    p = plan(exchange(certificate=certificate))
    assert p.kinds() == NEW_CERTIFICATE
    assert reason in p.changes[0].details["reason"]
    assert p.changes[0].details["replaces"] == THUMB


def test_configured_certificate_on_no_server_is_created() -> None:
    p = plan(exchange(missing_on=("EX1", "EX2")))
    assert p.kinds() == NEW_CERTIFICATE
    assert not p.is_blocked


def test_working_certificate_is_never_replaced() -> None:
    p = plan(exchange(), tenant(keys=()))
    assert p.kinds() == ["upload_tenant_key"]
    assert p.changes[0].details["thumbprint"] == THUMB
    assert p.changes[0].details["source"] == "discovery"


def test_certificate_missing_on_one_server_is_imported_there() -> None:
    # Repair (issue 15): a valid current certificate missing on a Mailbox server no longer blocks onboarding.
    p = plan(exchange(missing_on=("EX2",)))
    assert not p.is_blocked
    imports = [c for c in p.changes if c.kind == "import_auth_certificate"]
    assert [(c.details["thumbprint"], c.details["from"], c.details["servers"]) for c in imports] == [(THUMB, "EX1", ["EX2"])]
    assert p.kinds()[0] == "import_auth_certificate"


def test_down_level_server_blocks() -> None:
    p = plan(exchange(servers=(server("EX1"), server("EX2013", build="15.0.712.24", ok=False))))
    assert [(b.code, b.server) for b in p.blocking] == [("server_below_minimum", "EX2013")]
    assert p.is_empty


def test_down_level_edge_server_does_not_block() -> None:
    p = plan(exchange(servers=(server("EX1"), server("EDGE", build="15.0.712.24", ok=False, edge=True))))
    assert not p.is_blocked


def test_unverified_domain_blocks() -> None:
    p = plan(tn=tenant(verified=False))
    assert [b.code for b in p.blocking] == ["tenant_domain_not_verified"]


def test_missing_service_principal_blocks() -> None:
    p = plan(tn=tenant(sp=False))
    assert [b.code for b in p.blocking] == ["no_exchange_service_principal"]


def test_no_mailbox_server_blocks() -> None:
    p = plan(exchange(servers=(server("EDGE", edge=True),), thumbprint=None))
    assert "no_mailbox_server" in [b.code for b in p.blocking]


def test_every_blocking_problem_is_reported_at_once() -> None:
    p = plan(
        exchange(servers=(server("EX1"), server("OLD", ok=False)), missing_on=("EX1",)),
        tenant(verified=False, sp=False),
    )
    assert {b.code for b in p.blocking} == {
        "tenant_domain_not_verified",
        "no_exchange_service_principal",
        "server_below_minimum",
    }


def test_unknown_problems_from_discovery_are_kept() -> None:
    p = plan(tn=tenant(blocking=(TenantProblem("cleanup_mode", "the dedicated hybrid app removes keys"),)))
    assert [b.code for b in p.blocking] == ["cleanup_mode"]


def test_known_problems_from_discovery_are_recomputed_not_trusted() -> None:
    # The discovery may flag a certificate on no server as missing; for the plan that means "create one".
    ex = exchange(missing_on=("EX1", "EX2"), blocking=(BlockingProblem("auth_certificate_missing", "missing"),))
    assert not plan(ex).is_blocked


def test_hybrid_wizard_auth_server_with_the_right_url_is_reused() -> None:
    acs = AuthServer("ACS - 1b2c3d4e-0000-0000-0000-000000000000", metadata_url(DOMAIN).upper().replace("HTTPS", "https"), DOMAIN, True)
    assert plan(exchange(auth_servers=(acs,))).is_empty


TENANT_ID = "11111111-2222-3333-4444-555555555555"  # the tenant() facts' id
ACS = "https://accounts.accesscontrol.windows.net"


@pytest.mark.parametrize("tenant_id", [TENANT_ID, None])  # the spec's id, or the one the tenant discovery read
def test_hybrid_wizard_path_form_naming_the_tenant_id_is_reused(tenant_id: str | None) -> None:
    acs = AuthServer("ACS - 1b2c3d4e-0000-0000-0000-000000000000", f"{ACS}/{TENANT_ID}/metadata/json/1", TENANT_ID, True)
    evo = AuthServer("EvoSts - 5e6f", f"https://login.windows.net/{DOMAIN}/federationmetadata/2007-06/federationmetadata.xml",
                     TENANT_ID, True)
    p = plan_onboarding(exchange(auth_servers=(acs, evo)), tenant(), DOMAIN, NOW, tenant_id=tenant_id)
    assert p.is_empty


def test_path_form_naming_the_tenant_domain_is_reused() -> None:
    acs = AuthServer("ACS - 7", f"{ACS}/{DOMAIN.upper()}/metadata/json/1", TENANT_ID, True)
    assert plan(exchange(auth_servers=(acs,))).is_empty


def test_path_form_naming_another_tenant_gets_ours_created() -> None:
    other = AuthServer("ACS - 8", f"{ACS}/99999999-8888-7777-6666-555555555555/metadata/json/1",
                       "99999999-8888-7777-6666-555555555555", True)
    p = plan_onboarding(exchange(auth_servers=(other,)), tenant(), DOMAIN, NOW, tenant_id=TENANT_ID)
    assert p.kinds() == ["ensure_auth_server"]
    assert p.changes[0].details["action"] == "create" and p.changes[0].details["name"] == "MicrosoftSts"


def test_evosts_alone_is_not_the_acs_server() -> None:
    evo = AuthServer("EvoSts - 5e6f", f"https://login.microsoftonline.com/{TENANT_ID}/federationmetadata/2007-06/federationmetadata.xml",
                     TENANT_ID, True)
    p = plan_onboarding(exchange(auth_servers=(evo,)), tenant(), DOMAIN, NOW, tenant_id=TENANT_ID)
    assert p.kinds() == ["ensure_auth_server"] and p.changes[0].details["action"] == "create"


def test_auth_server_with_a_wrong_url_is_corrected() -> None:
    wrong = AuthServer("MicrosoftSts", metadata_url("contoso.com"), "contoso.com", True)
    p = plan(exchange(auth_servers=(wrong,)))
    assert p.kinds() == ["ensure_auth_server"]
    assert p.changes[0].details["action"] == "update"
    assert p.changes[0].details["auth_metadata_url"] == metadata_url(DOMAIN)


def test_disabled_auth_server_does_not_count() -> None:
    off = AuthServer("EvoSts - 42", metadata_url(DOMAIN), DOMAIN, False)
    p = plan(exchange(auth_servers=(off,)))
    assert p.kinds() == ["ensure_auth_server"]
    assert p.changes[0].details["action"] == "update"
    assert p.changes[0].details["name"] == "EvoSts - 42"


@pytest.mark.parametrize(
    ("proxy", "why"),
    [
        (PushProxyState(False, False, None, None), "never been enabled"),
        (PushProxyState(True, False, DOMAIN, None), "disabled"),
        (PushProxyState(True, True, "contoso.com", None), "contoso.com"),
    ],
)
def test_push_proxy_is_enabled_when_not_in_place(proxy: PushProxyState, why: str) -> None:
    p = plan(exchange(proxy=proxy))
    assert p.kinds() == ["enable_push_proxy"]
    assert p.changes[0].details["organization"] == DOMAIN
    assert why in p.changes[0].summary


def test_proxy_organisation_compares_case_insensitively() -> None:
    assert plan(exchange(proxy=PushProxyState(True, True, "Fabrikam.COM", None))).is_empty


def test_other_keys_on_the_service_principal_do_not_matter() -> None:
    assert plan(tn=tenant(keys=(OTHER, THUMB))).is_empty
    assert plan(tn=tenant(keys=(OTHER,))).kinds() == ["upload_tenant_key"]


# Every combination of the five independent facts: the plan holds exactly the changes whose fact is missing.
@pytest.mark.parametrize(
    ("cert_ok", "auth_server_ok", "key_ok", "proxy_ok"), list(itertools.product([True, False], repeat=4))
)
def test_plan_lists_exactly_what_is_missing(cert_ok: bool, auth_server_ok: bool, key_ok: bool, proxy_ok: bool) -> None:
    ex = exchange(
        certificate=cert() if cert_ok else cert(expired=True),
        auth_servers=None if auth_server_ok else (),
        proxy=None if proxy_ok else PushProxyState(False, False, None, None),
    )
    p = plan(ex, tenant(keys=(THUMB,) if key_ok else ()))
    expected = []
    if not cert_ok:
        expected += ["create_auth_certificate", "import_auth_certificate"]
    if not auth_server_ok:
        expected.append("ensure_auth_server")
    if not (cert_ok and key_ok):
        expected.append("upload_tenant_key")
    if not cert_ok:
        expected.append("assign_auth_certificate")
    if not proxy_ok:
        expected.append("enable_push_proxy")
    assert p.kinds() == expected
    assert {c.group for c in p.changes} <= set(GROUPS)


def test_plan_round_trips_through_json() -> None:
    p = plan(exchange(thumbprint=None), tenant(keys=()))
    assert OnboardingPlan.from_dict(p.to_dict()) == p


def test_plan_is_deterministic() -> None:
    ex, tn = exchange(thumbprint=None), tenant(keys=())
    assert plan(ex, tn) == plan(ex, tn)


def test_state_hash_ignores_list_order() -> None:
    a = exchange(servers=(server("EX1"), server("EX2")))
    b = exchange(servers=(server("EX2"), server("EX1")))
    assert state_fingerprint(a, tenant()) == state_fingerprint(b, tenant())


@pytest.mark.parametrize(
    "changed",
    [
        lambda: (exchange(proxy=PushProxyState(True, False, DOMAIN, None)), tenant()),
        lambda: (exchange(thumbprint=OTHER, certificate=cert(OTHER)), tenant()),
        lambda: (exchange(auth_servers=()), tenant()),
        lambda: (exchange(), tenant(keys=(THUMB, OTHER))),
        lambda: (exchange(servers=(server("EX1"), server("EX2"), server("EX3"))), tenant()),
        lambda: (exchange(missing_on=("EX2",)), tenant()),
    ],
)
def test_state_hash_changes_with_the_state(changed: Any) -> None:
    ex, tn = changed()
    assert state_fingerprint(ex, tn) != state_fingerprint(exchange(), tenant())


def test_certificate_expiring_later_is_kept_until_it_expires() -> None:
    c = replace(cert(), not_after=NOW + timedelta(hours=1))
    assert plan(exchange(certificate=c)).is_empty
    assert plan(exchange(certificate=c), now=NOW + timedelta(hours=2)).kinds()[0] == "create_auth_certificate"


# A staged next Auth certificate (Set-AuthConfig -NewCertificateThumbprint/-NewCertificateEffectiveDate): its key
# must be on the service principal before it takes effect; one that can't be uploaded is a note, never a blocker.

NEXT = "C" * 40


def staged(
    *,
    certificate: AuthCertificate | None = None,
    effective: datetime | None = NOW + timedelta(days=5),
    missing_on: tuple[str, ...] = (),
    on: tuple[str, ...] = ("EX1", "EX2"),
    **kwargs: Any,
) -> dict[str, Any]:
    """exchange() with NEXT staged and read from the servers `on` (minus `missing_on`), as discovery does."""
    ex = ExchangeDiscovery.from_dict(exchange(**kwargs))
    c = certificate if certificate is not None else cert(NEXT)
    copies = tuple(
        ServerCertificate(s, NEXT, "next", s not in missing_on, None if s in missing_on else c, "not found" if s in missing_on else None)
        for s in on
    )
    return replace(
        ex,
        auth_config=replace(ex.auth_config, next_thumbprint=NEXT, next_effective_date=effective),
        auth_certificates=ex.auth_certificates + copies,
    ).to_dict()


def test_staged_valid_next_certificate_without_its_key_gets_its_key_uploaded() -> None:
    p = plan(staged())
    assert p.kinds() == ["upload_tenant_key"] and not p.is_blocked
    (change,) = p.changes
    assert change.group == "tenant"
    assert change.details["source"] == "next" and change.details["thumbprint"] == NEXT
    assert change.details["effective"] == (NOW + timedelta(days=5)).isoformat()
    assert "staged next Auth certificate" in change.summary
    assert OnboardingPlan.from_dict(p.to_dict()) == p


def test_staged_next_certificate_whose_key_is_there_plans_nothing() -> None:
    assert plan(staged(), tenant(keys=(THUMB, NEXT))).is_empty


def test_both_keys_missing_plans_one_upload_of_both_current_first() -> None:
    # One change, so one PATCH: two read-modify-write PATCHes can drop the first key under replication lag.
    p = plan(staged(), tenant(keys=()))
    assert p.kinds() == ["upload_tenant_key"]
    keys = p.changes[0].details["keys"]
    assert [k["source"] for k in keys] == ["discovery", "next"]
    assert [k["thumbprint"] for k in keys] == [THUMB, NEXT]
    assert OnboardingPlan.from_dict(p.to_dict()) == p


def test_replaced_current_certificate_and_staged_next_one_both_get_keys() -> None:
    p = plan(_expired_current_with_next(), tenant(keys=()))
    assert p.kinds() == ["create_auth_certificate", "import_auth_certificate", "upload_tenant_key", "assign_auth_certificate"]
    assert [k["source"] for k in p.changes[2].details["keys"]] == ["create_auth_certificate", "next"]


def _expired_current_with_next() -> dict[str, Any]:
    ex = ExchangeDiscovery.from_dict(staged())
    current = tuple(
        replace(c, certificate=cert(expired=True)) if c.slot == "current" else c for c in ex.auth_certificates
    )
    return replace(ex, auth_certificates=current).to_dict()


def test_effective_date_now_still_uploads_and_none_counts_as_not_yet_effective() -> None:
    assert plan(staged(effective=NOW)).kinds() == ["upload_tenant_key"]
    assert plan(staged(effective=None)).kinds() == ["upload_tenant_key"]


@pytest.mark.parametrize(
    ("arrange", "words"),
    [
        (lambda: staged(certificate=cert(NEXT, expired=True)), "expired"),
        (lambda: staged(certificate=cert(NEXT, key_size=1024)), "1024-bit"),
        (lambda: staged(certificate=replace(cert(NEXT), not_after=NOW + timedelta(days=2))), "before it takes effect"),
        (lambda: staged(missing_on=("EX2",)), "missing on EX2"),
        (lambda: staged(missing_on=("EX1", "EX2")), "on no Mailbox server"),
        (lambda: staged(on=()), "on no Mailbox server"),
        (lambda: staged(effective=NOW - timedelta(hours=1)), "took effect"),
    ],
    ids=["expired", "weak", "expires-first", "missing-on-one", "missing-everywhere", "not-read", "effective-passed"],
)
def test_staged_next_certificate_that_cannot_be_uploaded_is_a_note_not_a_block(arrange: Any, words: str) -> None:
    ex = arrange()
    # Discovery reports a next certificate missing on a server as auth_certificate_missing: not a blocker here.
    if "missing" in words or "no Mailbox" in words:
        ex = {**ex, "blocking": [BlockingProblem("auth_certificate_missing", "the next Auth certificate ...", "EX2").to_dict()]}
    p = plan(ex, tenant())
    assert not p.is_blocked and p.is_empty
    assert any(NEXT in n and words in n for n in p.notes), p.notes


def test_next_certificate_equal_to_the_current_one_is_not_staged() -> None:
    ex = ExchangeDiscovery.from_dict(exchange())
    same = replace(ex, auth_config=replace(ex.auth_config, next_thumbprint=THUMB, next_effective_date=NOW)).to_dict()
    p = plan(same)
    assert p.is_empty and p.notes == ()


def test_state_hash_covers_the_staged_next_certificate() -> None:
    assert state_fingerprint(staged(), tenant()) != state_fingerprint(exchange(), tenant())
    later = staged(effective=NOW + timedelta(days=9))
    assert state_fingerprint(later, tenant()) != state_fingerprint(staged(), tenant())
