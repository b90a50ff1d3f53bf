"""The console's HTML: Jinja2 templates with autoescaping on for every template (a tenant name or a comment
holding `<script>` is shown as text), and the headers every page carries (a strict Content-Security-Policy with no
inline script: the page's one script and its stylesheet are files the app serves itself)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from pushproxy.console.diff import GROUP_TITLES

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# Route prefix of the app (host.json http.routePrefix): where the pages link to each other.
BASE = "/api"
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it a browser sends `Origin: null` with the form POST, and the same-origin check needs it.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # A page shows a plan and a token for one person: never from a shared cache.
    "Cache-Control": "no-store",
}
PHASE_LABELS = {
    "awaiting_approval": "Waiting for approval", "discovering": "Reading the current state", "applying": "Applying",
    "verifying": "Verifying", "done": "Done", "rejected": "Rejected", "timed_out": "Timed out", "failed": "Failed",
    "blocked": "Blocked", "pending": "Starting", "terminated": "Stopped",
    # A rotation's own phases (orchestrators/rotation.py), three of them durable waits of days or weeks.
    "staged": "Staged: waiting for the effective date", "waiting_to_retire": "Published: waiting to retire the old one",
    "waiting_for_expiry": "Waiting for the old certificate to expire", "creating": "Creating the certificate",
    "importing": "Importing on the servers", "uploading": "Uploading the key", "staging": "Staging",
    "publishing": "Publishing", "making_current": "Making it current", "restarting": "Restarting services",
    "probing": "Running the probe", "retiring": "Retiring the old certificate", "removing_key": "Removing our old key",
    "removing_created_certificate": "Removing the certificate it made",
}
# A symbol with every status word, so status never rests on colour alone.
# Symbols the common fonts (DejaVu, system UI fonts) all have.
PHASE_SYMBOLS = {"done": "✓", "rejected": "✕", "failed": "✕", "timed_out": "✕", "blocked": "⊘",
                 "awaiting_approval": "‖", "applying": "…", "verifying": "…", "discovering": "…",
                 "staged": "‖", "waiting_to_retire": "‖", "waiting_for_expiry": "‖"}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template, whatever its name: nothing from Exchange, Graph or a spec is markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(base=BASE, phase_labels=PHASE_LABELS, phase_symbols=PHASE_SYMBOLS, group_titles=GROUP_TITLES)
    env.filters["when"] = when
    return env


def when(value: object) -> str:
    """An ISO 8601 instant as a person reads it (`2026-12-02 05:47 UTC`); anything else as it is."""
    from datetime import UTC, datetime

    if not isinstance(value, str) or not value:
        return "" if value is None else str(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(template: str, **context: Any) -> str:
    """A page, escaped."""
    return environment().get_template(template).render(**context)


def static_file(name: str) -> tuple[bytes, str] | None:
    """One of the console's own static files (by exact name only) and its type; None for anything else."""
    if name not in STATIC_FILES:
        return None
    return (STATIC / name).read_bytes(), STATIC_FILES[name]
