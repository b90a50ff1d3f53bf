"""What every function of the app must register as, in Azure: trigger type, route, methods, auth level, and the
other bindings it declares (durableClient where it starts or reads instances)."""

from __future__ import annotations

from typing import Any

F = "FUNCTION"


def _http(route: str, method: str, client: bool, auth: str = F) -> dict[str, Any]:
    return {"trigger": "httpTrigger", "route": route, "methods": [method], "authLevel": auth,
            "others": ["durableClient", "http"] if client else ["http"]}


def _activity(client: bool = False) -> dict[str, Any]:
    return {"trigger": "activityTrigger", "others": ["durableClient"] if client else []}


EXPECTED: dict[str, dict[str, Any]] = {
    "start_onboarding": _http("tenants/{tenant}/onboarding", "POST", True),
    "get_onboarding": _http("onboardings/{id}", "GET", True),
    "approve_onboarding": _http("onboardings/{id}/approval", "POST", True),
    "list_tenants": _http("tenants", "GET", False),
    "get_tenant": _http("tenants/{tenant}", "GET", False),
    "register_tenant": _http("tenants/{tenant}", "PUT", False),
    "list_onboardings": _http("onboardings", "GET", True),
    # The lowest-precedence catch-all: unknown routes answer in the API's error shape.
    "unknown_route": {"trigger": "httpTrigger", "route": "{*path}", "methods": ["GET", "POST", "PUT", "DELETE", "PATCH"],
                      "authLevel": "ANONYMOUS", "others": ["http"]},
    "start_verification_request": _http("verifications", "POST", True),
    "get_verification": _http("verifications/{id}", "GET", True),
    "list_verification_runs": _http("verifications", "GET", True),
    "start_rotation": _http("tenants/{tenant}/rotation", "POST", True),
    "get_rotation": _http("rotations/{id}", "GET", True),
    "approve_rotation": _http("rotations/{id}/approval", "POST", True),
    "openapi": _http("openapi.json", "GET", False, "ANONYMOUS"),
    # The approval console: anonymous at the Functions level (a browser has no function key); App Service
    # authentication in front, and the roles checked by the app (functions/console.py).
    "console_home": _http("console", "GET", True, "ANONYMOUS"),
    "console_workflow": _http("console/workflows/{id}", "GET", True, "ANONYMOUS"),
    "console_decision": _http("console/workflows/{id}/decision", "POST", True, "ANONYMOUS"),
    "console_static": _http("console/static/{name}", "GET", False, "ANONYMOUS"),
    "start_offboarding": _http("tenants/{tenant}/offboarding", "POST", True),
    "start_prune": _http("tenants/{tenant}/prune", "POST", True),
    "get_offboarding": _http("offboardings/{id}", "GET", True),
    "approve_offboarding": _http("offboardings/{id}/approval", "POST", True),
    "list_notifications": _http("notifications", "GET", False),
    "verification_timer": {"trigger": "timerTrigger", "schedule": "%PUSHPROXY_VERIFY_SCHEDULE%",
                           "others": ["durableClient"]},
    **{name: _activity() for name in (
        "discover_exchange", "discover_tenant", "create_auth_certificate", "import_auth_certificate",
        "assign_auth_certificate",
        "ensure_auth_server", "upload_tenant_key", "enable_push_proxy", "restart_health_manager", "run_probe",
        "record_onboarding", "list_fleet", "verify_tenant", "record_verification_summary",
        "discover_ours", "disable_push_proxy", "remove_auth_server", "remove_tenant_keys", "record_offboarding",
        "read_key_policy", "create_next_certificate", "remove_created_certificate", "stage_auth_certificate", "publish_auth_certificate",
        "restart_auth_services",
        "clear_previous_certificate", "remove_retired_key", "record_rotation")},
    "start_remediation": _activity(client=True),
    "raise_notification": _activity(client=True),
    "raise_fleet_notifications": _activity(client=True),
    "deliver_notification": _activity(),
    "notification_delivery": {"trigger": "orchestrationTrigger", "others": []},
    "onboarding": {"trigger": "orchestrationTrigger", "others": []},
    "offboarding": {"trigger": "orchestrationTrigger", "others": []},
    "prune": {"trigger": "orchestrationTrigger", "others": []},
    "verification": {"trigger": "orchestrationTrigger", "others": []},
    "verification_batch": {"trigger": "orchestrationTrigger", "others": []},
    "rotation": {"trigger": "orchestrationTrigger", "others": []},
}


def shape(raw_bindings: list[dict[str, Any]]) -> dict[str, Any]:
    """The part of a function's raw bindings EXPECTED speaks of."""
    (trigger,) = [b for b in raw_bindings if b["type"].endswith("Trigger")]
    found: dict[str, Any] = {"trigger": trigger["type"],
                             "others": sorted(b["type"] for b in raw_bindings if b is not trigger)}
    for key in ("route", "methods", "authLevel", "schedule"):
        if key in trigger:
            found[key] = trigger[key]
    return found
