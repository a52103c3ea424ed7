"""The metadata schema (``meta.*``): its tables and the migrations that bring an older warehouse up to them.

The one place the schema is defined. cityshare.warehouse.connect applies it on every writing connection; the
read/write functions over these tables are the other modules of this package (batches, quality, publications).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cityshare.settings import Settings
from cityshare.sqlexec import transaction

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
CREATE TABLE IF NOT EXISTS meta.schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta.publish_status (
    table_name VARCHAR PRIMARY KEY, status VARCHAR, reason VARCHAR, checked_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta.reference_versions (code_list VARCHAR, version INTEGER, sha256 VARCHAR, rows INTEGER,
    source VARCHAR, provider VARCHAR, origin VARCHAR, key_id VARCHAR, added INTEGER, removed INTEGER,
    changed INTEGER, received_at TIMESTAMP, PRIMARY KEY (code_list, version));
"""


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


def _add_batch_sequence(con: Any, settings: Settings) -> None:
    """``meta.batches.seq``: added, and every batch without one numbered after the highest existing sequence in
    its old ``gated_at`` order, so the batches current before stay current."""
    if "seq" not in _batch_columns(con):
        con.execute("ALTER TABLE meta.batches ADD COLUMN seq BIGINT")
    if con.execute("SELECT count(*) FROM meta.batches WHERE seq IS NULL").fetchone()[0]:
        con.execute("""
            UPDATE meta.batches AS b SET seq = n.seq
            FROM (SELECT dataset, load_id,
                         (SELECT coalesce(max(seq), 0) FROM meta.batches)
                         + row_number() OVER (ORDER BY gated_at NULLS FIRST, dataset, load_id) AS seq
                  FROM meta.batches WHERE seq IS NULL) AS n
            WHERE b.dataset = n.dataset AND b.load_id = n.load_id""")


def _add_delivery_time(con: Any, settings: Settings) -> None:
    """``meta.batches.delivered_at``: added (NULL: those batches count their gate time, cityshare.quality.timeliness)."""
    if "delivered_at" not in _batch_columns(con):
        con.execute("ALTER TABLE meta.batches ADD COLUMN delivered_at TIMESTAMP")


def _relative_paths(con: Any, settings: Settings) -> None:
    """Absolute lake and snapshot paths become relative to the data dir."""
    params = {"prefix": str(settings.data_dir).rstrip("/") + "/"}
    for table, columns in _PATH_COLUMNS.items():
        stale = " OR ".join(f"{c} IS DISTINCT FROM {_relative_sql(c)}" for c in columns)
        sets = ", ".join(f"{c} = {_relative_sql(c)}" for c in columns)
        con.execute(f"UPDATE meta.{table} SET {sets} WHERE {stale}", params)


def _quality_history_docs(con: Any, settings: Settings) -> None:
    """``meta.quality_history.data_docs_url``: added where the history predates Data Docs links."""
    con.execute("ALTER TABLE meta.quality_history ADD COLUMN IF NOT EXISTS data_docs_url VARCHAR")


def _batch_columns(con: Any) -> set[str]:
    return {name for (name,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'meta' "
                                             "AND table_name = 'batches'").fetchall()}


# The migrations, in release order: each brings a warehouse from the version before it to its own number, and
# meta.schema_version records the highest applied. Add one at the end for every change to DDL's tables; never
# renumber. Each is idempotent as well, so a warehouse whose version row was lost is still upgraded right.
MIGRATIONS: tuple[tuple[int, Callable[[Any, Settings], None]], ...] = (
    (1, _add_batch_sequence),
    (2, _add_delivery_time),
    (3, _quality_history_docs),  # before 4, which rewrites that column's paths
    (4, _relative_paths),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(con: Any) -> int:
    """The version of the metadata schema this warehouse holds (0: written before versions were recorded)."""
    return int(con.execute("SELECT coalesce(max(version), 0) FROM meta.schema_version").fetchone()[0])


def migrate(con: Any, settings: Settings) -> int:
    """Bring a warehouse written by an earlier release up to the current ``meta`` tables, in place, each migration
    in its own transaction; returns the version reached. Running it again changes nothing (a cheap version read
    on every writing connection)."""
    con.execute(DDL)
    current = schema_version(con)
    for version, step in MIGRATIONS:
        if version > current:
            with transaction(con):
                step(con, settings)
                con.execute("INSERT INTO meta.schema_version VALUES (?, now())", [version])
            current = version
    return current
