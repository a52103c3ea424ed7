"""Extract + land throughput per connector, against plain DuckDB/pyarrow reading the same data in the
same run, and the peak RSS of landing a large CSV (measured in a child process).

    .venv/bin/python bench/connectors_bench.py [--rows 200000] [--rss-rows 5000000]
    .venv/bin/python bench/connectors_bench.py --only postgresql --rows 1000000 --reps 3 --out bench/results/connectors_pg

Ours = connector → ``lake.land_delivery`` as ``land_batch`` runs it (Parquet with load metadata and row hashes; the
native reader for CSV/JSONL where it can, the bulk reader for PostgreSQL; the table's last column says which ran).
Baseline = DuckDB (or pyarrow/sqlite3 where DuckDB has no reader) reading the same source straight into
a Parquet file. Prints rows/s for both and the ratio ours/baseline (time), then the RSS figure.

PostgreSQL (a PostgreSQL 15 started here on 127.0.0.1 as the tests do; skipped with a message without Debian's
binaries): the same rows in a typed table (timestamp, numeric), landed by the row path (``bulkRead: false``) and
by the bulk reader, against ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` of the same window in the same order
straight into pyarrow and Parquet. ``--out`` writes the figures (``.md`` and ``.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import machine, median

DAY = dt.date(2026, 11, 25)
SOURCES = ("csv", "jsonl", "sqlite", "xlsx", "postgresql")
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


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextlib.contextmanager
def postgres() -> Iterator[int | None]:
    """A throwaway PostgreSQL 15 on 127.0.0.1 (as tests/unit/test_sources_sql.py starts it); None without one."""
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        print(f"postgresql: skipped — PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql)")
        yield None
        return
    from cityshare.ports import free_port

    root = Path(tempfile.mkdtemp(prefix="cityshare-bench-pg-"))  # the postgres user must be able to enter it
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(sock, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    try:
        subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "start", "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                        f"-h 127.0.0.1 -p {port} -k {sock} -F"], check=True, capture_output=True)
        yield port
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def make_postgres(root: Path, port: int, n: int) -> dict[str, tuple[object, str]]:
    """The bench rows in a typed department table; two contracts on it: the bulk reader and the row path."""
    import psycopg

    con = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
    con.execute("CREATE TABLE t (case_id text, street_code varchar(9), reported_at timestamp, description text, "
                "amount numeric(10, 2))")
    with con.cursor().copy("COPY t FROM STDIN") as copy:
        for i in range(n):
            copy.write_row(_row(i))
    con.execute("ANALYZE t")
    con.close()
    os.environ["BENCH_PG_USER"] = "postgres"
    server = {"server": "pg", "type": "postgresql", "host": "127.0.0.1", "port": port, "database": "postgres",
              "schema": "public"}
    options = [{"property": "table", "value": "t"}, {"property": "watermarkColumn", "value": "reported_at"},
               {"property": "userEnv", "value": "BENCH_PG_USER"}]
    return {
        "postgresql (bulk)": (_contract(root, {**server, "customProperties": options}, "pg_bulk"), f"pg:{port}"),
        "postgresql (row path)": (_contract(root, {**server, "customProperties": [
            *options, {"property": "bulkRead", "value": False}]}, "pg_rows"), f"pg:{port}"),
    }


def baseline_postgres(port: int, out: Path) -> int:
    """The fastest honest way: the same window in the same order as text through COPY, straight into pyarrow's CSV
    reader and Parquet (no exact 贴源 text, no row hash, no load metadata)."""
    import psycopg
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import csv

    con = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    with con.cursor() as cur, cur.copy(
            "COPY (SELECT case_id, street_code, reported_at, description, amount FROM t WHERE reported_at < %s "
            "ORDER BY reported_at, case_id, street_code, description, amount) TO STDOUT (FORMAT csv)",
            [f"{DAY + dt.timedelta(days=1)} 00:00:00"]) as copy:
        data = bytearray()  # one buffer: b"".join over a list of the row messages is slower
        for row in copy:
            data += row
    con.close()
    table = csv.read_csv(pa.py_buffer(data), read_options=csv.ReadOptions(column_names=COLS),
                         convert_options=csv.ConvertOptions(column_types=dict.fromkeys(COLS, pa.string())))
    pq.write_table(table, out)
    return table.num_rows


def baseline(kind: str, query: str, root: Path, out: Path) -> int:
    import duckdb

    if query.startswith("pg:"):
        return baseline_postgres(int(query[3:]), out)

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


def run(n: int, n_xlsx: int, only: set[str], reps: int, out: Path | None) -> None:
    from cityshare.lake import land_delivery
    from cityshare.settings import get_settings
    from cityshare.sources import extract

    results: dict[str, dict] = {}
    started = machine()
    with tempfile.TemporaryDirectory() as tmp, postgres() if "postgresql" in only else contextlib.nullcontext() as port:
        root = Path(tmp)
        os.environ["CITYSHARE_DATA_DIR"] = str(root / "data")
        os.environ["CITYSHARE_HOME"] = str(Path(__file__).resolve().parents[1])
        settings = get_settings()
        sources = make_data(root, n, n_xlsx) if only - {"postgresql"} else {}
        sources = {k: v for k, v in sources.items() if k in only}
        if port is not None:
            sources.update(make_postgres(root, port, n))
        print(f"{'connector':22s} {'rows':>9s} {'ours rows/s':>12s} {'baseline rows/s':>16s} {'ours/baseline (time)':>21s}"
              "  reader")
        for rep in range(reps):  # alternating: each rep lands every source, then its baseline
            for kind, (contract, query) in sources.items():
                t = time.perf_counter()
                landed = land_delivery(contract, DAY, extract(contract, DAY, settings), settings)
                ours = time.perf_counter() - t
                shutil.rmtree(settings.lake_dir / "raw", ignore_errors=True)  # the next rep lands anew, not reused
                t = time.perf_counter()
                rows = baseline(kind, query, root, root / f"baseline_{kind}.parquet")
                base = time.perf_counter() - t
                assert rows == landed.rows, (kind, rows, landed.rows)
                entry = results.setdefault(kind, {"rows": rows, "ours_s": [], "baseline_s": [], "reader": landed.reader,
                                                  "reader_reason": landed.reader_reason})
                entry["ours_s"].append(round(ours, 3))
                entry["baseline_s"].append(round(base, 3))
                print(f"{kind:22s} {rows:9d} {rows / ours:12,.0f} {rows / base:16,.0f} {ours / base:21.2f}  "
                      f"{landed.reader} (rep {rep + 1})")
    for entry in results.values():
        ours, base = median(entry["ours_s"]), median(entry["baseline_s"])
        entry.update(ours_rows_per_s=round(entry["rows"] / ours), baseline_rows_per_s=round(entry["rows"] / base),
                     ratio=round(ours / base, 2))
    if out is not None:
        write_results(out, {"measured_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": started,
                            "load_average_after": [round(x, 2) for x in os.getloadavg()], "rows": n, "reps": reps,
                            "sources": results})


def write_results(out: Path, doc: dict) -> None:
    """``out``.json and a table in ``out``.md."""
    out.with_suffix(".json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    m = doc["machine"]
    lines = [
        "# Extract+land per connector 各连接器采集落地 (`bench/connectors_bench.py`)", "",
        f"Measured {doc['measured_at']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; Python {m['python']}, "
        f"DuckDB {m['duckdb']}, pyarrow {m['pyarrow']}; load average at start {m['load_average']}, after "
        f"{doc['load_average_after']}. {doc['reps']} alternating repetitions, medians. Ours = connector → `land_delivery` "
        "(exact 贴源 text, `_source_row`, row hash, metadata, atomic batch); baseline = the source read straight into "
        "Parquet (PostgreSQL: `COPY (SELECT …) TO STDOUT (FORMAT csv)` of the same window in the same order → "
        "pyarrow → Parquet).", "",
        "| source | rows | ours s | baseline s | ours/baseline (time) | ours rows/s | baseline rows/s | reader |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, e in doc["sources"].items():
        lines.append(f"| {kind} | {e['rows']:,} | {median(e['ours_s']):.2f} | {median(e['baseline_s']):.2f} | "
                     f"**{e['ratio']:.2f}×** | {e['ours_rows_per_s']:,} | {e['baseline_rows_per_s']:,} | {e['reader']}"
                     + (f" ({e['reader_reason']})" if e["reader_reason"] else "") + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out.with_suffix('.md')} and .json")


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
    parser.add_argument("--only", default=",".join(SOURCES), help=f"comma-separated, of {', '.join(SOURCES)}")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write OUT.md and OUT.json (e.g. bench/results/connectors)")
    args = parser.parse_args()
    run(args.rows, args.xlsx_rows, set(args.only.split(",")), args.reps, args.out)
    if "csv" in args.only.split(","):
        rss(args.rss_rows)
