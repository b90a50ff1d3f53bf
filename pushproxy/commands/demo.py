"""`pushproxy demo`: start both stand-ins and onboard their default tenant end to end, twice."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="onboard a stand-in organisation end to end (no Azure, no real Exchange)",
        description="Starts the Exchange and Graph stand-ins on 127.0.0.1, onboards the default tenant "
        "(auto-approved, a short wait instead of 120 s), verifies with the probe, then runs again to show an empty plan.",
    )
    parser.add_argument("--wait", type=float, default=3.0, help="seconds to wait before the probe (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (spec, logs, databases)")
    parser.add_argument("--rotation", action="store_true",
                        help="instead: renew the Auth certificate end to end in accelerated time (a clock that jumps)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.rotation:
        from pushproxy.rotation_demo import run_rotation_demo

        return run_rotation_demo(Console(), keep=args.keep)
    from pushproxy.onboarding.demo import run_demo

    return run_demo(Console(), wait_s=args.wait, keep=args.keep)
