"""Running SQL on a DB-API connection: all-or-nothing transactions and fast multi-row inserts.

The bottom of the house: the warehouse, the metadata schema (cityshare.meta) and the share store all use these,
and they know nothing of CityShare.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


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
