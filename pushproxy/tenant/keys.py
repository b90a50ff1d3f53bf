"""What the next keyCredentials collection must be: pure functions, no I/O.

Graph's PATCH replaces the whole collection, so every write is "all the keys to keep, plus or minus one".
Kept keys are re-sent as fresh objects with only key, type and usage (re-sending a keyId with any changed data
is refused, and Graph derives dates, displayName and customKeyIdentifier from the certificate again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from pushproxy.errors import SpecError, TenantError
from pushproxy.tenant.models import KeyCredentialInfo, normalize_thumbprint, thumbprint_of

NEW_KEY_TYPE = "AsymmetricX509Cert"
NEW_KEY_USAGE = "Verify"
MAX_DISPLAY_NAME = 90  # Graph's limit on keyCredential.displayName


@dataclass(frozen=True)
class CertificateFacts:
    """What the new key's fields are taken from: the certificate itself."""

    der: bytes
    thumbprint: str
    display_name: str
    not_before: datetime
    not_after: datetime

    @property
    def lifetime_days(self) -> float:
        return (self.not_after - self.not_before).total_seconds() / 86400


@dataclass(frozen=True)
class KeyToSend:
    """One entry of the PATCH body. Optional fields stay unset for kept keys."""

    key_der: bytes
    type: str
    usage: str
    custom_key_identifier: bytes | None = None
    display_name: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    @property
    def thumbprint(self) -> str:
        return thumbprint_of(self.key_der)


def certificate_facts(der: bytes) -> CertificateFacts:
    """Parse a certificate's public DER; SpecError naming `cert_der` when it is not one."""
    if not isinstance(der, bytes | bytearray) or not der:
        raise SpecError("cert_der", "must be the certificate's DER bytes")
    try:
        cert = x509.load_der_x509_certificate(bytes(der))
    except ValueError:
        raise SpecError(
            "cert_der", "is not a DER-encoded X.509 certificate (a base64 string or PEM is not accepted)"
        ) from None
    subject = cert.subject.rfc4514_string() or thumbprint_of(bytes(der))
    return CertificateFacts(
        der=bytes(der),
        thumbprint=thumbprint_of(bytes(der)),
        display_name=subject[:MAX_DISPLAY_NAME],
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def key_info_thumbprint(key_der: bytes | None, custom_key_identifier: bytes | None) -> str | None:
    """A key's thumbprint: SHA-1 of its DER when Graph returned it, else customKeyIdentifier when it is 20 bytes."""
    if key_der:
        return thumbprint_of(key_der)
    if custom_key_identifier and len(custom_key_identifier) == 20:
        return custom_key_identifier.hex().upper()
    return None


def _kept(existing: Sequence[KeyCredentialInfo], skip: str | None) -> list[KeyToSend]:
    kept: list[KeyToSend] = []
    for key in existing:
        if skip is not None and key.thumbprint == skip:
            continue
        der = key.key_der
        if der is None:
            # Without the bytes we cannot re-send it, and leaving it out of the PATCH would delete it.
            raise TenantError(
                f"refusing to write keyCredentials: Graph did not return the key bytes of key {key.key_id}, "
                "and a PATCH without them would delete that key",
                code="KeyBytesMissing",
            )
        kept.append(KeyToSend(key_der=der, type=key.type, usage=key.usage))
    return kept


def plan_add(existing: Sequence[KeyCredentialInfo], cert: CertificateFacts) -> list[KeyToSend] | None:
    """The collection to PATCH so that `cert` is added and every existing key kept; None when it is already there."""
    if any(k.thumbprint == cert.thumbprint for k in existing):
        return None
    new = KeyToSend(
        key_der=cert.der,
        type=NEW_KEY_TYPE,
        usage=NEW_KEY_USAGE,
        custom_key_identifier=bytes.fromhex(cert.thumbprint),
        display_name=cert.display_name,
        start=cert.not_before,
        end=cert.not_after,
    )
    return [*_kept(existing, skip=None), new]


def plan_remove(existing: Sequence[KeyCredentialInfo], thumbprint: str) -> list[KeyToSend] | None:
    """The collection to PATCH so that the key with `thumbprint` goes and every other stays; None when it is absent."""
    wanted = normalize_thumbprint(thumbprint)
    if not any(k.thumbprint == wanted for k in existing):
        return None
    return _kept(existing, skip=wanted)


def describe(existing: Sequence[KeyCredentialInfo]) -> tuple[str, ...]:
    """Thumbprints of a collection (or the key id when a thumbprint is unknown), for reports."""
    return tuple(k.thumbprint or f"keyId:{k.key_id}" for k in existing)
