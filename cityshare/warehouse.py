"""The DuckDB warehouse: connections that wait out another process's lock and bring the metadata schema up to date.

DuckDB allows one writing process per file; Airflow runs tasks in separate processes, so every
connection here is short-lived and retried while another process holds the lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from cityshare.duckdb_instances import attached
from cityshare.meta.schema import migrate
from cityshare.settings import Settings
from cityshare.sqlexec import insert_rows, transaction
from cityshare.storage import register_lake

__all__ = ["connect", "insert_rows", "table_schema", "transaction"]  # the two SQL helpers, where callers look


@contextmanager
def connect(settings: Settings, read_only: bool = False, wait: float | None = None) -> Iterator[Any]:
    """A DuckDB connection to the warehouse, waiting while another process holds the lock: ``wait`` seconds, by
    by default ``settings.lock_wait_seconds`` (``CITYSHARE_LOCK_WAIT_SECONDS``, 120).

    The connection is a cursor on the process's instance for the warehouse file (cityshare.duckdb_instances), so
    opening one costs ≈ 2 ms instead of a new DuckDB instance's ≈ 11 ms; the file is released, as before, when the
    last connection of the process to it closes."""
    import duckdb

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    if wait is None:
        wait = settings.lock_wait_seconds
    deadline = time.monotonic() + wait
    with ExitStack() as stack:
        while True:
            try:
                con = stack.enter_context(attached(settings.warehouse_path, read_only=read_only))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        register_lake(con, settings)  # raw views may read s3:// batches (cityshare/storage.py)
        if not read_only:
            migrate(con, settings)  # cityshare.meta.schema: the tables, and an older warehouse upgraded in place
        yield con


def table_schema(con: Any, table: str) -> str | None:
    """The layer schema holding a dbt model (``standard``, ``base``, ``theme``, ``collab``)."""
    row = con.execute(
        """SELECT table_schema FROM information_schema.tables
           WHERE table_name = ? AND table_schema IN ('standard', 'base', 'theme', 'collab')""",
        [table],
    ).fetchone()
    return row[0] if row else None


