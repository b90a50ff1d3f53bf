"""The tenant side: Microsoft Graph through msgraph-sdk and azure-identity.

`TenantClient` (client.py) does the Graph calls; `discover_tenant` (discovery.py) reads what the plan needs;
models.py holds the values that cross activity boundaries; keys.py the pure keyCredentials planning.
The client is imported lazily so that importing the models does not load msgraph-sdk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from pushproxy.tenant.client import TenantClient, discover_tenant

__all__ = [
    "EXCHANGE_ONLINE_APP_ID",
    "GraphCredentialSpec",
    "KeyChange",
    "KeyCredentialInfo",
    "ServicePrincipal",
    "TenantClient",
    "TenantDiscovery",
    "TenantFacts",
    "TenantProblem",
    "discover_tenant",
    "thumbprint_of",
]


def __getattr__(name: str) -> Any:
    if name in ("TenantClient", "discover_tenant"):
        from pushproxy.tenant import client

        return getattr(client, name)
    raise AttributeError(name)
