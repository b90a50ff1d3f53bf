"""The function app indexes as the Python worker indexes it: every function, binding names matching parameters."""

from __future__ import annotations

import inspect

import function_app

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


def test_every_function_is_indexed_and_bindings_match_parameters() -> None:
    functions = function_app.app.get_functions()
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
