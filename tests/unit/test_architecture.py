"""The package's layers (docs/architecture.md): data flows one way and no module imports a layer above it.

``lint-imports`` checks the layers contract in pyproject.toml; this test also makes sure every top-level
module of ``cityshare`` is placed in a layer, so a new module cannot silently escape the contract.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["type"] == "layers"]
    return [name.strip() for layer in contract["layers"] for name in layer.split("|")]


def test_every_top_level_module_has_a_layer():
    package = ROOT / "cityshare"
    modules = {f"cityshare.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"cityshare.{p.parent.name}" for p in package.glob("*/__init__.py")}
    layered = set(_layers())
    for name in sorted(modules - layered):  # a package may instead place each of its modules (cityshare.meta)
        inner = {f"{name}.{p.stem}" for p in (package / name.split(".")[1]).glob("*.py") if p.stem != "__init__"}
        if inner and inner <= layered:
            modules.discard(name)
    assert modules - layered == set(), "place new modules in a layer in pyproject.toml [tool.importlinter]"


def test_no_module_imports_a_layer_above_it():
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]


# Environment variables read outside cityshare.settings, each for a reason that is not configuration:
# fault injection for the fault tests, and the variables dbt's profiles.yml reads (set and restored around a run).
ENV_READERS_BESIDE_SETTINGS = {
    "faults.py": {"CITYSHARE_FAIL_AT", "CITYSHARE_CRASH_AT"},
    "spark_engine.py": {"CITYSHARE_ENGINE"},
    "transform.py": {"CITYSHARE_DBT_KEEP_OPEN"},
}


def test_configuration_is_read_only_in_settings():
    import re

    read = re.compile(r"""os\.(?:environ\.get|getenv)\(\s*["'](CITYSHARE_\w+)""")
    found: dict[str, set[str]] = {}
    for path in (ROOT / "cityshare").rglob("*.py"):
        names = set(read.findall(path.read_text(encoding="utf-8")))
        if names and path.name != "settings.py":
            found[str(path.relative_to(ROOT / "cityshare"))] = names
    assert found == ENV_READERS_BESIDE_SETTINGS, "read CITYSHARE_* settings in cityshare/settings.py (Settings)"


def test_no_import_cycles():
    """Within packages too (the layers contract only orders them): a module never imports, even lazily, one that
    imports it back — such a pair is one module in two files, or an owner missing between them."""
    import grimp

    graph = grimp.build_graph("cityshare", exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append(" → ".join([module, *back]))
    assert cycles == []


def test_only_the_meta_package_holds_sql_on_meta_tables():
    """cityshare/meta/ owns the metadata schema: every read and write of a ``meta.`` table is one of its functions,
    so a new column is added in one place (and inserts name their columns there)."""
    import re

    sql = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+meta\.|meta\.\{|LATEST_ACCEPTED")  # SQL is upper case here
    found = []
    for path in sorted((ROOT / "cityshare").rglob("*.py")):
        if path.parent.name == "meta":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if sql.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
