"""The generic webhook's signature: HMAC-SHA256 over `<unix time>.<body>`, in one header.

    X-PushProxy-Signature: t=1764633600,v1=5f2b...e9   (hex digest of HMAC-SHA256(secret, b"1764633600." + body))

The timestamp is inside the signed text, so a receiver that checks the signature, refuses a `t` older than its
replay window (REPLAY_WINDOW_S, five minutes, is what we document) and remembers the event ids it saw within that
window rejects both old and repeated deliveries. A retry is signed afresh with its own time, and carries the same
event id. Same scheme as Stripe's and Slack's webhooks (timestamp, dot, raw body), so receivers know it.
`verify` is the receiver's side, used by our tests and shown in the README.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-PushProxy-Signature"
EVENT_ID_HEADER = "X-PushProxy-Event-Id"
EVENT_TYPE_HEADER = "X-PushProxy-Event-Type"
REPLAY_WINDOW_S = 300


class SignatureError(ValueError):
    """A delivery whose signature is missing, malformed, wrong, or outside the replay window."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, now: float, window_s: int = REPLAY_WINDOW_S) -> int:
    """Check a delivery as a receiver should; returns its timestamp. Raises SignatureError."""
    if not header:
        raise SignatureError(f"no {HEADER} header")
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("the signature has no t=<unix time>") from None
    if abs(now - timestamp) > window_s:
        raise SignatureError(f"the signature is {int(abs(now - timestamp))} s old, outside the {window_s} s window")
    expected = _digest(secret, timestamp, body)
    # Several v1 values may be present while a secret is rotated; any one matching is enough.
    if not any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", [])):
        raise SignatureError("the signature does not match the body")
    return timestamp
