"""A synthetic city catalogue: N source contracts from synthetic street offices (街道), real GB/T 2260 codes.

Each synthetic department is one of Chongqing's 1,031 towns and streets (its 9-digit statistical code in the
slug, e.g. ``s500108003``); it delivers copies of the 18 shipped source contracts under its own id, team,
provider code (a valid 统一社会信用代码) and paths, so every generated contract lints like a real one and is
onboarded by the contract alone (no catalog edit: the contract declares its provider). Used by
``bench/catalogue_bench.py`` and the catalogue-scale test.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from cityshare.identifiers import complete_uscc

ROOT = Path(__file__).resolve().parents[1]


def streets() -> list[tuple[str, str]]:
    with (ROOT / "dbt_project" / "seeds" / "chongqing_streets.csv").open(encoding="utf-8") as fh:
        return [(row["code"], row["name"]) for row in csv.DictReader(fh)]


def copy_project(home: Path) -> None:
    """The parts of the project a catalogue needs (contracts, catalog, dbt project, DAGs)."""
    for part in ("contracts", "catalog", "dbt_project", "dags"):
        shutil.copytree(ROOT / part, home / part, ignore=shutil.ignore_patterns("target", "logs", "__pycache__",
                                                                             "_generated", "dbt_packages"))


def generate(home: Path, n: int) -> int:
    """Add source contracts to ``home/contracts`` until there are ``n`` in all; returns how many were added."""
    templates = sorted(p for p in (home / "contracts").glob("*/*.odcs.yaml") if p.parent.name != "shared")
    have = len(templates)
    added = 0
    for i, (code, name) in enumerate(streets()):
        if have + added >= n:
            break
        dept = f"s{code}"
        provider = complete_uscc(f"11{code[:6]}MB{i:06d}"[:16])
        for template in templates:
            if have + added >= n:
                break
            src_dept = template.parent.name
            text = template.read_text(encoding="utf-8")
            text = text.replace(f"urn:cityshare:contract:{src_dept}:", f"urn:cityshare:contract:{dept}:")
            text = text.replace(f"/{src_dept}/", f"/{dept}/").replace(f"domain: {src_dept}\n", f"domain: {dept}\n")
            text = _retarget_team(text, dept, f"重庆市{name}办事处")
            text += (f"  - {{property: providerCode, value: {provider}}}\n"
                     f"  - {{property: providerShortName, value: {name}}}\n")
            out = home / "contracts" / dept / template.name
            if out.exists():  # two departments' datasets of the same name (grid_workers of two streets)
                out = out.with_name(f"{src_dept}_{template.name}")
                dataset = template.name.removesuffix(".odcs.yaml")
                urn = f"urn:cityshare:contract:{dept}:"
                text = text.replace(f"{urn}{dataset}", f"{urn}{src_dept}_{dataset}")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            added += 1
    return added


def _retarget_team(text: str, new: str, full_name: str) -> str:
    """``team.name``/``description`` → the synthetic department (the YAML's only top-level ``team:`` block)."""
    head, _, rest = text.partition("\nteam:\n")
    out, in_team = [], True
    for line in rest.splitlines(keepends=True):
        if in_team and line.startswith("  name: "):
            line = f"  name: {new}\n"
        elif in_team and line.startswith("  description: "):
            line = f"  description: {full_name}\n"
        elif line.strip() and not line.startswith(" "):
            in_team = False
        out.append(line)
    return head + "\nteam:\n" + "".join(out)
