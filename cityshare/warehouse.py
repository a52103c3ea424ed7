"""The DuckDB warehouse: connections, load bookkeeping (meta), the raw views dbt reads, publishing.

DuckDB allows one writing process per file; Airflow runs tasks in separate processes, so every
connection here is short-lived and retried while another process holds the lock.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cityshare.settings import Settings
from cityshare.sqlquote import lit
from cityshare.storage import register_lake, resolved_path

if TYPE_CHECKING:  # a contract is only read here (its raw table and columns): the warehouse is below contracts
    from cityshare.contracts.model import Contract

LOCK_WAIT_SECONDS = 120

# The latest accepted batch of each dataset and load date: what a raw view reads (a load date gated again
# replaces its batch). "Latest" is the commit sequence ``seq`` (next_batch_seq), never ``gated_at``: a worker
# whose clock is slow would otherwise gate a correction that never becomes current. cityshare.build_state
# fingerprints the same rows.
LATEST_ACCEPTED = """
    SELECT dataset, load_id, load_date, accepted_path, rows_accepted, seq FROM meta.batches
    WHERE status = 'accepted'
    QUALIFY row_number() OVER (PARTITION BY dataset, load_date ORDER BY seq DESC) = 1
"""

# meta.batches' columns, named in every insert (warehouses from earlier releases gain the later ones in migrate):
# ``gated_at`` is the gate's clock, for people; ``seq`` orders batches; ``delivered_at`` is when the department
# delivered, by the source's own evidence (cityshare.sources.Extract.delivered_at), what timeliness counts.
BATCH_COLUMNS = ("dataset", "load_id", "load_date", "source", "raw_path", "accepted_path", "quarantine_path",
                 "rows_landed", "rows_accepted", "rows_quarantined", "status", "reason", "gated_at", "seq",
                 "delivered_at")

DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS shared;
CREATE TABLE IF NOT EXISTS meta.batches (
    dataset VARCHAR, load_id VARCHAR, load_date DATE, source VARCHAR, raw_path VARCHAR,
    accepted_path VARCHAR, quarantine_path VARCHAR, rows_landed BIGINT, rows_accepted BIGINT,
    rows_quarantined BIGINT, status VARCHAR, reason VARCHAR, gated_at TIMESTAMP, seq BIGINT,
    delivered_at TIMESTAMP, PRIMARY KEY (dataset, load_id));
CREATE TABLE IF NOT EXISTS meta.quality_results (
    dataset VARCHAR, load_id VARCHAR, stage VARCHAR, rule VARCHAR, level VARCHAR, column_name VARCHAR,
    dimension VARCHAR, dimension_zh VARCHAR, description VARCHAR, evaluated BIGINT, failed BIGINT,
    success BOOLEAN, error VARCHAR, checked_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta.quality_history (
    dataset VARCHAR, load_id VARCHAR, stage VARCHAR, rule VARCHAR, level VARCHAR, column_name VARCHAR,
    dimension VARCHAR, dimension_zh VARCHAR, description VARCHAR, evaluated BIGINT, failed BIGINT,
    x_rate DOUBLE, rate_kind VARCHAR, threshold DOUBLE, verdict VARCHAR, duration_ms DOUBLE,
    data_docs_url VARCHAR, error VARCHAR, checked_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta.publications (
    table_name VARCHAR, version INTEGER, rows BIGINT, content_hash VARCHAR, snapshot_path VARCHAR,
    published_at TIMESTAMP, PRIMARY KEY (table_name, version));
CREATE TABLE IF NOT EXISTS meta.build_state (
    item VARCHAR PRIMARY KEY, fingerprint VARCHAR, built_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta.watermarks (
    dataset VARCHAR, load_date DATE, load_id VARCHAR, watermark_column VARCHAR, low_value VARCHAR,
    high_value VARCHAR, rows BIGINT, recorded_at TIMESTAMP, PRIMARY KEY (dataset, load_id));
CREATE TABLE IF NOT EXISTS meta.raw_view_batches (raw_table VARCHAR, load_id VARCHAR);
CREATE TABLE IF NOT EXISTS meta.batch_contents (
    dataset VARCHAR, load_id VARCHAR, content_hash VARCHAR, PRIMARY KEY (dataset, load_id));
CREATE TABLE IF NOT EXISTS meta.batch_actions (
    dataset VARCHAR, load_id VARCHAR, action VARCHAR, reason VARCHAR, actor VARCHAR, acted_at TIMESTAMP, seq BIGINT);
CREATE TABLE IF NOT EXISTS meta.publish_status (
    table_name VARCHAR PRIMARY KEY, status VARCHAR, reason VARCHAR, checked_at TIMESTAMP);
"""


@contextmanager
def connect(settings: Settings, read_only: bool = False, wait: float | None = None) -> Iterator[Any]:
    """A DuckDB connection to the warehouse, waiting while another process holds the lock: ``wait`` seconds, by
    default ``CITYSHARE_LOCK_WAIT_SECONDS`` (120)."""
    import duckdb

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    if wait is None:
        wait = float(os.environ.get("CITYSHARE_LOCK_WAIT_SECONDS") or LOCK_WAIT_SECONDS)
    deadline = time.monotonic() + wait
    while True:
        try:
            con = duckdb.connect(str(settings.warehouse_path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        register_lake(con, settings)  # raw views may read s3:// batches (cityshare/storage.py)
        if not read_only:
            con.execute(DDL)
            migrate(con, settings)
        yield con
    finally:
        con.close()


# Paths in ``meta`` are kept relative to the data dir (cityshare.storage.stored_path). Absolute ones written by an
# earlier release are cut at the data dir, or — from a data dir since moved — at the fixed lake/exports layout.
_PATH_COLUMNS = {"batches": ("raw_path", "accepted_path", "quarantine_path"), "publications": ("snapshot_path",),
                 "quality_history": ("data_docs_url",)}
_LAYOUT = r"^/.*/((?:lake/(?:raw|accepted|quarantine)|exports/shared)/[^/]+/.+)$"


def _relative_sql(column: str) -> str:
    """SQL for ``column`` made relative to the data dir (parameter: the data dir with a trailing slash)."""
    return (f"CASE WHEN starts_with({column}, $prefix) THEN substr({column}, length($prefix) + 1) "
            f"WHEN regexp_matches({column}, '{_LAYOUT}') THEN regexp_extract({column}, '{_LAYOUT}', 1) "
            f"ELSE {column} END")


def migrate(con: Any, settings: Settings | None = None) -> None:
    """Bring a warehouse written by an earlier release up to the current ``meta`` tables, in place.

    ``meta.batches.seq``: added if missing, and every batch without one numbered after the highest
    existing sequence in its old ``gated_at`` order, so the batches current before stay current.
    ``meta.batches.delivered_at``: added if missing (NULL: the gate time counts for those batches).
    Absolute lake and snapshot paths become relative to the data dir. Running it again changes nothing.
    """
    if settings is not None:
        params = {"prefix": str(settings.data_dir).rstrip("/") + "/"}
        for table, columns in _PATH_COLUMNS.items():
            if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = ?",
                               [table]).fetchone()[0]:
                continue
            stale = " OR ".join(f"{c} IS DISTINCT FROM {_relative_sql(c)}" for c in columns)
            if con.execute(f"SELECT count(*) FROM meta.{table} WHERE {stale}", params).fetchone()[0]:
                sets = ", ".join(f"{c} = {_relative_sql(c)}" for c in columns)
                with transaction(con):
                    con.execute(f"UPDATE meta.{table} SET {sets} WHERE {stale}", params)
    held = {name for (name,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'meta' "
                                             "AND table_name = 'batches'").fetchall()}
    if "seq" not in held:
        con.execute("ALTER TABLE meta.batches ADD COLUMN seq BIGINT")
    if "delivered_at" not in held:  # batches gated before it count their gate time (cityshare.quality.timeliness)
        con.execute("ALTER TABLE meta.batches ADD COLUMN delivered_at TIMESTAMP")
    if con.execute("SELECT count(*) FROM meta.batches WHERE seq IS NULL").fetchone()[0]:
        with transaction(con):
            con.execute("""
                UPDATE meta.batches AS b SET seq = n.seq
                FROM (SELECT dataset, load_id,
                             (SELECT coalesce(max(seq), 0) FROM meta.batches)
                             + row_number() OVER (ORDER BY gated_at NULLS FIRST, dataset, load_id) AS seq
                      FROM meta.batches WHERE seq IS NULL) AS n
                WHERE b.dataset = n.dataset AND b.load_id = n.load_id""")


def next_batch_seq(con: Any) -> int:
    """The commit sequence for a batch decision being recorded: one more than any before.

    Called inside the transaction that inserts the batch row; DuckDB admits one writing process per
    file, so no two commits can draw the same number, whatever their clocks say.
    """
    return int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM meta.batches").fetchone()[0])


@contextmanager
def transaction(con: Any, begin: str = "BEGIN TRANSACTION") -> Iterator[Any]:
    """BEGIN … COMMIT, rolled back on any error: readers see all of it or none of it.

    Works for any DB-API connection with SQL transactions (SQLite passes ``BEGIN IMMEDIATE``).
    """
    con.execute(begin)
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def insert_rows(con: Any, table: str, rows: list[list[Any]], columns: tuple[str, ...] = (), chunk: int = 500) -> None:
    """INSERT many rows as one multi-row VALUES statement per ``chunk`` rows.

    DuckDB's ``executemany`` runs one statement per row (650 quality results ≈ 0.6 s); this is ~20×
    faster, with the same parameter binding (values are cast to the target columns).
    """
    names = f" ({', '.join(columns)})" if columns else ""
    if len(rows) > ARROW_ROWS and _plain(rows):
        _insert_arrow(con, table, names, rows)
        return
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        marks = ", ".join("(" + ", ".join("?" for _ in row) + ")" for row in part)
        con.execute(f"INSERT INTO {table}{names} VALUES {marks}", [value for row in part for value in row])


ARROW_ROWS = 200  # above this, rows go in as one Arrow table: 54,000 lineage rows take 0.05 s, not 1.5 s
_PLAIN = (str, int, float, bool, dt.date, type(None))  # types whose Arrow inference DuckDB casts like a parameter


def _plain(rows: list[list[Any]]) -> bool:
    """Every value a plain scalar and every column of one kind (Arrow infers one type per column, and a failed
    INSERT would abort the caller's transaction: anything else takes the VALUES path)."""
    kinds: list[set[type]] = [set() for _ in rows[0]]
    for row in rows:
        if len(row) != len(kinds):
            return False
        for seen, value in zip(kinds, row, strict=True):
            if not isinstance(value, _PLAIN) or getattr(value, "tzinfo", None) is not None:
                return False
            if value is not None:
                seen.add(type(value))
    return all(len(seen) <= 1 or seen <= {int, float} for seen in kinds)


def _insert_arrow(con: Any, table: str, names: str, rows: list[list[Any]]) -> None:
    import uuid

    import pyarrow as pa

    data = pa.table({f"c{i}": pa.array(list(column)) for i, column in enumerate(zip(*rows, strict=True))})
    view = f"_rows_{uuid.uuid4().hex}"
    con.register(view, data)
    try:
        con.execute(f"INSERT INTO {table}{names} SELECT * FROM {view}")
    finally:
        con.unregister(view)


# A raw view's rows carry their batch's commit sequence as ``_batch_seq``: the standard models keep the row of
# the latest delivery per key by it (dbt macro cs_latest_per), not by ``_loaded_at``, the landing worker's clock.
RawBatch = tuple[str, str, int]  # (load id, accepted file, commit sequence) of one batch a raw view reads


def _raw_view_body(contract: Contract, batches: list[RawBatch]) -> str:
    """The SELECT of a raw view reading ``batches`` (empty but typed when there are none)."""
    if batches:
        files = ", ".join(lit(path) for _, path, _ in batches)
        seqs = ", ".join(f"({lit(load_id)}, {int(seq)})" for load_id, _, seq in batches)
        return (f"SELECT r.*, CAST(s.seq AS BIGINT) AS _batch_seq FROM read_parquet([{files}], union_by_name = true) "
                f"AS r LEFT JOIN (VALUES {seqs}) AS s(load_id, seq) ON r._load_id = s.load_id")
    cols = [f'CAST(NULL AS VARCHAR) AS "{name}"' for name in contract.column_names]
    cols += [
        "CAST(NULL AS VARCHAR) AS _load_id", "CAST(NULL AS TIMESTAMP) AS _loaded_at",
        "CAST(NULL AS VARCHAR) AS _source", "CAST(NULL AS BIGINT) AS _source_row",
        "CAST(NULL AS VARCHAR) AS _row_hash", "CAST(NULL AS DATE) AS _load_date", "CAST(NULL AS BIGINT) AS _batch_seq",
    ]
    return f"SELECT {', '.join(cols)} WHERE false"


def raw_view_stamp(contract: Contract, batches: list[RawBatch]) -> str:
    """What a raw view's comment holds: the hash of the SELECT it was created with (see stale_raw_views)."""
    import hashlib

    return "cityshare:" + hashlib.md5(_raw_view_body(contract, batches).encode()).hexdigest()


def refresh_raw_view(con: Any, contract: Contract, settings: Settings) -> None:
    """Point ``raw.<dept>__<dataset>`` at the latest accepted batch of every load date.

    With nothing accepted yet the view is empty but typed, so dbt still builds (and the audit then
    refuses to publish an empty table). The view's comment is the hash of its SELECT, so a build can tell
    a current view from one to create again without reading any Parquet file (stale_raw_views).
    """
    batches = [(load_id, resolved_path(settings, path) or "", seq) for load_id, path, seq in con.execute(
        f"SELECT load_id, accepted_path, seq FROM ({LATEST_ACCEPTED}) WHERE dataset = ? ORDER BY load_date",
        [contract.key]).fetchall()]
    view = f'raw."{contract.raw_table}"'
    con.execute(f"CREATE OR REPLACE VIEW {view} AS {_raw_view_body(contract, batches)}")
    con.execute(f"COMMENT ON VIEW {view} IS {lit(raw_view_stamp(contract, batches))}")
    # The view's batches as rows, written with the view (callers hold one transaction): the incremental models
    # compare them with the batches they processed (dbt_project/macros/incremental.sql) without scanning the
    # Parquet files' _load_id column four times per model.
    con.execute("DELETE FROM meta.raw_view_batches WHERE raw_table = ?", [contract.raw_table])
    if batches:
        insert_rows(con, "meta.raw_view_batches", [[contract.raw_table, load_id] for load_id, _, _ in batches])


def stale_raw_views(con: Any, contracts: list[Contract], settings: Settings) -> list[Contract]:
    """The contracts whose raw view is missing or not exactly the view refresh_raw_view would create now
    (other batches, other columns, or the same batches at another place: a data dir moved or restored).

    Each gate refreshes its dataset's view (cityshare.ingest), so before a build most are current, and creating
    one again would re-read the footer of every Parquet file it reads — and a no-op build of a city's thousands
    of sources, most without a batch yet, would re-create thousands of empty views. A view is current when its
    comment is the hash of the SELECT it would get now (its batches' files and sequences, or its contract's columns when it has
    none) and its batches are on record in meta.raw_view_batches. Three queries for all contracts.
    """
    accepted = {dataset: (ids, paths, seqs) for dataset, ids, paths, seqs in con.execute(
        f"SELECT dataset, list(load_id ORDER BY load_date), list(accepted_path ORDER BY load_date), "
        f"list(seq ORDER BY load_date) FROM ({LATEST_ACCEPTED}) GROUP BY dataset").fetchall()}
    stamps = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'raw'").fetchall())
    held = dict(con.execute("SELECT raw_table, list(load_id) FROM meta.raw_view_batches GROUP BY raw_table").fetchall())
    stale = []
    for c in contracts:
        ids, stored, seqs = accepted.get(c.key, ([], [], []))
        batches = [(i, resolved_path(settings, p) or "", q) for i, p, q in zip(ids, stored, seqs, strict=True)]
        if (stamps.get(c.raw_table) != raw_view_stamp(c, batches)
                or sorted(ids) != sorted(held.get(c.raw_table) or [])):
            stale.append(c)
    return stale


def table_schema(con: Any, table: str) -> str | None:
    """The layer schema holding a dbt model (``standard``, ``base``, ``theme``, ``collab``)."""
    row = con.execute(
        """SELECT table_schema FROM information_schema.tables
           WHERE table_name = ? AND table_schema IN ('standard', 'base', 'theme', 'collab')""",
        [table],
    ).fetchone()
    return row[0] if row else None


def record_watermark(settings: Settings, dataset: str, load_date: Any, load_id: str, column: str,
                     low: str | None, high: str | None, rows: int) -> None:
    """Remember the watermark window an extract read; it counts only once its batch is accepted."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with connect(settings) as con, transaction(con):
        con.execute("DELETE FROM meta.watermarks WHERE dataset = ? AND load_id = ?", [dataset, load_id])
        con.execute("INSERT INTO meta.watermarks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [dataset, load_date, load_id, column, low, high, rows, now])


def committed_watermark(settings: Settings, dataset: str, before: Any) -> str | None:
    """The highest watermark of the source's accepted batches for load dates before ``before``.

    Joined with ``meta.batches``: a window whose batch was blocked, or never gated (a crash after
    landing), does not advance the watermark, so its rows are read again by the next load.
    """
    with connect(settings) as con:
        row = con.execute(
            """SELECT max(w.high_value) FROM meta.watermarks w
               JOIN meta.batches b ON b.dataset = w.dataset AND b.load_id = w.load_id AND b.status = 'accepted'
               WHERE w.dataset = ? AND w.load_date < ?""",
            [dataset, before],
        ).fetchone()
    return row[0] if row else None
