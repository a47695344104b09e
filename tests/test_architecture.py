"""docs/ARCHITECTURE.md stays true: every path it names exists, every package is in its table, and the
import rules it states hold in the code."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
PACKAGES = ("contract", "engine", "bot", "cogs")


def packages() -> set[str]:
    return {str(p.parent.relative_to(ROOT)) + "/" for name in PACKAGES for p in (ROOT / name).rglob("__init__.py")}


def imports(path: Path, module_level_only: bool) -> set[str]:
    """Top-level names of what ``path`` imports (absolute imports only; the project uses no relative ones)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - {"__future__"}


def module_names() -> dict[str, Path]:
    """Every module of the four packages by its dotted name (a package by its ``__init__.py``)."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Which of ``modules`` each one imports, anywhere in it: inside functions and under ``TYPE_CHECKING`` too,
    since a type-only import still says the two modules know each other."""
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets |= {
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                }
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan's algorithm), sorted: empty when the graph
    has no cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_module_imports_itself_round_a_cycle():
    graph = import_graph(module_names())
    assert len(graph) > 80 and sum(map(len, graph.values())) > 200  # the whole tree was read
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = import_graph(module_names())
    graph["contract.limits"] = graph["contract.limits"] | {"bot.config"}  # bot.config imports contract.limits
    assert any({"bot.config", "contract.limits"} <= set(group) for group in cycles(graph))


def test_every_module_has_a_test_that_names_it():
    """Imported by a test, or with a test file of its own where the tests mirror the tree (a module run as a
    process, like ``bot/__main__.py``, is tested through the process)."""
    modules = module_names()
    tests = {".".join(path.relative_to(ROOT).with_suffix("").parts): path for path in (ROOT / "tests").rglob("*.py")}
    graph = import_graph(modules | tests)
    imported = set().union(*(graph[name] for name in tests))
    unnamed = [
        name
        for name, path in modules.items()
        if path.name != "__init__.py"
        and name not in imported
        and not (ROOT / "tests" / path.relative_to(ROOT).parent / f"test_{path.name}").exists()
    ]
    assert unnamed == []


def test_every_named_path_exists():
    named = set(re.findall(r"`([\w./-]+)`", DOC))
    paths = {name for name in named if "/" in name and not name.startswith(("/", "http"))}
    files = {name for name in named if name.endswith(".py") and "/" not in name}
    assert paths
    assert [p for p in paths if not (ROOT / p).exists()] == []
    everywhere = {p.name for name in PACKAGES for p in (ROOT / name).rglob("*.py")}
    assert sorted(files - everywhere) == []


def test_every_module_is_named_by_its_path():
    named = set(re.findall(r"`([\w./-]+\.py)`", DOC))
    modules = {str(path.relative_to(ROOT)) for path in module_names().values() if path.name != "__init__.py"}
    assert sorted(modules - named) == []


def test_every_package_is_in_the_table():
    rows = set(re.findall(r"^\| `([\w/]+/)` \|", DOC, re.MULTILINE))
    assert rows == packages()


@pytest.mark.parametrize(
    ("package", "module_level_only", "allowed"),
    [
        ("contract", False, lambda name: name == "contract" or name == "PIL" or name in sys.stdlib_module_names),
        ("engine", False, lambda name: name not in ("bot", "cogs")),
        ("bot", True, lambda name: name not in ("engine", "cogs")),  # the CLI imports engine inside its commands
        ("cogs", False, lambda name: name != "engine"),
    ],
)
def test_import_rules(package, module_level_only, allowed):
    broken = {
        str(path.relative_to(ROOT)): sorted(name for name in imports(path, module_level_only) if not allowed(name))
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: names for path, names in broken.items() if names} == {}
