"""How a delivery is retried, and what an HTTP answer means for it. Pure: the delivery orchestration decides with
it on durable timers, so a channel that is down costs the raising workflow nothing.

Exponential backoff from 30 s, doubling, capped at an hour, MAX_ATTEMPTS attempts in all (about two hours
before the last one); a 429 or 503 with Retry-After waits at least that long (capped at MAX_RETRY_AFTER_S, so a
receiver can't park a delivery for ever). A small jitter, derived from the delivery's own id (deterministic, as
an orchestrator must be), keeps a fleet's deliveries from retrying in lock-step against a receiver that came
back. 408, 425, 429 and 5xx, a refused or dropped connection and a timeout are worth retrying; any other 4xx
is the receiver saying no (a wrong URL, a bad signature secret, a body it refuses) and fails at once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_ATTEMPTS = 8
FIRST_DELAY_S = 30.0
MAX_DELAY_S = 3600.0
MAX_RETRY_AFTER_S = 6 * 3600.0
JITTER = 0.2  # +/- 20 %

DELIVERED = "delivered"
RETRYING = "retrying"
FAILED = "failed"
PENDING = "pending"
STATUSES: tuple[str, ...] = (PENDING, RETRYING, DELIVERED, FAILED)

RETRYABLE_STATUS = frozenset({408, 425, 429})


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110 10.2.3); None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _jitter(delivery_id: str, attempt: int) -> float:
    digest = hashlib.sha256(f"{delivery_id}|{attempt}".encode()).digest()
    unit = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF  # 0..1
    return 1.0 + JITTER * (2 * unit - 1)


def next_delay(attempt: int, retry_after_s: float | None, delivery_id: str = "") -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based), or None when it was the last."""
    if attempt >= MAX_ATTEMPTS:
        return None
    backoff = min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (attempt - 1)) * _jitter(delivery_id, attempt)
    if retry_after_s is not None:
        return max(backoff, min(float(retry_after_s), MAX_RETRY_AFTER_S))
    return backoff


def delivery_instance_id(event_id: str, channel: str) -> str:
    """The delivery orchestration of one event to one channel: starting it twice is one delivery."""
    return f"notify-{event_id}-{channel}"
