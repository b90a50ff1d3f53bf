"""TenantClient: the Graph operations the workflow needs on one tenant, through msgraph-sdk.

keyCredentials has no conditional write (no ETag/If-Match on a servicePrincipal), PATCH replaces the whole
collection, and Entra is eventually consistent: a read may come from a replica that has not seen a recent write,
ours or someone else's. What we do:
1. Every write is planned from reads made in the same call, just before it: never from the discovery snapshot,
   which may be days old by the time someone approves. We read until two consecutive reads agree (bounded by
   `consistency_wait_s`) and plan from the union of every read of the call: a key any read showed is kept, only
   the key we remove is left out. All the keys a run adds go in one PATCH.
2. After the PATCH we read back, and while a read lacks something we sent we wait and read again (doubling from
   `consistency_delay_s`, bounded by `consistency_wait_s`): a stale replica is not taken for another writer.
   Keys we didn't send are someone else's write that landed after ours: kept.
3. If something we sent is still missing when the bound passes, another writer with an older view overwrote us.
   We plan again from the union of everything read (so nothing anyone had is dropped) and write again, up to
   `max_write_rounds`; then TenantError "ConcurrentKeyChange" (transient: the activity's retry policy runs the
   whole idempotent step again later).
The rule's cost: a key another writer removed while our reads disagreed (seconds) is written back once, because
a removal and a not-yet-replicated addition look the same to a reader. We never carry a key from one call to the
next, so this cannot loop, and we never re-add the key we are removing.
What no client can see: a key added by someone else between our last read's replica catching up and our PATCH
is deleted by our PATCH and leaves no trace in the collection. Only that writer's own verification (or the
tenant's audit log) shows it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.applications.item.application_item_request_builder import ApplicationItemRequestBuilder
from msgraph.generated.models.application import Application as GraphApplication
from msgraph.generated.models.key_credential import KeyCredential
from msgraph.generated.models.organization import Organization
from msgraph.generated.models.service_principal import ServicePrincipal as GraphServicePrincipal
from msgraph.generated.organization.organization_request_builder import OrganizationRequestBuilder
from msgraph.generated.service_principals_with_app_id.service_principals_with_app_id_request_builder import (
    ServicePrincipalsWithAppIdRequestBuilder,
)

from pushproxy.errors import SpecError, TenantError
from pushproxy.tenant.credentials import GraphCredential, build_credential
from pushproxy.tenant.failures import tenant_error_from_exception
from pushproxy.tenant.graph import GRAPH_SCOPE, build_graph_client
from pushproxy.tenant.keys import (
    KeyToSend,
    certificate_facts,
    describe,
    key_info_thumbprint,
    plan_add,
    plan_remove,
    plan_remove_many,
    same_collection,
    union_of_reads,
)
from pushproxy.tenant.models import (
    EXCHANGE_ONLINE_APP_ID,
    FULL_ACCESS_AS_APP_ROLE_ID,
    SHARED_PRINCIPAL,
    GraphCredentialSpec,
    HybridApplication,
    KeyChange,
    KeyCredentialInfo,
    KeyTarget,
    ServicePrincipal,
    TenantFacts,
    normalize_thumbprint,
)

T = TypeVar("T")
log = logging.getLogger(__name__)
# What Entra accepts in an authority path (azure-identity checks the same characters).
_TENANT = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$")
# An appId goes into an OData filter: only what an application id can hold (no quote can close the literal).
_CLIENT_ID_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SP_SELECT = ["id", "appId", "displayName", "keyCredentials"]
APP_SELECT = ["id", "appId", "displayName", "keyCredentials", "requiredResourceAccess"]


class TenantClient:
    """Async client for one tenant. Use `async with TenantClient(spec, tenant_id) as c:` or call `close()`."""

    def __init__(
        self,
        credential_spec: GraphCredentialSpec,
        tenant_id: str,
        *,
        max_retries: int = 5,
        max_retry_wait_s: float = 60.0,
        max_write_rounds: int = 3,
        consistency_wait_s: float = 10.0,
        consistency_delay_s: float = 0.2,
        backoff_base_s: float = 1.0,
        timeout_s: float = 30.0,
        landing_wait_s: float | None = None,
    ) -> None:
        if not isinstance(tenant_id, str) or not _TENANT.match(tenant_id):
            raise SpecError("tenant_id", "must be the tenant's id (a GUID) or one of its domain names")
        if not isinstance(credential_spec, GraphCredentialSpec):
            credential_spec = GraphCredentialSpec.from_dict(credential_spec)
        self.spec = credential_spec
        self.tenant_id = tenant_id
        self.max_write_rounds = max_write_rounds
        self.consistency_wait_s = consistency_wait_s
        self.consistency_delay_s = consistency_delay_s
        # How long a PATCH whose answer was lost (timeout, dropped connection) may take to show in reads.
        self.landing_wait_s = landing_wait_s if landing_wait_s is not None else min(120.0, max(consistency_wait_s, 2 * timeout_s))
        self.graph_requests = 0  # Graph calls made (reads and writes), for reports and benchmarks
        self._credential: GraphCredential = build_credential(credential_spec, tenant_id)
        self._graph, self._http = build_graph_client(
            self._credential.credential,
            credential_spec.graph_url,
            ca_bundle=credential_spec.ca_bundle,
            max_retries=max_retries,
            max_total_wait_s=max_retry_wait_s,
            backoff_base_s=backoff_base_s,
            timeout_s=timeout_s,
        )

    def __repr__(self) -> str:
        return f"TenantClient(tenant={self.tenant_id!r}, client_id={self.spec.client_id!r}, mode={self.spec.mode!r})"

    async def __aenter__(self) -> TenantClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()
        await self._credential.close()

    # ------------------------------------------------------------------------------------------ calls

    async def _call(self, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one Graph call; translate every failure into TenantError."""
        try:
            await self._credential.prepare()
            if operation != "token":
                self.graph_requests += 1
            return await fn()
        except Exception as exc:
            translated = tenant_error_from_exception(
                exc, operation=operation, tenant=self.tenant_id, client_id=self.spec.client_id
            )
            if translated is None:
                raise
            if translated is exc:
                raise
            raise translated from None  # the original may carry response bodies; the translation is enough

    async def key_lifetime_limit_days(self) -> int | None:
        """The tenant's key-credential lifetime limit for service principals (GET policies/
        defaultAppManagementPolicy, servicePrincipalRestrictions.keyCredentials asymmetricKeyLifetime), in whole
        days; None when the policy is off or sets none. Needs Policy.Read.All (TenantError 403 without it)."""

        async def read() -> int | None:
            policy = await self._graph.policies.default_app_management_policy.get()
            if policy is None or not getattr(policy, "is_enabled", False):
                return None
            limits: list[int] = []
            for scope in (policy.service_principal_restrictions, policy.application_restrictions):
                for rule in (getattr(scope, "key_credentials", None) or []):
                    kind = str(getattr(getattr(rule, "restriction_type", None), "value", rule.restriction_type) or "")
                    if kind == "asymmetricKeyLifetime" and rule.max_lifetime is not None:
                        limits.append(int(rule.max_lifetime.total_seconds() // 86400))
                if limits:
                    break  # servicePrincipalRestrictions apply to a service principal; the application's otherwise
            return min(limits) if limits else None

        return await self._call("read_key_policy", read)

    async def granted_roles(self) -> tuple[str, ...]:
        """The application permissions in our access token (its `roles` claim), to report a missing grant early."""

        async def read() -> tuple[str, ...]:
            # enable_cae: the same cached token the Graph calls use (kiota asks for CAE tokens).
            token = await self._credential.credential.get_token(GRAPH_SCOPE, enable_cae=True)
            try:
                payload = token.token.split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            except (IndexError, ValueError):
                return ()
            roles = claims.get("roles") or []
            return tuple(str(r) for r in roles) if isinstance(roles, list) else ()

        return await self._call("token", read)

    # ------------------------------------------------------------------------------------------ reads

    async def get_tenant_facts(self) -> TenantFacts:
        """Organisation id, display name and verified domains (`GET /organization`)."""
        query = OrganizationRequestBuilder.OrganizationRequestBuilderGetQueryParameters(
            select=["id", "displayName", "verifiedDomains"]
        )
        config = RequestConfiguration(query_parameters=query)
        result = await self._call(
            "GET /organization", lambda: self._graph.organization.get(request_configuration=config)
        )
        orgs: list[Organization] = list(result.value or []) if result else []
        if not orgs:
            raise TenantError("GET /organization returned no organisation", code="NoOrganization")
        org = orgs[0]
        domains = [d for d in (org.verified_domains or []) if d.name]
        default = next((d.name for d in domains if d.is_default), None)
        initial = next((d.name for d in domains if d.is_initial), None)
        return TenantFacts(
            tenant_id=str(org.id),
            display_name=org.display_name or "",
            verified_domains=tuple(str(d.name) for d in domains),
            default_domain=default,
            initial_domain=initial,
        )

    async def get_exchange_service_principal(self) -> ServicePrincipal | None:
        """The Exchange Online service principal with its keys (bytes included), or None when the tenant has none."""
        return await self.get_service_principal(EXCHANGE_ONLINE_APP_ID)

    async def get_service_principal(self, app_id: str) -> ServicePrincipal | None:
        # Key bytes come back only on a single-object GET that selects keyCredentials.
        query = ServicePrincipalsWithAppIdRequestBuilder.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters(
            select=SP_SELECT
        )
        config = RequestConfiguration(query_parameters=query)
        builder = self._graph.service_principals_with_app_id(app_id)
        try:
            sp = await self._call(
                f"GET /servicePrincipals(appId='{app_id}')", lambda: builder.get(request_configuration=config)
            )
        except TenantError as exc:
            if exc.status == 404:
                return None
            raise
        return _service_principal(sp) if sp is not None else None

    async def _find_application(self, app_id: str) -> GraphApplication | None:
        """The application with this appId (`GET /applications?$filter=appId eq '…'`, then by id with
        keyCredentials selected: as for a service principal, a collection never carries the key bytes)."""
        if not _CLIENT_ID_SAFE.fullmatch(app_id):
            raise SpecError("app_id", "must be an application (client) id")
        query = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{app_id}'", select=["id", "appId"]
        )
        found = await self._call(
            f"GET /applications?$filter=appId eq '{app_id}'",
            lambda: self._graph.applications.get(request_configuration=RequestConfiguration(query_parameters=query)),
        )
        listed = [a for a in (found.value or []) if a.id] if found else []
        if not listed:
            return None
        item = ApplicationItemRequestBuilder.ApplicationItemRequestBuilderGetQueryParameters(select=APP_SELECT)
        builder = self._graph.applications.by_application_id(str(listed[0].id))
        try:
            return await self._call(
                f"GET /applications/{listed[0].id}",
                lambda: builder.get(request_configuration=RequestConfiguration(query_parameters=item)),
            )
        except TenantError as exc:
            if exc.status == 404:  # deleted between the two reads
                return None
            raise

    async def get_application(self, app_id: str) -> ServicePrincipal | None:
        """The application with this appId as a keyCredentials holder (its object id and keys), or None."""
        app = await self._find_application(app_id)
        return _key_holder(app) if app is not None else None

    async def get_hybrid_application(self, app_id: str) -> HybridApplication:
        """The dedicated Exchange hybrid application with this appId: its keys, whether it asks for
        full_access_as_app on Exchange Online, and whether admin consent was granted (its service principal holds
        that appRoleAssignment), as CSS-Exchange's Test-AzureApplicationPermission.ps1 checks."""
        app = await self._find_application(app_id)
        if app is None:
            return HybridApplication(app_id=app_id, found=False)
        holder = _key_holder(app)
        permission = any(
            (r.resource_app_id or "").lower() == EXCHANGE_ONLINE_APP_ID
            and any(str(a.id).lower() == FULL_ACCESS_AS_APP_ROLE_ID and (a.type or "") == "Role" for a in r.resource_access or [])
            for r in app.required_resource_access or []
        )
        consent = False
        sp = await self.get_service_principal(app_id)
        if sp is not None:
            builder = self._graph.service_principals.by_service_principal_id(sp.id).app_role_assignments
            granted = await self._call(f"GET /servicePrincipals/{sp.id}/appRoleAssignments", lambda: builder.get())
            consent = any(
                str(a.app_role_id).lower() == FULL_ACCESS_AS_APP_ROLE_ID and str(a.principal_id).lower() == sp.id.lower()
                for a in (granted.value or [] if granted else [])
            )
        return HybridApplication(
            app_id=app_id, found=True, id=holder.id, display_name=holder.display_name,
            key_credentials=holder.key_credentials, permission=permission, admin_consent=consent,
        )

    # ------------------------------------------------------------------------------------------ writes

    async def add_certificate_key(self, cert_der: bytes, target: KeyTarget = SHARED_PRINCIPAL) -> KeyChange:
        """Put one certificate's public key on the Exchange Online service principal (see `add_certificate_keys`)."""
        return await self.add_certificate_keys([cert_der], target)

    async def add_certificate_keys(self, cert_ders: Sequence[bytes], target: KeyTarget = SHARED_PRINCIPAL) -> KeyChange:
        """Put the certificates' public keys on `target` (the Exchange Online service principal, or a dedicated
        hybrid application) in one PATCH, keeping every other key as it is. Idempotent by thumbprint: when every
        key is already there nothing is written ("none")."""
        if isinstance(cert_ders, bytes | bytearray) or not cert_ders:
            raise SpecError("cert_ders", "must be a non-empty list of certificates' DER bytes")
        certs = [certificate_facts(der) for der in cert_ders]
        thumbprints = tuple(dict.fromkeys(c.thumbprint for c in certs))
        return await self._converge(
            thumbprints,
            action="added",
            plan=lambda keys: plan_add(keys, certs),
            done=lambda thumbs: all(t in thumbs for t in thumbprints),
            adding=True,
            target=target,
        )

    async def remove_key(self, thumbprint: str, target: KeyTarget = SHARED_PRINCIPAL) -> KeyChange:
        """Remove the key with this thumbprint from `target`, keeping every other key."""
        wanted = normalize_thumbprint(thumbprint)
        return await self._converge(
            (wanted,),
            action="removed",
            plan=lambda keys: plan_remove(keys, wanted),
            done=lambda thumbs: wanted not in thumbs,
            adding=False,
            target=target,
        )

    async def remove_keys(self, thumbprints: Sequence[str], target: KeyTarget = SHARED_PRINCIPAL) -> KeyChange:
        """Remove every key with one of these thumbprints from `target` in one PATCH,
        keeping every other key exactly as read. Idempotent: when none is there nothing is written ("none")."""
        if isinstance(thumbprints, str) or not thumbprints:
            raise SpecError("thumbprints", "must be a non-empty list of certificate thumbprints")
        wanted = tuple(dict.fromkeys(normalize_thumbprint(t) for t in thumbprints))
        return await self._converge(
            wanted,
            action="removed",
            plan=lambda keys: plan_remove_many(keys, wanted),
            done=lambda thumbs: not any(t in thumbs for t in wanted),
            adding=False,
            target=target,
        )

    async def _converge(
        self,
        thumbprints: tuple[str, ...],
        *,
        action: str,
        plan: Callable[[tuple[KeyCredentialInfo, ...]], list[KeyToSend] | None],
        done: Callable[[set[str]], bool],
        adding: bool,
        target: KeyTarget = SHARED_PRINCIPAL,
    ) -> KeyChange:
        """One key change on one collection. The service principal's and an application's keyCredentials obey the
        same rules (PATCH replaces the collection, no ETag, eventually consistent reads), so one loop serves both."""
        first = await self._require_holder(target)
        reads: list[tuple[KeyCredentialInfo, ...]] = [first.key_credentials]
        keys_before = len(first.key_credentials)

        def change(sp: ServicePrincipal, act: str, **kw: Any) -> KeyChange:
            return KeyChange(
                action=act,  # type: ignore[arg-type]
                thumbprint=thumbprints[0],
                thumbprints=thumbprints,
                service_principal_id=sp.id,
                key_id=_key_id_of(sp, thumbprints[0]) if adding else None,
                keys_before=keys_before,
                keys_after=len(sp.key_credentials),
                target=target,
                **kw,
            )

        # A read may come from a replica that is behind: read until two consecutive reads agree (bounded). Even
        # "nothing to do" is decided only then: a stale replica may still show a key that was just removed.
        sp = first
        waited, delay = 0.0, self.consistency_delay_s
        while waited < self.consistency_wait_s:
            await asyncio.sleep(delay)
            waited += delay
            delay *= 2
            sp = await self._require_holder(target)
            reads.append(sp.key_credentials)
            if same_collection(reads[-1], reads[-2]):
                break
        concurrent: list[str] = []
        writes = 0
        for _round in range(self.max_write_rounds):
            # Others' keys: every read's (never drop one). Ours: only as the newest read shows them, since an
            # older read showing our key proves nothing about now (an overwrite may have come after it).
            others = [k for k in union_of_reads(reads) if k.thumbprint not in thumbprints]
            body = plan((*others, *(k for k in reads[-1] if k.thumbprint in thumbprints)))
            if body is None:
                if not writes:  # already in the wanted state: no write
                    kept = tuple(t for t in describe(sp.key_credentials) if t not in thumbprints)
                    return change(sp, "none", kept=kept)
                # Later rounds: someone (or our first write, seen late) did it for us.
                return change(sp, action, concurrent_changes=tuple(concurrent), writes=writes)
            sent = {k.thumbprint for k in body}
            try:
                await self._patch_keys(target, sp.id, body)
            except TenantError as exc:
                # The answer was lost, not necessarily the write: Graph may still apply it. Look for it before
                # writing again (a slow PATCH sent twice is the issue 14 case). An answer (429, 503) says it wasn't.
                if exc.code not in ("Timeout", "ConnectionFailed"):
                    raise
                wait = self.landing_wait_s if exc.code == "Timeout" else min(self.landing_wait_s, 5.0)
                if not await self._landed(target, sent, reads, wait):
                    raise
            writes += 1
            # An audit line: which keys we wrote (public thumbprints only), so a key change is always traceable.
            log.info(
                "tenant %s: keyCredentials of %s %s written (%s %s; sent %s)",
                self.tenant_id,
                "service principal" if target.kind == "servicePrincipal" else "application",
                sp.id,
                action,
                ", ".join(thumbprints),
                ", ".join(k.thumbprint for k in body),
            )
            after, present = await self._read_back(target, sent, done, reads)
            missing = sent - present
            extra = present - sent
            concurrent.extend(t for t in sorted(missing | extra) if t not in concurrent)
            if not missing and done(present):
                return change(
                    after,
                    action,
                    kept=tuple(k.thumbprint for k in body if k.thumbprint not in thumbprints),
                    concurrent_changes=tuple(concurrent),
                    writes=writes,
                )
            sp = after  # someone overwrote part of our write: plan again from everything read
        raise TenantError(
            f"keyCredentials of {target.label} kept changing under us after {self.max_write_rounds} "
            f"writes (keys that came and went: {', '.join(concurrent)}); another tool is writing them at the same time",
            code="ConcurrentKeyChange",
            transient=True,
        )

    async def _read_back(
        self, target: KeyTarget, sent: set[str], done: Callable[[set[str]], bool],
        reads: list[tuple[KeyCredentialInfo, ...]],
    ) -> tuple[ServicePrincipal, set[str]]:
        """Read after our PATCH until two consecutive reads agree and show what we sent, waiting for replicas up to
        the bound. One good read is not enough: a replica that is behind may show our write without a later one
        that overwrote it."""
        waited, delay = 0.0, self.consistency_delay_s
        previous: tuple[KeyCredentialInfo, ...] | None = None
        while True:
            after = await self._require_holder(target)
            reads.append(after.key_credentials)
            present = {k.thumbprint for k in after.key_credentials if k.thumbprint}
            good = sent <= present and done(present)
            if (good and previous is not None and same_collection(previous, after.key_credentials)) or (
                waited >= self.consistency_wait_s
            ):
                return after, present
            previous = after.key_credentials
            await asyncio.sleep(delay)
            waited += delay
            delay *= 2

    async def _landed(
        self, target: KeyTarget, sent: set[str], reads: list[tuple[KeyCredentialInfo, ...]], wait_s: float
    ) -> bool:
        """Whether a write whose answer was lost shows in reads within `wait_s` (every key it sent)."""
        waited, delay = 0.0, self.consistency_delay_s
        while True:
            try:
                sp = await self._require_holder(target)
            except TenantError as exc:
                if not exc.transient:
                    raise
            else:
                reads.append(sp.key_credentials)
                if sent <= {k.thumbprint for k in sp.key_credentials if k.thumbprint}:
                    log.info("tenant %s: a keyCredentials write whose answer was lost has landed; not sending it again",
                             self.tenant_id)
                    return True
            if waited >= wait_s:
                return False
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 1.0)

    async def _require_holder(self, target: KeyTarget) -> ServicePrincipal:
        if target.kind == "application":
            app = await self.get_application(target.app_id)
            if app is None:
                raise TenantError(
                    f"the tenant has no application with appId {target.app_id} (the dedicated Exchange hybrid "
                    "application Exchange's AuthServer names): it was deleted, or the AuthServer names the wrong one",
                    code="NoHybridApplication",
                )
            return app
        if target.app_id != EXCHANGE_ONLINE_APP_ID:
            found = await self.get_service_principal(target.app_id)
            if found is None:
                raise TenantError(f"the tenant has no service principal with appId {target.app_id}",
                                  code="NoServicePrincipal")
            return found
        return await self._require_exchange_sp()

    async def _require_exchange_sp(self) -> ServicePrincipal:
        sp = await self.get_exchange_service_principal()
        if sp is None:
            raise TenantError(
                f"the tenant has no Exchange Online service principal (appId {EXCHANGE_ONLINE_APP_ID}): "
                "Exchange Online is not provisioned in this tenant",
                code="NoExchangeServicePrincipal",
            )
        return sp

    async def _patch_keys(self, target: KeyTarget, object_id: str, keys: list[KeyToSend]) -> None:
        # PATCH /applications/{id} replaces keyCredentials exactly as PATCH /servicePrincipals/{id} does.
        credentials = [_graph_key(k) for k in keys]
        if target.kind == "application":
            app_body = GraphApplication(key_credentials=credentials)
            app_builder = self._graph.applications.by_application_id(object_id)
            await self._call(f"PATCH /applications/{object_id}", lambda: app_builder.patch(app_body))
            return
        body = GraphServicePrincipal(key_credentials=credentials)
        builder = self._graph.service_principals.by_service_principal_id(object_id)
        await self._call(f"PATCH /servicePrincipals/{object_id}", lambda: builder.patch(body))


# ---------------------------------------------------------------------------------------------- mapping


def _graph_key(key: KeyToSend) -> KeyCredential:
    """msgraph-sdk's KeyCredential: `key` and `custom_key_identifier` are raw bytes (the SDK base64-encodes them).
    A kept key carries its keyId and every field as read, so Graph keeps that credential unchanged."""
    out = KeyCredential(key=key.key_der, type=key.type, usage=key.usage)
    if key.key_id:
        out.key_id = uuid.UUID(key.key_id)
    if key.custom_key_identifier is not None:
        out.custom_key_identifier = key.custom_key_identifier
    if key.display_name is not None:
        out.display_name = key.display_name
    if key.start is not None:
        out.start_date_time = key.start
    if key.end is not None:
        out.end_date_time = key.end
    return out


def _service_principal(sp: GraphServicePrincipal) -> ServicePrincipal:
    return _key_holder(sp)


def _key_holder(sp: GraphServicePrincipal | GraphApplication) -> ServicePrincipal:
    """A service principal or an application as the keyCredentials holder the key planning works on."""
    keys = []
    for k in sp.key_credentials or []:
        der = _bytes(k.key)
        custom = _bytes(k.custom_key_identifier)
        keys.append(
            KeyCredentialInfo(
                key_id=str(k.key_id) if k.key_id else "",
                type=k.type or "",
                usage=k.usage or "",
                thumbprint=key_info_thumbprint(der, custom),
                display_name=k.display_name,
                start=k.start_date_time,
                end=k.end_date_time,
                custom_key_identifier_b64=base64.b64encode(custom).decode() if custom else None,
                key_b64=base64.b64encode(der).decode() if der else None,
            )
        )
    return ServicePrincipal(
        id=str(sp.id), app_id=str(sp.app_id), display_name=sp.display_name or "", key_credentials=tuple(keys)
    )


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):  # kiota versions differ: some leave base64 text
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return None
    return None


def _key_id_of(sp: ServicePrincipal, thumbprint: str) -> str | None:
    found = next((k for k in sp.key_credentials if k.thumbprint == thumbprint), None)
    return found.key_id if found else None


# Imported last: discovery is written against TenantClient (callers import both from here).
from pushproxy.tenant.discovery import discover_tenant, require_verified_domain  # noqa: E402

__all__ = ["TenantClient", "discover_tenant", "require_verified_domain"]
