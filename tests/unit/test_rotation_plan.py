"""The rotation's decisions (pushproxy.rotation), pure: when it starts, which mode, the effective date."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from pushproxy.exchange.models import AuthCertificate, AuthConfig, ExchangeDiscovery, ServerCertificate
from pushproxy.rotation import MIN_STAGING_LEAD, plan_rotation, restage_date, staging_date
from pushproxy.spec import TenantSpec
from tests.unit.test_plan import DOMAIN, NOW, OTHER, THUMB, exchange, tenant

SPEC = TenantSpec.from_dict({
    "tenant_domain": DOMAIN, "tenant_id": "11111111-2222-3333-4444-555555555555",
    "exchange": {"url": "https://mail.fabrikam.com/PowerShell", "auth": "kerberos", "username": "svc@fabrikam.com"},
    "graph": {"mode": "workload_identity", "client_id": "22222222-3333-4444-5555-666666666666"},
})


def cert_expiring_in(days: float, *, key_size: int = 2048, thumb: str = THUMB) -> AuthCertificate:
    return AuthCertificate(thumb, "CN=Microsoft Exchange Server Auth Certificate", NOW - timedelta(days=1800),
                           NOW + timedelta(days=days), key_size, "sha256WithRSAEncryption", "MIIB")


def staged(ex: dict[str, Any], cert: AuthCertificate, effective_in: timedelta, on: tuple[str, ...] = ("EX1", "EX2")) -> dict[str, Any]:
    d = ExchangeDiscovery.from_dict(ex)
    cfg = d.auth_config
    config = AuthConfig(cfg.current_thumbprint, cert.thumbprint, NOW + effective_in, None, cfg.service_name, cfg.realm)
    copies = tuple(ServerCertificate(s, cert.thumbprint, "next", s in on, cert if s in on else None) for s in ("EX1", "EX2"))
    return ExchangeDiscovery(d.realm, d.servers, config, d.auth_certificates + copies, d.auth_servers, d.push_proxy,
                             d.blocking).to_dict()


def rotation(ex: dict[str, Any], tn: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return plan_rotation(ex, tn if tn is not None else tenant(), SPEC, NOW, **kwargs)


def test_far_from_expiry_nothing_to_do() -> None:
    assert rotation(exchange()).mode == "none"


def test_within_renew_before_days_a_renewal_is_staged_30_days_ahead() -> None:
    p = rotation(exchange(certificate=cert_expiring_in(59)))
    assert p.mode == "renew"
    assert p.create == {"server": "EX1", "lifetime_days": 1826, "key_size": 2048}
    assert p.import_to == ("EX2",) and p.import_from == "EX1"
    assert p.effective == (NOW + timedelta(days=30)).isoformat()


def test_a_shorter_lead_when_less_time_is_left_a_day_before_expiry() -> None:
    p = rotation(exchange(certificate=cert_expiring_in(20)))
    assert (p.mode, p.effective) == ("renew", (NOW + timedelta(days=19)).isoformat())


def test_never_under_48_hours_and_emergency_when_even_that_is_too_late() -> None:
    assert staging_date(NOW, NOW + timedelta(days=2, hours=2), 30) == NOW + MIN_STAGING_LEAD
    assert staging_date(NOW, NOW + timedelta(hours=40), 30) is None
    assert rotation(exchange(certificate=cert_expiring_in(1.5))).mode == "emergency"


@pytest.mark.parametrize("certificate", [cert_expiring_in(-1), cert_expiring_in(300, key_size=1024)], ids=["expired", "weak"])
def test_an_unusable_current_certificate_takes_the_emergency_path(certificate: AuthCertificate) -> None:
    p = rotation(exchange(certificate=certificate))
    assert p.mode == "emergency" and p.effective is None and p.create
    assert any("MonitorExchangeAuthCertificate" in n for n in p.notes)


def test_a_missing_current_certificate_takes_the_emergency_path() -> None:
    assert rotation(exchange(thumbprint=None)).mode == "emergency"


def test_a_usable_staged_next_certificate_means_no_rotation() -> None:
    nxt = cert_expiring_in(1800, thumb=OTHER)
    ex = staged(exchange(certificate=cert_expiring_in(40)), nxt, timedelta(days=10))
    assert rotation(ex, tenant(keys=(THUMB, OTHER))).mode == "none"


def test_someone_elses_unusable_staged_certificate_blocks_instead_of_being_overwritten() -> None:
    nxt = cert_expiring_in(1800, thumb=OTHER)
    ex = staged(exchange(certificate=cert_expiring_in(40)), nxt, timedelta(days=10), on=("EX1",))
    p = rotation(ex, tenant(keys=(THUMB, OTHER)))
    assert p.mode == "blocked" and "missing on EX2" in p.reason


def test_repair_when_valid_but_missing_on_a_server() -> None:
    p = rotation(exchange(missing_on=("EX2",)))
    assert (p.mode, p.import_from, p.import_to) == ("repair", "EX1", ("EX2",))


def test_a_tenant_key_lifetime_policy_shortens_the_new_certificate() -> None:
    p = rotation(exchange(certificate=cert_expiring_in(50)), key_lifetime_limit_days=365)
    assert p.create and p.create["lifetime_days"] == 365
    assert any("lifetime policy" in n for n in p.notes)


def test_force_renews_early() -> None:
    assert rotation(exchange(), force=True).mode == "renew"


def test_restage_keeps_the_approved_date_while_it_is_48_hours_ahead() -> None:
    approved = NOW + timedelta(days=30)
    assert restage_date(approved, NOW, NOW + timedelta(days=59)) == approved
    late = NOW + timedelta(days=29)
    assert restage_date(approved, late, NOW + timedelta(days=59)) == late + MIN_STAGING_LEAD
    assert restage_date(approved, late, late + timedelta(hours=30)) is None
