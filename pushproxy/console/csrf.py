"""Cross-site request forgery: a decision posted from the console must come from the console's own origin AND
carry a token the page was given.

- Same origin: the browser's `Sec-Fetch-Site` (when sent) must be `same-origin`, and `Origin` must be one of the
  app's own origins (the request's own scheme://host, or PUSHPROXY_PUBLIC_URL behind a reverse proxy). A POST
  with neither header is refused: every browser this page supports sends `Origin` on a form POST (Fetch standard),
  so only a non-browser would omit both, and a non-browser uses the JSON API.
- Token: HMAC-SHA256 under the app's own key (PUSHPROXY_CONSOLE_KEY) of the principal, the instance and the state
  hash the page showed. Another site can't read the page, so it can't know it; it is worth nothing for another
  person, workflow or plan. It is not a secret of anyone's (it opens nothing by itself), so it may be on the page.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit

TOKEN_FIELD = "csrf_token"


class CsrfRefused(Exception):
    """The POST is not the console's own: why, in one line a person can act on."""


def origin_of(url: str) -> str | None:
    """`https://host[:port]` of a URL (lower-cased, default ports dropped), or None if it has none."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme.lower()}://{host.lower()}{port}"


def check_same_origin(headers: Mapping[str, str], allowed: set[str]) -> None:
    """Refuse a request another origin's page sent (CsrfRefused); `allowed` are the app's own origins."""
    lowered = {k.lower(): v for k, v in headers.items()}
    site = lowered.get("sec-fetch-site")
    origin = lowered.get("origin")
    if site is None and origin is None:
        raise CsrfRefused("the request says neither where it comes from (Origin) nor whether it is same-origin "
                          "(Sec-Fetch-Site): decisions are accepted only from the console's own page")
    if site is not None and site.strip().lower() != "same-origin":
        raise CsrfRefused(f"the request comes from another site (Sec-Fetch-Site: {site.strip()[:20]}): open the "
                          "console itself to decide")
    if origin is not None and origin_of(origin.strip()) not in allowed:
        raise CsrfRefused("the request comes from another origin: open the console itself to decide")


def decision_token(key: bytes, principal: str, instance_id: str, state_hash: str) -> str:
    """The token a page for this principal, instance and plan carries in its decision form."""
    message = "\n".join(("pushproxy-console-decision", principal, instance_id, state_hash)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check_token(key: bytes, token: str | None, principal: str, instance_id: str, state_hash: str) -> None:
    """Refuse a token that is not the one this page was given (CsrfRefused)."""
    expected = decision_token(key, principal, instance_id, state_hash)
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise CsrfRefused("the form's token is not this page's (it was opened by someone else, or before the app's "
                          "key changed): reload the page and decide again")
