"""What importing a module loads, in a fresh interpreter: the pure core none of the client libraries, the app's
entry point none of them either (the worker imports it at every start; only activities need the clients)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT_LIBRARIES = ("pypsrp", "requests", "spnego", "msgraph", "azure.identity", "kiota_abstractions")
CORE = ("pushproxy.spec", "pushproxy.plan", "pushproxy.certs", "pushproxy.builds", "pushproxy.verification",
        "pushproxy.outcome", "pushproxy.workflow", "pushproxy.onboarding.progress", "pushproxy.onboarding.payloads",
        "orchestrators.onboarding", "orchestrators.verification")


def loaded_after(*modules: str) -> list[str]:
    code = (f"import json, sys, {', '.join(modules)}; "
            f"print(json.dumps(sorted(m for m in {CLIENT_LIBRARIES!r} if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_pure_core_and_the_orchestrators_load_no_client_library() -> None:
    assert loaded_after(*CORE) == []  # none of them, so none of each


def test_the_entry_point_loads_no_client_library() -> None:
    assert loaded_after("function_app") == []


def test_the_adapters_load_their_libraries_when_used() -> None:
    code = ("import json, sys; from pushproxy import exchange; exchange.ExchangeSession; "
            "print(json.dumps('pypsrp' in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) is True
