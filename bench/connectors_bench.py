"""Extract + land throughput per connector, against plain DuckDB/pyarrow reading the same data in the
same run, and the peak RSS of landing a large CSV (measured in a child process).

    .venv/bin/python bench/connectors_bench.py [--rows 200000] [--rss-rows 5000000]

Ours = connector → Arrow batches → ``lake.land`` (Parquet with load metadata and row hashes).
Baseline = DuckDB (or pyarrow/sqlite3 where DuckDB has no reader) reading the same source straight into
a Parquet file. Prints rows/s for both and the ratio ours/baseline (time), then the RSS figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

DAY = dt.date(2026, 11, 25)
COLS = ["case_id", "street_code", "reported_at", "description", "amount"]


def _contract(root: Path, server: dict, name: str, fields: dict[str, str] | None = None):
    from cityshare.contracts.model import load_contract

    fields = fields or {}
    doc = {"apiVersion": "v3.1.0", "kind": "DataContract", "id": f"urn:bench:{name}", "name": name, "version": "1",
           "status": "active", "team": {"name": "bench"}, "servers": [server],
           "schema": [{"name": name, "properties": [
               {"name": c, "businessName": c, "logicalType": "string",
                "customProperties": [{"property": "sourceField", "value": fields[c]}] if c in fields else []}
               for c in COLS]}]}
    path = root / "contracts" / "bench" / f"{name}.odcs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_contract(path)


def _row(i: int) -> list[str]:
    return [f"CG{i:014d}", "500108003", f"2026-11-25 {i % 24:02d}:{i % 60:02d}:00", f"南坪西路{i % 400}号店外经营",
            f"{i % 997}.5"]


def make_csv(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(",".join(COLS) + "\n")
        for i in range(n):
            fh.write(",".join(_row(i)) + "\n")


def make_data(root: Path, n: int, n_xlsx: int) -> dict[str, tuple[object, str]]:
    """Each source kind with the same rows; returns name → (contract, baseline SQL/python)."""
    import openpyxl

    inbox = root / "data" / "inbox"
    inbox.mkdir(parents=True)
    make_csv(inbox / f"csv_{DAY}.csv", n)
    with (inbox / f"jsonl_{DAY}.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(n):
            r = _row(i)
            fh.write(json.dumps({"case_id": r[0], "loc": {"street": r[1]}, "reported_at": r[2], "description": r[3],
                                 "amount": r[4]}, ensure_ascii=False) + "\n")
    db = root / "data" / "dept.sqlite"
    con = sqlite3.connect(db)
    con.execute(f"CREATE TABLE t ({', '.join(c + ' TEXT' for c in COLS)})")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", (_row(i) for i in range(n)))
    con.commit()
    con.close()
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append(["标题"])
    ws.append(COLS)
    for i in range(n_xlsx):
        ws.append(_row(i))
    wb.save(inbox / f"xlsx_{DAY}.xlsx")
    data = "${CITYSHARE_DATA_DIR}/inbox"
    jsonl = _contract(root, {"server": "f", "type": "local", "format": "jsonl", "path": f"{data}/jsonl_{{date}}.jsonl"}, "jsonl",
                      {"street_code": "loc.street"})
    return {
        "csv": (_contract(root, {"server": "f", "type": "local", "format": "csv", "path": f"{data}/csv_{{date}}.csv"}, "csv"),
                f"SELECT * FROM read_csv('{inbox}/csv_{DAY}.csv', all_varchar=true)"),
        "jsonl": (jsonl, f"SELECT case_id, loc.street AS street_code, reported_at, description, amount FROM "
                         f"read_json('{inbox}/jsonl_{DAY}.jsonl', format='newline_delimited')"),
        "sqlite": (_contract(root, {"server": "db", "type": "local", "format": "sqlite", "path": str(db), "customProperties": [
            {"property": "table", "value": "t"}, {"property": "watermarkColumn", "value": "reported_at"}]}, "sqlite"), "sqlite"),
        "xlsx": (_contract(root, {"server": "f", "type": "local", "format": "xlsx", "path": f"{data}/xlsx_{{date}}.xlsx"},
                           "xlsx"),
                 "openpyxl"),
    }


def baseline(kind: str, query: str, root: Path, out: Path) -> int:
    import duckdb

    if query == "sqlite":
        con = duckdb.connect()
        rows = sqlite3.connect(root / "data" / "dept.sqlite").execute("SELECT * FROM t").fetchall()
        import pyarrow as pa

        table = pa.table(list(zip(*rows, strict=True)), names=COLS)
        con.register("t", table)
        con.execute(f"COPY t TO '{out}' (FORMAT parquet)")
        return table.num_rows
    if query == "openpyxl":
        import openpyxl
        import pyarrow as pa
        import pyarrow.parquet as pq

        ws = openpyxl.load_workbook(root / "data" / "inbox" / f"xlsx_{DAY}.xlsx", read_only=True).worksheets[0]
        rows = list(ws.iter_rows(min_row=3, values_only=True))
        pq.write_table(pa.table(list(zip(*rows, strict=True)), names=COLS), out)
        return len(rows)
    con = duckdb.connect()
    con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
    return con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]


def run(n: int, n_xlsx: int) -> None:
    from cityshare.lake import land
    from cityshare.settings import get_settings
    from cityshare.sources import extract

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["CITYSHARE_DATA_DIR"] = str(root / "data")
        os.environ["CITYSHARE_HOME"] = str(Path(__file__).resolve().parents[1])
        settings = get_settings()
        sources = make_data(root, n, n_xlsx)
        print(f"{'connector':8s} {'rows':>9s} {'ours rows/s':>12s} {'baseline rows/s':>16s} {'ours/baseline (time)':>21s}")
        for kind, (contract, query) in sources.items():
            t = time.perf_counter()
            landed = land(contract, DAY, extract(contract, DAY, settings), settings)
            ours = time.perf_counter() - t
            t = time.perf_counter()
            rows = baseline(kind, query, root, root / f"baseline_{kind}.parquet")
            base = time.perf_counter() - t
            assert rows == landed.rows, (kind, rows, landed.rows)
            print(f"{kind:8s} {rows:9d} {rows / ours:12,.0f} {rows / base:16,.0f} {ours / base:21.2f}")


def rss(n: int) -> None:
    """Land an n-row CSV in a child process and report its peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data" / "inbox").mkdir(parents=True)
        path = root / "data" / "inbox" / f"csv_{DAY}.csv"
        make_csv(path, n)
        size = path.stat().st_size
        repo = str(Path(__file__).resolve().parents[1])
        server = {"server": "f", "type": "local", "format": "csv", "path": "${CITYSHARE_DATA_DIR}/inbox/csv_{date}.csv"}
        code = (
            f"import sys, time; sys.path.insert(0, {repo!r});"
            "from pathlib import Path; from bench.connectors_bench import _contract, DAY;"
            "from cityshare.settings import get_settings; from cityshare.lake import land; from cityshare.sources import extract;"
            f"c = _contract(Path({str(root)!r}), {server!r}, 'csv');"
            "s = get_settings(); t = time.perf_counter(); b = land(c, DAY, extract(c, DAY, s), s);"
            "print(b.rows, time.perf_counter() - t)"
        )
        env = {**os.environ, "CITYSHARE_DATA_DIR": str(root / "data")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
        out = out.strip().splitlines()[-1].split()  # DuckDB may print a progress bar first
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"CSV {int(out[0]):,} rows ({size / 2**20:,.0f} MiB): extract+land {float(out[1]):.1f} s, "
              f"{int(out[0]) / float(out[1]):,.0f} rows/s, peak RSS {max(peak, before) / 1024:,.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--xlsx-rows", type=int, default=20_000)
    parser.add_argument("--rss-rows", type=int, default=5_000_000)
    args = parser.parse_args()
    run(args.rows, args.xlsx_rows)
    rss(args.rss_rows)
