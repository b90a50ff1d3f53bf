"""The infra/ Bicep files as parsed trees, and the few walks the infra tests make over them.

pycep-parser gives a JSON-like tree (resources, modules, parameters, variables, outputs). It writes an
identifier and a string literal the same way (a bare str), so walks here never rely on telling them apart.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"


def bicep_paths() -> list[Path]:
    """Every .bicep file under infra/, sorted."""
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    """The pycep tree of one Bicep file (cached: the files don't change during a run)."""
    from pycep import BicepParser

    tree: dict[str, Any] = dict(BicepParser().parse(file_path=path))
    return tree


def syntax_errors(path: Path) -> list[str]:
    """ERROR and MISSING nodes tree-sitter-bicep finds in `path`, as 'line:col kind' strings."""
    import tree_sitter
    import tree_sitter_bicep

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    root = parser.parse(path.read_bytes()).root_node
    problems: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            line, col = node.start_point
            problems.append(f"{line + 1}:{col + 1} {'missing ' + node.type if node.is_missing else 'syntax error'}")
        stack.extend(node.children)
    return sorted(problems)


def body(config: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's own body, without the `if (...)` or `[for ...]` wrapper pycep puts around it."""
    while isinstance(config.get("config"), dict) and ("condition" in config or "loop_type" in config):
        config = config["config"]
    return config


@dataclass(frozen=True)
class Resource:
    """One `resource` declaration."""

    path: Path
    symbol: str
    type: str
    api_version: str
    existing: bool
    body: dict[str, Any]

    @property
    def properties(self) -> dict[str, Any]:
        props = self.body.get("properties")
        return props if isinstance(props, dict) else {}


def resources() -> list[Resource]:
    """Every resource declared (or referenced with `existing`) in every infra file."""
    found = []
    for path in bicep_paths():
        for symbol, decl in parse(path).get("resources", {}).items():
            found.append(
                Resource(
                    path=path,
                    symbol=symbol,
                    type=decl["type"],
                    api_version=decl["api_version"],
                    existing=bool(decl.get("existing")),
                    body=body(decl["config"]),
                )
            )
    return found


def deployed(resource_type: str) -> list[Resource]:
    """The resources of one type this deployment creates (not `existing` references)."""
    return [r for r in resources() if r.type.lower() == resource_type.lower() and not r.existing]


def walk(node: Any) -> Iterator[Any]:
    """Every value inside `node`, depth first, `node` included."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def name_value_pairs(expression: Any, variables: dict[str, Any]) -> dict[str, Any]:
    """The `{name: ..., value: ...}` objects an app-settings expression builds, following variables of the file.

    Handles concat(), union(), conditionals and loops by walking into every sub-expression: a setting that only
    some configurations set still counts as set.
    """
    pairs: dict[str, Any] = {}
    seen: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, str) and node in variables and node not in seen:
            seen.add(node)
            visit(variables[node].get("value"))
        elif isinstance(node, dict):
            if isinstance(node.get("name"), str) and "value" in node:
                pairs[node["name"]] = node["value"]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(expression)
    return pairs


def function_app_settings() -> dict[str, Any]:
    """App setting name -> value expression, over every function app (Microsoft.Web/sites) infra deploys."""
    settings: dict[str, Any] = {}
    for site in deployed("Microsoft.Web/sites"):
        variables = parse(site.path).get("variables", {})
        site_config = site.properties.get("siteConfig", {})
        settings.update(name_value_pairs(site_config.get("appSettings"), variables))
    return settings


def _tree_sitter_root(path: Path) -> Any:
    import tree_sitter
    import tree_sitter_bicep

    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))
    return parser.parse(path.read_bytes()).root_node


DECLARATIONS = (
    "parameter_declaration", "variable_declaration", "resource_declaration", "module_declaration", "output_declaration",
)


@dataclass(frozen=True)
class Symbols:
    """The names a file declares and the bare identifiers it uses as values, from tree-sitter's tree."""

    declared: frozenset[str]
    referenced: dict[str, int]  # name -> first line it is used on


def symbols(path: Path) -> Symbols:
    """Declared names (params, vars, resources, modules, outputs, loop variables) and referenced identifiers.

    An identifier is a reference unless it names a declaration, an object key, a called function or a decorator.
    """
    declared: set[str] = set()
    referenced: dict[str, int] = {}
    stack = [_tree_sitter_root(path)]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        text = node.text.decode() if node.text else ""
        if node.type in ("loop_variable", "loop_enumerator"):
            declared.add(text)
            continue
        if node.type != "identifier" or node.parent is None:
            continue
        parent = node.parent
        first = parent.children[0] if parent.children else None
        if parent.type in DECLARATIONS and parent.child_by_field_name("name") == node:
            declared.add(text)
        elif parent.type in DECLARATIONS and parent.children[1] == node:
            declared.add(text)
        elif parent.type == "for_statement" and node.prev_sibling is not None and node.prev_sibling.type == "for":
            declared.add(text)  # `[for item in items: ...]`
        elif parent.type == "object_property" and first == node:
            continue
        elif parent.type == "call_expression" and first == node:
            continue
        else:
            referenced.setdefault(text, node.start_point[0] + 1)
    return Symbols(frozenset(declared), referenced)
