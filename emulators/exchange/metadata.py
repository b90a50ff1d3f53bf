"""What an AuthServer's metadata URL says about its realm (the stand-in reads no metadata document).

Two URL forms name the realm: the seed's query form `.../metadata/json/1/?realm=<realm>` and the path form of
Microsoft's current documentation and the Hybrid Configuration Wizard, `https://<host>/<realm>/metadata/json/1`,
where the realm is the tenant domain or the tenant id (GUID). Azure AD's federation metadata URLs (EvoSts) name
their tenant in the path too, but they are not the ACS metadata endpoint: no realm is read from them.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

_METADATA_PATH = ("metadata", "json", "1")


def url_realm(url: str) -> str:
    """The realm the metadata URL names, as written, or "" when it names none."""
    parts = urlsplit(url.strip())
    for key, value in parse_qsl(parts.query):
        if key.lower() == "realm" and value.strip():
            return unquote(value).strip()
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if len(segments) == len(_METADATA_PATH) + 1 and tuple(s.lower() for s in segments[1:]) == _METADATA_PATH:
        return segments[0].strip("{}")
    return ""


def names_realm(url: str, identities: set[str]) -> bool:
    """True when the URL names one of `identities` (compared case-insensitively)."""
    realm = url_realm(url).lower()
    return bool(realm) and realm in {i.lower() for i in identities if i}
