"""The DuckDB warehouse: connections, load bookkeeping (meta), the raw views dbt reads, publishing.

DuckDB allows one writing process per file; Airflow runs tasks in separate processes, so every
connection here is short-lived and retried while another process holds the lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cityshare.contracts.model import Contract
from cityshare.settings import Settings

LOCK_WAIT_SECONDS = 120

DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS shared;
CREATE TABLE IF NOT EXISTS meta.batches (
    dataset VARCHAR, load_id VARCHAR, load_date DATE, source VARCHAR, raw_path VARCHAR,
    accepted_path VARCHAR, quarantine_path VARCHAR, rows_landed BIGINT, rows_accepted BIGINT,
    rows_quarantined BIGINT, status VARCHAR, reason VARCHAR, gated_at TIMESTAMP,
    PRIMARY KEY (dataset, load_id));
CREATE TABLE IF NOT EXISTS meta.quality_results (
    dataset VARCHAR, load_id VARCHAR, stage VARCHAR, rule VARCHAR, level VARCHAR, column_name VARCHAR,
    dimension VARCHAR, dimension_zh VARCHAR, description VARCHAR, evaluated BIGINT, failed BIGINT,
    success BOOLEAN, error VARCHAR, checked_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS meta.publications (
    table_name VARCHAR, version INTEGER, rows BIGINT, content_hash VARCHAR, snapshot_path VARCHAR,
    published_at TIMESTAMP, PRIMARY KEY (table_name, version));
"""


@contextmanager
def connect(settings: Settings, read_only: bool = False) -> Iterator[Any]:
    """A DuckDB connection to the warehouse, waiting while another process holds the write lock."""
    import duckdb

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            con = duckdb.connect(str(settings.warehouse_path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        if not read_only:
            con.execute(DDL)
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """BEGIN … COMMIT, rolled back on any error: readers see all of it or none of it."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def refresh_raw_view(con: Any, contract: Contract) -> None:
    """Point ``raw.<dept>__<dataset>`` at the latest accepted batch of every load date.

    With nothing accepted yet the view is empty but typed, so dbt still builds (and the audit then
    refuses to publish an empty table).
    """
    paths = [
        r[0]
        for r in con.execute(
            """SELECT accepted_path FROM meta.batches
               WHERE dataset = ? AND status = 'accepted'
               QUALIFY row_number() OVER (PARTITION BY load_date ORDER BY gated_at DESC) = 1
               ORDER BY load_date""",
            [contract.key],
        ).fetchall()
    ]
    view = f'raw."{contract.raw_table}"'
    if paths:
        files = ", ".join(_sql_str(p) for p in paths)
        body = f"SELECT * FROM read_parquet([{files}], union_by_name = true)"
    else:
        cols = [f'CAST(NULL AS VARCHAR) AS "{p.name}"' for p in contract.properties]
        cols += [
            "CAST(NULL AS VARCHAR) AS _load_id", "CAST(NULL AS TIMESTAMP) AS _loaded_at",
            "CAST(NULL AS VARCHAR) AS _source", "CAST(NULL AS BIGINT) AS _source_row",
            "CAST(NULL AS VARCHAR) AS _row_hash", "CAST(NULL AS DATE) AS _load_date",
        ]
        body = f"SELECT {', '.join(cols)} WHERE false"
    con.execute(f"CREATE OR REPLACE VIEW {view} AS {body}")


def table_schema(con: Any, table: str) -> str | None:
    """The layer schema holding a dbt model (``standard``, ``base``, ``theme``, ``collab``)."""
    row = con.execute(
        """SELECT table_schema FROM information_schema.tables
           WHERE table_name = ? AND table_schema IN ('standard', 'base', 'theme', 'collab')""",
        [table],
    ).fetchone()
    return row[0] if row else None
