"""Which AuthServer is the tenant's ACS metadata endpoint: matched on (metadata URL, realm), never on name.

Organisations name the realm in two URL forms, and we must recognise both or we create a duplicate:
- the seed's query form, `https://accounts.accesscontrol.windows.net/metadata/json/1/?realm=<tenant domain>`;
- the path form of Microsoft's current documentation and the Hybrid Configuration Wizard (`ACS - {guid}`),
  `https://accounts.accesscontrol.windows.net/<tenant id or tenant domain>/metadata/json/1` (HCW also sets the
  AuthServer's Realm to the tenant id).
The realm may be the tenant domain or the tenant id (GUID); both identify the tenant, case-insensitively.

HCW's `EvoSts - {guid}` servers (login.windows.net/.../federationmetadata/..., login.microsoftonline.com) are
Azure AD's token issuer for hybrid modern authentication, not the ACS issuer the push proxy's tokens come from:
they never count as the realm's ACS server here (and nothing of ours touches them).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

from pushproxy.errors import SpecError
from pushproxy.exchange.models import AuthServer

ACS_HOST = "accounts.accesscontrol.windows.net"
_METADATA_PATH = ("metadata", "json", "1")
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def tenant_id_or_none(tenant_id: str | None, field: str = "tenant_id") -> str | None:
    """A tenant id as a lower-case GUID (braces allowed), or None when not given. Anything else is a SpecError."""
    if tenant_id is None or tenant_id == "":
        return None
    cleaned = tenant_id.strip().strip("{}").lower() if isinstance(tenant_id, str) else ""
    if not _GUID.match(cleaned):
        raise SpecError(field, "must be the tenant id, a GUID such as 11111111-2222-3333-4444-555555555555")
    return cleaned


def tenant_identities(tenant_domain: str, tenant_id: str | None = None) -> frozenset[str]:
    """The names a metadata URL or a Realm may use for the tenant: its domain and, when known, its id.

    Not validated here (the id may come from a discovery already read); callers taking input validate it with
    `tenant_id_or_none` first. Comparing strings, a malformed id can only fail to match.
    """
    names = {(tenant_domain or "").strip().lower(), (tenant_id or "").strip().strip("{}").lower()}
    return frozenset(n for n in names if n)


def acs_url_realms(url: str | None) -> tuple[str, ...] | None:
    """The realm(s) an ACS metadata URL names, lower-cased; `()` when it names none (the Realm property decides);
    None when the URL is not the ACS metadata endpoint at all (another host, scheme or path, EvoSts included)."""
    parts = urlsplit((url or "").strip())
    if parts.scheme.lower() != "https" or (parts.hostname or "").lower() != ACS_HOST:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    lowered = tuple(s.lower() for s in segments)
    query = [unquote(v).strip().lower() for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() == "realm"]
    if lowered == _METADATA_PATH:  # query form
        return tuple(v for v in query if v)
    if len(lowered) == len(_METADATA_PATH) + 1 and lowered[1:] == _METADATA_PATH:  # path form
        return (lowered[0].strip("{}"),)
    return None


def auth_server_serves_realm(server: AuthServer, realm: str, *, tenant_id: str | None = None) -> bool:
    """True when this AuthServer is the ACS metadata endpoint for the tenant `realm` (its domain) / `tenant_id`.

    By URL and realm, whatever its name: an ACS metadata URL (query or path form) naming one of the tenant's
    identities, or any ACS metadata URL on an AuthServer whose Realm property (read from the metadata) is one.
    """
    identities = tenant_identities(realm, tenant_id)
    named = acs_url_realms(server.auth_metadata_url)
    if named is None:
        return False
    # Exchange fills Realm from the metadata document (for ACS: the tenant id), and refuses a second AuthServer of
    # the same type, issuer and realm (ErrorExistingAuthServerWithSameRealm): one whose Realm is the tenant's
    # serves it, whatever form its URL takes.
    if (server.realm or "").strip().strip("{}").lower() in identities:
        return True
    return any(n in identities for n in named)


__all__ = ["ACS_HOST", "acs_url_realms", "auth_server_serves_realm", "tenant_id_or_none", "tenant_identities"]
