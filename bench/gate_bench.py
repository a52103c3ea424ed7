"""The load gate vs the same checks hand-written as DuckDB SQL, in the same run.

    .venv/bin/python bench/gate_bench.py [--rows 5000000] [--reps 3]
    .venv/bin/python bench/gate_bench.py --small-batches 54 [--batch-rows 1000] [--reps 3]

Data: one landed raw batch (Parquet, strings + load metadata) of ``--rows`` rows with ~1 % defects.
Contract (written to a temp folder): 11 rules — batch: columns present, row count, freshness, retyped
amount; row: 2 × required, composite primary key, allowed values, pattern, USCC check digit
(GB 32100), numeric range, date range, cross-field (closed ≥ reported).

Ours = ``cityshare.gate.run.run_gate`` (GX 1.x suites on DuckDB, quarantine + accepted files).
Baseline = the same checks written by hand as DuckDB SQL: batch checks, one flag pass, the same
quarantine and accepted Parquet files. Each repetition runs in a fresh child process (as an Airflow
task would), alternating ours/baseline; the time excludes Python imports, and peak RSS is the child's.

``--small-batches N`` measures the per-batch fixed cost, which dominates ``make bench`` (54 small
batches): N batches of ``--batch-rows`` rows, one per load date, gated one after another in one
process. Ours = ``cityshare.ingest.gate_batch`` (context, GX gate, quarantine/accepted files,
warehouse commit with the quality history — the Airflow task body); baseline = the hand-written
checks on one shared DuckDB connection (as ``bench/run.py``'s baseline gate). Reported: the total,
the first batch (GX warm-up) and the median of the others.

Writes ``bench/results/gate.md`` and ``gate.json`` (small-batch figures under ``small_batches``;
each mode keeps the other's last figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 25)
RESULTS = ROOT / "bench" / "results"


def _contract_doc() -> dict:
    def prop(name: str, logical: str = "string", **extra) -> dict:
        return {"name": name, "logicalType": logical, **extra}

    def lib(name: str, **args) -> dict:
        return {"type": "library", "metric": "invalidValues", "name": name, "arguments": args}

    return {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "urn:bench:cases", "version": "1.0.0",
        "status": "active", "team": {"name": "bench"},
        "slaProperties": [{"property": "frequency", "value": 1, "unit": "d"},
                          {"property": "latency", "value": 1, "unit": "d", "element": "cases.reported_at"}],
        "schema": [{"name": "cases", "quality": [
            {"type": "library", "metric": "rowCount", "mustBeGreaterThan": 0, "name": "not_empty"}],
            "properties": [
                prop("case_id", required=True, primaryKey=True, primaryKeyPosition=1,
                     quality=[lib("case_id_format", pattern="^CG[0-9]{14}$")]),
                prop("part", primaryKey=True, primaryKeyPosition=2),
                prop("status", required=True, quality=[lib("status_valid", validValues=["上报", "立案", "结案"])]),
                prop("shop_uscc", quality=[lib("shop_uscc_check", checkDigit="uscc")]),
                prop("amount", "number", quality=[lib("amount_range", minimum=0, maximum=100000)]),
                prop("reported_at", "timestamp", quality=[lib("reported_window", minimum="loadDate-30",
                                                              maximum="loadDate+1")]),
                prop("closed_at", "timestamp", quality=[{
                    "type": "sql", "name": "closed_after_reported", "mustBe": 0,
                    "query": "SELECT COUNT(*) FROM ${table} WHERE try_cast(closed_at AS TIMESTAMP) "
                             "< try_cast(reported_at AS TIMESTAMP)"}]),
            ]}],
        "customProperties": [{"property": "quarantineThreshold", "value": 0.05},
                             {"property": "extraColumns", "value": "block"}],
    }


def make_batch(root: Path, rows: int, day: dt.date = DAY, load_id: str = "bench") -> Path:
    """A landed raw batch with realistic defects (~1 % of rows break one rule)."""
    import duckdb

    from cityshare.identifiers import complete_uscc

    good = complete_uscc("91500108MA5U1000")
    path = root / "lake" / "raw" / "bench" / "cases" / f"load_date={day}" / f"batch={load_id}" / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect().sql(f"""COPY (
        SELECT CASE WHEN i % 1000 = 1 THEN 'CG' || lpad(CAST(i - 1 AS VARCHAR), 14, '0')
                    WHEN i % 1000 = 2 THEN 'XX' ELSE 'CG' || lpad(CAST(i AS VARCHAR), 14, '0') END AS case_id,
               '1' AS part,
               CASE WHEN i % 1000 = 3 THEN '未知' WHEN i % 1000 = 4 THEN NULL
                    ELSE ['上报', '立案', '结案'][1 + i % 3] END AS status,
               CASE WHEN i % 1000 = 5 THEN '91500108MA5U10000X' WHEN i % 2 = 0 THEN NULL ELSE '{good}' END AS shop_uscc,
               CASE WHEN i % 1000 = 6 THEN '-3' ELSE CAST(i % 5000 AS VARCHAR) || '.5' END AS amount,
               strftime(TIMESTAMP '{day}' + INTERVAL (i % 86000) SECOND, '%Y-%m-%d %H:%M:%S') AS reported_at,
               CASE WHEN i % 1000 = 7 THEN '2026-11-01 00:00:00'
                    ELSE strftime(TIMESTAMP '{day}' + INTERVAL (i % 86000 + 600) SECOND, '%Y-%m-%d %H:%M:%S')
               END AS closed_at,
               '{load_id}' AS _load_id, TIMESTAMP '{day} 12:00:00' AS _loaded_at, 'bench' AS _source,
               i AS _source_row, md5(CAST(i AS VARCHAR)) AS _row_hash, DATE '{day}' AS _load_date
        FROM range(1, {rows} + 1) t(i)) TO '{path}' (FORMAT parquet)""")
    return path


BASELINE_FLAGS = """
SELECT _source_row,
  coalesce(case_id IS NOT NULL AND part IS NOT NULL
           AND row_number() OVER (PARTITION BY case_id, part ORDER BY _source_row) > 1, false) AS f_unique,
  case_id IS NULL AS f_case_id_required,
  coalesce(case_id IS NOT NULL AND NOT regexp_full_match(case_id, '^CG[0-9]{{14}}$'), false) AS f_case_id_format,
  status IS NULL AS f_status_required,
  coalesce(status NOT IN ('上报', '立案', '结案'), false) AS f_status_valid,
  coalesce(shop_uscc IS NOT NULL AND NOT coalesce({uscc}, false), false) AS f_shop_uscc_check,
  coalesce(try_cast(amount AS DOUBLE) < 0 OR try_cast(amount AS DOUBLE) > 100000, false) AS f_amount_range,
  coalesce(try_cast(reported_at AS TIMESTAMP) < TIMESTAMP '{lo}'
           OR try_cast(reported_at AS TIMESTAMP) > TIMESTAMP '{hi}', false) AS f_reported_window,
  coalesce(try_cast(closed_at AS TIMESTAMP) < try_cast(reported_at AS TIMESTAMP), false) AS f_closed_after_reported
FROM batch
"""


def baseline(raw: Path, out: Path, settings_threshold: float = 0.05, day: dt.date = DAY, con=None) -> dict:
    """The same checks and outputs, hand-written: batch checks, one flag pass, quarantine + accepted."""
    import duckdb

    from cityshare.contracts.rules import uscc_valid_sql

    own = con is None
    con = con or duckdb.connect()
    con.execute(f"CREATE OR REPLACE TEMP VIEW batch AS SELECT * FROM read_parquet('{raw}', hive_partitioning = false)")
    cols = [r[0] for r in con.execute("DESCRIBE batch").fetchall()]
    expected = ["case_id", "part", "status", "shop_uscc", "amount", "reported_at", "closed_at"]
    assert all(c in cols for c in expected)
    n, newest, retyped, nonnull = con.execute(
        "SELECT count(*), max(try_cast(reported_at AS TIMESTAMP)), count(*) FILTER (WHERE amount IS NOT NULL AND "
        "try_cast(amount AS DOUBLE) IS NULL), count(amount) FROM batch").fetchone()
    assert n > 0 and newest >= dt.datetime.combine(day - dt.timedelta(days=1), dt.time())
    assert not (retyped > 0 and retyped > 0.05 * nonnull)
    lo = dt.datetime.combine(day - dt.timedelta(days=30), dt.time())
    hi = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    con.execute("CREATE OR REPLACE TEMP TABLE flags AS " + BASELINE_FLAGS.format(uscc=uscc_valid_sql("shop_uscc"), lo=lo, hi=hi)
                .replace("{{14}}", "{14}"))
    names = [c for c in con.execute("DESCRIBE flags").fetchall() if c[0].startswith("f_")]
    any_bad = " OR ".join(c[0] for c in names)
    counts = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {c[0]})' for c in names)} FROM flags").fetchone()
    bad = con.execute(f"SELECT count(*) FROM flags WHERE {any_bad}").fetchone()[0]
    rules = ", ".join(f"CASE WHEN f.{c[0]} THEN '{c[0][2:]}' END" for c in names)
    con.execute(f"""COPY (SELECT b.*, concat_ws(',', {rules}) AS _failed_rules FROM batch b
                         JOIN (SELECT * FROM flags WHERE {any_bad}) f USING (_source_row) ORDER BY _source_row)
                    TO '{out / 'quarantine.parquet'}' (FORMAT parquet)""")
    assert bad / n <= settings_threshold
    con.execute(f"""COPY (SELECT b.* FROM batch b JOIN flags f USING (_source_row) WHERE NOT ({any_bad})
                         ORDER BY _source_row) TO '{out / 'accepted.parquet'}' (FORMAT parquet)""")
    if own:
        con.close()
    return {"rows": n, "quarantined": bad, "rule_failures": dict(zip([c[0][2:] for c in names], counts, strict=True))}


def ours(root: Path, raw: Path) -> dict:
    from cityshare.contracts.model import load_contract
    from cityshare.gate.run import run_gate
    from cityshare.lake import LandedBatch
    from cityshare.settings import get_settings

    contract = load_contract(root / "contracts" / "bench" / "cases.odcs.yaml")
    rows = __import__("pyarrow.parquet", fromlist=["x"]).ParquetFile(raw).metadata.num_rows
    batch = LandedBatch(contract.key, DAY, "bench", raw, rows, "bench", reused=False)
    outcome = run_gate(contract, batch, get_settings())
    assert outcome.status == "accepted", outcome.reason
    return {"rows": rows, "quarantined": outcome.rows_quarantined, "rules": len(outcome.results),
            "rule_failures": {r.rule: r.failed for r in outcome.results if r.failed}}


def ours_small(root: Path) -> dict:
    """Every landed batch through ``gate_batch`` in one process, oldest load date first."""
    from cityshare.ingest import gate_batch
    from cityshare.settings import get_settings

    settings = get_settings()
    seconds, rows, quarantined = [], 0, 0
    for raw in _small_raws(root):
        day, load_id = _day_and_id(raw)
        started = time.perf_counter()
        out = gate_batch("bench/cases", day, load_id, settings)
        seconds.append(time.perf_counter() - started)
        assert out["status"] == "accepted", out["reason"]
        rows, quarantined = rows + out["rows"], quarantined + out["quarantined"]
    return {"rows": rows, "quarantined": quarantined, "batch_seconds": seconds}


def baseline_small(root: Path) -> dict:
    """The hand-written checks for every batch on one shared DuckDB connection."""
    import duckdb

    con = duckdb.connect()
    seconds, rows, quarantined = [], 0, 0
    for raw in _small_raws(root):
        day, _ = _day_and_id(raw)
        started = time.perf_counter()
        info = baseline(raw, raw.parent, day=day, con=con)
        seconds.append(time.perf_counter() - started)
        rows, quarantined = rows + info["rows"], quarantined + info["quarantined"]
    con.close()
    return {"rows": rows, "quarantined": quarantined, "batch_seconds": seconds}


def _small_raws(root: Path) -> list[Path]:
    return sorted((root / "lake" / "raw" / "bench" / "cases").glob("load_date=*/batch=*/part-0.parquet"))


def _day_and_id(raw: Path) -> tuple[dt.date, str]:
    return (dt.date.fromisoformat(raw.parent.parent.name.removeprefix("load_date=")),
            raw.parent.name.removeprefix("batch="))


CHILDREN = {"ours": ours, "baseline": baseline, "ours-small": ours_small, "baseline-small": baseline_small}


def child(which: str, root: Path) -> None:
    """One measured repetition (in its own process): imports first, then the timed work."""
    import duckdb  # noqa: F401
    import great_expectations  # noqa: F401

    import cityshare.ingest  # noqa: F401

    started = time.perf_counter()
    if which.endswith("-small"):
        info = CHILDREN[which](root)
    else:
        raw = next((root / "lake" / "raw").rglob("part-0.parquet"))
        info = ours(root, raw) if which == "ours" else baseline(raw, Path(tempfile.mkdtemp(dir=root)))
    info["seconds"] = time.perf_counter() - started
    print(json.dumps(info, ensure_ascii=False))


def _run_child(which: str, root: Path) -> dict:
    env = {**os.environ, "CITYSHARE_DATA_DIR": str(root), "CITYSHARE_HOME": str(root), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile("w+") as errs:  # a file, not a pipe: a chatty child cannot block on it
        proc = subprocess.Popen([sys.executable, __file__, "--child", which, "--root", str(root)],
                                stdout=subprocess.PIPE, stderr=errs, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
        out = proc.stdout.read()
        if status != 0:
            errs.seek(0)
            raise SystemExit(f"{which} failed:\n{errs.read()[-3000:]}")
    info = json.loads(out.strip().splitlines()[-1])
    info["peak_rss_mb"] = usage.ru_maxrss / 1024
    return info


def _fresh(root: Path, rep: int) -> Path:
    """A copy of the contract and the raw batches, so every repetition gates from the same state."""
    run = root / f"run-{rep}"
    shutil.copytree(root / "contracts", run / "contracts")
    shutil.copytree(root / "lake" / "raw", run / "lake" / "raw")
    return run


def _setup(root: Path) -> None:
    path = root / "contracts" / "bench" / "cases.odcs.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(_contract_doc(), allow_unicode=True), encoding="utf-8")
    os.environ["CITYSHARE_DATA_DIR"] = str(root)


def bench_big(rows: int, reps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        root = Path(tmp)
        _setup(root)
        t0 = time.perf_counter()
        make_batch(root, rows)
        print(f"batch of {rows:,} rows generated in {time.perf_counter() - t0:.1f} s", flush=True)
        runs: dict[str, list[dict]] = {"ours": [], "baseline": []}
        for rep in range(reps):
            for which in (("ours", "baseline") if rep % 2 == 0 else ("baseline", "ours")):
                runs[which].append(_run_child(which, root))
                print(f"rep {rep + 1} {which}: {runs[which][-1]['seconds']:.2f} s, "
                      f"{runs[which][-1]['peak_rss_mb']:.0f} MB", flush=True)
    ours_s = statistics.median(r["seconds"] for r in runs["ours"])
    base_s = statistics.median(r["seconds"] for r in runs["baseline"])
    same = runs["ours"][0]["quarantined"] == runs["baseline"][0]["quarantined"]
    return {
        "benchmark": "gate", "rows": rows, "reps": reps, "rules": runs["ours"][0]["rules"],
        "ours_seconds_median": round(ours_s, 3), "baseline_seconds_median": round(base_s, 3),
        "ratio": round(ours_s / base_s, 3),
        "ours_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["ours"])),
        "baseline_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["baseline"])),
        "quarantined_rows": {"ours": runs["ours"][0]["quarantined"], "baseline": runs["baseline"][0]["quarantined"]},
        "same_quarantine": same, "cpu_count": os.cpu_count(), "measured_at": dt.datetime.now().isoformat(timespec="seconds"),
        "runs": {k: [round(r["seconds"], 3) for r in v] for k, v in runs.items()},
    }


def bench_small(batches: int, batch_rows: int, reps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gate-bench-small-") as tmp:
        root = Path(tmp)
        _setup(root)
        for i in range(batches):
            day = DAY - dt.timedelta(days=batches - 1 - i)
            make_batch(root, batch_rows, day, f"{day:%Y%m%d}-small")
        runs: dict[str, list[dict]] = {"ours": [], "baseline": []}
        for rep in range(reps):
            for which in (("ours", "baseline") if rep % 2 == 0 else ("baseline", "ours")):
                run = _fresh(root, len(runs["ours"]) + len(runs["baseline"]))
                runs[which].append(_run_child(f"{which}-small", run))
                shutil.rmtree(run)
                info = runs[which][-1]
                print(f"rep {rep + 1} {which}: {info['seconds']:.2f} s for {batches} batches "
                      f"(first {info['batch_seconds'][0]:.3f} s, then median "
                      f"{statistics.median(info['batch_seconds'][1:]):.3f} s)", flush=True)

    def summary(side: str) -> dict:
        return {"seconds_median": round(statistics.median(r["seconds"] for r in runs[side]), 3),
                "first_batch_seconds_median": round(statistics.median(r["batch_seconds"][0] for r in runs[side]), 3),
                "per_batch_seconds_median": round(statistics.median(
                    statistics.median(r["batch_seconds"][1:]) for r in runs[side]), 4),
                "runs": [round(r["seconds"], 3) for r in runs[side]]}

    ours_s, base_s = summary("ours"), summary("baseline")
    return {
        "batches": batches, "rows_per_batch": batch_rows, "reps": reps, "ours": ours_s, "baseline": base_s,
        "ratio": round(ours_s["seconds_median"] / base_s["seconds_median"], 2),
        "fixed_cost_per_batch_seconds": round(ours_s["per_batch_seconds_median"] - base_s["per_batch_seconds_median"], 4),
        "quarantined_rows": {"ours": runs["ours"][0]["quarantined"], "baseline": runs["baseline"][0]["quarantined"]},
        "same_quarantine": runs["ours"][0]["quarantined"] == runs["baseline"][0]["quarantined"],
        "cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
        "measured_at": dt.datetime.now().isoformat(timespec="seconds"),
    }


def render_md(result: dict) -> str:
    text = "# Gate benchmark (入库关口)\n"
    if "ratio" in result:
        text += (
            f"\n## One large batch\n\n{result['rows']:,} rows, {result['rules']} rule results "
            f"(GX suites on DuckDB) vs the same checks hand-written in DuckDB SQL; {result['reps']} alternating "
            f"repetitions in fresh processes, median.\n\n"
            "| | median s | peak RSS MB | quarantined rows |\n|---|---|---|---|\n"
            f"| ours (run_gate) | {result['ours_seconds_median']:.2f} | {result['ours_peak_rss_mb']} | "
            f"{result['quarantined_rows']['ours']:,} |\n"
            f"| baseline (DuckDB SQL) | {result['baseline_seconds_median']:.2f} | {result['baseline_peak_rss_mb']} | "
            f"{result['quarantined_rows']['baseline']:,} |\n\n"
            f"**ratio ours/baseline: {result['ratio']:.2f}×** (target ≤ 1.3×). Same quarantine: "
            f"{result['same_quarantine']}. Machine: {result['cpu_count']} cores, measured {result['measured_at']}.\n")
    small = result.get("small_batches")
    if small:
        o, b = small["ours"], small["baseline"]
        text += (
            f"\n## Many small batches (fixed cost per batch)\n\n{small['batches']} batches × "
            f"{small['rows_per_batch']:,} rows gated one after another in one process; ours = `gate_batch` "
            f"(GX gate, files, warehouse commit and quality history), baseline = the hand-written checks on one "
            f"DuckDB connection; {small['reps']} alternating repetitions, median.\n\n"
            "| | total s | first batch s | per batch after the first s |\n|---|---|---|---|\n"
            f"| ours (gate_batch) | {o['seconds_median']:.2f} | {o['first_batch_seconds_median']:.3f} | "
            f"{o['per_batch_seconds_median']:.4f} |\n"
            f"| baseline (DuckDB SQL) | {b['seconds_median']:.2f} | {b['first_batch_seconds_median']:.3f} | "
            f"{b['per_batch_seconds_median']:.4f} |\n\n"
            f"**ratio ours/baseline: {small['ratio']:.2f}×**; fixed cost of ours over the baseline "
            f"{small['fixed_cost_per_batch_seconds'] * 1000:.0f} ms per batch. Same quarantine: "
            f"{small['same_quarantine']}. Machine: {small['cpu_count']} cores, load average "
            f"{small['load_average']}, measured {small['measured_at']}.\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--small-batches", type=int, default=0, help="measure N small batches instead")
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--child")
    parser.add_argument("--root")
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.root))
        return
    path = RESULTS / "gate.json"
    result = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if args.small_batches:
        result["small_batches"] = bench_small(args.small_batches, args.batch_rows, args.reps)
        shown = result["small_batches"]
    else:
        result = {**bench_big(args.rows, args.reps), **({"small_batches": result["small_batches"]}
                                                       if "small_batches" in result else {})}
        shown = {k: v for k, v in result.items() if k not in ("runs", "small_batches")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "gate.md").write_text(render_md(result), encoding="utf-8")
    print(json.dumps(shown, ensure_ascii=False))


if __name__ == "__main__":
    main()
