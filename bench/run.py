"""``make bench``: every CityShare stage against a hand-written DuckDB/pyarrow baseline, at several scales.

    .venv/bin/python bench/run.py [--scales 1e6,3e6,1e7:1] [--reps 3] [--days 3] [--out bench/results/latest]
    .venv/bin/python bench/run.py --quick      # one rep of 300,000 rows: every stage in a few minutes

For each scale (source rows across all simulated departments) the simulator writes ``--days`` days of
every department's sources once; then, ``--reps`` times, alternating which side goes first, a fresh
child process runs on a fresh copy of that data:

- ours: ``land_batch`` (extract+land) → ``gate_batch`` (GX gate + commit) for every source and day,
  ``transform.build`` (dbt build: seeds, models, tests), ``publish.audit`` + ``publish``,
  ``build_directory`` — the Airflow task bodies, called in-process;
- baseline, the same work hand-written in one script, the fastest honest way: DuckDB's own readers
  (``read_csv``/``read_json``) take the CSV/JSONL files straight to Parquet with the same row hash and
  metadata columns in one COPY (API, Excel and SQLite sources through the connectors); the same contract
  checks as one SQL flag pass per batch (plus the batch checks), quarantine + accepted Parquet; dbt's
  *compiled* SQL from the latest ours run (``manifest.json``) executed directly in dependency order (seeds
  via ``read_csv``, tests as counts); the published contracts' checks as SQL, ordered Parquet export and
  ``shared`` tables; the directory as parsed YAML inserted as JSON rows (``bench/directory_bench.py``'s
  baseline).

``--old-baseline`` also runs the earlier baseline (every source through CityShare's connectors) for a
one-off comparison; ``--land-only`` times extract+land alone. extract+land is also reported per source
format (csv, jsonl, …), where the CSV/JSONL ratio is the native readers' cost against DuckDB by hand.

Also measured: Airflow's fixed cost per DAG run (``run_dags`` on empty input minus the same task
in-process) and an incremental next-day load with ~1 % new rows after the full history, in every CityShare
rep (medians, like the full run).
Writes ``<out>.md`` and ``<out>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RESULTS, StageMeter, machine, median, run_child
from cityshare.ports import free_port

STAGES = ["extract_land", "gate", "build", "publish", "directory"]
STAGE_ZH = {"extract_land": "采集落地 extract+land", "gate": "入库关口 gate", "build": "加工 build (dbt)",
            "publish": "审核发布 publish", "directory": "资源目录 directory", "end_to_end": "端到端 end to end"}
START = dt.date(2026, 11, 1)
ROWS_PER_DAY_AT_SCALE_1 = 11_150  # all departments, measured on the simulator (30 days at scale 1)


# ---------------------------------------------------------------- data

def simulate_scale(folder: Path, rows: int, days: int) -> dict[str, Any]:
    """Simulate ``days`` days sized to ~``rows`` source rows, plus a next day with ~1 % of them. Kept in
    ``folder`` (``simulation.json``): a later run on the same folder, rows and days reuses it (10 M rows take
    ≈ 12 min to simulate here)."""
    from cityshare.settings import get_settings
    from cityshare.simulate import simulate

    done = folder / "simulation.json"
    if done.exists() and (kept := json.loads(done.read_text()))["requested"] == [rows, days]:
        return kept["simulation"]
    scale = rows / (days * ROWS_PER_DAY_AT_SCALE_1)
    os.environ["CITYSHARE_DATA_DIR"] = str(folder / "full")
    full = simulate(get_settings(), days=days, start=START, scale=scale, seed=11)
    got = sum(sum(v.values()) for v in full["rows"].values())
    if abs(got - rows) > 0.1 * rows:  # some sources grow slower than the scale: correct once
        scale *= rows / got
        full = simulate(get_settings(), days=days, start=START, scale=scale, seed=11)
    next_day = START + dt.timedelta(days=days)
    os.environ["CITYSHARE_DATA_DIR"] = str(folder / "next")
    nxt = simulate(get_settings(), days=1, start=next_day, scale=0.01 * rows / ROWS_PER_DAY_AT_SCALE_1, seed=12)
    total = sum(sum(v.values()) for v in full["rows"].values())
    result = {"scale": round(scale, 3), "days": days, "source_rows": total,
              "next_day": next_day.isoformat(), "next_day_file_rows": sum(
                  sum(v.values()) for k, v in nxt["rows"].items() if nxt["formats"][k] in ("csv", "jsonl", "xlsx"))}
    done.write_text(json.dumps({"requested": [rows, days], "simulation": result}))
    return result


API_PAGE_SIZE = 1000  # the simulated API's maximum


def make_home(home: Path, port: int) -> None:
    """A private copy of the project (contracts, dbt project, catalog, DAGs) whose department APIs
    point at a free loopback port, so the bench never collides with a running simulator or e2e test.

    The copy also lifts the APIs' politeness limits (``rateLimitPerSecond``; page sizes raised to the
    API's maximum): at 10 req/s × 100 rows a 10 M-row scale would spend most of an hour *waiting*, on both
    sides alike, and the curve would measure the department's throttle instead of CityShare."""
    import re

    from cityshare.settings import PROJECT_ROOT

    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", "_generated", "__pycache__", ".user.yml")
    for name in ("contracts", "dbt_project", "catalog", "dags"):
        shutil.copytree(PROJECT_ROOT / name, home / name, ignore=ignore)
    for path in (home / "contracts").rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if "127.0.0.1:8765" in text:
            text = text.replace("127.0.0.1:8765", f"127.0.0.1:{port}")
            text = re.sub(r"\n *- \{property: rateLimitPerSecond, value: [0-9.]+\}", "", text)
            text = re.sub(r"\{property: pageSize, value: \d+\}", f"{{property: pageSize, value: {API_PAGE_SIZE}}}", text)
            path.write_text(text, encoding="utf-8")


def add_next_day(pristine_next: Path, data: Path, day: dt.date) -> None:
    """The next day's file deliveries (inbox csv/jsonl/xlsx) join the history's inbox."""
    for path in (pristine_next / "inbox").rglob(f"*{day:%Y-%m-%d}*"):
        target = data / "inbox" / path.relative_to(pristine_next / "inbox")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


# ---------------------------------------------------------------- ours (child)

def _keys() -> list[str]:
    from cityshare.dag_specs import source_specs

    return [spec.key for spec in source_specs()]


def _format(contract: Any) -> str:
    """The source's format label for per-format figures: csv, jsonl, xlsx, sqlite, api, postgresql."""
    from cityshare.sources import server_kind

    kind, fmt = server_kind(contract)
    return fmt if kind == "local" and fmt else kind


class FormatTimer:
    """Seconds and rows of extract+land per source format, so CSV/JSONL can be compared on their own."""

    def __init__(self) -> None:
        self.by_format: dict[str, dict[str, float]] = {}

    def add(self, fmt: str, seconds: float, rows: int) -> None:
        entry = self.by_format.setdefault(fmt, {"seconds": 0.0, "rows": 0, "batches": 0})
        entry["seconds"] = round(entry["seconds"] + seconds, 3)
        entry["rows"] += rows
        entry["batches"] += 1


def _ours_stages(meter: StageMeter, days: list[dt.date], settings: Any, prefix: str = "",
                 land_only: bool = False) -> dict[str, Any]:
    from cityshare.contracts.model import get_contract
    from cityshare.directory.builder import build_directory
    from cityshare.errors import CityShareError
    from cityshare.ingest import gate_batch, land_batch
    from cityshare.publish import audit, publish
    from cityshare.transform import build

    counts: dict[str, Any] = {"rows": 0, "accepted": 0, "blocked": 0, "failed_sources": 0}
    landed = []
    timer = FormatTimer()
    readers: dict[str, int] = {}
    with meter.stage(prefix + "extract_land"):
        for day in days:
            for key in _keys():
                started = time.perf_counter()
                try:
                    item = land_batch(key, day, settings)
                except CityShareError:
                    counts["failed_sources"] += 1
                    continue
                elapsed = time.perf_counter() - started
                landed.append(item)
                timer.add(_format(get_contract(key, settings)), elapsed, item["rows"])
                readers[item["reader"]] = readers.get(item["reader"], 0) + 1
    counts.update(land_by_format=timer.by_format, readers=readers)
    if land_only:
        counts["rows"] = sum(item["rows"] for item in landed)
        return counts
    with meter.stage(prefix + "gate"):
        for item in landed:
            counts["rows"] += item["rows"]
            try:
                out = gate_batch(item["dataset"], dt.date.fromisoformat(item["load_date"]), item["load_id"], settings)
                counts["accepted"] += out["accepted"]
            except CityShareError:
                counts["blocked"] += 1
    before_build = snapshot_build_inputs(settings) if prefix and EXTRA_BUILD_SAMPLES else None
    with meter.stage(prefix + "build"):
        built = build(settings)  # a next day builds only what its new batches reach (cityshare/build_state.py)
    counts.update(models_built=built["models"], nodes_built=built["nodes"])
    with meter.stage(prefix + "publish"):
        publish(audit(settings), settings)
    with meter.stage(prefix + "directory"):
        build_directory(settings)
    if before_build:
        counts["build_samples"] = [meter.stages[prefix + "build"]["seconds"],
                                   *more_build_samples(settings, before_build, EXTRA_BUILD_SAMPLES)]
    return counts


# A next-day build takes 2-3 s and varies by ±20 % run to run on this kind of machine: each CityShare rep times it
# this many more times, from the same state (the warehouse and dbt target as the gate left them), after the day's
# flow is done. The figure reported is the median of all samples of all reps.
EXTRA_BUILD_SAMPLES = 2


def snapshot_build_inputs(settings: Any) -> Path:
    """Copy what a build reads and writes (the warehouse file, its WAL if any, the dbt target folder) aside."""
    keep = settings.warehouse_path.parent / "_before_build"
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir()
    for path in (settings.warehouse_path, Path(f"{settings.warehouse_path}.wal")):
        if path.exists():
            shutil.copy2(path, keep / path.name)
    if settings.dbt_target_dir.exists():
        shutil.copytree(settings.dbt_target_dir, keep / "dbt_target")
    return keep


def restore_build_inputs(settings: Any, keep: Path) -> None:
    """Put the warehouse (and WAL) and dbt target saved by ``snapshot_build_inputs`` back in place."""
    Path(f"{settings.warehouse_path}.wal").unlink(missing_ok=True)
    for path in keep.iterdir():
        if path.is_file():
            shutil.copy2(path, settings.warehouse_path.parent / path.name)
    shutil.rmtree(settings.dbt_target_dir, ignore_errors=True)
    if (keep / "dbt_target").exists():
        shutil.copytree(keep / "dbt_target", settings.dbt_target_dir)


def more_build_samples(settings: Any, keep: Path, count: int) -> list[float]:
    """Restore the snapshot and time ``build`` again, ``count`` times; the last build's state is what remains."""
    from cityshare.transform import build

    samples = []
    for _ in range(count):
        restore_build_inputs(settings, keep)
        os.sync()  # the copy's writeback must not land in the build's fsyncs
        started = time.perf_counter()
        build(settings)
        samples.append(round(time.perf_counter() - started, 3))
    shutil.rmtree(keep, ignore_errors=True)
    return samples


def ours_child(data: Path, days: list[dt.date], next_dir: Path | None, next_day: dt.date | None,
               land_only: bool = False) -> dict[str, Any]:
    import logging

    from cityshare.settings import get_settings
    from cityshare.simulate.api import start_api_server

    logging.disable(logging.INFO)
    settings = get_settings()
    meter = StageMeter()
    with start_api_server(settings):
        counts = _ours_stages(meter, days, settings, land_only=land_only)
        if land_only:
            return meter.report(**counts)
        target = settings.dbt_target_dir / "manifest.json"
        if target.exists():  # the baseline runs dbt's compiled SQL of the full build (not the incremental day's)
            shutil.copy2(target, data.parent.parent / "manifest.json")
        extra: dict[str, Any] = {}
        if next_dir and next_day:
            add_next_day(next_dir, data, next_day)
            extra["incremental"] = _ours_stages(meter, [next_day], settings, prefix="incremental_")
    return meter.report(**counts, **extra)


# ---------------------------------------------------------------- baseline (child)

def _copy_landed(con: Any, relation: str, params: list[Any], day: dt.date, source: str, out: Path) -> int:
    """``COPY`` a relation of text columns to ``out`` with the landed metadata columns (same row hash)."""
    cols = [c for c in con.execute(f"SELECT * FROM {relation} LIMIT 0", params).description]
    text = ", ".join(f"coalesce(\"{c[0]}\", '\\N')" for c in cols)
    out.parent.mkdir(parents=True, exist_ok=True)
    return con.execute(f"""COPY (SELECT *, row_number() OVER () AS _source_row, 'b{day:%Y%m%d}' AS _load_id,
                                  now()::TIMESTAMP AS _loaded_at, ? AS _source,
                                  md5(concat_ws(chr(31), {text})) AS _row_hash, ?::DATE AS _load_date
                           FROM {relation}) TO '{out}' (FORMAT parquet)""", [source, day, *params]).fetchone()[0]


def _land_native_plain(con: Any, contract: Any, day: dt.date, settings: Any, out: Path) -> int | None:
    """The honest hand-written land of a file: DuckDB's own reader (``read_csv`` all text, ``read_json``)
    straight to Parquet with the same row hash and metadata — no connector, integrity scan, staging or
    fallback. A CSV DuckDB cannot decode (GB18030) goes through pyarrow's reader, as one would by hand.
    None for sources DuckDB does not read itself (API, Excel, SQLite, PostgreSQL)."""
    import glob

    import duckdb
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from cityshare.contracts.model import expand
    from cityshare.sources import source_fields

    fmt = _format(contract)
    if fmt not in ("csv", "jsonl"):
        return None
    files = sorted(glob.glob(expand(contract.server["path"], settings).replace("{date}", day.isoformat())))
    if not files:
        return 0
    if fmt == "jsonl":
        select = ", ".join(f'r.{".".join(chr(34) + p + chr(34) for p in path.split("."))}::VARCHAR AS "{name}"'
                           for name, path in source_fields(contract).items())
        return _copy_landed(con, f"(SELECT {select} FROM read_json(?, format = 'newline_delimited') AS r)",
                            [files], day, ",".join(files), out)
    names = contract.column_by_header() | {str(p.custom["sourceField"]): p.name
                                           for p in contract.properties if p.custom.get("sourceField")}
    delim = str(contract.server_option("delimiter") or ",").replace("\\t", "\t")
    skip = int(contract.server_option("headerRow", 1)) - 1
    opts = f"header = true, all_varchar = true, skip = {skip}" + ("" if delim == "auto" else f", delim = '{delim}'")
    try:
        header = [c[0] for c in con.execute(f"SELECT * FROM read_csv(?, {opts}) LIMIT 0", [files[0]]).description]
        select = ", ".join(f'"{h}" AS "{names.get(h, h)}"' for h in header)
        return _copy_landed(con, f"(SELECT {select} FROM read_csv(?, {opts}))", [files[0]], day, files[0], out)
    except duckdb.Error:  # not UTF-8: pyarrow's reader transcodes
        with open(files[0], encoding="gb18030") as fh:
            header = [fh.readline() for _ in range(skip + 1)][-1].rstrip("\r\n")
        delim = delim if delim != "auto" else max((",", "\t", ";", "|"), key=header.count)
        cols = [names.get(h, h) for h in header.split(delim)]
        table = pacsv.read_csv(files[0], read_options=pacsv.ReadOptions(encoding="gb18030", skip_rows=skip + 1,
                                                                          column_names=cols),
                               parse_options=pacsv.ParseOptions(delimiter=delim),
                               convert_options=pacsv.ConvertOptions(strings_can_be_null=True,
                                                                    column_types=dict.fromkeys(cols, pa.string())))
        con.register("src_table", table)
        try:
            return _copy_landed(con, "src_table", [], day, files[0], out)
        finally:
            con.unregister("src_table")


def _land_plain(con: Any, contract: Any, day: dt.date, settings: Any, out: Path) -> int:
    """The old baseline: CityShare's connector reads, one DuckDB COPY with the same metadata columns."""
    import pyarrow as pa

    from cityshare.sources import extract

    ex = extract(contract, day, settings)
    batches = list(ex.batches)
    if not batches:
        return 0
    table = pa.Table.from_batches(batches)
    table = table.append_column("_source_row", pa.array(range(1, table.num_rows + 1), pa.int64()))
    con.register("src", table)
    cols = ", ".join(f"coalesce(\"{c}\", '\\N')" for c in table.column_names if c != "_source_row")
    out.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"""COPY (SELECT *, 'b{day:%Y%m%d}' AS _load_id, now()::TIMESTAMP AS _loaded_at, ? AS _source,
                         md5(concat_ws(chr(31), {cols})) AS _row_hash, ?::DATE AS _load_date FROM src)
                    TO '{out}' (FORMAT parquet)""", [ex.source_uri, day])
    con.unregister("src")
    return table.num_rows


def _gate_plain(con: Any, contract: Any, day: dt.date, raw: Path, history: list[int],
                accepted: dict[str, list[str]]) -> tuple[str | None, int, int]:
    """The contract's checks as SQL: batch checks, one flag pass, quarantine + accepted files."""
    from cityshare.contracts.rules import GateContext, compile_rules

    con.execute(f"CREATE OR REPLACE TEMP VIEW batch AS SELECT * FROM read_parquet('{raw}')")
    columns = [r[0] for r in con.execute("DESCRIBE batch").fetchall()]
    refs = {str(c.get("arguments", {}).get("referenceDataset")) for p in contract.properties for c in p.quality
            if isinstance(c.get("arguments"), dict) and c["arguments"].get("referenceDataset")}
    ctx = GateContext(day, list(history), {r: accepted.get(r, []) for r in refs}, columns)
    rules = [r for r in compile_rules(contract, ctx=ctx) if r.skip_reason is None]
    n = con.execute("SELECT count(*) FROM batch").fetchone()[0]
    for rule in rules:
        if rule.level == "batch" or rule.kind == "extra_columns":
            if rule.kind == "column_exists":
                ok = rule.column in columns
            elif rule.kind == "extra_columns":
                ok = set(columns) <= set(rule.params["expected"])
            elif rule.kind in ("row_count_min", "volume"):
                lo, hi = rule.params.get("min"), rule.params.get("max")
                ok = (lo is None or n >= lo) and (hi is None or n <= hi)
            elif rule.bad_rows_sql:
                sql = rule.bad_rows_sql.replace("{batch}", "batch").replace("{{", "{").replace("}}", "}")
                ok = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0] == 0
            else:
                ok = True
            if not ok and rule.level == "batch":
                return None, n, 0
    row_rules = [r for r in rules if not (r.level == "batch" or r.kind == "extra_columns")]
    exprs = []
    for i, r in enumerate(row_rules):
        if r.predicate is not None:
            exprs.append(f"coalesce({r.predicate}, false) AS f{i}")
        else:
            sql = r.bad_rows_sql.replace("{batch}", "batch").replace("{{", "{").replace("}}", "}")
            exprs.append(f"_source_row IN (SELECT _source_row FROM ({sql})) AS f{i}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE flags AS SELECT _source_row{''.join(', ' + e for e in exprs)} FROM batch")
    bad = " OR ".join(f"f{i}" for i, r in enumerate(row_rules) if r.level == "row") or "false"
    quarantined = con.execute(f"SELECT count(*) FROM flags WHERE {bad}").fetchone()[0]
    out = raw.parent
    if quarantined:
        con.execute(f"""COPY (SELECT b.* FROM batch b JOIN flags f USING (_source_row) WHERE {bad})
                        TO '{out / 'quarantine.parquet'}' (FORMAT parquet)""")
    if n and quarantined / n > contract.quarantine_threshold:
        return None, n, quarantined
    con.execute(f"""COPY (SELECT b.* FROM batch b JOIN flags f USING (_source_row) WHERE NOT ({bad})
                    ORDER BY _source_row) TO '{out / 'accepted.parquet'}' (FORMAT parquet)""")
    return str(out / "accepted.parquet"), n, quarantined


def _toposort(nodes: dict[str, Any]) -> list[str]:
    done: set[str] = set()
    order: list[str] = []

    def visit(uid: str) -> None:
        if uid in done or uid not in nodes:
            return
        done.add(uid)
        for dep in nodes[uid]["depends_on"].get("nodes", []):
            visit(dep)
        order.append(uid)

    for uid in sorted(nodes):
        visit(uid)
    return order


class _DbtStub:
    """Just enough of dbt's ``dbt`` object for the project's Python models."""

    def config(self, **_: Any) -> None:
        return None


def _build_plain(con: Any, manifest: dict[str, Any]) -> int:
    """dbt's compiled SQL run directly: seeds via read_csv, models as CTAS/views, tests as counts."""
    nodes = manifest["nodes"]
    failing_tests = 0
    for uid in _toposort(nodes):
        node = nodes[uid]
        kind, rel = node["resource_type"], node.get("relation_name")
        if kind in ("seed", "model"):
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{node["schema"]}"')
        if kind == "seed":
            types = node["config"].get("column_types") or {}
            path = Path(node["root_path"]) / node["original_file_path"]
            arg = ", types = {" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}" if types else ""
            con.execute(f"CREATE OR REPLACE TABLE {rel} AS SELECT * FROM read_csv('{path}', header = true{arg})")
        elif kind == "model" and node.get("language") == "python":
            scope: dict[str, Any] = {}
            exec(compile(node["raw_code"], node["original_file_path"], "exec"), scope)  # our own dbt model
            con.register("py_model", scope["model"](_DbtStub(), con))
            con.execute(f"CREATE OR REPLACE TABLE {rel} AS SELECT * FROM py_model")
            con.unregister("py_model")
        elif kind == "model" and node["config"].get("materialized") != "ephemeral":
            what = "VIEW" if node["config"].get("materialized") == "view" else "TABLE"
            con.execute(f"CREATE OR REPLACE {what} {rel} AS {node['compiled_code']}")
        elif kind == "test" and node.get("compiled_code"):
            failing_tests += con.execute(f"SELECT count(*) FROM ({node['compiled_code']})").fetchone()[0] > 0
    return failing_tests


def baseline_child(data: Path, days: list[dt.date], honest: bool = True, land_only: bool = False) -> dict[str, Any]:
    """The hand-written baseline. ``honest``: files read by DuckDB's own readers (``_land_native_plain``);
    otherwise the old baseline, which read them through CityShare's connectors (``_land_plain``)."""
    import duckdb

    from bench.directory_bench import baseline as directory_baseline
    from cityshare.contracts.model import load_contracts
    from cityshare.contracts.rules import compile_rules
    from cityshare.settings import get_settings
    from cityshare.simulate.api import start_api_server

    settings = get_settings()
    meter = StageMeter()
    sources = load_contracts(settings, kind="source")
    lake = data / "baseline_lake"
    con = duckdb.connect()
    counts: dict[str, Any] = {"rows": 0, "accepted": 0, "blocked": 0}
    landed: list[tuple[Any, dt.date, Path]] = []
    timer = FormatTimer()
    with start_api_server(settings), meter.stage("extract_land"):
        for day in days:
            for c in sources:
                out = lake / c.raw_table / f"{day}" / "raw.parquet"
                started = time.perf_counter()
                rows = _land_native_plain(con, c, day, settings, out) if honest else None
                if rows is None:
                    rows = _land_plain(con, c, day, settings, out)
                timer.add(_format(c), time.perf_counter() - started, rows)
                if rows:
                    landed.append((c, day, out))
    counts["land_by_format"] = timer.by_format
    if land_only:
        counts["rows"] = sum(e["rows"] for e in timer.by_format.values())
        return meter.report(**counts)
    manifest = json.loads((data.parent.parent / "manifest.json").read_text(encoding="utf-8"))
    accepted: dict[str, list[str]] = {}
    history: dict[str, list[int]] = {}
    with meter.stage("gate"):
        for c, day, raw in landed:
            path, n, _ = _gate_plain(con, c, day, raw, history.get(c.key, [])[::-1], accepted)
            counts["rows"] += n
            if path:
                accepted.setdefault(c.key, []).append(path)
                history.setdefault(c.key, []).append(n)
            else:
                counts["blocked"] += 1
    con.close()
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    with meter.stage("build"):
        from cityshare.transform_udfs import register_udfs

        register_udfs(con)  # the same masking/token functions dbt's plugin registers
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for c in sources:
            files = accepted.get(c.key)
            if files:
                # each baseline batch is one day (load id b<YYYYMMDD>): that number is its commit sequence
                body = (f"SELECT *, CAST(substr(_load_id, 2) AS BIGINT) AS _batch_seq "
                        f"FROM read_parquet({files!r}, union_by_name = true)")
            else:
                cols = [f'CAST(NULL AS VARCHAR) AS "{p.name}"' for p in c.properties]
                cols += ["CAST(NULL AS VARCHAR) AS _load_id", "CAST(NULL AS TIMESTAMP) AS _loaded_at",
                         "CAST(NULL AS VARCHAR) AS _source", "CAST(NULL AS BIGINT) AS _source_row",
                         "CAST(NULL AS VARCHAR) AS _row_hash", "CAST(NULL AS DATE) AS _load_date",
                         "CAST(NULL AS BIGINT) AS _batch_seq"]
                body = "SELECT " + ", ".join(cols) + " WHERE false"
            con.execute(f'CREATE OR REPLACE VIEW raw."{c.raw_table}" AS {body}')
        counts["failing_tests"] = _build_plain(con, manifest)
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    exports = data / "baseline_exports"
    exports.mkdir(parents=True, exist_ok=True)
    with meter.stage("publish"):
        con.execute("CREATE SCHEMA IF NOT EXISTS shared")
        for c in load_contracts(settings, kind="shared"):
            node = models.get(c.model_name)
            if node is None:
                continue
            order = ", ".join(f'"{k}"' for k in c.primary_key) or "ALL"
            staged = exports / f"{c.model_name}.parquet"
            con.execute(f"COPY (SELECT * FROM {node['relation_name']} ORDER BY {order}) TO '{staged}' (FORMAT parquet)")
            con.execute(f"CREATE OR REPLACE TEMP VIEW batch AS SELECT * FROM read_parquet('{staged}')")
            for rule in compile_rules(c, order_column=None):
                if rule.bad_rows_sql:
                    sql = rule.bad_rows_sql.replace("{batch}", "batch").replace("{{", "{").replace("}}", "}")
                    con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
            con.execute(f'CREATE OR REPLACE TABLE shared."{c.model_name}" AS SELECT * FROM read_parquet(\'{staged}\')')
    con.close()
    with meter.stage("directory"):
        directory_baseline(settings, sorted(settings.contracts_dir.glob("*/*.odcs.yaml")))
    return meter.report(**counts)


# ---------------------------------------------------------------- orchestration (child)

def orchestration_child(data: Path) -> dict[str, Any]:
    """Airflow's fixed cost: init + one DAG run on empty input, minus the same task in-process."""
    from cityshare.directory.builder import build_directory
    from cityshare.orchestrate import init_airflow, run_dags
    from cityshare.settings import get_settings

    settings = get_settings()
    t = time.perf_counter()
    init_airflow(settings)
    init_s = time.perf_counter() - t
    build_directory(settings)  # warm: the first build writes version 1 of every entry
    t = time.perf_counter()
    build_directory(settings)
    inproc = time.perf_counter() - t
    t = time.perf_counter()
    runs = run_dags([("directory", START), ("directory", START + dt.timedelta(days=1))], settings)
    total = time.perf_counter() - t
    return {"airflow_init_s": round(init_s, 2), "dag_runs": len(runs), "ok": all(r.ok for r in runs),
            "per_dag_run_s": round(total / len(runs), 2), "task_in_process_s": round(inproc, 3),
            "overhead_per_dag_run_s": round(total / len(runs) - inproc, 2),
            "dag_reported_s": [round(r.seconds, 2) for r in runs]}


# ---------------------------------------------------------------- parent

def _child(mode: str, folder: Path, data: Path, extra: list[str]) -> dict[str, Any]:
    env = {"CITYSHARE_DATA_DIR": str(data), "CITYSHARE_HOME": os.environ["CITYSHARE_HOME"],
           "CITYSHARE_SIM_API_PORT": os.environ["CITYSHARE_SIM_API_PORT"]}
    return run_child([__file__, "--child", mode, "--folder", str(folder), *extra], env, f"{mode} child")


def _fresh(folder: Path) -> Path:
    data = folder / "run" / "data"
    shutil.rmtree(folder / "run", ignore_errors=True)
    shutil.copytree(folder / "full", data)
    return data


def summarise(scale_runs: dict[str, list[dict[str, Any]]], rows: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    present = [s for s in STAGES if s in scale_runs["ours"][0]["stages"]]
    for stage in [*present, "end_to_end"] if present == STAGES else present:
        entry: dict[str, Any] = {}
        for side, runs in scale_runs.items():
            if stage == "end_to_end":
                secs = [sum(r["stages"][s]["seconds"] for s in STAGES) for r in runs]
                rss = max(r["process_peak_rss_mb"] for r in runs)
            else:
                secs = [r["stages"][stage]["seconds"] for r in runs]
                rss = max(r["stages"][stage]["peak_rss_mb"] for r in runs)
            med = median(secs)
            entry[side] = {"seconds_median": round(med, 3), "runs": [round(s, 3) for s in secs],
                           "rows_per_s": round(rows / med) if med else None, "peak_rss_mb": round(rss)}
        entry["ratio"] = round(entry["ours"]["seconds_median"] / entry["baseline"]["seconds_median"], 2)
        if "baseline_old" in entry:
            entry["ratio_old"] = round(entry["ours"]["seconds_median"] / entry["baseline_old"]["seconds_median"], 2)
        out[stage] = entry
    return out


def summarise_formats(scale_runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """extract+land per source format: median seconds, rows/s and the ratio to the (honest) baseline."""
    out: dict[str, Any] = {}
    for fmt in sorted(scale_runs["ours"][0].get("land_by_format", {})):
        entry: dict[str, Any] = {}
        for side, runs in scale_runs.items():
            secs = [r["land_by_format"][fmt]["seconds"] for r in runs if fmt in r.get("land_by_format", {})]
            if not secs:
                continue
            rows = runs[0]["land_by_format"][fmt]["rows"]
            med = median(secs)
            entry[side] = {"seconds_median": round(med, 3), "runs": secs, "rows": rows,
                           "rows_per_s": round(rows / med) if med else None}
        if "baseline" in entry and entry["baseline"]["seconds_median"]:
            entry["ratio"] = round(entry["ours"]["seconds_median"] / entry["baseline"]["seconds_median"], 2)
        if entry.get("baseline_old", {}).get("seconds_median"):
            entry["ratio_old"] = round(entry["ours"]["seconds_median"] / entry["baseline_old"]["seconds_median"], 2)
        out[fmt] = entry
    return out


def bench_scale(root: Path, rows: int, reps: int, days: int, say: Any, with_incremental: bool = True,
                old_baseline: bool = False, land_only: bool = False) -> dict[str, Any]:
    folder = root / f"rows_{rows}"
    t = time.perf_counter()
    sim = simulate_scale(folder, rows, days)
    say(f"[{rows:,}] simulated {sim['source_rows']:,} source rows in {time.perf_counter() - t:.0f} s "
        f"(scale {sim['scale']}, {days} days; next day {sim['next_day_file_rows']:,} file rows)")
    os.sync()  # the simulation's writes reach the disk now, not during the first rep's fsyncs
    day_args = ["--start", START.isoformat(), "--days", str(days)]
    sides = ["ours", "baseline", *(["baseline_old"] if old_baseline else [])]
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    incrementals: list[dict[str, Any]] = []  # one next day per CityShare rep: its median, like the full run's
    for rep in range(reps):
        for side in (sides if rep % 2 == 0 else sides[::-1]):
            data = _fresh(folder)
            extra = list(day_args) + (["--land-only"] if land_only else [])
            if side == "ours" and with_incremental and not land_only:
                extra += ["--next-day", sim["next_day"]]
            info = _child(side, folder, data, extra)
            if "incremental_gate" in info["stages"]:
                incrementals.append({s: info["stages"].pop(f"incremental_{s}") for s in STAGES})
                incrementals[-1]["counts"] = info.pop("incremental")
            runs[side].append(info)
            total = sum(v["seconds"] for v in info["stages"].values())
            say(f"[{rows:,}] rep {rep + 1} {side}: {total:.1f} s, peak {info['process_peak_rss_mb']:.0f} MB, "
                f"load {os.getloadavg()[0]:.2f}")
    shutil.rmtree(folder / "run", ignore_errors=True)
    result = {"rows": sim["source_rows"], "simulation": sim, "reps": reps,
              "stages": summarise(runs, sim["source_rows"]), "extract_land_by_format": summarise_formats(runs),
              "readers": runs["ours"][0].get("readers", {}),
              "counts": {side: {k: v for k, v in r[0].items() if k not in ("stages",)} for side, r in runs.items()},
              "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    if incrementals:
        incremental: dict[str, Any] = {
            s: {"seconds": round(median(i[s]["seconds"] for i in incrementals), 3),
                "runs": [round(i[s]["seconds"], 3) for i in incrementals],
                "peak_rss_mb": max(i[s]["peak_rss_mb"] for i in incrementals)} for s in STAGES}
        samples = [x for i in incrementals for x in i["counts"].get("build_samples", [])]
        if samples:  # every timing of the next-day build, of every rep (see EXTRA_BUILD_SAMPLES)
            incremental["build"].update(seconds=round(median(samples), 3), samples=samples)
        incremental["counts"] = incrementals[0]["counts"]
        inc_total = median(sum(i[s]["seconds"] for s in STAGES) for i in incrementals)
        full_total = result["stages"]["end_to_end"]["ours"]["seconds_median"]
        full_build = result["stages"]["build"]["ours"]["seconds_median"]
        result["incremental"] = {"stages": incremental, "seconds": round(inc_total, 2),
                                 "share_of_full": round(inc_total / full_total, 3),
                                 "build_share_of_full_build": round(incremental["build"]["seconds"] / full_build, 3)}
    return result


def _build_timings(build: dict[str, Any]) -> str:
    """How the next-day build figure was taken: its samples (median of all), or one run per rep."""
    if build.get("samples"):
        return (f"median of {len(build['samples'])} timings, {1 + EXTRA_BUILD_SAMPLES} per rep: "
                f"{', '.join(f'{x:.2f}' for x in build['samples'])} s; the in-flow ones alone: "
                f"{', '.join(f'{x:.2f}' for x in build.get('runs', []))} s")
    return f"runs {', '.join(f'{x:.1f}' for x in build.get('runs', []))} s"


def render_md(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# CityShare benchmark 性能基准 (`make bench`)", "",
        f"Measured {report['measured_at']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; "
        f"Python {m['python']}, DuckDB {m['duckdb']}, pyarrow {m['pyarrow']}; load average at start "
        f"{m['load_average']}. Alternating repetitions per side in fresh processes (count per scale below), medians. "
        "Ratio = CityShare / hand-written baseline (wall time). rows/s = source rows / stage time.", "",
    ]
    for sc in report["scales"]:
        lines += [f"## {sc['rows']:,} source rows ({sc['simulation']['days']} days × all departments; {sc['reps']} "
                  f"repetition(s); load average after: {sc['load_average_after']})", "",
                  "| stage | CityShare s | baseline s | ratio | CityShare rows/s | baseline rows/s | "
                  "CityShare peak RSS MB | baseline peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
        for stage, e in sc["stages"].items():
            o, b = e["ours"], e["baseline"]
            lines.append(f"| {STAGE_ZH[stage]} | {o['seconds_median']:.2f} | {b['seconds_median']:.2f} | "
                         f"**{e['ratio']:.2f}×** | {o['rows_per_s']:,} | {b['rows_per_s']:,} | "
                         f"{o['peak_rss_mb']:,} | {b['peak_rss_mb']:,} |")
        lines += _render_land(sc)
        if "incremental" in sc:
            inc = sc["incremental"]
            parts = ", ".join(f"{s} {inc['stages'][s]['seconds']:.1f} s" for s in STAGES)
            lines += ["", f"Incremental next day 增量 (~1 % new file rows, {inc['stages']['counts']['rows']:,} rows "
                          f"landed): **{inc['seconds']:.1f} s = {inc['share_of_full'] * 100:.0f} % of the full run** "
                          f"({parts}; medians of {len(inc['stages']['build'].get('runs', [0]))} rep(s)). Its build: "
                          f"**{inc['stages']['build']['seconds']:.2f} s = "
                          f"{inc.get('build_share_of_full_build', 0) * 100:.1f} % of the full build** "
                          f"({_build_timings(inc['stages']['build'])}; "
                          f"{inc['stages']['counts'].get('models_built', '?')} of "
                          f"{sc['counts']['ours'].get('models_built', '?')} models, "
                          f"{inc['stages']['counts'].get('nodes_built', '?')} of "
                          f"{sc['counts']['ours'].get('nodes_built', '?')} dbt nodes)."]
        lines.append("")
    if report.get("orchestration"):
        o = report["orchestration"]
        lines += ["## Orchestration overhead 编排开销 (Airflow, empty input)", "",
                  f"`airflow db migrate` once: {o['airflow_init_s']} s; one DAG run through `run_dags` "
                  f"(`dag.test` in a subprocess): {o['per_dag_run_s']} s vs the same task in-process "
                  f"{o['task_in_process_s']} s → **fixed cost ≈ {o['overhead_per_dag_run_s']} s per DAG run** "
                  f"(not included in the stage figures above).", ""]
    if report.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(lines)


def _render_land(sc: dict[str, Any]) -> list[str]:
    """extract+land per source format, and the old baseline's figures when it was run for comparison."""
    formats = sc.get("extract_land_by_format") or {}
    if not formats:
        return []
    old = any("baseline_old" in e for e in formats.values())
    lines = ["", "Extract+land per source format 分格式采集落地 (CityShare readers: "
             + ", ".join(f"{k} {v} batches" for k, v in sorted(sc.get("readers", {}).items())) + "):", "",
             "| format | rows | CityShare s | baseline s | ratio | CityShare rows/s | baseline rows/s |"
             + (" old baseline s | ratio to old |" if old else ""),
             "|---|---|---|---|---|---|---|" + ("---|---|" if old else "")]
    for fmt, e in formats.items():
        o, b = e["ours"], e.get("baseline", {})
        line = (f"| {fmt} | {o['rows']:,} | {o['seconds_median']:.2f} | {b.get('seconds_median', 0):.2f} | "
                f"**{e.get('ratio', 0):.2f}×** | {o['rows_per_s'] or 0:,} | {b.get('rows_per_s') or 0:,} |")
        if old:
            line += f" {e.get('baseline_old', {}).get('seconds_median', 0):.2f} | {e.get('ratio_old', 0):.2f}× |"
        lines.append(line)
    return lines


NOTES = [
    "Baseline extract+land (honest, issue #24): CSV/JSONL read by DuckDB's own `read_csv`/`read_json` (a GB18030 "
    "CSV by pyarrow's reader) straight to Parquet with the same row hash and metadata columns in one COPY; API, "
    "Excel and SQLite sources through the connectors. `--old-baseline` also runs the earlier baseline, which read "
    "every source through CityShare's connectors.",
    "Baseline gate: the same compiled contract rules (batch checks + one SQL flag pass) without GX, "
    "history tables, validation JSON or the warehouse commit.",
    "Baseline build: dbt's compiled SQL (manifest of the CityShare full build in the same run) executed directly; "
    "no dbt parsing, no enforced-contract DDL, no data tests' bookkeeping, no run artifacts.",
    "The bench's private contract copy lifts the simulated department APIs' rate limits and raises their page "
    "size to the maximum, on both sides, so the curve measures CityShare rather than the throttle.",
    "Baseline publish: ordered Parquet export + the published contracts' SQL checks + `shared` tables; no "
    "content hash, versioning or quality history. Baseline directory: YAML parsed and inserted as JSON.",
]


QUICK_ROWS = 300_000  # `make bench BENCH_ARGS=--quick`: every stage and ratio in a few minutes, one rep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", help="rows per scale, comma-separated; ROWS:REPS sets its reps (default 1e6,3e6)")
    parser.add_argument("--reps", type=int, help="repetitions per side (default 3; 1 with --quick)")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--out", help="output path without extension (default bench/results/latest, or quick)")
    parser.add_argument("--quick", action="store_true",
                        help=f"one rep of {QUICK_ROWS:,} rows (≈ 2 min here), written to bench/results/quick")
    parser.add_argument("--no-orchestration", action="store_true", help="skip the Airflow fixed-cost run")
    parser.add_argument("--no-incremental", action="store_true", help="skip the next-day incremental run")
    parser.add_argument("--old-baseline", action="store_true",
                        help="also run the old baseline (files read through CityShare's connectors), for comparison")
    parser.add_argument("--land-only", action="store_true",
                        help="time extract+land only (per source format), skipping gate, build, publish, directory")
    parser.add_argument("--keep", metavar="DIR",
                        help="work in DIR and keep its simulated sources: a later run with the same DIR reuses them")
    parser.add_argument("--child")
    parser.add_argument("--folder")
    parser.add_argument("--start")
    parser.add_argument("--next-day")
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only re-write the .md of an existing results .json")
    args = parser.parse_args()
    args.scales = args.scales or (str(QUICK_ROWS) if args.quick else "1e6,3e6")
    args.reps = args.reps or (1 if args.quick else 3)
    args.out = args.out or str(RESULTS / ("quick" if args.quick else "latest"))
    if args.render:
        path = Path(args.render)
        path.with_suffix(".md").write_text(render_md(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
        return
    if args.child:
        folder = Path(args.folder)
        data = Path(os.environ["CITYSHARE_DATA_DIR"])
        days = [dt.date.fromisoformat(args.start) + dt.timedelta(days=i) for i in range(args.days)] if args.start else []
        if args.child == "ours":
            nxt = dt.date.fromisoformat(args.next_day) if args.next_day else None
            info = ours_child(data, days, folder / "next" if nxt else None, nxt, land_only=args.land_only)
        elif args.child in ("baseline", "baseline_old"):
            info = baseline_child(data, days, honest=args.child == "baseline", land_only=args.land_only)
        else:
            info = orchestration_child(data)
        print(json.dumps(info, ensure_ascii=False, default=str))
        return

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    # "1e6,1e7:1": a scale may carry its own repetition count (a 10 M rep takes tens of minutes here)
    scales = [(int(float(s.split(":")[0])), int(s.split(":")[1]) if ":" in s else args.reps)
              for s in args.scales.split(",") if s.strip()]
    report: dict[str, Any] = {"measured_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
                              "reps": args.reps, "scales": [], "notes": NOTES}
    # A bar over the scales on a terminal's stderr (the step lines still go to stdout, for logs and pipes).
    err = Console(stderr=True)
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, disable=not err.is_terminal, redirect_stdout=False)
    task = bar.add_task("bench 基准", total=len(scales) + (0 if args.no_orchestration else 1))

    def say(text: str) -> None:
        print(text, flush=True)
        bar.update(task, description=f"bench 基准: {text.splitlines()[0][:70]}")

    keep = contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory(prefix="cityshare-bench-")
    with bar, keep as tmp:
        root = Path(tmp)
        port = free_port()
        make_home(root / "home", port)
        os.environ["CITYSHARE_HOME"], os.environ["CITYSHARE_SIM_API_PORT"] = str(root / "home"), str(port)
        # the bench home's own secrets, inherited by the children: the token key (both sides compute the same
        # tokens) and the simulated department APIs' bearer tokens (the simulator and the connectors read them)
        for name in ("CITYSHARE_TOKEN_KEY", "CITYSHARE_SCJGJ_API_TOKEN", "CITYSHARE_JTJ_API_TOKEN"):
            os.environ.setdefault(name, secrets.token_hex(32))
        if not args.no_orchestration:
            data = root / "orchestration" / "data"
            data.mkdir(parents=True)
            report["orchestration"] = _child("orchestration", root / "orchestration", data, [])
            say(f"orchestration: {report['orchestration']}")
            bar.advance(task)
        for rows, reps in scales:
            report["scales"].append(bench_scale(root, rows, reps, args.days, say, not args.no_incremental,
                                                old_baseline=args.old_baseline, land_only=args.land_only))
            _write(report, Path(args.out))
            bar.advance(task)
    _write(report, Path(args.out))
    say(render_md(report))


def _write(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(render_md(report), encoding="utf-8")


if __name__ == "__main__":
    main()
