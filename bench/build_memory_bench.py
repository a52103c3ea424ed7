"""The full build's peak memory and time by DuckDB memory setting (issue #24: ≤ 2 GB at 10 M rows by default).

    .venv/bin/python bench/build_memory_bench.py [--rows 1e7] [--days 30] [--reps 2] [--folder DIR] [--sim-from DIR]

The gated home is prepared once by ``bench/spark_bench.py``'s ``prepare`` (kept in ``--folder``). Then every
setting builds every model and data test of the four layers (``cityshare.engine.build(full_refresh=True)``)
in a fresh child process, the settings alternating rep by rep; medians. Peak memory is the child's RSS
(sampled every 0.2 s). Settings: the default (``cityshare.resources`` derives the limit from the machine:
``MEMORY_PER_THREAD`` × threads), DuckDB's own default (80 % of RAM, CityShare's default before), and fixed
limits. Writes ``bench/results/build_memory.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine
from spark_bench import prepare, run_build

SETTINGS: dict[str, dict[str, str]] = {
    "default (derived)": {},
    "80% (DuckDB's own)": {"CITYSHARE_DBT_MEMORY_LIMIT": "80%"},
    "2GB": {"CITYSHARE_DBT_MEMORY_LIMIT": "2GB"},
    "1GB": {"CITYSHARE_DBT_MEMORY_LIMIT": "1GB"},
}


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Full build by DuckDB memory setting 构建内存 (`bench/build_memory_bench.py`)", "",
        f"Measured {report['measured_at']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; load average "
        f"at start {report['load_start']}, at the end {report['load_end']}. {report['source_rows']:,} source rows "
        f"({report['days']} simulated days), landed and gated once; every build runs every model and data test in "
        f"a fresh process, {report['reps']} alternating rep(s), medians. The default derives the limit from the "
        f"machine: {report['derived']}.", "",
        "| setting | build s | vs DuckDB's own default | peak RSS MB |", "|---|---|---|---|",
    ]
    own = report["builds"]["80% (DuckDB's own)"]["seconds"]
    for name, b in report["builds"].items():
        lines.append(f"| {name} | {b['seconds']:.1f} | {b['seconds'] / own:.2f}× | {b['peak_tree_rss_mb']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--folder", default="/tmp/cityshare-spark-bench")
    parser.add_argument("--out", default=str(RESULTS / "build_memory"))
    parser.add_argument("--sim-from", metavar="DIR", help="reuse the simulation `bench/run.py --keep` left in DIR/rows_N")
    args = parser.parse_args()
    from cityshare import resources
    from cityshare.settings import get_settings

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    if args.sim_from and not (folder / "simulation.json").exists():  # `bench/run.py --keep DIR`'s simulation
        source = Path(args.sim_from)
        shutil.copytree(source / "full", folder / "full", dirs_exist_ok=True)
        shutil.copy(source / "simulation.json", folder / "simulation.json")
    load_start = [round(x, 2) for x in os.getloadavg()]
    info = prepare(folder, int(args.rows), args.days)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SETTINGS}
    for rep in range(args.reps):
        for name in (list(SETTINGS) if rep % 2 == 0 else list(reversed(SETTINGS))):
            runs[name].append(run_build(info, 0, settings=SETTINGS[name]))
            print(f"rep {rep + 1} {name}: {runs[name][-1]}", flush=True)
    builds = {name: {"seconds": statistics.median(r["seconds"] for r in rs),
                     "peak_tree_rss_mb": round(statistics.median(r["peak_tree_rss_mb"] for r in rs)),
                     "runs": rs} for name, rs in runs.items()}
    report = {"source_rows": info["source_rows"], "days": args.days, "reps": args.reps, "builds": builds,
              "derived": f"{resources.duckdb_threads(get_settings())} threads × "
                         f"{resources.MEMORY_PER_THREAD // 2**20} MiB = {resources.duckdb_memory_limit(get_settings())}",
              "machine": machine(), "measured_at": dt.datetime.now().isoformat(timespec="seconds"),
              "load_start": load_start, "load_end": [round(x, 2) for x in os.getloadavg()]}
    Path(args.out + ".json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    Path(args.out + ".md").write_text(render(report), encoding="utf-8")
    print(render(report))


if __name__ == "__main__":
    main()
