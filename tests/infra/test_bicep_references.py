"""What a Bicep compiler would catch first, checked without one: undeclared names, and module calls that don't
match the module (unknown or missing parameters, outputs that don't exist)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep_model import INFRA, bicep_paths, body, parse, symbols, walk

PATHS = bicep_paths()


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_name_used_is_declared(path: Path) -> None:
    found = symbols(path)
    undeclared = {name: line for name, line in found.referenced.items() if name not in found.declared}
    assert undeclared == {}, f"{path.name}: used but never declared (name: line)"


def test_reference_check_catches_a_typo(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bicep"
    bad.write_text("param location string\nvar x = locaton\n", encoding="utf-8")
    assert symbols(bad).referenced.keys() - symbols(bad).declared == {"locaton"}


def module_calls() -> list[tuple[Path, str, Path, dict[str, Any]]]:
    calls = []
    for path in PATHS:
        for symbol, module in parse(path).get("modules", {}).items():
            target = (path.parent / module["detail"]["path"]).resolve()
            calls.append((path, symbol, target, body(module["config"])))
    return calls


@pytest.mark.parametrize("call", module_calls(), ids=lambda c: f"{c[0].name}:{c[1]}")
def test_module_call_matches_the_module_parameters(call: tuple[Path, str, Path, dict[str, Any]]) -> None:
    _, symbol, target, config = call
    declared = parse(target).get("parameters", {})
    passed = set(config.get("params", {}))
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert passed - set(declared) == set(), f"{symbol}: parameters {target.name} doesn't declare"
    assert required - passed == set(), f"{symbol}: required parameters of {target.name} not passed"


def _outputs_read(tree: dict[str, Any], module: str) -> set[str]:
    """Names read as `<module>.outputs.<name>` anywhere in a parsed file."""
    read = set()
    for node in walk(tree):
        if not (isinstance(node, dict) and isinstance(node.get("operator"), dict)):
            continue
        operator = node["operator"]
        operands = operator.get("operands", {})
        if operator.get("type") != "property_accessor" or operands.get("operand_1") != module:
            continue
        inner = operands.get("operand_2")
        if isinstance(inner, dict) and isinstance(inner.get("operator"), dict):
            inner_operands = inner["operator"].get("operands", {})
            if inner_operands.get("operand_1") == "outputs" and isinstance(inner_operands.get("operand_2"), str):
                read.add(inner_operands["operand_2"])
    return read


@pytest.mark.parametrize("call", module_calls(), ids=lambda c: f"{c[0].name}:{c[1]}")
def test_module_outputs_read_exist(call: tuple[Path, str, Path, dict[str, Any]]) -> None:
    path, symbol, target, _ = call
    read = _outputs_read(parse(path), symbol)
    assert read - set(parse(target).get("outputs", {})) == set(), f"{symbol}: outputs {target.name} doesn't declare"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_unused_parameters_or_variables(path: Path) -> None:
    # bicep lint's no-unused-params and no-unused-vars rules.
    tree, used = parse(path), symbols(path).referenced
    unused = [name for kind in ("parameters", "variables") for name in tree.get(kind, {}) if name not in used]
    assert unused == []
