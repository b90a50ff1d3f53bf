"""The worker's environment: a virtual environment with only requirements.txt (what a deployment installs) and
the worker library from tests/worker/requirements.txt. Built once and reused while both files are unchanged.

    python tests/worker/worker_env.py     # what `make worker` (and so `make test`) runs
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER_VENV = ROOT / ".venv-worker"
REQUIREMENTS = ROOT / "requirements.txt"
WORKER_REQUIREMENTS = Path(__file__).resolve().with_name("requirements.txt")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, WORKER_REQUIREMENTS):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def python() -> Path:
    return WORKER_VENV / "bin" / "python"


def ensure() -> Path:
    """The worker environment's python, built first if it is missing or out of date (one builder at a time)."""
    WORKER_VENV.parent.mkdir(parents=True, exist_ok=True)
    stamp = WORKER_VENV / ".installed"
    with open(ROOT / ".venv-worker.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = _fingerprint()
        if stamp.is_file() and stamp.read_text() == wanted and python().exists():
            stamp.touch()  # up to date: tell make so
            return python()
        if not python().exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(WORKER_VENV)
        pip = [str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        subprocess.run([*pip, "--no-deps", "--ignore-requires-python", "-r", str(WORKER_REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    return python()


if __name__ == "__main__":
    print(ensure())
