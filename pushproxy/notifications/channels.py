"""Notification channels from the settings: where events go, which ones, and how each is checked. Pure: the text
is handed in (the caller reads the setting or the file), nothing is resolved here.

    PUSHPROXY_NOTIFICATION_CHANNELS = [
      {"name": "ops", "kind": "webhook", "url": "https://hooks.example.com/pushproxy",
       "secret_ref": "keyvault:pushproxy-webhook-hmac", "events": ["approval.awaited", "workflow.*"]},
      {"name": "teams-exchange", "kind": "teams", "url_ref": "keyvault:teams-workflow-url",
       "tenants": ["fabrikam.com"]}
    ]

`kind` is `webhook` (the event as JSON, HMAC-signed with the secret `secret_ref` names) or `teams` (an Adaptive
Card to a Teams Workflows webhook; Office 365 connectors are retired). `url` is the address, or `url_ref` a secret
reference to it: a Workflows URL carries its own signature (`sig=`) and is a secret. Only https: a literal URL
that isn't is refused at start; one behind `url_ref` when it is resolved (the delivery fails and says why).
`events` (default every type; `workflow.*` matches a prefix) and `tenants` (default every tenant; events without a
tenant, verification.completed, go to every channel whose events match) filter what the channel receives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pushproxy.errors import SpecError
from pushproxy.notifications.events import EVENT_TYPES
from pushproxy.secrets import REF_FORMS, bad_ref_reason, is_secret_ref

SETTING = "PUSHPROXY_NOTIFICATION_CHANNELS"
KINDS: tuple[str, ...] = ("webhook", "teams")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
FIELDS = frozenset({"name", "kind", "url", "url_ref", "secret_ref", "events", "tenants", "ca_bundle", "timeout_s"})
DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 60.0  # a delivery attempt is one activity: it must end well before the Functions timeout


class ChannelError(SpecError):
    """A channel's configuration is wrong: names the setting's field and the reason (never a URL or a secret)."""


@dataclass(frozen=True)
class Channel:
    """One place events go. Crosses activity boundaries by name only: the delivery re-reads the settings."""

    name: str
    kind: str
    url: str | None = None
    url_ref: str | None = None
    secret_ref: str | None = None
    events: tuple[str, ...] = ()  # empty: every type
    tenants: tuple[str, ...] = ()  # empty: every tenant
    ca_bundle: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def wants(self, event_type: str, tenant: str | None) -> bool:
        """Whether this channel's filters let the event through."""
        if self.events and not any(_type_matches(pattern, event_type) for pattern in self.events):
            return False
        return not (self.tenants and tenant is not None and tenant.lower() not in self.tenants)

    def describe(self) -> dict[str, Any]:
        """What may be shown about the channel (the CLI, logs): never the URL, which may carry a signature."""
        return {"name": self.name, "kind": self.kind, "events": list(self.events) or ["*"],
                "tenants": list(self.tenants) or ["*"], "signed": bool(self.secret_ref)}


def _type_matches(pattern: str, event_type: str) -> bool:
    return pattern == "*" or pattern == event_type or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))


def check_https_url(value: object, field: str) -> str:
    """An absolute https URL with a host, or ChannelError naming `field` (the value is never echoed)."""
    if not isinstance(value, str) or not value.strip():
        raise ChannelError(field, "must be an https URL")
    parts = urlsplit(value.strip())
    if parts.scheme.lower() != "https":
        shown = parts.scheme or "no scheme"
        raise ChannelError(field, f"must be an https URL (it is {shown}): notifications never travel in clear text")
    if not parts.hostname:
        raise ChannelError(field, "must be an https URL with a host name")
    return value.strip()


def parse_channels(text: str | None, source: str = SETTING) -> tuple[Channel, ...]:
    """Every channel of the setting's JSON text (an array, or an object with `channels`); () when unset."""
    if text is None or not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChannelError(source, f"is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if isinstance(raw, Mapping):
        raw = raw.get("channels")
    if not isinstance(raw, list):
        raise ChannelError(source, "must be a JSON array of channels (or an object with a channels array)")
    channels = tuple(parse_channel(item, f"{source}[{i}]") for i, item in enumerate(raw))
    seen: set[str] = set()
    for i, channel in enumerate(channels):
        if channel.name in seen:
            raise ChannelError(f"{source}[{i}].name", f"{channel.name!r} names two channels; names must be unique")
        seen.add(channel.name)
    return channels


def parse_channel(item: Any, where: str) -> Channel:
    if not isinstance(item, Mapping):
        raise ChannelError(where, "must be a JSON object")
    unknown = sorted(str(k) for k in item if k not in FIELDS)
    if unknown:
        raise ChannelError(f"{where}.{unknown[0]}", f"unknown field (allowed: {', '.join(sorted(FIELDS))})")
    name = item.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ChannelError(f"{where}.name", "required: 1-40 lower-case letters, digits and hyphens")
    kind = item.get("kind")
    if kind not in KINDS:
        raise ChannelError(f"{where}.kind", f"must be one of {', '.join(KINDS)}")
    url, url_ref = item.get("url"), item.get("url_ref")
    if (url is None) == (url_ref is None):
        raise ChannelError(f"{where}.url", "give exactly one of url (an https URL) or url_ref (a secret reference)")
    if url is not None:
        url = check_https_url(url, f"{where}.url")
        if urlsplit(url).query and kind == "teams":
            # A Workflows URL's query is its signature: in the settings in clear, it is a secret in the wrong place.
            raise ChannelError(f"{where}.url", "a Teams Workflows URL carries its signature (sig=): put it in a "
                                               f"secret and name it with url_ref ({REF_FORMS})")
    if url_ref is not None and not is_secret_ref(url_ref):
        raise ChannelError(f"{where}.url_ref", bad_ref_reason(url_ref, "URL"))
    secret_ref = item.get("secret_ref")
    if kind == "webhook":
        if secret_ref is None:
            raise ChannelError(f"{where}.secret_ref", "required for a webhook: the HMAC-SHA256 key, a secret "
                                                      f"reference ({REF_FORMS})")
        if not is_secret_ref(secret_ref):
            raise ChannelError(f"{where}.secret_ref", bad_ref_reason(secret_ref))
    elif secret_ref is not None:
        raise ChannelError(f"{where}.secret_ref", "only a webhook is signed; a Teams Workflows URL authorises itself")
    events = _strings(item.get("events"), f"{where}.events")
    for i, pattern in enumerate(events):
        if not (pattern == "*" or pattern in EVENT_TYPES
                or (pattern.endswith(".*") and any(t.startswith(pattern[:-1]) for t in EVENT_TYPES))):
            raise ChannelError(f"{where}.events[{i}]", f"{pattern!r} matches no event type "
                                                       f"({', '.join(EVENT_TYPES)}, or a prefix such as workflow.*)")
    tenants = tuple(t.strip().lower() for t in _strings(item.get("tenants"), f"{where}.tenants"))
    if "*" in tenants:
        tenants = ()
    ca_bundle = item.get("ca_bundle")
    if ca_bundle is not None and (not isinstance(ca_bundle, str) or not ca_bundle.startswith("/")):
        raise ChannelError(f"{where}.ca_bundle", "must be the absolute path of a PEM file of CAs")
    timeout = item.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT_S:
        raise ChannelError(f"{where}.timeout_s", f"must be a number of seconds, above 0 and at most {MAX_TIMEOUT_S:g}")
    return Channel(name=name, kind=str(kind), url=url, url_ref=url_ref, secret_ref=secret_ref,
                   events=tuple(events), tenants=tenants, ca_bundle=ca_bundle, timeout_s=float(timeout))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ChannelError(where, "must be an array of non-empty strings")
    return tuple(v.strip() for v in value)


def matching(channels: tuple[Channel, ...], event_type: str, tenant: str | None) -> tuple[Channel, ...]:
    """The channels an event goes to, in configuration order."""
    return tuple(c for c in channels if c.wants(event_type, tenant))


def by_name(channels: tuple[Channel, ...], name: str) -> Channel | None:
    return next((c for c in channels if c.name == name), None)
