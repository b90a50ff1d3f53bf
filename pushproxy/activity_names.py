"""Every activity's name, in one place: the plan's change kinds, the orchestrators' calls and the registrations
(functions/) all use these members. A StrEnum, so each member is its name as Durable sees it (plain JSON text)."""

from __future__ import annotations

from enum import StrEnum


class _Name(StrEnum):
    # Enum hashes a member by its Python name; a name must hash as its text, so that dict and set lookups with
    # the plain strings Durable hands back (change kinds, function names) find it.
    def __hash__(self) -> int:
        return str.__hash__(self)


class Activity(_Name):
    # Onboarding: discovery (read-only), then one activity per change kind of the plan, then verify and record.
    DISCOVER_EXCHANGE = "discover_exchange"
    DISCOVER_TENANT = "discover_tenant"
    CREATE_AUTH_CERTIFICATE = "create_auth_certificate"
    IMPORT_AUTH_CERTIFICATE = "import_auth_certificate"
    ASSIGN_AUTH_CERTIFICATE = "assign_auth_certificate"
    ENSURE_AUTH_SERVER = "ensure_auth_server"
    UPLOAD_TENANT_KEY = "upload_tenant_key"
    ENABLE_PUSH_PROXY = "enable_push_proxy"
    RESTART_HEALTH_MANAGER = "restart_health_manager"
    RUN_PROBE = "run_probe"
    RECORD_ONBOARDING = "record_onboarding"
    # Verification.
    LIST_FLEET = "list_fleet"
    VERIFY_TENANT = "verify_tenant"
    RECORD_VERIFICATION_SUMMARY = "record_verification_summary"
    START_REMEDIATION = "start_remediation"
    # Offboarding and pruning (key hygiene): what the registry says we made, then one activity per change kind.
    DISCOVER_OURS = "discover_ours"
    DISABLE_PUSH_PROXY = "disable_push_proxy"
    REMOVE_AUTH_SERVER = "remove_auth_server"
    REMOVE_TENANT_KEYS = "remove_tenant_keys"
    RECORD_OFFBOARDING = "record_offboarding"
    # The Auth certificate's renewal (rotation); it also calls discovery, import, upload, assign and the probe.
    READ_KEY_POLICY = "read_key_policy"
    CREATE_NEXT_CERTIFICATE = "create_next_certificate"
    REMOVE_CREATED_CERTIFICATE = "remove_created_certificate"
    STAGE_AUTH_CERTIFICATE = "stage_auth_certificate"
    PUBLISH_AUTH_CERTIFICATE = "publish_auth_certificate"
    RESTART_AUTH_SERVICES = "restart_auth_services"
    CLEAR_PREVIOUS_CERTIFICATE = "clear_previous_certificate"
    REMOVE_RETIRED_KEY = "remove_retired_key"
    RECORD_ROTATION = "record_rotation"
    # Notifications: raise an event (starts its deliveries), raise a verification's events, one delivery attempt.
    RAISE_NOTIFICATION = "raise_notification"
    RAISE_FLEET_NOTIFICATIONS = "raise_fleet_notifications"
    DELIVER_NOTIFICATION = "deliver_notification"


class Orchestrator(_Name):
    # A tenant runs at most one of ONBOARDING, ROTATION, OFFBOARDING, PRUNE at a time (pushproxy.tenant_workflows).
    ONBOARDING = "onboarding"
    ROTATION = "rotation"
    OFFBOARDING = "offboarding"
    PRUNE = "prune"  # removes our keys of expired certificates: it writes keyCredentials, so it excludes the others
    VERIFICATION = "verification"
    VERIFICATION_BATCH = "verification_batch"
    # One event to one channel, retried on durable timers (instance id notify-<event id>-<channel>).
    NOTIFICATION_DELIVERY = "notification_delivery"
