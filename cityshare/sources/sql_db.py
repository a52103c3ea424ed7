"""Department databases (SQLite files and PostgreSQL), read incrementally by a watermark column.

Servers:

- SQLite: ODCS ``local`` with ``format: sqlite`` and ``path`` to the database file (opened read-only);
- PostgreSQL: ODCS ``postgresql``/``postgres`` with ``host``, ``port``, ``database``, ``schema``;
  the login comes from the environment variables named by ``userEnv``/``passwordEnv`` (never from
  the contract).

customProperties: ``table``, ``watermarkColumn`` (a timestamp column the department's system sets on
every insert and update), ``fetchSize`` (rows per batch, default 50 000), ``bulkRead`` (PostgreSQL; default true).

Two readers give the same rows, order and fingerprint (:class:`BatchDigest` over the batches): PostgreSQL's bulk
reader (:mod:`cityshare.sources.pg_bulk`, one ``COPY`` into Arrow) and the row path (each value the driver loads
through :func:`to_text`), which reads SQLite, and PostgreSQL when ``bulkRead`` is false, the session's encoding is
not UTF-8 or the server refuses the ``COPY``. The extract records which ran and why (``reader``, ``native_reason``).

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
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from cityshare.contracts.model import Contract
from cityshare.errors import SourceError, UnusableInput
from cityshare.settings import Settings
from cityshare.sources.base import (
    BATCH_ROWS,
    BatchDigest,
    Extract,
    RowBatcher,
    Watermark,
    source_fields,
    string_schema,
    to_text,
)
from cityshare.sources.pg_bulk import NO_ORDER, TEXT_TIEBREAK
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


@dataclass(frozen=True)
class _Window:
    """What one extract reads: ``select`` (the department's columns, in ``names`` order, each with its contract
    logical type) of ``table`` where ``low < column < high``, ordered by ``column`` then every column."""

    table: str
    select: list[str]
    logicals: list[str]
    column: str
    low: str | None
    high: str
    size: int


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
        window = _Window(table, [fields[n] for n in names], [types[n] for n in names], column, low, high_bound,
                         int(contract.server_option("fetchSize", BATCH_ROWS)))
        digest = BatchDigest(f"{table}|{column}|{low}|{high_bound}|{','.join(names)}", len(names))
        high, rows = low, 0
        for batch, top, count in _batches(contract, db, window, names, extract):
            digest.update(batch)
            if top is not None and (high is None or top > high):
                high = top
            rows += count
            yield batch
    finally:
        db.close()
    extract.fingerprint_parts.append(digest.hexdigest())
    extract.delivered_at = _written_at(high) if high != low else None
    extract.watermark = Watermark(column, low, high, rows)  # recorded with the gate's decision, not here


Batches = Iterator[tuple[pa.RecordBatch, str | None, int]]  # a batch, its highest watermark text, its rows


def _batches(contract: Contract, db: Any, window: _Window, names: list[str], extract: Extract) -> Batches:
    """The bulk reader's batches when the database has one and it starts, else the row path's; the extract
    records which ran and why (``reader``, ``native_reason``)."""
    reason = db.bulk_refusal(contract) if names else "no contract column is in the table"
    if reason is None:
        bulk = db.bulk(window, names)
        try:
            first = next(bulk, None)  # a server that refuses the COPY does so before the first batch
        except _BulkRefused as exc:
            reason = str(exc)
        else:
            extract.reader, extract.native_reason = "bulk", db.bulk_reason
            if first is not None:
                yield first
                yield from bulk
            return
    extract.reader, extract.native_reason = "tolerant", f"row path: {reason}"
    yield from _row_batches(db, window, names)


def _row_batches(db: Any, window: _Window, names: list[str]) -> Batches:
    """The row path: each value the driver loads, through :func:`to_text`."""
    batcher = RowBatcher(names, window.size)
    top: str | None = None
    count = 0
    for record in db.query(window):
        values = tuple(to_text(v, t) for t, v in zip(window.logicals, record[:len(names)], strict=True))
        wm = to_text(record[-1])  # the watermark column is always selected last
        if wm is not None and (top is None or wm > top):
            top = wm
        count += 1
        out = batcher.add(values)
        if out is not None:
            yield out, top, count
            top, count = None, 0
    out = batcher.flush()
    if out is not None:
        yield out, top, count


class _BulkRefused(Exception):
    """The server refused the bulk reader's COPY before any row: the row path reads the window instead."""


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
    bulk_reason = ""

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

    def bulk_refusal(self, contract: Contract) -> str | None:
        # ADBC's SQLite driver infers a column's type from the first rows and fails on a later row of another type
        return "SQLite has no exact bulk reader (a column's type may change from row to row)"

    def bulk(self, window: _Window, names: list[str]) -> Batches:
        raise NotImplementedError

    def query(self, w: _Window) -> Iterator[tuple[Any, ...]]:
        import sqlite3

        cols = ", ".join(q(c) for c in [*w.select, w.column])
        where = f"{q(w.column)} < ?" + (f" AND {q(w.column)} > ?" if w.low is not None else "")
        params = [w.high] + ([w.low] if w.low is not None else [])
        sql = f"SELECT {cols} FROM {q(w.table)} WHERE {where} ORDER BY {q(w.column)}, {cols}"
        try:
            cur = self.con.execute(sql, params)
            while chunk := cur.fetchmany(w.size):
                yield from chunk
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{self.uri}: query on {w.table} failed: {exc}") from None

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
        self.bulk_reason = ""

    def columns(self, table: str) -> set[str]:
        rows = self.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            [self.schema, table],
        ).fetchall()
        return {r[0] for r in rows}

    def _describe(self, w: _Window) -> list[tuple[int, str]]:
        """(type oid, type name) of each selected column, the watermark column last."""
        cols = ", ".join(q(c) for c in [*w.select, w.column])
        cur = self.con.execute(f"SELECT {cols} FROM {q(self.schema)}.{q(w.table)} WHERE false")
        return [(int(d.type_code), d.type_display) for d in cur.description or []]

    def _window_sql(self, w: _Window, oids: list[int], alias: str) -> tuple[str, list[Any]]:
        """``FROM … WHERE … ORDER BY …`` of the window, the same for both readers: the watermark, then every
        column (json and other types without an order by their text), then the text of those whose equal values
        print differently, so tied rows come in one order."""
        ref = [f"{alias}{_qp(c)}" for c in [*w.select, w.column]]
        order = [f"{r}::text" if oid in NO_ORDER else r for r, oid in zip(ref, oids, strict=True)]
        order += [f"{r}::text" for r, oid in zip(ref, oids, strict=True) if oid in TEXT_TIEBREAK]
        wm = ref[-1]
        where, params = f"{wm} < %s", [w.high]
        if w.low is not None:
            where, params = f"{where} AND {wm} > %s", [w.high, w.low]
        table = f"{_qp(self.schema)}.{_qp(w.table)}" + (f" AS {alias.rstrip('.')}" if alias else "")
        return f"FROM {table} WHERE {where} ORDER BY {wm}, {', '.join(order)}", params

    def query(self, w: _Window) -> Iterator[tuple[Any, ...]]:
        import psycopg

        try:
            oids = [oid for oid, _ in self._describe(w)]
            rest, params = self._window_sql(w, oids, "")
            cols = ", ".join(_qp(c) for c in [*w.select, w.column])
            with self.con.transaction(), self.con.cursor(name="cityshare_extract") as cur:  # server-side: streamed
                cur.itersize = w.size
                cur.execute(f"SELECT {cols} {rest}".encode(), params)
                while chunk := cur.fetchmany(w.size):
                    yield from chunk
        except psycopg.Error as exc:
            raise SourceError(f"{self.uri}: query on {self.schema}.{w.table} failed: {str(exc).strip()[:300]}") from None

    def bulk_refusal(self, contract: Contract) -> str | None:
        """Why the window cannot be read in bulk (None: it can)."""
        if str(contract.server_option("bulkRead", True)).lower() in ("false", "no", "0"):
            return "bulkRead: false in the contract"
        if self.con.info.encoding != "utf-8":
            return f"the client encoding is {self.con.info.encoding}, the bulk reader reads UTF-8"
        return None

    def bulk(self, w: _Window, names: list[str]) -> Batches:
        """The window through one ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` (cityshare.sources.pg_bulk), in
        batches of ``fetchSize`` rows; raises _BulkRefused if the server refuses it before the first batch."""
        import psycopg
        import pyarrow.compute as pc
        from psycopg.adapt import Transformer
        from psycopg.pq import Format

        from cityshare.sources import pg_bulk

        try:
            described = self._describe(w)
        except psycopg.Error as exc:
            raise SourceError(f"{self.uri}: cannot read the columns of {self.schema}.{w.table} "
                              f"(SQLSTATE {exc.sqlstate})") from None
        session, loaders = pg_bulk.session_facts(self.con), Transformer(self.con)
        columns = [pg_bulk.plan_column(source, type_name, oid, loaders.get_loader(oid, Format.TEXT), logical, session)
                   for source, logical, (oid, type_name) in zip([*w.select, w.column], [*w.logicals, "string"],
                                                                  described, strict=True)]
        slow = [f"{c.source} ({c.type_name})" for c in columns if c.kind == pg_bulk.PYTHON]
        self.bulk_reason = f"column(s) {', '.join(slow)} converted value by value as on the row path" if slow else ""
        exprs = ", ".join(c.expr.replace("{c}", f"src.{_qp(c.source)}") for c in columns)
        rest, params = self._window_sql(w, [oid for oid, _ in described], "src.")
        statement = f"COPY (SELECT {exprs} {rest}) TO STDOUT (FORMAT csv)"

        def fail(column: pg_bulk.Column, exc: Exception) -> Exception:
            return SourceError(f"{self.uri}: {self.schema}.{w.table}, column {column.source} ({column.type_name}): a "
                               f"value the row path cannot read either ({type(exc).__name__}: infinity, or a year "
                               "outside 1–9999?)")

        started = False
        try:
            with self.con.transaction(), self.con.cursor() as cur:
                for block, rows in pg_bulk.copy_blocks(cur, statement.encode(), params, w.size):
                    texts = pg_bulk.finish(pg_bulk.read_csv(block, len(columns)), columns, fail)
                    started = True
                    yield pa.RecordBatch.from_arrays(texts[:-1], schema=string_schema(names)), pc.max(texts[-1]).as_py(), rows
        except (psycopg.Error, pa.ArrowInvalid) as exc:
            what = f"SQLSTATE {exc.sqlstate}" if isinstance(exc, psycopg.Error) else "its CSV did not parse"
            if not started:
                raise _BulkRefused(f"the bulk reader's COPY failed ({what})") from None
            raise SourceError(f"{self.uri}: reading {self.schema}.{w.table} stopped ({what})") from None

    def close(self) -> None:
        self.con.close()


def _qp(identifier: str) -> str:
    """A quoted identifier in a query with ``%s`` parameters (a ``%`` in a name would read as a placeholder)."""
    return q(identifier).replace("%", "%%")
