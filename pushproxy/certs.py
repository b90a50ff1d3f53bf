"""Certificates as Exchange hands them over remoting: only RawData (the DER) survives, so parse it ourselves."""

from __future__ import annotations

import base64
import hashlib
import warnings

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from pushproxy.exchange.models import AuthCertificate


class CertificateParseError(ValueError):
    """The bytes are not a DER X.509 certificate."""


def thumbprint(der: bytes) -> str:
    """Windows' thumbprint: SHA-1 of the DER, upper-case hex (what Get-AuthConfig and -Thumbprint use)."""
    return hashlib.sha1(der, usedforsecurity=False).hexdigest().upper()


def sha256_fingerprint(der: bytes) -> str:
    """SHA-256 of the DER, lower-case hex: the form a TLS pin is written in."""
    return hashlib.sha256(der).hexdigest()


def parse_certificate(der: bytes) -> AuthCertificate:
    """The public facts of a DER certificate. Raises CertificateParseError on anything that isn't one."""
    if not isinstance(der, bytes | bytearray) or not der:
        raise CertificateParseError("no certificate bytes (RawData empty or missing)")
    try:
        with warnings.catch_warnings():
            # Real certificates break small rules (e.g. C=Germany, not C=DE); cryptography warns, Windows accepts.
            warnings.simplefilter("ignore", UserWarning)
            cert = x509.load_der_x509_certificate(bytes(der))
            subject = cert.subject.rfc4514_string()
        # Exchange and Windows print the sign-hash algorithm by its OID friendly name (sha256RSA); keep
        # cryptography's spelling of the same OID, and the dotted OID when it has no name.
        oid = cert.signature_algorithm_oid
        signature_algorithm = getattr(oid, "_name", None) or oid.dotted_string
        key = cert.public_key()
    except ValueError as exc:
        raise CertificateParseError(f"not a DER X.509 certificate ({exc})") from None
    key_size = key.key_size if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey | ec.EllipticCurvePublicKey) else None
    return AuthCertificate(
        thumbprint=thumbprint(bytes(der)),
        subject=subject,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_size=key_size,
        signature_algorithm=signature_algorithm,
        der_b64=base64.b64encode(bytes(der)).decode("ascii"),
    )


def certificate_der(cert: AuthCertificate) -> bytes:
    """The DER bytes back from an AuthCertificate (for the tenant key upload)."""
    return base64.b64decode(cert.der_b64)


def subject_key_identifier(der: bytes) -> str | None:
    """The certificate's Subject Key Identifier as upper-case hex, or None without one (or when it isn't DER)."""
    try:
        cert = x509.load_der_x509_certificate(bytes(der))
        ext = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except (ValueError, x509.ExtensionNotFound):
        return None
    return ext.value.digest.hex().upper()
