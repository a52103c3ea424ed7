"""Department databases (SQLite files and PostgreSQL), read incrementally by a watermark column.

Servers:

- SQLite: ODCS ``local`` with ``format: sqlite`` and ``path`` to the database file (opened read-only);
- PostgreSQL: ODCS ``postgresql``/``postgres`` with ``host``, ``port``, ``database``, ``schema``;
  the login comes from the environment variables named by ``userEnv``/``passwordEnv`` (never from
  the contract).

customProperties: ``table``, ``watermarkColumn`` (a timestamp column the department's system sets on
every insert and update), ``fetchSize`` (rows per batch, default 50 000).

The window of load date D is ``committed watermark < column < D+1 00:00``, where the committed
watermark is the highest one reached by an *accepted* batch of an earlier load date
(``meta.watermarks`` joined with ``meta.batches``). So a re-run of D reads exactly the same rows
(same fingerprint → same batch), a blocked or crashed load does not advance the watermark, and rows
that changed since are picked up by the next load. Columns come from each property's ``sourceField``
(the department's column name) or its name; a contract column missing from the table is left out, so
the gate names it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from cityshare.contracts.model import Contract
from cityshare.errors import SourceError, UnusableInput
from cityshare.settings import Settings
from cityshare.sources.base import BATCH_ROWS, Extract, RowBatcher, Watermark, source_fields, to_text
from cityshare.sqlquote import q


def extract_sql(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    from cityshare.meta.watermarks import committed_watermark

    table = contract.server_option("table")
    column = contract.server_option("watermarkColumn")
    for name, value in (("table", table), ("watermarkColumn", column)):
        if not value:
            raise UnusableInput(f"{contract.path}: servers[0].customProperties.{name} is required for a database source")
    low = committed_watermark(settings, contract.key, load_date)
    high_bound = (dt.datetime.combine(load_date, dt.time()) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    db = _SQLite(contract, settings) if contract.server.get("type") == "local" else _Postgres(contract)
    extract = Extract(source_uri=f"{db.uri}#{table}?{column}>{low or '-inf'}&{column}<{high_bound}", batches=iter(()))
    extract.batches = _rows(contract, db, str(table), str(column), low, high_bound, load_date, settings, extract)
    return extract


def _rows(contract: Contract, db: Any, table: str, column: str, low: str | None, high_bound: str,
          load_date: dt.date, settings: Settings, extract: Extract) -> Iterator[pa.RecordBatch]:
    fields = source_fields(contract)
    types = {p.name: p.logical_type for p in contract.properties}
    try:
        available = db.columns(table)
        if not available:
            raise UnusableInput(f"{db.uri}: table {table!r} does not exist (servers[0].customProperties.table)")
        if column not in available:
            raise UnusableInput(
                f"{db.uri}: table {table}: watermark column {column!r} is missing "
                f"(servers[0].customProperties.watermarkColumn; columns: {', '.join(sorted(available))})"
            )
        names = [n for n in fields if fields[n] in available]
        select = [fields[n] for n in names]
        batcher = RowBatcher(names, int(contract.server_option("fetchSize", BATCH_ROWS)))
        digest = hashlib.sha256(f"{table}|{column}|{low}|{high_bound}|{','.join(names)}".encode())
        high, rows = low, 0
        for record in db.query(table, select, column, low, high_bound, batcher.size):
            values = tuple(to_text(v, types[n]) for n, v in zip(names, record[:len(names)], strict=True))
            digest.update(repr(values).encode())
            wm = to_text(record[-1])  # the watermark column is always selected last
            if wm is not None and (high is None or wm > high):
                high = wm
            rows += 1
            out = batcher.add(values)
            if out is not None:
                yield out
        out = batcher.flush()
        if out is not None:
            yield out
    finally:
        db.close()
    extract.fingerprint_parts.append(digest.hexdigest())
    extract.delivered_at = _written_at(high) if high != low else None
    extract.watermark = Watermark(column, low, high, rows)  # recorded with the gate's decision, not here


def _written_at(watermark: str | None) -> dt.datetime | None:
    """When the department wrote the window's latest row: its watermark as a Beijing wall-clock time (how the
    departments' databases keep them), in UTC; None for a watermark that is not a time (a sequence number)."""
    from cityshare.workcal import BEIJING

    try:
        when = dt.datetime.fromisoformat(str(watermark))
    except ValueError:
        return None
    when = when.replace(tzinfo=BEIJING) if when.tzinfo is None else when
    return when.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


class _SQLite:
    def __init__(self, contract: Contract, settings: Settings) -> None:
        import sqlite3

        path = Path(contract.server_value("path", settings))
        if not path.is_file():
            raise SourceError(f"{path}: the {contract.department} database file is missing")
        self.uri = f"sqlite:{path}"
        try:
            self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            self.con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise UnusableInput(f"{path}: not a readable SQLite database: {exc}") from None

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.con.execute(f"PRAGMA table_info({q(table)})")}

    def query(self, table: str, select: list[str], column: str, low: str | None, high: str,
              size: int) -> Iterator[tuple[Any, ...]]:
        import sqlite3

        cols = ", ".join(q(c) for c in [*select, column])
        where = f"{q(column)} < ?" + (f" AND {q(column)} > ?" if low is not None else "")
        params = [high] + ([low] if low is not None else [])
        sql = f"SELECT {cols} FROM {q(table)} WHERE {where} ORDER BY {q(column)}, {cols}"
        try:
            cur = self.con.execute(sql, params)
            while chunk := cur.fetchmany(size):
                yield from chunk
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{self.uri}: query on {table} failed: {exc}") from None

    def close(self) -> None:
        self.con.close()


class _Postgres:
    def __init__(self, contract: Contract) -> None:
        import psycopg

        s = contract.server
        user_env, password_env = contract.server_option("userEnv"), contract.server_option("passwordEnv")
        self.schema = str(s.get("schema", "public"))
        self.uri = f"postgresql://{s.get('host')}:{s.get('port')}/{s.get('database')}"
        kwargs: dict[str, Any] = {"host": s.get("host"), "port": int(s.get("port", 5432)), "dbname": s.get("database"),
                                  "connect_timeout": int(contract.server_option("timeoutSeconds", 10))}
        if user_env:
            kwargs["user"] = os.environ.get(str(user_env)) or None
        if password_env:
            kwargs["password"] = os.environ.get(str(password_env)) or None
        try:
            self.con = psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})
        except psycopg.Error as exc:
            raise SourceError(f"{self.uri}: cannot connect: {str(exc).strip()[:300]}") from None
        self.con.read_only = True

    def columns(self, table: str) -> set[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            [self.schema, table],
        ).fetchall()
        return {r[0] for r in rows}

    def query(self, table: str, select: list[str], column: str, low: str | None, high: str,
              size: int) -> Iterator[tuple[Any, ...]]:
        import psycopg
        from psycopg import sql

        cols = sql.SQL(", ").join(sql.Identifier(c) for c in [*select, column])
        wm = sql.Identifier(column)
        where = sql.SQL("{} < %s").format(wm)
        params: list[Any] = [high]
        if low is not None:
            where = sql.SQL("{} AND {} > %s").format(where, wm)
            params.append(low)
        query = sql.SQL("SELECT {cols} FROM {schema}.{table} WHERE {where} ORDER BY {wm}, {cols}").format(
            cols=cols, schema=sql.Identifier(self.schema), table=sql.Identifier(table), where=where, wm=wm)
        try:
            with self.con.transaction(), self.con.cursor(name="cityshare_extract") as cur:  # server-side: streamed
                cur.itersize = size
                cur.execute(query, params)
                while chunk := cur.fetchmany(size):
                    yield from chunk
        except psycopg.Error as exc:
            raise SourceError(f"{self.uri}: query on {self.schema}.{table} failed: {str(exc).strip()[:300]}") from None

    def close(self) -> None:
        self.con.close()
