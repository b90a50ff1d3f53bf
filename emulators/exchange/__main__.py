"""`python -m emulators.exchange`: run the Exchange stand-in until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from emulators.exchange import clixml
from emulators.exchange.auth import KerberosAcceptor
from emulators.exchange.engine import StandIn
from emulators.exchange.organisation import ExchangeState, StateError, VirtualDirectoryAuth
from emulators.exchange.server import Credentials, TlsIdentity, serve

DEFAULT_USER = "admin@fabrikam.com"
DEFAULT_PASSWORD = "P@ssw0rd!"  # noqa: S105 - the stand-in's documented test account (docs/interfaces.md)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"--listen {value!r}: expected HOST:PORT, e.g. 127.0.0.1:0")
    return host.strip("[]"), int(port)


def _capture(value: str) -> tuple[str, Path]:
    cmdlet, sep, path = value.partition("=")
    if not sep or not cmdlet or not path:
        raise argparse.ArgumentTypeError(f"--capture {value!r}: expected CMDLET=FILE")
    return cmdlet, Path(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulators.exchange", description=__doc__)
    parser.add_argument("--listen", type=_listen, default=("127.0.0.1", 0), help="HOST:PORT (port 0 picks a free one)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    parser.add_argument("--cert-out", type=Path, help="write the TLS certificate (PEM) here")
    parser.add_argument("--user", default=DEFAULT_USER)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--state", type=Path, help="JSON state file: loaded at start, rewritten on every change")
    parser.add_argument("--capture", type=_capture, action="append", default=[],
                        help="CMDLET=FILE: answer CMDLET with the objects of an Export-Clixml file (repeatable)")
    parser.add_argument("--tenant-state", help="the Graph stand-in's /_emulator/state URL, read by the probe")
    parser.add_argument("--enable-auth", type=_auth_methods, default=VirtualDirectoryAuth(),
                        help="basic,windows: switch these on for /PowerShell of every organisation whose state "
                             "doesn't say (as Set-PowerShellVirtualDirectory -BasicAuthentication/-WindowsAuthentication "
                             "$true); default: Kerberos only, as Exchange")
    parser.add_argument("--keytab", type=Path, help="keytab holding HTTP/<--kerberos-host>: accept Kerberos with it")
    parser.add_argument("--kerberos-host", default="localhost",
                        help="host name of the stand-in's service principal HTTP/<host> (default localhost)")
    args = parser.parse_args(argv)
    if args.cert_out and not args.tls:
        parser.error("--cert-out needs --tls")
    return args


def _auth_methods(value: str) -> VirtualDirectoryAuth:
    methods = {m.strip().lower() for m in value.split(",") if m.strip()}
    unknown = sorted(methods - {"basic", "windows"})
    if unknown:
        raise argparse.ArgumentTypeError(f"--enable-auth {value!r}: {unknown[0]!r} is not basic or windows")
    return VirtualDirectoryAuth(basic_authentication="basic" in methods, windows_authentication="windows" in methods)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        state = (ExchangeState.load(args.state, args.enable_auth) if args.state
                 else ExchangeState.default(default_vdir=args.enable_auth))
        kerberos = KerberosAcceptor.configure(args.kerberos_host, args.keytab) if args.keytab else None
        captures = {cmdlet: [clixml.RawObject.from_element(o, keep_ids=True) for o in clixml.load_capture(path)]
                    for cmdlet, path in args.capture}
    except (StateError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = args.listen
    tls = TlsIdentity(host) if args.tls else None
    if tls is not None and args.cert_out:
        args.cert_out.write_bytes(tls.pem)
    app = StandIn(state, captures, args.tenant_state)
    try:
        server = serve(app, host, port, Credentials(args.user, args.password), tls, kerberos)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port} ({exc})", file=sys.stderr)
        return 2
    print(f"listening on {server.base_url}/PowerShell", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
