"""The directory behind the stand-in: tenants, their service principals and key credentials, applications.

The state is plain JSON (the shape `GET /_emulator/state` returns, documented in docs/interfaces.md). This
module owns Graph's semantics for keyCredentials: PATCH replaces the whole collection, a keyId re-sent with
changed data is refused, a key must be base64 of a DER certificate, and dates, displayName and
customKeyIdentifier default to what the certificate says.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from emulators.graph.defaults import default_state
from emulators.graph.replication import Replication, parse_lags_ms

MASK = "***"
KEY_TYPES = ("AsymmetricX509Cert", "X509CertAndPassword")
KEY_USAGES = ("Verify", "Sign")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class GraphError(Exception):
    """An error Graph would answer with: HTTP status, Graph code and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_dt(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise GraphError(
            400, "Request_BadRequest", f"Invalid value specified for property '{name}' of resource 'KeyCredential'."
        )
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(
            400, "Request_BadRequest", f"Invalid value specified for property '{name}' of resource 'KeyCredential'."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _same_value(name: str, sent: Any, held: Any) -> bool:
    """Whether a re-sent field equals the stored one: dates as instants (clients serialise offsets differently)."""
    if name in ("startDateTime", "endDateTime") and isinstance(sent, str) and isinstance(held, str):
        return _parse_dt(sent, name) == _parse_dt(held, name)
    return bool(sent == held)


def thumbprint_b64(der: bytes) -> str:
    """customKeyIdentifier's default: the SHA-1 thumbprint bytes, base64 as Graph returns them."""
    return base64.b64encode(hashlib.sha1(der, usedforsecurity=False).digest()).decode()


class Directory:
    """The whole emulated directory. Not thread-safe: the server runs on one event loop."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = default_state()
        self.replication = Replication()
        if state is not None:
            self.replace(state)

    # ------------------------------------------------------------------------------------------ state

    def snapshot(self, *, masked: bool = True) -> dict[str, Any]:
        """The state as JSON; application secrets masked unless `masked` is False."""
        out = copy.deepcopy(self.data)
        if masked:
            for app in out.get("applications", {}).values():
                if app.get("secret"):
                    app["secret"] = MASK
        return out

    def replace(self, state: dict[str, Any]) -> None:
        """Replace the state. A secret given as the mask keeps the current secret (so GET then PUT round-trips)."""
        if not isinstance(state, dict) or not isinstance(state.get("tenants"), dict):
            raise ValueError("state must be a JSON object with a 'tenants' object")
        new = copy.deepcopy(state)
        for tid, tenant in new["tenants"].items():
            if not isinstance(tenant, dict):
                raise ValueError(f"tenants.{tid} must be an object")
            tenant.setdefault("id", tid)
            tenant.setdefault("displayName", tid)
            tenant.setdefault("verifiedDomains", [])
            tenant.setdefault("servicePrincipals", [])
            tenant.setdefault("policies", {})
            tenant["policies"].setdefault("maxCertificateLifetimeDays", None)
            tenant["policies"].setdefault("locked", False)
            for sp in tenant["servicePrincipals"]:
                if not isinstance(sp, dict) or "appId" not in sp:
                    raise ValueError(f"tenants.{tid}.servicePrincipals: each needs an appId")
                sp.setdefault("id", str(uuid.uuid4()))
                sp.setdefault("displayName", sp["appId"])
                sp.setdefault("keyCredentials", [])
                # Admin consent to an application permission is an appRoleAssignment on the client's service
                # principal (Graph v1.0 servicePrincipal: list appRoleAssignments).
                sp.setdefault("appRoleAssignments", [])
                for grant in sp["appRoleAssignments"]:
                    if not isinstance(grant, dict) or "appRoleId" not in grant or "resourceId" not in grant:
                        raise ValueError(f"tenants.{tid}.servicePrincipals: each appRoleAssignment needs appRoleId and resourceId")
                    grant.setdefault("id", str(uuid.uuid4()))
                    grant.setdefault("principalId", sp["id"])
            # The tenant's own app registrations (GET/PATCH /applications): the dedicated Exchange hybrid app lives
            # here. Not `applications` at the top, which are the clients that sign in to the stand-in.
            tenant.setdefault("applications", [])
            for app in tenant["applications"]:
                if not isinstance(app, dict) or "appId" not in app:
                    raise ValueError(f"tenants.{tid}.applications: each needs an appId")
                app.setdefault("id", str(uuid.uuid4()))
                app.setdefault("displayName", app["appId"])
                app.setdefault("keyCredentials", [])
                app.setdefault("requiredResourceAccess", [])
                app.setdefault("owners", [])
        apps = new.setdefault("applications", {})
        if not isinstance(apps, dict):
            raise ValueError("applications must be an object")
        for cid, app in apps.items():
            if app.get("secret") == MASK:
                app["secret"] = self.data.get("applications", {}).get(cid, {}).get("secret")
            app.setdefault("roles", [])
            app.setdefault("tenants", "*")
            app.setdefault("certificates", [])
            app.setdefault("federatedCredentials", [])
        new.setdefault("managedIdentities", copy.deepcopy(default_state()["managedIdentities"]))
        new.setdefault("settings", {})
        new["settings"].setdefault("tokenLifetimeS", 3599)
        new["settings"].setdefault("replicationLagMs", [])
        lags = parse_lags_ms(new["settings"]["replicationLagMs"])
        self.data = new
        self.replication.configure(lags)  # an administrator's PUT: every replica shows the new state at once

    def set_replication_lag(self, lags_ms: Any) -> None:
        """Set the lag of each replica (milliseconds); pending writes become visible everywhere."""
        lags = parse_lags_ms(lags_ms)
        self.data["settings"]["replicationLagMs"] = [s * 1000 for s in lags]
        self.replication.configure(lags)

    def set_keys(self, sp: dict[str, Any], keys: list[dict[str, Any]]) -> None:
        """A write of keyCredentials on the primary; replicas show it after their lag."""
        before = sp["keyCredentials"]
        sp["keyCredentials"] = keys
        self.replication.written(sp["id"], before, keys)

    def read_keys(self, sp: dict[str, Any]) -> tuple[int | None, list[dict[str, Any]]]:
        """The keyCredentials one read sees: (replica, keys), possibly a replica that has not caught up."""
        return self.replication.read(sp)

    # ------------------------------------------------------------------------------------------ lookups

    def find_tenant(self, ref: str) -> dict[str, Any] | None:
        """A tenant by id or by any of its verified domains (as Entra accepts both in the authority)."""
        tenants: dict[str, Any] = self.data["tenants"]
        if ref in tenants:
            return tenants[ref]
        wanted = ref.lower()
        for tenant in tenants.values():
            if tenant["id"].lower() == wanted:
                return tenant
            if any(d.get("name", "").lower() == wanted for d in tenant["verifiedDomains"]):
                return tenant
        return None

    def application(self, client_id: str) -> dict[str, Any] | None:
        app = self.data.get("applications", {}).get(client_id)
        return app if isinstance(app, dict) else None

    def app_in_tenant(self, app: dict[str, Any], tenant_id: str) -> bool:
        tenants = app.get("tenants", "*")
        return tenants == "*" or tenant_id in tenants

    def managed_identity(self, client_id: str | None) -> tuple[str, dict[str, Any]] | None:
        identities: dict[str, Any] = self.data.get("managedIdentities", {})
        if client_id:
            mi = identities.get(client_id)
            return (client_id, mi) if mi else None
        for cid, mi in identities.items():
            if mi.get("default"):
                return cid, mi
        return None

    def service_principal(
        self, tenant: dict[str, Any], *, sp_id: str | None = None, app_id: str | None = None
    ) -> dict[str, Any]:
        for sp in tenant["servicePrincipals"]:
            if (sp_id is not None and sp["id"].lower() == sp_id.lower()) or (
                app_id is not None and sp["appId"].lower() == app_id.lower()
            ):
                return sp
        what = f"appId '{app_id}'" if app_id is not None else f"'{sp_id}'"
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource {what} does not exist or one of its queried reference-property objects are not present.",
        )

    def tenant_application(self, tenant: dict[str, Any], object_id: str) -> dict[str, Any]:
        """One of the tenant's app registrations by object id (404 as Graph answers it)."""
        for app in tenant.get("applications", []):
            if app["id"].lower() == object_id.lower():
                return app
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
        )

    # ------------------------------------------------------------------------------------------ writes

    def patch_service_principal(self, tenant: dict[str, Any], sp: dict[str, Any], body: Any, *, now: datetime) -> None:
        """Apply a PATCH body to a service principal or an application, with Graph's rules (the same for both:
        PATCH replaces the whole keyCredentials collection). Only keyCredentials is writable here."""
        if not isinstance(body, dict):
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            )
        for name in body:
            if name not in ("keyCredentials", "@odata.type"):
                raise GraphError(
                    400, "Request_BadRequest", f"Property '{name}' is read-only in this emulator and cannot be set."
                )
        if "keyCredentials" not in body:
            return
        new_keys = self._validate_key_credentials(tenant, sp, body["keyCredentials"], now=now)
        self.set_keys(sp, new_keys)  # PATCH replaces the whole collection: anything left out is gone

    def _validate_key_credentials(
        self, tenant: dict[str, Any], sp: dict[str, Any], keys: Any, *, now: datetime
    ) -> list[dict[str, Any]]:
        if not isinstance(keys, list):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'keyCredentials' of resource 'ServicePrincipal'.",
            )
        policies = tenant.get("policies", {})
        existing = {k["keyId"]: k for k in sp["keyCredentials"]}
        existing_thumbs = {thumbprint_b64(base64.b64decode(k["key"])) for k in sp["keyCredentials"] if k.get("key")}
        result: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        for raw in keys:
            key = self._normalize_key(raw)
            key_id = key.get("keyId")
            if key_id is not None and key_id in existing:
                old = existing[key_id]
                # Graph compares what was sent with what it holds; any difference is an update, which it refuses.
                for name in (
                    "key",
                    "type",
                    "usage",
                    "customKeyIdentifier",
                    "displayName",
                    "startDateTime",
                    "endDateTime",
                ):
                    if name in key and not _same_value(name, key[name], old.get(name)):
                        raise GraphError(
                            400,
                            "Request_BadRequest",
                            f"Update to existing credential with KeyId '{key_id}' is not allowed.",
                        )
                key = copy.deepcopy(old)
            else:
                key = self._complete_new_key(key)
                is_new_cert = key["customKeyIdentifierThumb"] not in existing_thumbs
                key.pop("customKeyIdentifierThumb")
                if is_new_cert:
                    self._check_policies(policies, key)
            if key["keyId"] in seen_ids:
                raise GraphError(400, "Request_BadRequest", f"Duplicate keyId '{key['keyId']}' in keyCredentials.")
            seen_ids.add(key["keyId"])
            result.append(key)
        if policies.get("locked") and self._fingerprint(result) != self._fingerprint(sp["keyCredentials"]):
            raise GraphError(
                400,
                "CannotUpdateLockedServicePrincipalProperty",
                "Property keyCredentials is locked for this service principal (servicePrincipalLockConfiguration) and cannot be updated.",
            )
        return result

    @staticmethod
    def _fingerprint(keys: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return sorted((k.get("key") or "", k.get("type") or "", k.get("usage") or "") for k in keys)

    @staticmethod
    def _normalize_key(raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'keyCredentials' of resource 'ServicePrincipal'.",
            )
        key = {k: v for k, v in raw.items() if v is not None and not k.startswith("@odata")}
        key_id = key.get("keyId")
        if key_id is not None and (not isinstance(key_id, str) or not _GUID.match(key_id)):
            raise GraphError(
                400, "Request_BadRequest", "Invalid value specified for property 'keyId' of resource 'KeyCredential'."
            )
        if key_id is not None:
            key["keyId"] = key_id.lower()
        value = key.get("key")
        if not isinstance(value, str):
            raise GraphError(
                400, "Request_BadRequest", "Invalid value specified for property 'key' of resource 'KeyCredential'."
            )
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(
                400, "Request_BadRequest", "Invalid value specified for property 'key' of resource 'KeyCredential'."
            ) from None
        if key.get("type") not in KEY_TYPES:
            raise GraphError(
                400, "Request_BadRequest", "Invalid value specified for property 'type' of resource 'KeyCredential'."
            )
        if key.get("usage") not in KEY_USAGES:
            raise GraphError(
                400, "Request_BadRequest", "Invalid value specified for property 'usage' of resource 'KeyCredential'."
            )
        return key

    @staticmethod
    def _complete_new_key(key: dict[str, Any]) -> dict[str, Any]:
        der = base64.b64decode(key["key"])
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise GraphError(
                400, "Request_BadRequest", "Invalid certificate: Key value is invalid certificate"
            ) from None
        not_before = cert.not_valid_before_utc
        not_after = cert.not_valid_after_utc
        start = _parse_dt(key["startDateTime"], "startDateTime") if "startDateTime" in key else not_before
        end = _parse_dt(key["endDateTime"], "endDateTime") if "endDateTime" in key else not_after
        # A second of slack: clients round validity dates to whole seconds.
        if start >= end or (start - not_before).total_seconds() < -1 or (end - not_after).total_seconds() > 1:
            raise GraphError(
                400,
                "Request_BadRequest",
                "Key credential end date is invalid: the key's dates must lie within the certificate's validity.",
            )
        display_name = key.get("displayName", cert.subject.rfc4514_string())
        if not isinstance(display_name, str) or len(display_name) > 90:
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'displayName' of resource 'KeyCredential'.",
            )
        custom = key.get("customKeyIdentifier", thumbprint_b64(der))
        try:
            base64.b64decode(custom, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise GraphError(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'customKeyIdentifier' of resource 'KeyCredential'.",
            ) from None
        return {
            "keyId": key.get("keyId") or str(uuid.uuid4()),
            "customKeyIdentifier": custom,
            "displayName": display_name,
            "type": key["type"],
            "usage": key["usage"],
            "key": key["key"],
            "startDateTime": _iso(start),
            "endDateTime": _iso(end),
            "customKeyIdentifierThumb": thumbprint_b64(der),
        }

    @staticmethod
    def _check_policies(policies: dict[str, Any], key: dict[str, Any]) -> None:
        max_days = policies.get("maxCertificateLifetimeDays")
        if max_days is None:
            return
        lifetime = _parse_dt(key["endDateTime"], "endDateTime") - _parse_dt(key["startDateTime"], "startDateTime")
        if lifetime.total_seconds() > float(max_days) * 86400:
            raise GraphError(
                400,
                "CredentialInvalidLifetimeAsPerAppPolicy",
                f"Credential lifetime exceeds the max value allowed as per assigned policy (keyCredentialConfiguration "
                f"asymmetricKeyLifetime maxLifetime P{max_days}D).",
            )


def render_key(key: dict[str, Any], *, with_key: bool) -> dict[str, Any]:
    """A key credential as Graph returns it; `key` is null unless the caller selected keyCredentials on one object."""
    return {
        "customKeyIdentifier": key.get("customKeyIdentifier"),
        "displayName": key.get("displayName"),
        "endDateTime": key.get("endDateTime"),
        "key": key.get("key") if with_key else None,
        "keyId": key.get("keyId"),
        "startDateTime": key.get("startDateTime"),
        "type": key.get("type"),
        "usage": key.get("usage"),
    }
