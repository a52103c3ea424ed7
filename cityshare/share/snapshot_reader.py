"""The process-wide in-memory DuckDB that reads published Parquet snapshots (tables' schemas, rows, exports).

One instance per process so Parquet footers stay cached across requests; each caller takes its own cursor.
"""

from __future__ import annotations

import threading
from typing import Any

_db: Any = None
_db_lock = threading.Lock()


def cursor() -> Any:
    """A cursor on the process-wide in-memory DuckDB (it only reads Parquet snapshots)."""
    global _db
    with _db_lock:
        if _db is None:
            import duckdb

            _db = duckdb.connect(":memory:", config={"enable_object_cache": True})  # parquet footers cached
        return _db.cursor()
