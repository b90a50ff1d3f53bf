"""Every Bicep file parses with a real Bicep grammar: tree-sitter-bicep (no error nodes) and pycep-parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep_model import INFRA, bicep_paths, parse, syntax_errors

PATHS = bicep_paths()


def test_infra_has_the_azd_layout() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in PATHS}
    assert "main.bicep" in names
    assert any(n.startswith("app/") for n in names), "modules live under infra/app/"
    assert (INFRA / "main.parameters.json").is_file()


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_tree_sitter_finds_no_error_nodes(path: Path) -> None:
    assert syntax_errors(path) == []


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_pycep_parses(path: Path) -> None:
    tree = parse(path)
    assert tree.get("resources") or tree.get("modules"), f"{path.name} declares nothing"


def test_tree_sitter_check_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text("param x string =\nresource a 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'a'\n", encoding="utf-8")
    assert syntax_errors(broken)


def test_every_module_path_exists() -> None:
    for path in PATHS:
        for symbol, module in parse(path).get("modules", {}).items():
            target = path.parent / module["detail"]["path"]
            assert target.is_file(), f"{path.name}: module {symbol} points at missing {target}"
