from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest

from pushproxy.certs import CertificateParseError, certificate_der, parse_certificate, sha256_fingerprint, thumbprint
from pushproxy.exchange import values
from tests.exchange.captures import capture_objects
from tests.exchange.certgen import make_der

CERT_CAPTURES = ["e19-GetExchangeCertificate.xml", "mon-GetExchangeCertificateBroken.xml", "mon-NewExchangeCertificateDefaultTransport.xml"]


def _shown(obj: object, label: str) -> str:
    # The capture's ToString (what Exchange printed) lists [Thumbprint] and [Subject]: compare with our parse.
    text = values.text(obj) or ""
    m = re.search(rf"\[{label}\]\s*\n\s*(.+?)\s*(\n|$)", text.replace("\r\n", "\n"))
    assert m, text
    return m.group(1)


@pytest.mark.parametrize("name", CERT_CAPTURES)
def test_thumbprint_and_dates_parsed_from_raw_data_match_what_exchange_printed(name: str) -> None:
    for obj in capture_objects(name):
        cert = parse_certificate(values.properties(obj)["RawData"])
        assert cert.thumbprint == _shown(obj, "Thumbprint")
        not_after = datetime.strptime(_shown(obj, "Not After"), "%m/%d/%Y %H:%M:%S")
        # Exchange printed local time of the capturing server: within a day of UTC.
        assert abs((cert.not_after.replace(tzinfo=None) - not_after).total_seconds()) <= 14 * 3600
        assert cert.key_size == 2048
        assert cert.not_before.tzinfo is not None


def test_the_e19_auth_certificate() -> None:
    auth = capture_objects("e19-GetExchangeCertificate.xml")[0]
    cert = parse_certificate(values.properties(auth)["RawData"])
    assert cert.thumbprint == "C3EDCF181EF4F9B53D01768ECA99564014BCA6E7"
    assert cert.subject == "CN=Microsoft Exchange Server Auth Certificate"
    assert cert.signature_algorithm == "sha1WithRSAEncryption"
    assert cert.not_after == datetime(2024, 11, 6, 22, 47, 32, tzinfo=UTC)
    assert cert.is_expired(datetime(2026, 1, 1, tzinfo=UTC))
    assert certificate_der(cert) == values.properties(auth)["RawData"]


def test_a_short_key_is_reported_and_not_usable() -> None:
    der = make_der(key_size=1024)
    cert = parse_certificate(der)
    assert cert.key_size == 1024
    assert not cert.is_usable(datetime.now(UTC))
    assert cert.thumbprint == thumbprint(der) and len(sha256_fingerprint(der)) == 64


def test_der_b64_is_the_public_certificate_only() -> None:
    der = make_der()
    cert = parse_certificate(der)
    assert base64.b64decode(cert.der_b64) == der
    assert "der_b64" not in repr(cert)


@pytest.mark.parametrize("bad", [b"", b"not a certificate", None])
def test_non_certificates_raise_a_clear_error(bad: object) -> None:
    with pytest.raises(CertificateParseError):
        parse_certificate(bad)  # type: ignore[arg-type]
