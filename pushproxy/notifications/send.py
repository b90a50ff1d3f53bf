"""One delivery attempt: one HTTPS POST of an event to one channel, with a deadline, and what came of it.

TLS is checked against the system store (which honours SSL_CERT_FILE, as the rest of the product does), or the
channel's `ca_bundle`. What we report of a failure is its HTTP status, or the kind of network fault: never the
URL (a Workflows URL carries its signature), the body, nor the receiver's answer text.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from pushproxy import __version__
from pushproxy.errors import SecretError, SpecError
from pushproxy.notifications import signing
from pushproxy.notifications.channels import Channel, check_https_url
from pushproxy.notifications.delivery import is_retryable, parse_retry_after
from pushproxy.notifications.teams import teams_message
from pushproxy.secrets import OWN, resolve_secret

DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"


@dataclass(frozen=True)
class AttemptResult:
    """`outcome` is delivered, retry (worth another attempt) or failed (the receiver or the configuration said no)."""

    outcome: str
    http_status: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    duration_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "http_status": self.http_status, "error": self.error,
                "retry_after_s": self.retry_after_s, "duration_ms": self.duration_ms}


def body_of(channel: Channel, event: dict[str, Any]) -> bytes:
    """The bytes a channel receives: the event itself (webhook), or the Teams message with its card."""
    payload = event if channel.kind == "webhook" else teams_message(event)
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def _ssl_context(channel: Channel) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=channel.ca_bundle) if channel.ca_bundle else ssl.create_default_context()


async def deliver(channel: Channel, event: dict[str, Any], attempt: int, *, now: float | None = None) -> AttemptResult:
    """POST `event` to `channel` once. Never raises: every outcome is an AttemptResult."""
    started = time.perf_counter()

    def result(outcome: str, **kw: Any) -> AttemptResult:
        return AttemptResult(outcome, duration_ms=int((time.perf_counter() - started) * 1000), **kw)

    try:
        url = channel.url if channel.url else check_https_url(resolve_secret(str(channel.url_ref), OWN),
                                                              f"channel {channel.name}: url_ref")
        body = body_of(channel, event)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": f"pushproxy/{__version__}",
                   signing.EVENT_ID_HEADER: str(event.get("id")), signing.EVENT_TYPE_HEADER: str(event.get("type")),
                   "X-PushProxy-Delivery-Attempt": str(attempt)}
        if channel.kind == "webhook":
            # A channel's secrets are the operator's own (settings), not any tenant's: unprefixed names.
            secret = resolve_secret(str(channel.secret_ref), OWN)
            headers[signing.HEADER] = signing.signature_header(secret, int(now if now is not None else time.time()),
                                                               body)
        context = _ssl_context(channel)
    except (SecretError, SpecError) as exc:  # configuration: another attempt would fail the same way
        return result(FAILED, error=str(exc))
    except (OSError, ssl.SSLError) as exc:
        return result(FAILED, error=f"channel {channel.name}: ca_bundle unusable ({type(exc).__name__})")

    timeout = aiohttp.ClientTimeout(total=channel.timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(url, data=body, headers=headers, ssl=context, allow_redirects=False) as response:
                status = response.status
                retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    except TimeoutError:
        return result(RETRY, error=f"no answer within {channel.timeout_s:g} s")
    except aiohttp.ClientConnectorCertificateError as exc:
        return result(RETRY, error=f"TLS: the receiver's certificate was not trusted ({exc.certificate_error!s:.120})")
    except aiohttp.ClientConnectorError as exc:
        return result(RETRY, error=f"could not connect ({exc.os_error.strerror or type(exc.os_error).__name__})")
    except aiohttp.ServerDisconnectedError:
        return result(RETRY, error="the receiver dropped the connection")
    except aiohttp.ClientError as exc:
        return result(RETRY, error=f"HTTP client error ({type(exc).__name__})")
    if 200 <= status < 300:
        return result(DELIVERED, http_status=status)
    if is_retryable(status):
        return result(RETRY, http_status=status, error=f"HTTP {status}", retry_after_s=retry_after)
    return result(FAILED, http_status=status, error=f"HTTP {status}: the receiver refused the delivery")
