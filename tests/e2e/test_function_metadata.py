"""The function app indexes as the Python worker indexes it: every function, binding names matching parameters."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

ACTIVITIES = {
    "discover_exchange",
    "discover_tenant",
    "create_auth_certificate",
    "assign_auth_certificate",
    "ensure_auth_server",
    "upload_tenant_key",
    "enable_push_proxy",
    "restart_health_manager",
    "run_probe",
    "record_onboarding",
}


def _index_as_the_worker_does() -> list:
    # The worker imports function_app in a fresh process and calls get_functions() once; a second call on the
    # same app object raises (duplicate names), and other tests in this process may already have indexed it.
    import function_app

    return function_app.app.get_functions()


def test_every_function_is_indexed_and_bindings_match_parameters() -> None:
    if "function_app" in sys.modules:
        # Index in a fresh interpreter instead, exactly once, and run this same check there.
        code = (
            f"import sys, json; sys.path.insert(0, {str(REPO)!r}); "
            "from tests.e2e.test_function_metadata import _check; _check(); print(json.dumps('ok'))"
        )
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1]) == "ok"
        return
    _check()


def _check() -> None:
    functions = _index_as_the_worker_does()
    by_name = {f.get_function_name(): f for f in functions}
    assert ACTIVITIES <= set(by_name)
    assert "onboarding" in by_name
    for name, fn in by_name.items():
        user_function = fn.get_user_function()
        params = set(inspect.signature(user_function).parameters)
        bindings = {b.name for b in fn.get_bindings() if b.name != "$return"}
        # The worker's load check: each binding names a parameter, each parameter has a binding.
        assert bindings == params, f"{name}: bindings {bindings} vs parameters {params}"
        assert len(fn.get_bindings()) >= 1
    for name in ACTIVITIES:
        (trigger,) = [b for b in by_name[name].get_bindings() if b.type == "activityTrigger"]
        assert trigger.name == "payload"
    (orchestration,) = by_name["onboarding"].get_bindings()
    assert orchestration.type == "orchestrationTrigger" and orchestration.name == "context"
    # The function.json the host would read is valid JSON for every function.
    for fn in functions:
        assert fn.get_function_json()
