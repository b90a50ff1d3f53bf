"""The capture shapes, as pypsrp's deserializer hands them over, read by our helpers and parsers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

from pypsrp.complex_objects import GenericComplexObject
from pypsrp.serializer import Serializer

from pushproxy.exchange import operations, values
from tests.exchange.captures import capture_elements, capture_objects, capture_xml


def test_get_exchange_server_capture_becomes_an_exchange_server() -> None:
    (obj,) = capture_objects("e19-GetExchangeServer.xml")
    server = operations.parse_server(obj)
    assert server.name == "SOLO-E19A"
    assert server.fqdn == "Solo-E19A.Solo.com"
    assert server.roles == ("Mailbox",)
    assert server.is_mailbox and server.is_client_access and not server.is_edge
    assert server.build == "15.2.986.5"
    assert server.admin_display_version == "Version 15.2 (Build 986.5)"
    assert server.release == "Exchange 2019 CU11"
    assert server.meets_minimum and server.gated


def test_admin_display_version_as_a_plain_string_with_description() -> None:
    # Depth-limited serialisation sends only the ToString: rewrite the capture that way.
    (element,) = capture_elements("e19-GetExchangeServer.xml")
    props = element.find("Props")
    assert props is not None
    version = next(e for e in props if e.get("N") == "AdminDisplayVersion")
    props.remove(version)
    ET.SubElement(props, "S", {"N": "AdminDisplayVersion"}).text = "Version 15.0 (Build 712.24: CU2)"
    server = operations.parse_server(Serializer().deserialize(element))
    assert server.build == "15.0.712.24"
    assert server.release == "Exchange 2013 CU2"
    assert not server.meets_minimum


def test_get_auth_config_captures() -> None:
    (obj,) = capture_objects("e19-GetAuthConfig.xml")
    config = operations.parse_auth_config(obj)
    assert config.current_thumbprint == "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7"
    assert config.next_thumbprint is None and config.previous_thumbprint is None
    assert config.next_effective_date is None
    assert config.service_name == "00000002-0000-0ff1-ce00-000000000000"
    assert config.realm is None
    (obj,) = capture_objects("mon-GetAuthConfigNoNextCert.xml")
    assert operations.parse_auth_config(obj).current_thumbprint == "B22BD738BED13136D29B7F410CE2993C5313F8FA"


def test_certificates_with_deserialized_type_names_are_still_objects() -> None:
    # mon-GetExchangeCertificateBroken.xml was exported from an already-deserialised object: every type name
    # carries `Deserialized.`. pypsrp 0.9.1 strips `Deserialized.System.` before matching, so the chain's
    # `Deserialized.System.Object` still makes it a GenericComplexObject; no ToString-only fallback is needed.
    objects = capture_objects("mon-GetExchangeCertificateBroken.xml")
    assert all(isinstance(o, GenericComplexObject) for o in objects)
    assert objects[0].types[-1] == "Deserialized.System.Object"
    certs = [operations.parse_exchange_certificate(o) for o in objects]
    assert certs[0].subject == "DC=Windows Azure CRP Certificate Generator"
    assert certs[0].thumbprint == "8BFE845E6DCA42BBDC8F872672CDA1A4E0C3EBF1"
    assert len({c.thumbprint for c in certs}) == 5


def test_an_object_whose_type_chain_lacks_system_object_comes_back_as_xml_and_is_reread() -> None:
    # Drop `Deserialized.System.Object` from the chain: pypsrp then returns the raw <Obj> XML string.
    xml = capture_xml("mon-GetExchangeCertificateBroken.xml")[0].replace("<T>Deserialized.System.Object</T>", "")
    raw = Serializer().deserialize(xml)
    assert isinstance(raw, str) and raw.startswith("<")
    cert = operations.parse_exchange_certificate(raw)
    assert cert.thumbprint == "8BFE845E6DCA42BBDC8F872672CDA1A4E0C3EBF1"
    assert (values.text(raw) or "").startswith("[Subject]")
    # The next object only refers to that type list (TNRef): read on its own, it is still an object.
    second = capture_xml("mon-GetExchangeCertificateBroken.xml")[1]
    assert "<TNRef" in second
    assert operations.parse_exchange_certificate(second).thumbprint == "D003810EBE1624145889D031FBB77ED2BD280FD3"
    assert values.as_object("<Obj><broken") is None


def test_new_exchange_certificate_capture() -> None:
    (obj,) = capture_objects("mon-NewExchangeCertificateDefaultTransport.xml")
    cert = operations.parse_exchange_certificate(obj)
    assert cert.thumbprint == "A86B1B7414E51491D446905511A329A7FE120510"
    assert cert.subject == "CN=E2k16-1"


def test_multi_valued_properties_are_read_from_their_raw_lst() -> None:
    (server,) = capture_objects("e19-GetExchangeServer.xml")
    p = values.properties(server)
    assert values.multi_valued(p["CurrentDomainControllers"]) == ["Solo-DC1.Solo.com"]
    assert values.multi_valued(p["StaticDomainControllers"]) == []
    assert values.multi_valued(p["ObjectClass"]) == ["top", "server", "msExchExchangeServer"]
    # A list of objects: each by its ToString.
    assert "ncacn_ip_tcp:Solo-E19A.Solo.com" in values.multi_valued(p["NetworkAddress"])
    apps = capture_objects("e19-GetPartnerApplication.xml")
    assert [values.text(values.properties(a)["Name"]) for a in apps][0] == "Exchange Online"
    assert values.multi_valued(values.properties(apps[0])["CertificateStrings"]) == []


def test_text_of_enums_nested_objects_and_missing_tostring() -> None:
    (server,) = capture_objects("e19-GetExchangeServer.xml")
    p = values.properties(server)
    assert values.text(p["ServerRole"]) == "Mailbox"
    assert values.text(p["Edition"]) == "StandardEvaluation"
    assert values.text(p["StaticDomainControllers"]) is None  # no ToString: not the string 'None'
    assert values.text("") is None and values.text(None) is None


def test_timestamps_with_seven_fraction_digits_and_offsets() -> None:
    assert values.timestamp("2031-11-26T06:29:07.1234567+01:00") == datetime(2031, 11, 26, 6, 29, 7, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert values.timestamp("2019-12-03T22:47:32Z") == datetime(2019, 12, 3, 22, 47, 32, tzinfo=UTC)
    assert values.timestamp(None) is None
    (config,) = capture_objects("e19-GetAuthConfig.xml")
    assert values.timestamp(values.properties(config)["WhenChangedUTC"]) == datetime(2019, 12, 3, 22, 47, 32, tzinfo=UTC)
