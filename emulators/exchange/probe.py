"""What PushNotificationsEnterpriseConnectivityProbe checks, and in what words it says what is missing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import urllib.error
import urllib.request
from typing import Any

from emulators.exchange import certificates, clock, metadata
from emulators.exchange.organisation import EXCHANGE_ONLINE_APP_ID, Organisation, Server

PROBE_IDENTITY = "PushNotifications.Proxy\\PushNotificationsEnterpriseConnectivityProbe"


def missing_pieces(org: Organisation, server: Server, tenant_state_url: str | None) -> list[str]:
    """Everything the proxy needs that isn't in place; empty when the probe would succeed."""
    missing: list[str] = []
    pp = org.push_proxy
    realm = pp.organization or org.realm
    if not pp.enabled:
        missing.append(f"The push notification proxy is not enabled for organization '{realm}'.")
    elif org.health_manager_stale:
        missing.append(
            "The push notification proxy was enabled after the Microsoft Exchange Health Manager (MSExchangeHM) "
            "started: the probe fails until the service restarts."
        )
    # The URL names the realm in the query or the path form, by the tenant domain or (when the state gives it)
    # the tenant id: Hybrid Configuration Wizard's `ACS - {guid}` points at .../<tenant id>/metadata/json/1.
    identities = {realm, org.tenant_id}
    tenant_realm = org.acs_realm(realm)
    if not any(
        a.enabled and a.type == "MicrosoftACS" and "accesscontrol.windows.net" in a.auth_metadata_url.lower()
        and (metadata.names_realm(a.auth_metadata_url, identities) or a.realm.lower() == tenant_realm)
        for a in org.auth_servers
    ):
        missing.append(f"No enabled AuthServer has an AuthMetadataUrl for realm '{realm}'.")
    thumbprint = org.auth_config.current
    cert = org.certificate(thumbprint) if thumbprint else None
    if cert is None:
        missing.append(f"The current Auth certificate '{thumbprint}' does not exist.")
    else:
        facts = certificates.facts(cert.der)
        now = clock.now()
        if not facts.not_before <= now <= facts.not_after:
            missing.append(
                f"The current Auth certificate {thumbprint} is not valid now "
                f"(valid {facts.not_before.isoformat()} to {facts.not_after.isoformat()})."
            )
        if server.name not in cert.servers:
            missing.append(f"The current Auth certificate {thumbprint} is not present on server {server.name}.")
        if tenant_state_url:
            missing += _tenant_problems(tenant_state_url, org.realm, thumbprint)
    return missing


def _tenant_problems(url: str, realm: str, thumbprint: str) -> list[str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a URL the operator gave us
            state: Any = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError) as exc:
        return [f"The tenant could not be read from {url} ({exc})."]
    tenants = state.get("tenants", {}) if isinstance(state, dict) else {}
    tenant = next(
        (t for t in tenants.values()
         if any(str(d.get("name", "")).lower() == realm.lower() for d in t.get("verifiedDomains", []))),
        None,
    )
    if tenant is None:
        return [f"No tenant has '{realm}' as a verified domain."]
    sp = next((s for s in tenant.get("servicePrincipals", []) if s.get("appId") == EXCHANGE_ONLINE_APP_ID), None)
    if sp is None:
        return ["The tenant has no Office 365 Exchange Online service principal."]
    for key in sp.get("keyCredentials", []):
        try:
            der = base64.b64decode(key.get("key") or "", validate=True)
        except (binascii.Error, ValueError):
            continue
        if hashlib.sha1(der).hexdigest().upper() == thumbprint:  # noqa: S324 - X.509 thumbprint
            return []
    return [f"The Exchange Online service principal has no key for the Auth certificate {thumbprint}."]
