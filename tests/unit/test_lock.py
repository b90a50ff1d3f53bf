"""requirements.txt is the whole deployed tree, locked with hashes, and matches requirements.in and this venv.

Fast and offline (`make lock-check` runs it; `make lock` regenerates the lock with pip-compile, which needs the
index): every top-level pin is locked at its version, every locked package's own requirements are locked too, every
entry has a hash, the venv the tests run in has exactly the locked versions, and the CLI-only packages stay out.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)")


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = PIN.match(line.strip())
        if m:
            out[canonicalize_name(m.group(1))] = m.group(2)
    return out


def _entries(path: Path) -> list[str]:
    """Each locked requirement with its continuation lines (the hashes)."""
    text = path.read_text(encoding="utf-8")
    return [block for block in re.split(r"\n(?=[A-Za-z0-9])", text) if PIN.match(block)]


LOCK = _pins(ROOT / "requirements.txt")


def test_every_top_level_pin_is_locked_at_its_version() -> None:
    top = _pins(ROOT / "requirements.in")
    assert top and {name: LOCK.get(name) for name in top} == top


def test_every_entry_has_a_hash() -> None:
    entries = _entries(ROOT / "requirements.txt")
    assert len(entries) == len(LOCK)
    assert all("--hash=sha256:" in e for e in entries)


def test_the_lock_is_closed_over_dependencies() -> None:
    env = {**default_environment(), "extra": ""}
    missing = set()
    for name in LOCK:
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                if canonicalize_name(req.name) not in LOCK:
                    missing.add(f"{req.name} (needed by {name})")
    assert not missing, "requirements.txt is out of date: run `make lock`: " + ", ".join(sorted(missing))


def test_the_venv_has_the_locked_versions() -> None:
    installed = {name: metadata.version(name) for name in LOCK}
    assert installed == LOCK, "the tests ran with other versions than the lock deploys"


def test_cli_only_packages_are_not_deployed() -> None:
    assert "rich" not in LOCK and "croniter" not in LOCK
    assert {"rich", "croniter"} <= set(_pins(ROOT / "requirements-local.txt"))
