"""Real X.509 certificates for the stand-in's organisations, made with `cryptography`.

RSA key generation dominates the cost (tens of milliseconds for 2048 bits), so certificates of a state that is
loaded in bulk share one in-memory key per key size; New-ExchangeCertificate makes a fresh key as Exchange does.
Private keys live only in memory: they are never written to the state file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

AUTH_CERTIFICATE_SUBJECT = "CN=Microsoft Exchange Server Auth Certificate"

_shared_keys: dict[int, rsa.RSAPrivateKey] = {}
_shared_lock = threading.Lock()


def shared_key(key_size: int) -> rsa.RSAPrivateKey:
    """One process-wide key per size, for certificates created in bulk from a state file."""
    with _shared_lock:
        if key_size not in _shared_keys:
            _shared_keys[key_size] = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        return _shared_keys[key_size]


def new_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _name(subject: str) -> x509.Name:
    """Parse `CN=a, O=b` (what Exchange prints) into a Name; RFC 4514 order is the reverse of the printed one."""
    parts = []
    for part in subject.split(","):
        key, sep, value = part.strip().partition("=")
        parts.append(f"{key.strip().upper()}{sep}{value.strip()}")  # Exchange takes "cn=..." as well as "CN=..."
    try:
        return x509.Name.from_rfc4514_string(",".join(reversed(parts)))
    except ValueError as exc:
        raise ValueError(f"SubjectName {subject!r}: not a distinguished name ({exc})") from exc


def make_certificate(
    subject: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key: rsa.RSAPrivateKey,
    domain_names: list[str] | None = None,
    subject_key_identifier: bytes | None = None,
) -> bytes:
    """A self-signed certificate (DER), as New-ExchangeCertificate makes one. Its Subject Key Identifier is the
    one given (-SubjectKeyIdentifier), else derived from the public key (RFC 5280 4.2.1.2, method 1)."""
    name = _name(subject) if subject else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Exchange")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier(subject_key_identifier)
            if subject_key_identifier is not None
            else x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
            critical=False,
        )
    )
    if domain_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in domain_names]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class CertificateFacts:
    """What a client can read from RawData."""

    thumbprint: str
    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_size: int


def _printed_name(name: x509.Name) -> str:
    # .NET prints the most specific RDN first (CN=..., O=...), the reverse of RFC 4514's order.
    return ", ".join(reversed(name.rfc4514_string().split(","))) if name.rdns else ""


def facts(der: bytes) -> CertificateFacts:
    cert = x509.load_der_x509_certificate(der)
    public_key = cert.public_key()
    key_size = public_key.key_size if isinstance(public_key, rsa.RSAPublicKey) else 0
    return CertificateFacts(
        thumbprint=thumbprint(der),
        subject=_printed_name(cert.subject),
        issuer=_printed_name(cert.issuer),
        serial=f"{cert.serial_number:X}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_size=key_size,
    )


def thumbprint(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest().upper()  # noqa: S324 - the X.509 thumbprint is SHA-1 by definition


def to_string(der: bytes) -> str:
    """X509Certificate2.ToString() as Exchange's objects carry it (en-US dates, local time shown as UTC)."""
    f = facts(der)
    parts = [
        ("Subject", f.subject),
        ("Issuer", f.issuer),
        ("Serial Number", f.serial),
        ("Not Before", f.not_before.strftime("%m/%d/%Y %H:%M:%S")),
        ("Not After", f.not_after.strftime("%m/%d/%Y %H:%M:%S")),
        ("Thumbprint", f.thumbprint),
    ]
    return "".join(f"[{label}]\r\n  {value}\r\n\r\n" for label, value in parts)[:-2]


def export_pfx(der: bytes, key: rsa.RSAPrivateKey, password: str | None, friendly_name: str) -> bytes:
    cert = x509.load_der_x509_certificate(der)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(friendly_name.encode(), key, cert, None, encryption)

