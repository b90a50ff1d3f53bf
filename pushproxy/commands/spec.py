"""`pushproxy spec --schema | --table`: the TenantSpec's JSON Schema, or the README's field table made from it."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("spec", help="print the TenantSpec's JSON Schema (every field, its default and meaning)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--schema", action="store_true", help="the JSON Schema (the default)")
    what.add_argument("--table", action="store_true", help="the field reference as a Markdown table (as in the README)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pushproxy.spec_schema import SCHEMA, markdown_table

    print(markdown_table() if args.table else json.dumps(SCHEMA, indent=2))
    return 0
