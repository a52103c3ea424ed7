"""The gate's fixed cost per batch: one contract, many 1,000-row batches gated in one process.

    .venv/bin/python bench/gate_fixed_bench.py [--batches 30] [--batch-rows 1000]

Ours = ``cityshare.gate.run.run_gate`` (GX suites on DuckDB, quarantine + accepted Parquet) on the
same landed batch again and again, as an Airflow worker gating one source's daily batches does; the
first batch pays the imports and GX's context, the others show the fixed cost that remains. Baseline =
the same checks hand-written in DuckDB SQL (``gate_bench.baseline``) on one shared connection. Both
are timed by the wall clock and by the process's CPU time (all threads): on a shared 2-core machine the
CPU time is the steadier figure. Ours is split into GX's validation runs (``gx_runner._validate``, the
two suites) and the rest (DuckDB flag pass, files, suite lookup).

Writes ``bench/results/gate_fixed.md`` and ``gate_fixed.json``. Same contract and data as
``gate_bench.py``: 26 rule results, ~1 % defective rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gate_bench
from _common import RESULTS, machine, write_report


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


# Where a batch's time goes inside GX (cProfile's cumulative time of these functions, by name).
PROFILE_PARTS = {
    "GX: build each expectation's metric graph": "_generate_metric_dependency_subgraphs_for_each_expectation_configuration",
    "GX: resolve the metrics (SQL through SQLAlchemy)": "_resolve_suite_level_graph_and_process_metric_evaluation_errors",
    "  of which DuckDB executing the queries": "execute@duckdb_engine",
    "GX: evaluate the expectations from the metrics": "metrics_validate@expectation.py",
    "GX: the result as JSON (stored for Data Docs)": "to_json_dict",
    "  GX's `Expectation.configuration`, rebuilt on every kwarg lookup": "configuration@expectation.py",
    "whole gate (run_gate)": "run_gate",
}


def profile_parts(prof: Any, batches: int) -> dict[str, dict[str, float]]:
    """ms per batch (under cProfile, so inflated) and share of ``run_gate`` for each of ``PROFILE_PARTS``."""
    import pstats

    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]  # pstats' documented dict of function stats
    parts: dict[str, float] = {}
    for label, spec in PROFILE_PARTS.items():
        name, _, where = spec.partition("@")
        parts[label] = sum(ct for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.items()
                           if func == name and where in path)
    whole = parts["whole gate (run_gate)"] or 1.0
    return {label: {"ms_per_batch": round(v * 1000 / batches, 1), "share": round(v / whole, 3)}
            for label, v in parts.items()}


def measure(batches: int, batch_rows: int, clean: bool = False, profile: bool = False) -> dict:
    """Per-batch wall and CPU seconds of ours (with GX's share) and of the baseline; ``clean``: the batch
    without its defective rows (GX then returns counts without sampling unexpected values). ``profile``: only
    ours, under cProfile after the first batch; where its time goes (``PROFILE_PARTS``)."""
    import cProfile

    import duckdb

    from cityshare.contracts.model import load_contract
    from cityshare.gate import gx_runner
    from cityshare.gate.run import run_gate
    from cityshare.lake import LandedBatch
    from cityshare.settings import get_settings

    root = Path(tempfile.mkdtemp(prefix="cityshare-gate-fixed-"))
    gate_bench._setup(root)
    os.environ["CITYSHARE_HOME"] = str(root)
    raw = gate_bench.make_batch(root, batch_rows)
    if clean:
        whole = raw.with_name("whole.parquet")
        raw.rename(whole)
        scan = f"read_parquet('{whole}', hive_partitioning = false)"
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM {scan} WHERE _source_row % 1000 NOT BETWEEN 1 AND 7 ORDER BY _source_row) "
                    f"TO '{raw}' (FORMAT parquet)")
        batch_rows = con.execute(f"SELECT count(*) FROM {scan} WHERE _source_row % 1000 NOT BETWEEN 1 AND 7").fetchone()[0]
        whole.unlink()
    contract = load_contract(root / "contracts" / "bench" / "cases.odcs.yaml")
    settings = get_settings()
    batch = LandedBatch(contract.key, gate_bench.DAY, "bench", raw, batch_rows, "bench", reused=False)

    gx_seconds: list[float] = []
    real_validate = gx_runner._validate

    def timed_validate(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real_validate(*args, **kwargs)
        finally:
            gx_seconds.append(time.perf_counter() - started)

    gx_runner._validate = timed_validate
    ours_wall, ours_cpu, ours_gx, rules = [], [], [], 0
    prof = cProfile.Profile()
    for i in range(batches):
        gx_seconds.clear()
        if profile and i:
            prof.enable()
        wall, cpu = _clock()
        outcome = run_gate(contract, batch, settings)
        prof.disable()
        ours_wall.append(time.perf_counter() - wall)
        ours_cpu.append(time.process_time() - cpu)
        ours_gx.append(sum(gx_seconds))
        assert outcome.status == "accepted", outcome.reason
        rules = len(outcome.results)
    gx_runner._validate = real_validate
    if profile:
        return {"batches": batches, "batch_rows": batch_rows, "rule_results": rules,
                "parts": profile_parts(prof, batches - 1)}

    con = duckdb.connect()
    base_wall, base_cpu = [], []
    out = root / "baseline"
    out.mkdir()
    for _ in range(batches):
        wall, cpu = _clock()
        base = gate_bench.baseline(raw, out, con=con)
        base_wall.append(time.perf_counter() - wall)
        base_cpu.append(time.process_time() - cpu)
    assert base["quarantined"] == outcome.rows_quarantined, (base, outcome.rows_quarantined)

    def after_first(values: list[float]) -> float:
        return round(statistics.median(values[1:]), 4)

    return {
        "batches": batches, "batch_rows": batch_rows, "rule_results": rules, "quarantined": outcome.rows_quarantined,
        "ours": {"first_wall_s": round(ours_wall[0], 3), "wall_s": after_first(ours_wall),
                 "cpu_s": after_first(ours_cpu), "gx_validate_s": after_first(ours_gx)},
        "baseline": {"first_wall_s": round(base_wall[0], 3), "wall_s": after_first(base_wall),
                     "cpu_s": after_first(base_cpu)},
        "machine": machine(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def render_md(results: dict) -> str:
    lines = ["# Gate fixed cost per batch (入库关口固定开销)", "",
             "Batches of one contract gated one after another in one process (`bench/gate_fixed_bench.py`): the "
             "same landed batch again and again; medians of the batches after the first. Fixed cost = ours − "
             "baseline per batch.", "",
             "| batch | | first batch wall s | per batch wall s | per batch CPU s | of which GX validation wall s "
             "| fixed cost ms (wall / CPU) |", "|---|---|---|---|---|---|---|"]
    results = dict(results)
    profiled = results.pop("profile", None)
    for label, r in results.items():
        o, b = r["ours"], r["baseline"]
        fixed = f"**{(o['wall_s'] - b['wall_s']) * 1000:.0f} / {(o['cpu_s'] - b['cpu_s']) * 1000:.0f}**"
        what = f"{label}: {r['batch_rows']:,} rows, {r['rule_results']} rule results, {r['quarantined']} quarantined"
        lines.append(f"| {what} | ours (run_gate) | {o['first_wall_s']} | {o['wall_s']} | {o['cpu_s']} "
                     f"| {o['gx_validate_s']} | {fixed} |")
        lines.append(f"| | baseline (DuckDB SQL) | {b['first_wall_s']} | {b['wall_s']} | {b['cpu_s']} | — | |")
    r = next(iter(results.values()))
    lines += ["", f"Target ≤ 50 ms per batch. Machine: {r['machine'].get('cores', '?')} cores, "
                  f"{r['machine'].get('cpu', '')}; load average {r['load_average']} at the end; "
                  f"{r['batches']} batches per row; measured {r['measured_at']}.", ""]
    if profiled:
        lines += ["## Where the time goes 耗时分布", "",
                  f"The batch with defects again, {profiled['batches'] - 1} batches under cProfile (`--profile`; "
                  "the profiler inflates Python time, so read the shares):", "",
                  "| part | ms per batch (profiled) | share of the gate |", "|---|---|---|"]
        lines += [f"| {label} | {v['ms_per_batch']} | {v['share']:.0%} |" for label, v in profiled["parts"].items()]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS / "gate_fixed")
    parser.add_argument("--profile", action="store_true", help="also profile ours: where a batch's time goes")
    args = parser.parse_args()
    result = {"with defects": measure(args.batches, args.batch_rows),
              "clean": measure(args.batches, args.batch_rows, clean=True)}
    if args.profile:
        result["profile"] = measure(args.batches, args.batch_rows, profile=True)
    write_report(args.out, result, render_md(result))


if __name__ == "__main__":
    main()
