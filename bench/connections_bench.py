"""What one short-lived DuckDB connection costs: a new instance per use, as before, against a cursor on the
process's instance (cityshare.duckdb_instances), for the warehouse and the lake's scratch DuckDB.

    .venv/bin/python bench/connections_bench.py [--uses 200] [--warehouse PATH]

A load opens the warehouse about twice a batch (land, gate commit) and a scratch DuckDB once (land), each
for a few milliseconds of work; Airflow runs every task in its own process, so these stay short-lived. Each
use here runs the statement a gate commit starts with (one metadata insert, in a transaction) on a copy of
``--warehouse`` (default: a new one with the metadata schema), or ``SELECT 42`` on the scratch DuckDB. Both
ways alternate, use by use; medians. Writes ``bench/results/connections.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, write_report


def _direct_warehouse(path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    try:
        _work(con)
    finally:
        con.close()


def _pooled_warehouse(path: Path) -> None:
    from cityshare.duckdb_instances import attached

    with attached(path) as con:
        _work(con)


def _work(con: Any) -> None:
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO meta.schema_version VALUES (0, now())")
    con.execute("DELETE FROM meta.schema_version WHERE version = 0")
    con.execute("COMMIT")


def _direct_scratch(folder: Path) -> None:
    import duckdb

    con = duckdb.connect(config={"memory_limit": "512MB", "temp_directory": str(folder)})
    try:
        con.execute("SELECT 42").fetchone()
    finally:
        con.close()


def _pooled_scratch(folder: Path) -> None:
    from cityshare.duckdb_instances import scratch

    with scratch("512MB", folder) as con:
        con.execute("SELECT 42").fetchone()


def _alternate(uses: int, ways: dict[str, Callable[[], None]]) -> dict[str, float]:
    """ms per use of each way, median of ``uses`` alternating uses (the first of each way discarded)."""
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(uses + 1):
        for name, use in ways.items():
            started = time.perf_counter()
            use()
            samples[name].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values[1:]), 2) for name, values in samples.items()}


def measure(uses: int, warehouse: Path | None) -> dict[str, Any]:
    from cityshare.meta.schema import migrate
    from cityshare.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="cityshare-connections-") as tmp:
        root = Path(tmp)
        path = root / "warehouse.duckdb"
        if warehouse is not None:
            shutil.copy2(warehouse, path)
        else:
            import duckdb

            con = duckdb.connect(str(path))
            migrate(con, get_settings())
            con.close()
        size_mb = round(path.stat().st_size / 1e6, 1)
        result = {
            "warehouse": _alternate(uses, {"new instance": lambda: _direct_warehouse(path),
                                           "cursor, file attached": lambda: _pooled_warehouse(path)}),
            "scratch": _alternate(uses, {"new instance": lambda: _direct_scratch(root),
                                         "cursor": lambda: _pooled_scratch(root)}),
        }
    return {"uses": uses, "warehouse_mb": size_mb, "results": result, "machine": machine(),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["# One short-lived DuckDB connection 短连接开销 (`bench/connections_bench.py`)", "",
             f"Measured {report['measured_at']} on {m.get('cpu', '')}, {m.get('cores', '?')} cores; "
             f"{report['uses']} alternating uses per way, medians; warehouse file {report['warehouse_mb']} MB.", "",
             "| DuckDB | a new instance per use, ms | a cursor on the process's instance, ms | saved per use, ms |",
             "|---|---|---|---|"]
    for label, key in (("warehouse (a gate commit's insert, in a transaction)", "warehouse"),
                       ("lake scratch (`SELECT 42`)", "scratch")):
        old, new = report["results"][key].values()
        lines.append(f"| {label} | {old} | {new} | **{old - new:.1f}** |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uses", type=int, default=200)
    parser.add_argument("--warehouse", type=Path, help="a warehouse file to copy (default: a new one)")
    parser.add_argument("--out", type=Path, default=RESULTS / "connections")
    args = parser.parse_args()
    report = measure(args.uses, args.warehouse)
    write_report(args.out, report, render(report))


if __name__ == "__main__":
    main()
