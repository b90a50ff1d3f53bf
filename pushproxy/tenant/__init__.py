"""The tenant side: Microsoft Graph through msgraph-sdk and azure-identity (see models for the values)."""

from __future__ import annotations

from pushproxy.tenant.models import (
    EXCHANGE_ONLINE_APP_ID,
    GraphCredentialSpec,
    KeyChange,
    KeyCredentialInfo,
    ServicePrincipal,
    TenantDiscovery,
    TenantFacts,
    TenantProblem,
    thumbprint_of,
)

__all__ = [
    "EXCHANGE_ONLINE_APP_ID",
    "GraphCredentialSpec",
    "KeyChange",
    "KeyCredentialInfo",
    "ServicePrincipal",
    "TenantDiscovery",
    "TenantFacts",
    "TenantProblem",
    "thumbprint_of",
]
