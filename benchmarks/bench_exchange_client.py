"""Exchange client against the stand-in: WSMan requests per operation, and the wall time of a full discovery.

    python benchmarks/bench_exchange_client.py [--rounds 5] [--auth ntlm] [--tls]

Counts come from the client's own transport counter (every WSMan message pypsrp sends, including the
Receive polls) and are cross-checked with the stand-in's journal (cmdlets run).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pushproxy.exchange import client  # noqa: E402
from pushproxy.exchange.session import ExchangeSession  # noqa: E402
from tests.exchange.standin import default_org, endpoint_for  # noqa: E402
from tests.support.exchange_standin import start_exchange_standin  # noqa: E402

REALM = "fabrikam.com"


def measure(session: ExchangeSession, fn: Callable[[], Any]) -> tuple[int, float]:
    before = session.requests_sent
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    after = session.requests_sent
    return after - before, elapsed


def discovery_of(session: ExchangeSession) -> Callable[[], Any]:
    return lambda: client.discover_exchange(session, REALM)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--auth", default="ntlm", choices=["ntlm", "negotiate", "basic"])
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    with start_exchange_standin(tls=args.tls or args.auth == "basic") as standin:
        tls = {"mode": "ca_bundle", "ca_bundle": standin.cert_path} if standin.cert_path else None
        endpoint = endpoint_for(standin, auth=args.auth, tls=tls)
        server = default_org(standin.state())["servers"][0]
        print(f"stand-in {standin.url}, auth {args.auth}, {args.rounds} rounds")

        opens: list[float] = []
        discoveries: list[float] = []
        totals: list[float] = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            with ExchangeSession(endpoint, standin.password) as session:
                opens.append(time.perf_counter() - t0)
                open_requests = session.requests_sent
                n_discover, t_discover = measure(session, discovery_of(session))
                discoveries.append(t_discover)
            totals.append(time.perf_counter() - t0)
        print(
            f"open session (WSMan Create + PSRP handshake, one NTLM handshake): median {statistics.median(opens) * 1000:.1f} ms, "
            f"{open_requests} WSMan requests"
        )
        print(
            f"full discovery on an open session: median {statistics.median(discoveries) * 1000:.1f} ms, {n_discover} WSMan requests"
        )
        print(f"full discovery including open and close: median {statistics.median(totals) * 1000:.1f} ms")

        print("\nWSMan requests per operation (one open session):")
        original = standin.state()
        with ExchangeSession(endpoint, standin.password) as session:
            cert = client.discover_exchange(session, REALM).current_certificate
            assert cert is not None
            operations: list[tuple[str, Callable[[], Any]]] = [
                ("get_servers", lambda: client.get_servers(session)),
                ("get_auth_config", lambda: client.get_auth_config(session)),
                (
                    "get_server_certificate",
                    lambda: client.get_server_certificate(session, cert.thumbprint, server["name"]),
                ),
                ("get_auth_servers", lambda: client.get_auth_servers(session)),
                ("get_push_proxy", lambda: client.get_push_proxy(session)),
                (
                    "new_auth_certificate (fresh)",
                    lambda: client.new_auth_certificate(session, server["name"], reuse_existing=False),
                ),
                ("new_auth_certificate (reuse)", lambda: client.new_auth_certificate(session, server["name"])),
                (
                    "set_auth_certificate (already current)",
                    lambda: client.set_auth_certificate(session, cert.thumbprint),
                ),
                ("ensure_auth_server (create)", lambda: client.ensure_auth_server(session, REALM)),
                ("ensure_auth_server (in place)", lambda: client.ensure_auth_server(session, REALM)),
                ("enable_push_proxy", lambda: client.enable_push_proxy(session, REALM)),
                ("run_probe", lambda: client.run_probe(session, server["fqdn"])),
                ("disable_push_proxy", lambda: client.disable_push_proxy(session)),
            ]
            for name, fn in operations:
                standin.clear_journal()
                count, elapsed = measure(session, fn)
                ran = [e["operation"] for e in standin.journal() if "-" in e["operation"]]
                print(f"  {name:40s} {count:3d} requests {elapsed * 1000:8.1f} ms  cmdlets: {', '.join(ran)}")
        standin.clear_journal()
        t0 = time.perf_counter()
        client.restart_health_manager(endpoint, standin.password, server["name"])
        wsman = [e["operation"] for e in standin.journal()]
        print(
            f"  {'restart_health_manager (own session)':40s} {len(wsman):3d} journal entries {(time.perf_counter() - t0) * 1000:6.1f} ms"
        )
        standin.put_state(original)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
