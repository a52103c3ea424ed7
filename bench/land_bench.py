"""extract+land of one large CSV and one large JSONL delivery: CityShare's ``land_batch`` (integrity checks,
then the native reader straight to the raw batch) against the same file landed by hand — DuckDB's own reader
→ row hash → Parquet in one COPY (``bench/run.py``'s honest baseline, ``_land_native_plain``).

    .venv/bin/python bench/land_bench.py [--rows 1e6] [--reps 3] [--out bench/results/land_files_1m]

The files repeat the corpus's well-formed deliveries (tests/corpus/files/good.csv, jsonl_good.jsonl) with
unique keys and varied phone numbers / readings: a 城管局 case export (13 text columns, Chinese) and a 住建委
bridge sensor feed (nested JSON). Each rep runs each side in a fresh process on a fresh lake, alternating
which goes first; medians. Writes ``<out>.md`` and ``<out>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RESULTS, ROOT, StageMeter, machine, median, run_child

DAY = dt.date(2026, 11, 25)
SOURCES = {"csv": ("cgj/city_cases", "inbox/cgj/city_cases/city_cases_{day}.csv"),
           "jsonl": ("zjw/bridge_sensor_readings", "inbox/zjw/bridge_sensor_readings/bridge_sensor_readings_{day}.jsonl")}


def write_files(data: Path, rows: int) -> dict[str, int]:
    """The two deliveries of ``rows`` rows each; returns their sizes in bytes."""
    corpus = ROOT / "tests" / "corpus" / "files"
    rng = random.Random(24)
    header, *lines = (corpus / "good.csv").read_text(encoding="utf-8").splitlines()
    csv_path = data / SOURCES["csv"][1].format(day=DAY)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(header + "\n")
        for i in range(rows):
            fields = lines[i % len(lines)].split(",")
            fields[0], fields[12] = f"CG{DAY:%Y%m%d}{i:06d}"[:16], f"138{rng.randrange(10**8):08d}"
            fh.write(",".join(fields) + "\n")
    records = [json.loads(r) for r in (corpus / "jsonl_good.jsonl").read_text(encoding="utf-8").splitlines()]
    jsonl_path = data / SOURCES["jsonl"][1].format(day=DAY)
    jsonl_path.parent.mkdir(parents=True, exist_ok=True)
    with jsonl_path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            record = json.loads(json.dumps(records[i % len(records)]))
            record["sensor"]["id"] = f"S{i}"
            record["value"] = round(rng.uniform(0, 500), rng.choice([0, 1, 2, 3]))
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {"csv": csv_path.stat().st_size, "jsonl": jsonl_path.stat().st_size}


def child(side: str, fmt: str) -> dict[str, Any]:
    """Land one delivery: ``ours`` through ``land_batch``, ``baseline`` by hand (DuckDB reader → COPY)."""
    import logging

    import duckdb

    from bench.run import _land_native_plain
    from cityshare.contracts.model import get_contract
    from cityshare.ingest import land_batch
    from cityshare.settings import get_settings

    logging.disable(logging.INFO)
    settings = get_settings()
    key = SOURCES[fmt][0]
    meter = StageMeter()
    info: dict[str, Any] = {}
    with meter.stage("extract_land"):
        if side == "ours":
            out = land_batch(key, DAY, settings)
            info.update(rows=out["rows"], reader=out["reader"], reader_reason=out["reader_reason"])
        else:
            con = duckdb.connect()
            info["rows"] = _land_native_plain(con, get_contract(key, settings), DAY, settings,
                                              settings.data_dir / "baseline" / "raw.parquet")
            con.close()
    return meter.report(**info)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "land_files_1m"))
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "FORMAT"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    rows = int(args.rows)
    report: dict[str, Any] = {"measured_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
                              "rows": rows, "reps": args.reps, "formats": {}}
    key = os.environ.get("CITYSHARE_TOKEN_KEY") or secrets.token_hex(32)  # land_batch refuses to run without one
    with tempfile.TemporaryDirectory(prefix="cityshare-land-bench-") as tmp:
        pristine = Path(tmp) / "pristine"
        report["bytes"] = write_files(pristine, rows)
        os.sync()
        for fmt in SOURCES:
            runs: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
            for rep in range(args.reps):
                for side in ("ours", "baseline") if rep % 2 == 0 else ("baseline", "ours"):
                    data = Path(tmp) / "run"
                    shutil.rmtree(data, ignore_errors=True)
                    shutil.copytree(pristine, data)
                    info = run_child([__file__, "--child", side, fmt], {"CITYSHARE_DATA_DIR": str(data),
                                                                        "CITYSHARE_TOKEN_KEY": key}, side)
                    runs[side].append(info)
                    print(f"{fmt} rep {rep + 1} {side}: {info['stages']['extract_land']['seconds']:.2f} s, "
                          f"load {os.getloadavg()[0]:.2f}", flush=True)
            entry: dict[str, Any] = {}
            for side, infos in runs.items():
                secs = [i["stages"]["extract_land"]["seconds"] for i in infos]
                entry[side] = {"seconds_median": round(median(secs), 3), "runs": secs,
                               "rows_per_s": round(rows / median(secs)),
                               "peak_rss_mb": round(max(i["process_peak_rss_mb"] for i in infos)),
                               **{k: infos[0][k] for k in ("rows", "reader", "reader_reason") if k in infos[0]}}
            entry["ratio"] = round(entry["ours"]["seconds_median"] / entry["baseline"]["seconds_median"], 2)
            report["formats"][fmt] = entry
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(render(report), encoding="utf-8")
    print(render(report))


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"# Extract+land of one {report['rows']:,}-row delivery 单文件采集落地 (`bench/land_bench.py`)", "",
             f"Measured {report['measured_at']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; DuckDB "
             f"{m['duckdb']}, pyarrow {m['pyarrow']}; load average at start {m['load_average']}, after "
             f"{report['load_average_after']}. {report['reps']} alternating repetitions per side in fresh "
             "processes, medians. CityShare = `land_batch` (strict decoding and truncation checks, file digest, "
             "then the native reader with exact 贴源 text, `_source_row`, row hash, metadata, atomic batch); "
             "baseline = DuckDB's reader → same row hash and metadata → Parquet in one COPY.", "",
             "| format | file MB | CityShare s | baseline s | ratio | CityShare rows/s | baseline rows/s | "
             "CityShare peak RSS MB | baseline peak RSS MB | reader |", "|---|---|---|---|---|---|---|---|---|---|"]
    for fmt, e in report["formats"].items():
        o, b = e["ours"], e["baseline"]
        lines.append(f"| {fmt} | {report['bytes'][fmt] / 2**20:.0f} | {o['seconds_median']:.2f} | "
                     f"{b['seconds_median']:.2f} | **{e['ratio']:.2f}×** | {o['rows_per_s']:,} | {b['rows_per_s']:,} | "
                     f"{o['peak_rss_mb']:,} | {b['peak_rss_mb']:,} | {o.get('reader', '?')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
