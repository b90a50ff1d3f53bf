"""Read-only discovery of a tenant for the onboarding plan: facts, the domain check, the service principal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushproxy.errors import TenantError
from pushproxy.tenant.models import (
    EXCHANGE_ONLINE_APP_ID,
    PROBLEM_DOMAIN_NOT_VERIFIED,
    PROBLEM_NO_EXCHANGE_SERVICE_PRINCIPAL,
    PROBLEM_PERMISSION_MISSING,
    TenantDiscovery,
    TenantProblem,
)

if TYPE_CHECKING:
    from pushproxy.tenant.client import TenantClient

WRITE_ROLE = "Application.ReadWrite.All"


def domain_not_verified(domain: str, tenant_name: str, verified: tuple[str, ...]) -> str:
    """The plain-words explanation of an unverified tenant domain."""
    listed = ", ".join(verified) or "none"
    return (
        f"the tenant domain {domain} is not a verified domain of the tenant {tenant_name} (verified: {listed}); "
        "the push-notification proxy authenticates on-premises Exchange with this domain as its realm, so add and "
        "verify it in the tenant, or use one of the verified domains"
    )


async def discover_tenant(
    client: TenantClient, tenant_domain: str, hybrid_app_ids: tuple[str, ...] = ()
) -> TenantDiscovery:
    """Everything the plan needs from the tenant. Problems that must stop the workflow are in `blocking`.

    `hybrid_app_ids`: the appIds Exchange's EvoSts AuthServers name (the dedicated Exchange hybrid application),
    each read with its keys, permission and consent."""
    domain = tenant_domain.strip().rstrip(".").lower()
    facts = await client.get_tenant_facts()
    roles = await client.granted_roles()
    service_principal = await client.get_exchange_service_principal()
    applications = tuple([await client.get_hybrid_application(app_id) for app_id in dict.fromkeys(hybrid_app_ids)])
    blocking: list[TenantProblem] = []
    verified = facts.is_verified(domain)
    if not verified:
        blocking.append(
            TenantProblem(
                PROBLEM_DOMAIN_NOT_VERIFIED,
                domain_not_verified(domain, facts.display_name or facts.tenant_id, facts.verified_domains),
            )
        )
    if service_principal is None:
        blocking.append(
            TenantProblem(
                PROBLEM_NO_EXCHANGE_SERVICE_PRINCIPAL,
                f"the tenant has no Exchange Online service principal (appId {EXCHANGE_ONLINE_APP_ID}): Exchange Online is not provisioned",
            )
        )
    if roles and WRITE_ROLE not in roles:
        blocking.append(
            TenantProblem(
                PROBLEM_PERMISSION_MISSING,
                f"the application {client.spec.client_id} has not been granted {WRITE_ROLE} (application permission, admin "
                f"consent) in this tenant; it holds: {', '.join(roles)}. Without it the key upload is refused (403): "
                "writing keyCredentials needs it for the shared service principal and for the dedicated Exchange "
                "hybrid application alike (or, for the application alone, Application.ReadWrite.OwnedBy and ownership)",
            )
        )
    return TenantDiscovery(
        tenant_domain=domain,
        facts=facts,
        domain_verified=verified,
        service_principal=service_principal,
        blocking=tuple(blocking),
        granted_roles=roles,
        hybrid_applications=applications,
    )


def require_verified_domain(discovery: TenantDiscovery) -> None:
    """Raise TenantError (code DomainNotVerified) when the tenant domain is not verified."""
    if not discovery.domain_verified:
        raise TenantError(
            domain_not_verified(
                discovery.tenant_domain, discovery.facts.display_name, discovery.facts.verified_domains
            ),
            code="DomainNotVerified",
        )
