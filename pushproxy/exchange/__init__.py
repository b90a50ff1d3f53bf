"""The Exchange client: one runspace pool per session, one typed function per cmdlet (see docs/interfaces.md)."""

from pushproxy.exchange.discovery import discover_exchange
from pushproxy.exchange.endpoint import ExchangeEndpoint, TlsSettings
from pushproxy.exchange.models import (
    AuthCertificate,
    AuthConfig,
    AuthServer,
    AuthServerChange,
    BlockingProblem,
    ExchangeDiscovery,
    ExchangeServer,
    ProbeResult,
    PushProxyState,
    ServerCertificate,
)
from pushproxy.exchange.operations import (
    copy_certificate,
    disable_push_proxy,
    enable_push_proxy,
    ensure_auth_server,
    get_auth_config,
    get_auth_servers,
    get_push_proxy,
    get_server_certificate,
    get_servers,
    list_certificates,
    new_auth_certificate,
    restart_health_manager,
    run_probe,
    set_auth_certificate,
)
from pushproxy.exchange.session import ExchangeSession

__all__ = [
    "AuthCertificate",
    "AuthConfig",
    "AuthServer",
    "AuthServerChange",
    "BlockingProblem",
    "ExchangeDiscovery",
    "ExchangeEndpoint",
    "ExchangeServer",
    "ExchangeSession",
    "ProbeResult",
    "PushProxyState",
    "ServerCertificate",
    "TlsSettings",
    "copy_certificate",
    "disable_push_proxy",
    "discover_exchange",
    "enable_push_proxy",
    "ensure_auth_server",
    "get_auth_config",
    "get_auth_servers",
    "get_push_proxy",
    "get_server_certificate",
    "get_servers",
    "list_certificates",
    "new_auth_certificate",
    "restart_health_manager",
    "run_probe",
    "set_auth_certificate",
]
