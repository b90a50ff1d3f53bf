"""The channels this deployment has: PUSHPROXY_NOTIFICATION_CHANNELS (an app setting in Azure, the environment on
one machine), else the JSON file PUSHPROXY_NOTIFICATION_CHANNELS_FILE names (one machine only), else none; and
the app's public address, which makes event links absolute (PUSHPROXY_PUBLIC_URL)."""

from __future__ import annotations

from pathlib import Path

from pushproxy.notifications.channels import SETTING, Channel, ChannelError, check_https_url, parse_channels
from pushproxy.settings import setting

FILE_SETTING = "PUSHPROXY_NOTIFICATION_CHANNELS_FILE"


def configured_channels() -> tuple[Channel, ...]:
    """Every configured channel, validated; ChannelError (naming the field) when the configuration is wrong."""
    text = setting("PUSHPROXY_NOTIFICATION_CHANNELS")
    if text:
        return parse_channels(text, SETTING)
    path = setting("PUSHPROXY_NOTIFICATION_CHANNELS_FILE")
    if not path:
        return ()
    try:
        content = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ChannelError(FILE_SETTING, f"cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    return parse_channels(content, FILE_SETTING)


def public_url() -> str | None:
    """The app's public https address, for links in events; None when unset (links stay paths)."""
    value = setting("PUSHPROXY_PUBLIC_URL")
    if not value:
        return None
    if value.startswith("http://127.0.0.1") or value.startswith("http://localhost"):
        return value.rstrip("/")  # `pushproxy serve` on this machine: links a person here can open
    return check_https_url(value, "PUSHPROXY_PUBLIC_URL").rstrip("/")


def check_configuration() -> tuple[Channel, ...]:
    """Validate the notification settings at start: a non-https URL or a malformed channel is an error now,
    not a lost notification later."""
    channels = configured_channels()
    public_url()
    return channels
