"""`pushproxy exchange inspect`: what discovery sees in one Exchange organisation, read-only.

This is what an administrator runs first against a real organisation: servers and releases, the Auth
certificate on each Mailbox server, AuthServers, the push proxy, and what would block onboarding.

There is no `--insecure`: an administrator facing a self-signed or internal certificate pins it
(`--pin-sha256`, the SHA-256 of the server's certificate) or names its CA (`--ca-bundle`). Turning verification
off would send the Exchange admin's credential to whoever answers, and a pin costs one copy-paste.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pushproxy.errors import SecretError, SpecError
from pushproxy.exchange.acs import auth_server_serves_realm, tenant_id_or_none
from pushproxy.exchange.discovery import discover_exchange
from pushproxy.exchange.endpoint import AUTH_METHODS, ExchangeEndpoint
from pushproxy.exchange.models import ExchangeDiscovery
from pushproxy.exchange.session import ExchangeSession
from pushproxy.exchange.transport import describe_offer, probe_offered_auth
from pushproxy.secrets import OWN, resolve_secret, tenant_scope
from pushproxy.spec import validate_domain

PASSWORD_VARIABLE = "PUSHPROXY_EXCHANGE_PASSWORD"


def register(sub: Any) -> None:
    parser = sub.add_parser("exchange", help="read an Exchange organisation over remote PowerShell")
    actions = parser.add_subparsers(dest="exchange_command", required=True, metavar="ACTION")
    inspect = actions.add_parser(
        "inspect",
        help="show servers, Auth certificates, AuthServers, the push proxy and blocking problems (changes nothing)",
        description=f"The password comes from {PASSWORD_VARIABLE}, or a prompt when that is not set.",
    )
    inspect.add_argument("--spec", type=Path, default=None,
                         help="take the endpoint, TLS, user, password reference, realm and tenant id from this TenantSpec")
    inspect.add_argument("--endpoint", help="remote PowerShell URL, e.g. https://mail.contoso.com/PowerShell")
    inspect.add_argument("--auth", default="kerberos", choices=AUTH_METHODS,
                         help="authentication (default kerberos, what Exchange's /PowerShell accepts as installed)")
    inspect.add_argument("--user", help="user name, e.g. admin@contoso.com or CONTOSO\\admin (Kerberos: admin@CONTOSO.COM; "
                                        "without --user, Kerberos uses your own ticket from kinit)")
    inspect.add_argument("--realm", help="tenant domain to check the AuthServer against (default: the user's domain)")
    inspect.add_argument(
        "--tenant-id",
        help="tenant id (GUID): an AuthServer whose metadata URL or Realm names it (Hybrid Wizard's ACS - {guid}) counts too",
    )
    tls = inspect.add_mutually_exclusive_group()
    tls.add_argument("--ca-bundle", help="PEM file of the CA that issued the server's certificate")
    tls.add_argument("--pin-sha256", help="SHA-256 (hex, colons allowed) of the server's TLS certificate")
    inspect.add_argument("--server", action="append", default=[], help="server to address with -Server (repeatable)")
    inspect.add_argument("--timeout", type=float, default=120.0, help="deadline per cmdlet, seconds (default 120)")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(func=run)


def _password(user: str | None) -> str | None:
    try:
        # Through the secrets module: an env: reference, like every other secret of the product.
        # The local operator's own variable, not a tenant's: outside any tenant namespace.
        return resolve_secret(f"env:{PASSWORD_VARIABLE}", OWN)
    except SecretError:
        pass
    if user is None:
        return None
    if not sys.stdin.isatty():
        raise SpecError("password", f"set {PASSWORD_VARIABLE} (no terminal to prompt on)")
    return getpass.getpass(f"Password for {user}: ")


def _default_realm(user: str | None, endpoint: ExchangeEndpoint) -> str:
    if user and "@" in user:
        return user.rsplit("@", 1)[1].lower()
    labels = endpoint.host.split(".")
    return ".".join(labels[1:]).lower() if len(labels) > 2 else endpoint.host.lower()


# The endpoint's fields, as this command's options: its messages use the words the user typed.
OPTION_NAMES = {"url": "--endpoint", "auth": "--auth", "username": "--user", "password_ref": PASSWORD_VARIABLE,
                "tls": "--ca-bundle/--pin-sha256", "call_deadline_s": "--timeout", "servers": "--server"}


def _in_option_words(exc: SpecError) -> SpecError:
    head = exc.field.split(".", 1)[0]
    if head in OPTION_NAMES:
        return SpecError(OPTION_NAMES[head], exc.reason.replace("tls.mode", "--ca-bundle/--pin-sha256"))
    return exc


def _from_spec(args: argparse.Namespace) -> tuple[ExchangeEndpoint, str | None, str, str | None]:
    """(endpoint, password, realm, tenant id) from --spec: what onboarding would use, typed once."""
    from pushproxy.commands.onboard import load_spec

    spec = load_spec(args.spec)
    endpoint = spec.exchange
    # The spec file is the local operator's own: its secrets go to its own endpoint, within its tenant's namespace.
    password = resolve_secret(endpoint.password_ref, spec.tenant_domain) if endpoint.password_ref else None
    args.secret_scope = spec.tenant_domain
    realm = (args.realm or spec.tenant_domain).lower()
    return endpoint, password, realm, getattr(args, "tenant_id", None) or spec.tenant_id


def run(args: argparse.Namespace) -> int:
    if args.spec is not None:
        if args.endpoint or args.user or args.ca_bundle or args.pin_sha256:
            raise SpecError("--spec", "takes the endpoint, user and TLS from the spec: leave out --endpoint, --user, --ca-bundle and --pin-sha256")
        endpoint, password, realm, tenant_id_text = _from_spec(args)
    else:
        if not args.endpoint:
            raise SpecError("--endpoint", "is required (or --spec FILE)")
        endpoint, password, realm, tenant_id_text = _from_options(args)
    tenant_id = tenant_id_or_none(tenant_id_text)
    try:
        realm = validate_domain(realm, "realm")
    except SpecError as exc:
        raise SpecError(
            "--realm",
            f"{exc.reason} (taken from {'the spec' if args.spec else 'the user or the endpoint'}: {realm!r}); "
            "give the tenant domain with --realm, e.g. --realm fabrikam.com",
        ) from None
    with tenant_scope(getattr(args, "secret_scope", None) or OWN):  # a keytab is resolved inside the session
        return _inspect(args, endpoint, password, realm, tenant_id, time.monotonic())


def _from_options(args: argparse.Namespace) -> tuple[ExchangeEndpoint, str | None, str, str | None]:
    """(endpoint, password, realm, tenant id) from the options, checked as a spec's `exchange` would be."""
    tls: dict[str, Any] = {"mode": "system"}
    if args.ca_bundle:
        tls = {"mode": "ca_bundle", "ca_bundle": args.ca_bundle}
    elif args.pin_sha256:
        tls = {"mode": "pinned", "pinned_sha256": args.pin_sha256}
    try:
        endpoint = ExchangeEndpoint.from_dict(
            {
                "url": args.endpoint,
                "auth": args.auth,
                "username": args.user,
                # Validation wants a reference; the CLI's reference is the variable (or the prompt) below.
                "password_ref": f"env:{PASSWORD_VARIABLE}" if args.user else None,
                "tls": tls,
                "call_deadline_s": args.timeout,
                "servers": args.server,
            }
        )
    except SpecError as exc:
        raise _in_option_words(exc) from None
    password = _password(args.user)
    realm = (args.realm or _default_realm(args.user, endpoint)).lower()
    return endpoint, password, realm, getattr(args, "tenant_id", None)


def _inspect(
    args: argparse.Namespace, endpoint: ExchangeEndpoint, password: str | None, realm: str, tenant_id: str | None,
    started: float,
) -> int:
    offered = _offered(endpoint)
    if not args.json and offered is not None:
        # Before any sign-in: which methods the server offers decides which auth can work (docs/deploy.md).
        Console(stderr=True).print(f"{endpoint.url} offers: {describe_offer(offered)}")
    with ExchangeSession(endpoint, password) as session:
        discovery = discover_exchange(session, realm)
        wsman_messages = session.requests_sent
    elapsed = time.monotonic() - started
    if args.json:
        serving = serving_auth_servers(discovery, tenant_id)
        print(json.dumps({**discovery.to_dict(), "tenant_id": tenant_id, "serving_auth_servers": serving,
                          "hybrid_mode": exchange_side_mode(discovery, tenant_id).to_dict(),
                          "offered_auth": list(offered) if offered is not None else None,
                          "elapsed_s": round(elapsed, 3), "wsman_requests": wsman_messages}, indent=2))
    else:
        print_discovery(Console(), endpoint.url, discovery, tenant_id=tenant_id)
        Console(stderr=True).print(f"read in {elapsed:.2f} s, {wsman_messages} WSMan requests", style="dim")
    return 0


def _offered(endpoint: ExchangeEndpoint) -> tuple[str, ...] | None:
    try:
        return probe_offered_auth(endpoint, timeout_s=min(15.0, endpoint.connect_timeout_s))
    except requests.exceptions.RequestException:
        return None  # the sign-in that follows reports the connection problem in full


def exchange_side_mode(d: ExchangeDiscovery, tenant_id: str | None) -> Any:
    """The hybrid mode as Exchange alone shows it (the override, the EvoSts AuthServer's app): the tenant's side
    (the app's keys, clean-up mode) needs `pushproxy onboard --dry-run` or `pushproxy verify`."""
    from pushproxy.hybrid import classify

    return classify(d.hybrid, d.auth_servers, d.auth_config, None, None, tenant_id=tenant_id)


def serving_auth_servers(d: ExchangeDiscovery, tenant_id: str | None = None) -> list[str]:
    """Names of the AuthServers onboarding would take as the realm's ACS server (the plan's own test)."""
    return [a.name for a in d.auth_servers if auth_server_serves_realm(a, d.realm, tenant_id=tenant_id)]


def print_discovery(
    console: Console, url: str, d: ExchangeDiscovery, now: datetime | None = None, *, tenant_id: str | None = None
) -> None:
    """The discovery as tables: servers, Auth certificates, AuthServers, push proxy, blocking problems."""
    at = now or datetime.now(UTC)
    console.print(f"[bold]{url}[/bold]  realm [bold]{d.realm}[/bold]")

    servers = Table(title="Servers", title_justify="left")
    for column in ("name", "roles", "build", "release", "2013 CU3+"):
        servers.add_column(column, overflow="fold")
    for s in d.servers:
        ok = "yes" if s.meets_minimum else ("n/a" if not s.gated else "[red]NO[/red]")
        servers.add_row(s.fqdn, ", ".join(s.roles) or "-", s.build or s.admin_display_version or "?", s.release or "unknown", ok)
    console.print(servers)

    config = d.auth_config
    console.print(
        f"AuthConfig: current {config.current_thumbprint or '-'}, next {config.next_thumbprint or '-'}"
        + (f" from {config.next_effective_date:%Y-%m-%d %H:%M %Z}" if config.next_effective_date else "")
        + f", previous {config.previous_thumbprint or '-'}"
    )
    certs = Table(title="Auth certificate per Mailbox server", title_justify="left")
    for column in ("server", "slot", "thumbprint", "present", "expires", "key", "signature"):
        certs.add_column(column, overflow="fold")
    for c in d.auth_certificates:
        cert = c.certificate
        if cert is None:
            certs.add_row(c.server, c.slot, c.thumbprint, "[red]missing[/red]", "-", "-", "-")
            continue
        days = (cert.not_after - at).days
        expires = f"{cert.not_after:%Y-%m-%d} ({days} d)" if days >= 0 else f"[red]{cert.not_after:%Y-%m-%d} (expired)[/red]"
        key = str(cert.key_size) if (cert.key_size or 0) >= 2048 else f"[red]{cert.key_size}[/red]"
        certs.add_row(c.server, c.slot, c.thumbprint, "yes", expires, key, cert.signature_algorithm)
    console.print(certs)

    auth_servers = Table(title=f"AuthServers (expected URL {d.expected_auth_server_url})", title_justify="left")
    for column in ("name", "enabled", "metadata URL", "realm", "serves the realm"):
        auth_servers.add_column(column, overflow="fold")
    serving = set(serving_auth_servers(d, tenant_id))
    for a in d.auth_servers:
        auth_servers.add_row(
            a.name, "yes" if a.enabled else "no", a.auth_metadata_url or "-", a.realm or "-", "yes" if a.name in serving else "no"
        )
    console.print(auth_servers if d.auth_servers else "AuthServers: none")
    if not any(a.enabled and a.name in serving for a in d.auth_servers):
        who = f"{d.realm}" + (f" / tenant {tenant_id}" if tenant_id else "")
        console.print(f"No enabled AuthServer serves {who}: onboarding would create or correct one.")

    p = d.push_proxy
    if not p.present:
        console.print("Push proxy: never enabled (no OnPrem-Proxy app)")
    else:
        console.print(f"Push proxy: {'enabled' if p.enabled else 'disabled'}, organization {p.organization or '-'}, {p.uri or '-'}")

    mode = exchange_side_mode(d, tenant_id)
    overrides = ", ".join(f"{o.name} ({'; '.join(o.parameters)})" for o in d.hybrid.overrides) or "none"
    console.print(escape(f"Hybrid: {mode.mode}: {mode.summary}. Override {overrides}; hybrid configuration "
                         + (", ".join(d.hybrid.features) or "none" if d.hybrid.hybrid_configuration else "absent")
                         + (f"; before the April 2025 HU: {', '.join(d.hybrid.unsupported_servers)}"
                            if d.hybrid.unsupported_servers else "")))
    if mode.override_set:
        console.print(escape(f"  push notifications: {mode.push}"))
    for problem in mode.problems:
        console.print(escape(f"  • {problem}"))
    for fact in d.facts:
        console.print(f"  • {fact}")
    if d.blocking:
        console.print("[bold red]Blocking problems:[/bold red]")
        for b in d.blocking:
            console.print(f"  [red]✗[/red] {b.message}")
    else:
        console.print("[green]Nothing blocks onboarding.[/green]")
