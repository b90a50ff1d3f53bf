"""Which app settings the product's code reads, found by scanning its source (not from a fixed list).

Counted as a read: `setting("NAME")` (pushproxy.settings), a `%NAME%` string (trigger bindings such as a timer
schedule, and host.json), and any direct `os.environ[...]`, `os.environ.get(...)` or `os.getenv(...)` with a
literal name. Reads with a computed name (resolving an `env:` secret reference, settings.setting itself) name no
setting and are skipped.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.infra.bicep_model import REPO

# Code the Function App runs. emulators/ and tests/ never run in Azure.
SCANNED = ("pushproxy", "functions", "orchestrators", "function_app.py")
# At least three characters, so printf-style "%s%" fragments are not mistaken for settings.
PERCENT_NAME = re.compile(r"^%([A-Za-z_][A-Za-z0-9_]{2,})%$")


@dataclass(frozen=True)
class SettingRead:
    """One place the code reads an app setting."""

    name: str
    path: Path
    line: int
    how: str  # "setting()", "%NAME%", "os.environ", "os.getenv", "host.json"

    def where(self) -> str:
        return f"{self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path}:{self.line} ({self.how})"


def python_files(root: Path = REPO, scanned: Iterable[str] = SCANNED) -> list[Path]:
    files: list[Path] = []
    for entry in scanned:
        path = root / entry
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(files)


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_os_environ(node: ast.AST) -> bool:
    # os.environ, or a bare `environ` imported from os.
    if isinstance(node, ast.Attribute) and node.attr == "environ":
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def reads_in_source(source: str, path: Path) -> Iterator[SettingRead]:
    """Every setting read with a literal name in one Python source."""
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            first = _literal(node.args[0]) if node.args else None
            if first is None:
                continue
            if (isinstance(func, ast.Name) and func.id == "setting") or (
                isinstance(func, ast.Attribute) and func.attr == "setting"
            ):
                yield SettingRead(first, path, node.lineno, "setting()")
            elif isinstance(func, ast.Attribute) and func.attr in ("get", "pop", "setdefault") and _is_os_environ(func.value):
                yield SettingRead(first, path, node.lineno, "os.environ")
            elif (isinstance(func, ast.Attribute) and func.attr == "getenv") or (
                isinstance(func, ast.Name) and func.id == "getenv"
            ):
                yield SettingRead(first, path, node.lineno, "os.getenv")
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            name = _literal(node.slice)
            if name is not None:
                yield SettingRead(name, path, node.lineno, "os.environ")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = PERCENT_NAME.match(node.value.strip())
            if match:
                yield SettingRead(match.group(1), path, node.lineno, "%NAME%")


def reads_in_host_json(path: Path) -> Iterator[SettingRead]:
    """`%NAME%` values in host.json (the Durable hub name)."""
    if not path.exists():
        return

    def strings(node: object) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    for text in strings(json.loads(path.read_text(encoding="utf-8"))):
        match = PERCENT_NAME.match(text.strip())
        if match:
            yield SettingRead(match.group(1), path, 1, "host.json")


def setting_reads(root: Path = REPO, scanned: Iterable[str] = SCANNED) -> list[SettingRead]:
    """Every setting read in the code the Function App runs, plus host.json. settings.py itself is the reader,
    not a caller, and is skipped."""
    reads: list[SettingRead] = []
    for path in python_files(root, scanned):
        if path.parts[-2:] == ("pushproxy", "settings.py"):
            continue
        reads.extend(reads_in_source(path.read_text(encoding="utf-8"), path))
    reads.extend(reads_in_host_json(root / "host.json"))
    return reads
