"""Every real capture, served by the stand-in with --capture, read back through pypsrp by the client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from pushproxy.exchange import client, operations, values
from pushproxy.exchange.session import ExchangeSession
from tests.exchange.captures import CAPTURES
from tests.exchange.standin import endpoint_for
from tests.support.exchange_standin import start_exchange_standin


def _capture(cmdlet: str, name: str) -> list[str]:
    return ["--capture", f"{cmdlet}={CAPTURES / name}"]


@pytest.fixture(scope="module")
def e19() -> Iterator[Any]:
    args = (
        _capture("Get-ExchangeServer", "e19-GetExchangeServer.xml")
        + _capture("Get-AuthConfig", "e19-GetAuthConfig.xml")
        + _capture("Get-ExchangeCertificate", "e19-GetExchangeCertificate.xml")
        + _capture("Get-PartnerApplication", "e19-GetPartnerApplication.xml")
    )
    with start_exchange_standin(*args) as s:
        yield s


@pytest.fixture(scope="module")
def mon() -> Iterator[Any]:
    args = (
        _capture("Get-AuthConfig", "mon-GetAuthConfigNoNextCert.xml")
        + _capture("Get-ExchangeCertificate", "mon-GetExchangeCertificateBroken.xml")
        + _capture("New-ExchangeCertificate", "mon-NewExchangeCertificateDefaultTransport.xml")
    )
    with start_exchange_standin(*args) as s:
        yield s


def _session(standin: Any) -> ExchangeSession:
    return ExchangeSession(endpoint_for(standin), standin.password)


def test_discovery_runs_on_the_real_exchange_2019_objects(e19: Any) -> None:
    with _session(e19) as session:
        d = client.discover_exchange(session, "solo.com")
    (server,) = d.servers
    assert (server.name, server.fqdn, server.build, server.release) == ("SOLO-E19A", "Solo-E19A.Solo.com", "15.2.986.5", "Exchange 2019 CU11")
    assert server.admin_display_version == "Version 15.2 (Build 986.5)"
    assert d.auth_config.current_thumbprint == "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7"
    (cert,) = d.auth_certificates
    assert cert.present and cert.certificate is not None
    assert cert.certificate.subject == "CN=Microsoft Exchange Server Auth Certificate"
    assert cert.certificate.is_expired(datetime.now(UTC))  # the capture's certificate ran out in 2024
    assert d.blocking == () and any("expired" in f for f in d.facts)


def test_every_certificate_of_the_e19_capture(e19: Any) -> None:
    with _session(e19) as session:
        certs = operations.list_certificates(session, "SOLO-E19A")
    assert {c.thumbprint for c in certs} == {
        "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7",
        "6C7DE09FB39A40144F57EFEBC3DF0148E3A9AB28",
        "38247AD2B76244411748274C508D13446311830B",
    }


def test_partner_applications_keep_their_property_names_and_lists(e19: Any) -> None:
    with _session(e19) as session:
        apps = session.invoke("Get-PartnerApplication")
    names = [values.text(values.properties(a)["Name"]) for a in apps]
    assert names[0] == "Exchange Online" and len(names) == 5
    first = values.properties(apps[0])
    assert values.text(first["ApplicationIdentifier"]) == "00000002-0000-0ff1-ce00-000000000000"
    assert values.multi_valued(first["CertificateStrings"]) == []
    assert values.multi_valued(first["ObjectClass"]) == ["top", "msExchAuthPartnerApplication"]


def test_auth_config_without_a_next_certificate(mon: Any) -> None:
    with _session(mon) as session:
        config = client.get_auth_config(session)
    assert config.current_thumbprint == "B22BD738BED13136D29B7F410CE2993C5313F8FA"
    assert config.next_thumbprint is None and config.next_effective_date is None


def test_certificates_with_deserialized_type_names_over_the_wire(mon: Any) -> None:
    with _session(mon) as session:
        found = client.get_server_certificate(session, "8BFE845E6DCA42BBDC8F872672CDA1A4E0C3EBF1", "E2K16-1")
        every = operations.list_certificates(session, "E2K16-1")
    assert found.present and found.certificate is not None
    assert found.certificate.subject == "DC=Windows Azure CRP Certificate Generator"
    assert len(every) == 5


def test_the_new_exchange_certificate_capture(mon: Any) -> None:
    with _session(mon) as session:
        created = client.new_auth_certificate(session, "E2K16-1", reuse_existing=False)
    assert created.thumbprint == "A86B1B7414E51491D446905511A329A7FE120510"
