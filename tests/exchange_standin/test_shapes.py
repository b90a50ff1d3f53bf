"""Objects have the shapes of the real captures; `--capture` serves a capture exactly as it is."""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pypsrp.complex_objects import GenericComplexObject

from tests.exchange_standin.conftest import exchange_pool, run
from tests.support.exchange_standin import FIXTURES, StandIn, start_exchange_standin

NS = "{http://schemas.microsoft.com/powershell/2004/04}"
CAPTURES = FIXTURES / "exchange"


def _objects(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot())


def _type_names(obj: ET.Element, root: ET.Element) -> list[str]:
    tn = obj.find(f"{NS}TN")
    if tn is None:
        ref = obj.find(f"{NS}TNRef")
        assert ref is not None
        tn = next(t for t in root.iter(f"{NS}TN") if t.get("RefId") == ref.get("RefId"))
    return [t.text or "" for t in tn]


def _names(obj: ET.Element, section: str) -> list[str]:
    holder = obj.find(f"{NS}{section}")
    return [c.get("N") or "" for c in holder] if holder is not None else []


def _decode(text: str) -> str:
    import re

    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def _expected_value(element: ET.Element) -> Any:
    tag = element.tag.replace(NS, "")
    text = element.text or ""
    return {
        "S": lambda: _decode(text), "B": lambda: text == "true", "I32": lambda: int(text), "By": lambda: int(text),
        "BA": lambda: base64.b64decode(text), "G": lambda: uuid.UUID(text), "Nil": lambda: None,
    }.get(tag, lambda: ...)()


# ---- the stand-in's own objects have the captured shapes -----------------------------------------------------


@pytest.mark.parametrize(("cmdlet", "capture"), [
    ("Get-ExchangeServer", "e19-GetExchangeServer.xml"),
    ("Get-AuthConfig", "e19-GetAuthConfig.xml"),
    ("Get-ExchangeCertificate", "e19-GetExchangeCertificate.xml"),
])
def test_objects_have_the_captured_type_names_and_properties(https_standin: StandIn, cmdlet: str, capture: str) -> None:
    root = ET.parse(CAPTURES / capture).getroot()
    expected = root[0]
    with exchange_pool(https_standin, "basic") as pool:
        got = run(pool, cmdlet).output[0]
    assert got.types == _type_names(expected, root)
    assert list(got.adapted_properties) == _names(expected, "Props")
    assert list(got.extended_properties) == _names(expected, "MS")


def test_admin_display_version_is_a_nested_server_version(https_standin: StandIn) -> None:
    with exchange_pool(https_standin, "basic") as pool:
        server = run(pool, "Get-ExchangeServer", Identity="FABRIKAM-EX1").output[0]
    version = server.adapted_properties["AdminDisplayVersion"]
    assert isinstance(version, GenericComplexObject)
    assert version.types == ["Microsoft.Exchange.Data.ServerVersion", "System.Object"]
    assert str(version) == "Version 15.2 (Build 1748.10)"
    assert [version.adapted_properties[k] for k in ("Major", "Minor", "Build", "Revision")] == [15, 2, 1748, 10]


def test_multi_valued_properties_are_lst(https_standin: StandIn) -> None:
    with exchange_pool(https_standin, "basic") as pool:
        config = run(pool, "Get-AuthConfig").output[0]
    object_class = config.adapted_properties["ObjectClass"]
    assert object_class.types[0].startswith("Microsoft.Exchange.Data.MultiValuedProperty`1")
    assert object_class.property_sets == [
        "<LST><S>top</S><S>container</S><S>msExchContainer</S><S>msExchAuthAuthConfig</S></LST>"
    ]


def test_certificates_carry_only_raw_data(https_standin: StandIn) -> None:
    import hashlib

    from cryptography import x509

    with exchange_pool(https_standin, "basic") as pool:
        thumbprint = run(pool, "Get-AuthConfig").output[0].adapted_properties["CurrentCertificateThumbprint"]
        cert = run(pool, "Get-ExchangeCertificate", Thumbprint=thumbprint, Server="FABRIKAM-EX1").output[0]
    assert list(cert.adapted_properties) == ["RawData"]
    der = cert.adapted_properties["RawData"]
    assert hashlib.sha1(der).hexdigest().upper() == thumbprint  # noqa: S324 - X.509 thumbprint
    parsed = x509.load_der_x509_certificate(der)
    assert parsed.subject.rfc4514_string() == "CN=Microsoft Exchange Server Auth Certificate"
    assert parsed.public_key().key_size == 2048  # type: ignore[union-attr]
    assert f"[Thumbprint]\r\n  {thumbprint}" in str(cert)


# ---- --capture serves every real capture exactly ---------------------------------------------------------------

_CAPTURE_SETS = {
    "e19": {"Get-ExchangeServer": "e19-GetExchangeServer.xml", "Get-AuthConfig": "e19-GetAuthConfig.xml",
            "Get-ExchangeCertificate": "e19-GetExchangeCertificate.xml",
            "Get-PartnerApplication": "e19-GetPartnerApplication.xml"},
    "mon": {"Get-AuthConfig": "mon-GetAuthConfigNoNextCert.xml",
            "Get-ExchangeCertificate": "mon-GetExchangeCertificateBroken.xml",
            "New-ExchangeCertificate": "mon-NewExchangeCertificateDefaultTransport.xml"},
}


@pytest.fixture(scope="module", params=sorted(_CAPTURE_SETS))
def capture_standin(request: pytest.FixtureRequest) -> Iterator[tuple[StandIn, dict[str, str]]]:
    files = _CAPTURE_SETS[request.param]
    args = [a for cmdlet, name in files.items() for a in ("--capture", f"{cmdlet}={CAPTURES / name}")]
    with start_exchange_standin(*args) as standin:
        yield standin, files


def test_every_capture_is_served_as_it_is(capture_standin: tuple[StandIn, dict[str, str]]) -> None:
    standin, files = capture_standin
    with exchange_pool(standin) as pool:
        for cmdlet, name in files.items():
            root = ET.parse(CAPTURES / name).getroot()
            ps = run(pool, cmdlet, Confirm=False) if cmdlet.startswith("New-") else run(pool, cmdlet)
            assert not ps.had_errors, ps.streams.error
            assert len(ps.output) == len(root), name
            for expected, got in zip(root, ps.output, strict=True):
                assert got.types == _type_names(expected, root), name
                assert got.to_string == _decode(expected.findtext(f"{NS}ToString") or ""), name
                assert list(got.adapted_properties) == _names(expected, "Props"), name
                assert list(got.extended_properties) == _names(expected, "MS"), name
                for prop in expected.find(f"{NS}Props") or []:
                    want = _expected_value(prop)
                    if want is not ...:
                        assert got.adapted_properties[prop.get("N")] == want, (name, prop.get("N"))
                    elif prop.find(f"{NS}ToString") is not None:
                        assert str(got.adapted_properties[prop.get("N")]) == _decode(
                            prop.findtext(f"{NS}ToString") or ""), (name, prop.get("N"))
