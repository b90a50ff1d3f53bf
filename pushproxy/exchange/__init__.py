"""The Exchange client: one runspace pool per session, one typed function per cmdlet (see docs/interfaces.md).

The names are loaded on first use: importing the models (or the pure core, which uses them) does not load pypsrp,
requests or spnego. The Functions worker imports every module of the app at start; only activities need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        find_marked_certificate,
        get_auth_config,
        get_auth_servers,
        get_push_proxy,
        get_server_certificate,
        get_servers,
        list_certificates,
        new_auth_certificate,
        remove_auth_server,
        restart_health_manager,
        run_probe,
        set_auth_certificate,
    )
    from pushproxy.exchange.session import ExchangeSession

_WHERE = {
    "AuthCertificate": "pushproxy.exchange.models",
    "AuthConfig": "pushproxy.exchange.models",
    "AuthServer": "pushproxy.exchange.models",
    "AuthServerChange": "pushproxy.exchange.models",
    "BlockingProblem": "pushproxy.exchange.models",
    "ExchangeDiscovery": "pushproxy.exchange.models",
    "ExchangeEndpoint": "pushproxy.exchange.endpoint",
    "ExchangeServer": "pushproxy.exchange.models",
    "ExchangeSession": "pushproxy.exchange.session",
    "ProbeResult": "pushproxy.exchange.models",
    "PushProxyState": "pushproxy.exchange.models",
    "ServerCertificate": "pushproxy.exchange.models",
    "TlsSettings": "pushproxy.exchange.endpoint",
    "copy_certificate": "pushproxy.exchange.operations",
    "disable_push_proxy": "pushproxy.exchange.operations",
    "remove_auth_server": "pushproxy.exchange.operations",
    "discover_exchange": "pushproxy.exchange.discovery",
    "enable_push_proxy": "pushproxy.exchange.operations",
    "ensure_auth_server": "pushproxy.exchange.operations",
    "find_marked_certificate": "pushproxy.exchange.operations",
    "get_auth_config": "pushproxy.exchange.operations",
    "get_auth_servers": "pushproxy.exchange.operations",
    "get_push_proxy": "pushproxy.exchange.operations",
    "get_server_certificate": "pushproxy.exchange.operations",
    "get_servers": "pushproxy.exchange.operations",
    "list_certificates": "pushproxy.exchange.operations",
    "new_auth_certificate": "pushproxy.exchange.operations",
    "restart_health_manager": "pushproxy.exchange.operations",
    "run_probe": "pushproxy.exchange.operations",
    "set_auth_certificate": "pushproxy.exchange.operations",
}

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
    "find_marked_certificate",
    "get_auth_config",
    "get_auth_servers",
    "get_push_proxy",
    "get_server_certificate",
    "get_servers",
    "list_certificates",
    "new_auth_certificate",
    "remove_auth_server",
    "restart_health_manager",
    "run_probe",
    "set_auth_certificate",
]



def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pushproxy.exchange' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
