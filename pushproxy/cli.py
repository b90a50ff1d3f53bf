"""The `pushproxy` command. Each subcommand lives in its own module under pushproxy/commands/."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pushproxy import __version__
from pushproxy.commands import exit_codes
from pushproxy.errors import PushProxyError, SecretError, SpecError

# Each module defines `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
COMMAND_MODULES = [
    "pushproxy.commands.demo",
    "pushproxy.commands.onboard",
    "pushproxy.commands.offboard",
    "pushproxy.commands.rotate",
    "pushproxy.commands.status",
    "pushproxy.commands.approve",
    "pushproxy.commands.verify",
    "pushproxy.commands.serve",
    "pushproxy.commands.exchange",
    "pushproxy.commands.spec",
    "pushproxy.commands.notifications",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pushproxy",
        description="Connect on-premises Exchange to the Office 365 push-notification proxy, and keep it connected.",
        epilog=exit_codes.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pushproxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SpecError, SecretError) as exc:
        print(f"pushproxy {args.command}: {exc}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except PushProxyError as exc:
        print(f"pushproxy {args.command}: {exc}", file=sys.stderr)
        return exit_codes.FAILED
    except KeyboardInterrupt:
        # Work still in flight on the host's threads (an activity mid-call) dies with the process: its result was
        # never committed, and the same command runs it again. Its dying words are noise, not an error to report.
        logging.disable(logging.CRITICAL)
        print(f"pushproxy {args.command}: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
