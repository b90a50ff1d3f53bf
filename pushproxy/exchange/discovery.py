"""Read everything onboarding needs from one organisation, in one session, changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from pushproxy import builds
from pushproxy.exchange import operations
from pushproxy.exchange.models import (
    COPY_ADVICE,
    MIN_AUTH_KEY_SIZE,
    BlockingProblem,
    ExchangeDiscovery,
    ExchangeServer,
    HybridFacts,
    ServerCertificate,
)
from pushproxy.exchange.session import ExchangeSession


def discover_exchange(session: ExchangeSession, realm: str, *, now: datetime | None = None) -> ExchangeDiscovery:
    """Servers, AuthConfig, the current (and staged next) Auth certificate on every Mailbox server, AuthServers,
    the push proxy, and what blocks onboarding (a server below 2013 CU3, the Auth certificate missing somewhere).
    Expired or short-key certificates are reported as facts, not blocking: the plan replaces them."""
    realm = operations._realm(realm)
    at = now or datetime.now(UTC)
    servers = operations.get_servers(session)
    auth_config = operations.get_auth_config(session)
    mailbox = [s for s in servers if s.is_mailbox and not s.is_edge]
    # endpoint.servers, when given, names the servers to address with -Server (the rest may be out of reach);
    # the CU3 gate still covers every server the organisation lists.
    wanted_names = {n.lower() for n in session.endpoint.servers}
    addressed = [s for s in mailbox if not wanted_names or {s.name.lower(), s.fqdn.lower()} & wanted_names]

    wanted: list[tuple[str, str]] = []
    if auth_config.current_thumbprint:
        wanted.append(("current", auth_config.current_thumbprint))
    if auth_config.next_thumbprint and auth_config.next_thumbprint != auth_config.current_thumbprint:
        wanted.append(("next", auth_config.next_thumbprint))
    certificates: list[ServerCertificate] = []
    for slot, thumbprint in wanted:
        for server in addressed:
            certificates.append(operations.get_server_certificate(session, thumbprint, server.fqdn or server.name, slot))

    auth_servers = operations.get_auth_servers(session)
    push_proxy = operations.get_push_proxy(session)
    hybrid = discover_hybrid(session, servers)

    blocking: list[BlockingProblem] = []
    facts: list[str] = []
    if not mailbox:
        blocking.append(BlockingProblem("no_mailbox_server", "the organisation lists no Mailbox server"))
    for s in servers:
        if not s.gated:
            continue
        if s.build is None:
            blocking.append(BlockingProblem("server_below_minimum", f"{s.name}: cannot read its build from {s.admin_display_version!r}; Exchange 2013 CU3 ({builds.MINIMUM_BUILD}) or later is required", s.name))
        elif not s.meets_minimum:
            blocking.append(BlockingProblem("server_below_minimum", f"{s.name} runs {s.release or s.build} ({s.build}); Exchange 2013 CU3 ({builds.MINIMUM_BUILD}) or later is required", s.name))
        elif s.release and "+" in s.release:
            facts.append(f"{s.name}: build {s.build} is newer than the build table knows ({s.release})")
    for c in certificates:
        if not c.present:
            blocking.append(BlockingProblem("auth_certificate_missing", f"the {c.slot} Auth certificate {c.thumbprint} is missing on {c.server}; {COPY_ADVICE}", c.server))

    if not auth_config.current_thumbprint:
        facts.append("no Auth certificate is assigned (Get-AuthConfig CurrentCertificateThumbprint is empty)")
    seen: set[str] = set()
    for c in certificates:
        cert = c.certificate
        if cert is None or cert.thumbprint in seen:
            continue
        seen.add(cert.thumbprint)
        if cert.is_expired(at):
            facts.append(f"the {c.slot} Auth certificate {cert.thumbprint} expired on {cert.not_after:%Y-%m-%d}")
        elif (cert.key_size or 0) < MIN_AUTH_KEY_SIZE:
            facts.append(f"the {c.slot} Auth certificate {cert.thumbprint} has a {cert.key_size}-bit key (below {MIN_AUTH_KEY_SIZE})")
        else:
            facts.append(f"the {c.slot} Auth certificate {cert.thumbprint} is valid until {cert.not_after:%Y-%m-%d}")
    if auth_config.next_thumbprint and auth_config.next_effective_date:
        facts.append(f"the next Auth certificate {auth_config.next_thumbprint} takes effect on {auth_config.next_effective_date:%Y-%m-%d %H:%M %Z}")

    return ExchangeDiscovery(
        realm=realm,
        servers=servers,
        auth_config=auth_config,
        auth_certificates=tuple(sorted(certificates, key=lambda c: (c.slot, c.server.lower()))),
        auth_servers=auth_servers,
        push_proxy=push_proxy,
        blocking=tuple(blocking),
        facts=tuple(facts),
        hybrid=hybrid,
    )


def discover_hybrid(session: ExchangeSession, servers: tuple[ExchangeServer, ...]) -> HybridFacts:
    """The dedicated Exchange hybrid application's switch (the setting override), the hybrid configuration, and which
    Mailbox servers' builds predate the April 2025 HU (pushproxy.builds.supports_dedicated_hybrid_app)."""
    overrides = tuple(
        o for o in operations.get_setting_overrides(session)
        if o.component.lower() == operations.HYBRID_APP_OVERRIDE_COMPONENT.lower()
        and o.section.lower() == operations.HYBRID_APP_OVERRIDE_SECTION.lower()
    )
    present, features = operations.get_hybrid_configuration(session)
    unsupported = []
    for s in servers:
        if not s.is_mailbox or s.is_edge:
            continue
        try:
            build = builds.Build.parse(s.build or "")
        except ValueError:
            unsupported.append(s.name)
            continue
        if not builds.supports_dedicated_hybrid_app(build):
            unsupported.append(s.name)
    return HybridFacts(overrides=overrides, hybrid_configuration=present, features=features,
                       unsupported_servers=tuple(sorted(unsupported, key=str.lower)))
