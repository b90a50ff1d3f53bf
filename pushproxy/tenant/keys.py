"""What the next keyCredentials collection must be: pure functions, no I/O.

Graph's PATCH replaces the whole collection, so every write is "all the keys to keep, plus ours, minus the one we
remove". A kept key is re-sent as it was read: its keyId with key, type, usage, customKeyIdentifier, displayName
and dates unchanged. Graph refuses a keyId re-sent with changed data, and a key re-sent without its keyId becomes
a new credential (new keyId, displayName and dates derived from the certificate again): someone else's credential
rewritten. So nothing of a key we don't own is ever changed.

Entra is eventually consistent, so one read may miss a key another read showed. A plan is made from the union of
every read of the call (`union_of_reads`): a key any of them showed is kept, except the one we remove.
"""

from __future__ import annotations

import base64
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
    """One entry of the PATCH body: a kept key with its keyId and every field as read, or a new one without keyId."""

    key_der: bytes
    type: str
    usage: str
    custom_key_identifier: bytes | None = None
    display_name: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    key_id: str | None = None

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
        custom = base64.b64decode(key.custom_key_identifier_b64) if key.custom_key_identifier_b64 else None
        kept.append(
            KeyToSend(
                key_der=der,
                type=key.type,
                usage=key.usage,
                custom_key_identifier=custom,
                display_name=key.display_name,
                start=key.start,
                end=key.end,
                key_id=key.key_id or None,
            )
        )
    return kept


def new_key(cert: CertificateFacts) -> KeyToSend:
    """The entry for a certificate's key that is not on the service principal yet."""
    return KeyToSend(
        key_der=cert.der,
        type=NEW_KEY_TYPE,
        usage=NEW_KEY_USAGE,
        custom_key_identifier=bytes.fromhex(cert.thumbprint),
        display_name=cert.display_name,
        start=cert.not_before,
        end=cert.not_after,
    )


def plan_add(
    existing: Sequence[KeyCredentialInfo], certs: CertificateFacts | Sequence[CertificateFacts]
) -> list[KeyToSend] | None:
    """The collection to PATCH so that every cert is there and every existing key kept; None when all are there."""
    wanted = [certs] if isinstance(certs, CertificateFacts) else list(certs)
    present = {k.thumbprint for k in existing}
    missing: list[CertificateFacts] = []
    for cert in wanted:
        if cert.thumbprint not in present and all(m.thumbprint != cert.thumbprint for m in missing):
            missing.append(cert)
    if not missing:
        return None
    return [*_kept(existing, skip=None), *(new_key(c) for c in missing)]


def plan_remove(existing: Sequence[KeyCredentialInfo], thumbprint: str) -> list[KeyToSend] | None:
    """The collection to PATCH so that the key with `thumbprint` goes and every other stays; None when it is absent."""
    wanted = normalize_thumbprint(thumbprint)
    if not any(k.thumbprint == wanted for k in existing):
        return None
    return _kept(existing, skip=wanted)


def plan_remove_many(existing: Sequence[KeyCredentialInfo], thumbprints: Sequence[str]) -> list[KeyToSend] | None:
    """The collection to PATCH so that every key with one of `thumbprints` goes and every other key stays exactly as
    read (keyId, key bytes, customKeyIdentifier, displayName, dates); None when none of them is there.

    One PATCH for all of them, for the reason uploads are one PATCH: two read-modify-writes in a row can resurrect
    the first one's key from a replica that has not seen it go."""
    wanted = {normalize_thumbprint(t) for t in thumbprints}
    if not any(k.thumbprint in wanted for k in existing):
        return None
    kept = _kept([k for k in existing if k.thumbprint not in wanted], skip=None)
    return kept


def _identity(key: KeyCredentialInfo) -> str:
    return key.key_id or f"thumbprint:{key.thumbprint}"


def union_of_reads(reads: Sequence[Sequence[KeyCredentialInfo]]) -> tuple[KeyCredentialInfo, ...]:
    """Every key any read showed, once (by keyId): the newest read's keys in its order, then older reads' extras.

    A key one read showed and a later one didn't is either newly removed or not yet replicated to the replica
    that served the later read; nothing in Graph's answer tells the two apart, and dropping a key someone needs
    is an outage, so it is kept (the rule and its cost are in emulators/graph/README.md and the client).
    """
    out: dict[str, KeyCredentialInfo] = {}
    for read in reversed(reads):
        for key in read:
            out.setdefault(_identity(key), key)
    # The same certificate under two keyIds is two credentials: both stay.
    return tuple(out.values())


def same_collection(a: Sequence[KeyCredentialInfo], b: Sequence[KeyCredentialInfo]) -> bool:
    """Whether two reads show the same credentials (by keyId and thumbprint)."""
    return sorted((_identity(k), k.thumbprint or "") for k in a) == sorted((_identity(k), k.thumbprint or "") for k in b)


def describe(existing: Sequence[KeyCredentialInfo]) -> tuple[str, ...]:
    """Thumbprints of a collection (or the key id when a thumbprint is unknown), for reports."""
    return tuple(k.thumbprint or f"keyId:{k.key_id}" for k in existing)
