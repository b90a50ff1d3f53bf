"""The Exchange client: one runspace pool per session, one typed function per cmdlet (see docs/interfaces.md)."""

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

__all__ = [
    "AuthCertificate",
    "AuthConfig",
    "AuthServer",
    "AuthServerChange",
    "BlockingProblem",
    "ExchangeDiscovery",
    "ExchangeEndpoint",
    "ExchangeServer",
    "ProbeResult",
    "PushProxyState",
    "ServerCertificate",
    "TlsSettings",
]
