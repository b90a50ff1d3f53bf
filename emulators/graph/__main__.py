"""`python -m emulators.graph`: run the Microsoft Graph + Entra ID stand-in until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from emulators.graph.certs import tls_context
from emulators.graph.defaults import DEFAULT_MI_PRINCIPAL_ID, MI_ISSUER, TOKEN_EXCHANGE_AUDIENCE
from emulators.graph.directory import Directory
from emulators.graph.server import DEFAULT_IDENTITY_HEADER, GraphStandIn

# What --client-id registers: consented in every tenant, as the onboarding needs.
CONSENTED_ROLES = ["Application.ReadWrite.All", "Organization.Read.All"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m emulators.graph", description="Microsoft Graph and Entra ID stand-in.")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free one)")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a fresh self-signed certificate")
    p.add_argument("--cert-out", help="write the TLS certificate (PEM) here, for clients to trust")
    p.add_argument("--state", help="starting state (JSON, the shape of GET /_emulator/state)")
    p.add_argument("--client-id", help="register this application in every tenant")
    p.add_argument("--client-secret", help="its client secret")
    p.add_argument(
        "--client-cert", action="append", default=[], help="a PEM certificate the application may sign assertions with"
    )
    p.add_argument(
        "--identity-header",
        default=DEFAULT_IDENTITY_HEADER,
        help="X-IDENTITY-HEADER value of the managed identity endpoint",
    )
    p.add_argument(
        "--replication-lag-ms",
        help="eventual consistency: the lag of each replica that serves reads, e.g. 0,150 (default: none)",
    )
    args = p.parse_args(argv)
    if args.client_secret and not args.client_id:
        p.error("--client-secret needs --client-id")
    return args


def build_directory(args: argparse.Namespace) -> Directory:
    state: dict[str, Any] | None = None
    if args.state:
        state = json.loads(Path(args.state).read_text(encoding="utf-8"))
    directory = Directory(state)
    if args.client_id:
        directory.data["applications"][args.client_id] = {
            "secret": args.client_secret,
            "roles": list(CONSENTED_ROLES),
            "tenants": "*",
            "certificates": [Path(c).read_text(encoding="utf-8") for c in args.client_cert],
            # The default managed identity may sign in as this application (workload identity federation).
            "federatedCredentials": [
                {"issuer": MI_ISSUER, "subject": DEFAULT_MI_PRINCIPAL_ID, "audience": TOKEN_EXCHANGE_AUDIENCE}
            ],
        }
    if args.replication_lag_ms:
        directory.set_replication_lag(args.replication_lag_ms)
    return directory


async def serve(args: argparse.Namespace) -> None:
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    standin = GraphStandIn(build_directory(args), identity_header=args.identity_header)
    ssl_ctx = tls_context(host, args.cert_out) if args.tls else None
    runner = web.AppRunner(standin.app(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port or 0), ssl_context=ssl_ctx)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening on {'https' if args.tls else 'http'}://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (OSError, ValueError) as exc:
        print(f"graph stand-in: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
