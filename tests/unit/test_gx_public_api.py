"""CityShare uses Great Expectations through its public API only (issue #23: no patching of GX private APIs).

A GX upgrade may rename or drop anything private without notice, and a patch of module state changes GX for
every user in the process. The scan is static: in every ``cityshare`` module that imports GX it fails on

- an import of a private GX module or name (``from great_expectations.x import _y``);
- an attribute whose name starts with one underscore read from a name bound to a GX import (``engine._Y``);
- any assignment to such an attribute of an object, unless it is ``self``/``cls`` (``source._engine = None``);
- any other read of such an attribute that no ``cityshare`` code defines (``batch._private_state``).

Overriding the hooks GX documents for custom expectations (``_validate``; GX: "Expectation classes must
implement _validate") defines the name in ``cityshare``, so delegating to the parent's within the override
(``super()._validate(...)``) passes.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cityshare"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _sources() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def _defined_in_cityshare(trees: dict[Path, ast.Module]) -> set[str]:
    """Every name CityShare's own code binds: functions, classes, variables, ``self.``/``cls.`` attributes."""
    names: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                names.add(node.attr)
    return names


def _gx_names(tree: ast.Module) -> set[str]:
    """The local names a module binds to GX modules and objects."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("great_expectations")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("great_expectations"):
            names |= {a.asname or a.name for a in node.names}
    return names


def private_gx_uses(trees: dict[Path, ast.Module]) -> list[str]:
    """``path:line: code`` of every use of a GX private name in these modules (the rules in the docstring)."""
    defined = _defined_in_cityshare(trees)
    found = []
    for path, tree in trees.items():
        gx = _gx_names(tree)
        if not gx:
            continue
        for node in ast.walk(tree):
            bad = False
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("great_expectations"):
                bad = any(_private(p) for p in (node.module or "").split(".")) or any(_private(a.name)
                                                                                      for a in node.names)
            elif isinstance(node, ast.Import):
                bad = any(a.name.startswith("great_expectations") and any(_private(p) for p in a.name.split("."))
                          for a in node.names)
            elif isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                own = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
                bad = ((isinstance(owner, ast.Name) and owner.id in gx)
                       or (isinstance(node.ctx, ast.Store | ast.Del) and not own)
                       or node.attr not in defined)
            if bad:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {ast.unparse(node)[:120]}")
    return found


def test_cityshare_uses_no_private_great_expectations_names():
    assert private_gx_uses(_sources()) == []


def test_the_scan_finds_the_patches_it_forbids():
    """The former gate workarounds (GX issue #10738, a fresh execution engine per gate) would fail the test."""
    patched = ast.parse(
        "from great_expectations.execution_engine import sqlalchemy_execution_engine as engine\n"
        "from great_expectations.execution_engine.sqlalchemy_execution_engine import _PERSISTED_CONNECTION_DIALECTS\n"
        "engine._PERSISTED_CONNECTION_DIALECTS = (*engine._PERSISTED_CONNECTION_DIALECTS, 'duckdb')\n"
        "def fresh(source):\n"
        "    source._execution_engine = None\n"
        "    return source._cached_execution_engine_kwargs\n"
    )
    found = private_gx_uses({PACKAGE / "patched.py": patched})
    assert sorted(int(line.split(":")[1]) for line in found) == [2, 3, 3, 5, 6]
