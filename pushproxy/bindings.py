"""Which hosts a tenant's secrets may be presented to: the ones its registration binds them to.

The operator's registration (`PUT /api/tenants/{tenant}`, or `pushproxy onboard --spec` on one machine) binds the
Exchange secret (password_ref, keytab_ref) to the Exchange URL's host and port, plus the Windows PowerShell (WinRM) hosts it
names for the health-manager restart, and the Graph secret (secret_ref, certificate_ref, certificate_password_ref)
to the Graph authority's host and port. The check runs where a secret is resolved to be sent, against the registration read
from the registry there and then, so nothing that travels with a request or an orchestration input (a spec pointing
`graph.authority` at another host, an onboarding started through the Durable webhook) can send a secret elsewhere.
Pure: the caller reads the registration.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pushproxy.errors import SecretError
from pushproxy.spec import TenantSpec

EXCHANGE = "exchange"
GRAPH = "graph"
EXCHANGE_REF_FIELDS = ("password_ref", "keytab_ref")
GRAPH_REF_FIELDS = ("secret_ref", "certificate_ref", "certificate_password_ref")


@dataclass(frozen=True)
class Binding:
    """One secret reference and the hosts it may be presented to."""

    side: str  # exchange | graph
    field: str  # e.g. exchange.password_ref
    ref: str
    hosts: frozenset[str]


def origin(url: str) -> str:
    """`host:port` of a URL, lower case, with the scheme's default port: what a secret is bound to. The port
    counts: another service on the same host is another endpoint."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = (parts.hostname or "").lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def winrm_hosts(spec: TenantSpec) -> frozenset[str]:
    """The Windows PowerShell hosts the registration names: a fixed host in windows_powershell_url, or `{server}`
    filled with each of `exchange.servers`. A server Exchange lists but the operator did not name gets no secret."""
    endpoint = spec.exchange
    template = endpoint.windows_powershell_url
    if template and "{server}" not in urlsplit(template).netloc:
        return frozenset({origin(template)})
    return frozenset(origin(endpoint.windows_powershell_url_for(server)) for server in endpoint.servers)


def bindings(spec: TenantSpec) -> list[Binding]:
    """Every secret reference of a registration and the hosts it is bound to."""
    exchange_hosts = frozenset({origin(spec.exchange.url)}) | winrm_hosts(spec)
    graph_hosts = frozenset({origin(spec.graph.authority)})
    found: list[Binding] = []
    for name in EXCHANGE_REF_FIELDS:
        ref = getattr(spec.exchange, name)
        if ref:
            found.append(Binding(EXCHANGE, f"exchange.{name}", ref, exchange_hosts))
    for name in GRAPH_REF_FIELDS:
        ref = getattr(spec.graph, name)
        if ref:
            found.append(Binding(GRAPH, f"graph.{name}", ref, graph_hosts))
    return found


def check_presentation(registration: TenantSpec | None, domain: str, side: str, ref: str, host: str) -> None:
    """SecretError unless the tenant's registration binds `ref` (on `side`) to `host` (an `origin`: host:port).
    Nothing is resolved."""
    if registration is None:
        raise SecretError(ref, f"tenant {domain} is not registered: its secrets are presented to no host")
    if registration.tenant_domain != domain.lower():
        raise SecretError(ref, f"the registration is {registration.tenant_domain}'s, not {domain}'s")
    wanted = host.lower()
    for binding in bindings(registration):
        if binding.side == side and binding.ref == ref:
            if wanted in binding.hosts:
                return
            raise SecretError(ref, f"is bound to {', '.join(sorted(binding.hosts))}, not {wanted}: not presented")
    raise SecretError(ref, f"is not one of {domain}'s registered {side} secrets: not presented to {wanted}")
