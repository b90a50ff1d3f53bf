"""A fleet of onboarded organisations hosted by the two stand-ins, for verification tests and the benchmark.

Each organisation is served by the Exchange stand-in at /<org>/PowerShell and has its own tenant in the Graph
stand-in; `Drift` functions bend one organisation's state into one kind of drift.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pushproxy.registry import Registry, TenantRecord

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
PASSWORD_ENV = "PUSHPROXY_TEST_EXCHANGE_PASSWORD"
GRAPH_SECRET_ENV = "GRAPH_STANDIN_SECRET"
# Every tenant of a test fleet shares the stand-ins' two secrets: keys of one local secrets file (file: references
# are the local operator's own, not per-tenant namespaced as env: and keyvault: are).
PASSWORD_KEY = "exchange-password"
GRAPH_SECRET_KEY = "graph-secret"


def write_secrets_file(path: Any, exchange: Any, graph: Any) -> str:
    """A 0600 secrets file with the stand-ins' secrets; returns its path (for PUSHPROXY_SECRETS_FILE)."""
    import json
    import os

    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({PASSWORD_KEY: exchange.password, GRAPH_SECRET_KEY: str(graph.client_secret)}, out)
    return str(path)
CURRENT, NEXT = "CURRENT-PLACEHOLDER", "NEXT-PLACEHOLDER"


def metadata_url(realm: str) -> str:
    return f"https://accounts.accesscontrol.windows.net/metadata/json/1/?realm={realm}"


def tenant_id_of(org: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, org))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class OrgPlan:
    """What one organisation looks like: on the Exchange side, in its tenant, and in its spec."""

    name: str
    servers: list[dict[str, Any]]
    certificates: list[dict[str, Any]]
    auth_config: dict[str, Any]
    auth_servers: list[dict[str, Any]]
    push_proxy: dict[str, Any]
    keys_for: list[str] = field(default_factory=lambda: [CURRENT])  # which certificates' keys the SP holds
    spec_changes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def onboarded(cls, name: str) -> OrgPlan:
        short = name.split(".")[0].upper()[:10]
        servers = [{"name": f"{short}-EX{i}", "fqdn": f"{short.lower()}-ex{i}.{name}", "version": "15.2.1544.4"}
                   for i in (1, 2)]
        return cls(
            name=name,
            servers=servers,
            certificates=[{"thumbprint": CURRENT, "not_before": (_now() - dt.timedelta(days=30)).isoformat(),
                           "not_after": (_now() + dt.timedelta(days=5 * 365)).isoformat()}],
            auth_config={"current": CURRENT, "realm": name},
            auth_servers=[{"name": "MicrosoftSts", "auth_metadata_url": metadata_url(name), "realm": name}],
            push_proxy={"enabled": True, "organization": name},
        )

    def exchange_json(self) -> dict[str, Any]:
        # The organisation knows its tenant id, so the stand-in's probe takes an AuthServer naming it as its realm.
        return {"realm": self.name, "tenant_id": tenant_id_of(self.name), "servers": self.servers, "certificates": self.certificates,
                "auth_config": self.auth_config, "auth_servers": self.auth_servers, "push_proxy": self.push_proxy}


Drift = Callable[[OrgPlan], None]


def proxy_disabled(plan: OrgPlan) -> None:
    plan.push_proxy = {"enabled": False, "organization": plan.name}


def key_missing(plan: OrgPlan) -> None:
    plan.keys_for = []


def auth_server_gone(plan: OrgPlan) -> None:
    plan.auth_servers = []


def auth_server_wrong(plan: OrgPlan) -> None:
    plan.auth_servers = [{"name": "MicrosoftSts", "auth_metadata_url": metadata_url("someone-else.example")}]


ACS = "https://accounts.accesscontrol.windows.net"


def _evosts(plan: OrgPlan) -> dict[str, Any]:
    """HCW's Azure AD server for hybrid modern auth: present in hybrid organisations, never the proxy's ACS server."""
    return {"name": f"EvoSts - {uuid.uuid5(uuid.NAMESPACE_URL, 'evo-' + plan.name)}", "type": "AzureAD",
            "realm": tenant_id_of(plan.name),
            "auth_metadata_url": f"https://login.windows.net/{plan.name}/federationmetadata/2007-06/federationmetadata.xml"}


def hcw_acs_by_tenant_id(plan: OrgPlan) -> None:
    """Hybrid Configuration Wizard's `ACS - {guid}`: the path form naming the tenant id, Realm = the tenant id."""
    tid = tenant_id_of(plan.name)
    plan.auth_servers = [{"name": f"ACS - {uuid.uuid5(uuid.NAMESPACE_URL, plan.name)}",
                          "auth_metadata_url": f"{ACS}/{tid}/metadata/json/1", "realm": tid}, _evosts(plan)]


def hcw_acs_by_domain(plan: OrgPlan) -> None:
    """The path form naming the tenant domain."""
    plan.auth_servers = [{"name": f"ACS - {uuid.uuid5(uuid.NAMESPACE_URL, plan.name)}",
                          "auth_metadata_url": f"{ACS}/{plan.name}/metadata/json/1", "realm": tenant_id_of(plan.name)},
                         _evosts(plan)]


def hcw_acs_of_another_tenant(plan: OrgPlan) -> None:
    """An ACS server in the path form naming some other tenant: not ours."""
    other = tenant_id_of("someone-else.example")
    plan.auth_servers = [{"name": f"ACS - {other}", "auth_metadata_url": f"{ACS}/{other}/metadata/json/1", "realm": other},
                         _evosts(plan)]


def cert_expiring(plan: OrgPlan, days: int = 20) -> None:
    plan.certificates[0]["not_after"] = (_now() + dt.timedelta(days=days)).isoformat()


def cert_expired(plan: OrgPlan) -> None:
    plan.certificates[0]["not_before"] = (_now() - dt.timedelta(days=400)).isoformat()
    plan.certificates[0]["not_after"] = (_now() - dt.timedelta(days=2)).isoformat()


def next_key_missing(plan: OrgPlan) -> None:
    plan.certificates.append({"thumbprint": NEXT, "not_before": (_now() - dt.timedelta(days=1)).isoformat(),
                              "not_after": (_now() + dt.timedelta(days=5 * 365)).isoformat()})
    plan.auth_config = {**plan.auth_config, "next": NEXT,
                        "next_effective": (_now() + dt.timedelta(days=5)).isoformat()}


def server_below_gate(plan: OrgPlan) -> None:
    plan.servers[1]["version"] = "15.0.712.24"  # Exchange 2013 CU2


def probe_fails(plan: OrgPlan) -> None:
    # The Auth certificate was never copied to the second server: its probe fails (verification also reports the
    # missing copy, which a remediation onboarding imports).
    plan.certificates[0]["servers"] = [plan.servers[0]["name"]]


def unreachable(plan: OrgPlan) -> None:
    plan.spec_changes["exchange_url"] = "http://127.0.0.1:9/PowerShell"  # discard port: connection refused


def remediate(plan: OrgPlan) -> None:
    plan.spec_changes["remediation"] = {"policy": "onboard"}


def build_fleet(exchange: Any, graph: Any, plans: list[OrgPlan], registry: Registry,
                *, onboarded_at: dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """Load every organisation into both stand-ins and register it as onboarded. Returns the specs by domain."""
    exchange.put_state({"default_organization": plans[0].name,
                        "organizations": {p.name: p.exchange_json() for p in plans}})
    orgs = exchange.state()["organizations"]

    graph_state = graph.state()
    tenants = {}
    for plan in plans:
        org = orgs[plan.name]
        by_role = {CURRENT: org["auth_config"]["current"], NEXT: org["auth_config"].get("next")}
        ders = {c["thumbprint"]: c["der"] for c in org["certificates"]}
        keys = [
            {"keyId": str(uuid.uuid4()), "type": "AsymmetricX509Cert", "usage": "Verify", "key": ders[by_role[role]]}
            for role in plan.keys_for if by_role.get(role)
        ]
        tid = tenant_id_of(plan.name)
        tenants[tid] = {
            "id": tid, "displayName": plan.name, "defaultDomain": f"{plan.name.split('.')[0]}.onmicrosoft.com",
            "verifiedDomains": [{"name": plan.name, "isDefault": False, "isInitial": False}],
            "servicePrincipals": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, plan.name)), "appId": EXCHANGE_ONLINE_APP_ID,
                                   "displayName": "Office 365 Exchange Online", "keyCredentials": keys}],
            "policies": {"maxCertificateLifetimeDays": None, "locked": False},
        }
    graph_state["tenants"] = tenants
    graph.put_state(graph_state)

    specs = {}
    when = onboarded_at or _now()
    for plan in plans:
        spec: dict[str, Any] = {
            "tenant_domain": plan.name,
            "tenant_id": tenant_id_of(plan.name),
            "exchange": {"url": plan.spec_changes.get("exchange_url", f"{exchange.base_url}/{plan.name}/PowerShell"),
                         "auth": "ntlm", "username": exchange.user, "password_ref": f"file:{PASSWORD_KEY}",
                         "connect_timeout_s": 5, "operation_timeout_s": 10, "call_deadline_s": 60},
            "graph": graph.credential_spec("secret", secret_ref=f"file:{GRAPH_SECRET_KEY}"),
            "verification": {"wait_s": 0, "probe_deadline_s": 0},
        }
        if "remediation" in plan.spec_changes:
            spec["remediation"] = plan.spec_changes["remediation"]
        registry.put_tenant(TenantRecord(plan.name, spec, onboarded_at=when))
        specs[plan.name] = spec
    return specs
