"""Directory build time for 1,000 resources (generated contracts), against a hand-written baseline.

Generates N source contracts (round-robin over departments, classifications and sharing types) into
a temp CITYSHARE_HOME copy, then times:
- ours: ``build_directory`` — first build (assigns codes, writes version 1 of every entry) and a
  rebuild (codes looked up, every entry diffed against its last version, nothing new written);
- baseline: the same YAML files parsed with ``yaml.safe_load`` and one JSON row per resource
  inserted into a DuckDB table in one transaction (no classification, validation or versions).
Prints seconds, the ratio ours / baseline and the peak RSS.

    .venv/bin/python bench/directory_bench.py [--resources 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from cityshare.settings import PROJECT_ROOT, get_settings

SUBJECTS = ["3/01/001", "3/01/002", "3/04/001", "3/06/001", "2/10/002", "1/02/001"]
DEPARTMENTS = ["cgj", "scjgj", "zjw", "jtj", "mzj", "jd_nanping"]
SHARING = [("无条件共享", None), ("有条件共享", "经提供方审批，限协同处置用途")]


def generate(contracts_dir: Path, n: int) -> None:
    """N source contracts modelled on the 城管局 case contract, each with 12 columns."""
    template = yaml.safe_load((PROJECT_ROOT / "contracts" / "cgj" / "city_cases.odcs.yaml").read_text(encoding="utf-8"))
    for i in range(n):
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        sharing, condition = SHARING[i % len(SHARING)]
        doc = json.loads(json.dumps(template))
        doc["id"] = f"urn:cityshare:contract:{dept}:bench_{i:04d}"
        doc["name"] = f"基准资源{i:04d}"
        doc["domain"] = dept
        doc["team"]["name"] = dept
        custom = {"sharingType": sharing, "sharingMethod": "共享平台/接口", "openType": "不予开放",
                  "updateCycle": "每日", "classification": SUBJECTS[i % len(SUBJECTS)],
                  "resourceFormat": "电子表格/csv"}
        if condition:
            custom["sharingCondition"] = condition
        doc["customProperties"] = [{"property": k, "value": v} for k, v in custom.items()]
        folder = contracts_dir / dept
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"bench_{i:04d}.odcs.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False),
                                                         encoding="utf-8")


def baseline(settings, paths: list[Path]) -> float:
    """Hand-written: parse every YAML, insert one JSON row per resource in one transaction."""
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect(str(settings.data_dir / "baseline.duckdb"))
    con.execute("CREATE OR REPLACE TABLE entries (code VARCHAR PRIMARY KEY, entry JSON)")
    rows = []
    for i, path in enumerate(paths):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        custom = {p["property"]: p["value"] for p in doc["customProperties"]}
        rows.append([f"{custom['classification'].replace('/', '')}/{i:05d}",
                     json.dumps({"name": doc["name"], "custom": custom,
                                 "items": [p["name"] for p in doc["schema"][0]["properties"]]}, ensure_ascii=False)])
    con.execute("BEGIN")
    con.executemany("INSERT INTO entries VALUES (?, ?)", rows)
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000)
    args = parser.parse_args()
    from cityshare.directory.builder import build_directory

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        (home / "contracts").mkdir(parents=True)
        shutil.copytree(PROJECT_ROOT / "catalog", home / "catalog")
        generate(home / "contracts", args.resources)
        settings = dataclasses.replace(get_settings(), project_root=home, data_dir=home / "data")
        settings.data_dir.mkdir(parents=True)
        t0 = time.perf_counter()
        entries = build_directory(settings)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_directory(settings)
        rebuild = time.perf_counter() - t0
        base = baseline(settings, sorted((home / "contracts").glob("*/*.odcs.yaml")))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "resources": len(entries), "first_build_s": round(first, 2), "rebuild_s": round(rebuild, 2),
        "baseline_s": round(base, 2), "ratio_first": round(first / base, 1), "ratio_rebuild": round(rebuild / base, 1),
        "peak_rss_mb": round(rss_mb),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
