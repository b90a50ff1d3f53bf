"""The Exchange client's public calls in one place, for activities: `from pushproxy.exchange import client`."""

from pushproxy.exchange.discovery import discover_exchange
from pushproxy.exchange.operations import (
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
    "ExchangeSession",
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
