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


def test_every_named_path_exists():
    named = set(re.findall(r"`([\w./-]+)`", DOC))
    paths = {name for name in named if "/" in name and not name.startswith(("/", "http"))}
    files = {name for name in named if name.endswith(".py") and "/" not in name}
    assert paths and files
    assert [p for p in paths if not (ROOT / p).exists()] == []
    everywhere = {p.name for name in PACKAGES for p in (ROOT / name).rglob("*.py")}
    assert sorted(files - everywhere) == []


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
