"""What every connector shares: the Extract it returns, load ids, text conversion, row batching, the server kind.

The connectors (csv_inbox, excel, jsonl_feed, sql_db, http_api, cityshare_peer) import from here; the package
(cityshare.sources) dispatches to them, so no connector imports the package it belongs to.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from cityshare.contracts.model import Contract

BATCH_ROWS = 50_000  # rows per Arrow batch for row-oriented sources (bounded memory)
SERVER_KINDS = {
    ("local", "csv"), ("local", "xlsx"), ("local", "jsonl"), ("local", "sqlite"),
    ("api", None), ("postgresql", None), ("postgres", None), ("cityshare", None),
}


@dataclass(frozen=True)
class NativeScan:
    """How DuckDB can read a delivery itself (the native fast path, :func:`cityshare.lake.land_delivery`).

    ``relation`` is a DuckDB table function call with ``?`` placeholders bound to ``params``; ``columns``
    maps each landed business column, in landed order, to a SQL expression over it giving the very text
    the tolerant path (``Extract.batches``) yields. An expression may call ``error()`` for a value it
    cannot reproduce exactly: the scan then fails and the delivery lands through the tolerant path — or,
    when the error's message holds ``retry_on``, through ``retry``, a slower scan that can settle it.
    """

    relation: str
    params: list[Any]
    columns: dict[str, str]
    retry: NativeScan | None = None
    retry_on: str = ""


@dataclass(frozen=True)
class Watermark:
    """The window of rows a database extract read (incremental by ``column``): (low, high], ``rows`` rows.

    Handed on with the batch — in its landed Parquet's metadata to the gate task — and recorded with the gate's
    decision (cityshare.meta.watermarks); it counts once that batch is accepted."""

    column: str
    low: str | None
    high: str | None
    rows: int

    def to_json(self) -> str:
        return json.dumps({"column": self.column, "low": self.low, "high": self.high, "rows": self.rows})

    @classmethod
    def from_json(cls, text: str) -> Watermark:
        doc = json.loads(text)
        return cls(str(doc["column"]), doc.get("low"), doc.get("high"), int(doc.get("rows") or 0))


@dataclass
class Extract:
    """A running extract: iterate ``batches``; afterwards ``fingerprint`` identifies the content.

    File connectors check integrity when the extract is opened, so ``fingerprint`` is known before any
    parsing; they also offer ``native`` (or say in ``native_reason`` why not) for the fast path.

    ``delivered_at`` (UTC) is when the department delivered, by the source's own evidence: a file's
    modification time, an API's ``Last-Modified``, a database window's latest watermark. Timeliness
    (及时率) counts it instead of the gate time, so a platform that gates late does not make a department
    late; None when the source cannot say (then the gate time counts).
    """

    source_uri: str
    batches: Iterator[pa.RecordBatch]
    fingerprint_parts: list[str] = field(default_factory=list)
    native: NativeScan | None = None
    native_reason: str = "no native reader for this source kind"
    delivered_at: dt.datetime | None = None
    watermark: Watermark | None = None  # a database extract's window, known once its rows are read
    # which reader fills ``batches``: "tolerant" (value by value in Python) or "bulk" (PostgreSQL's COPY into Arrow,
    # cityshare.sources.pg_bulk); a database extract sets it, and ``native_reason`` says why, when it starts reading
    reader: str = "tolerant"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("|".join(self.fingerprint_parts).encode()).hexdigest()


def modified_at(*paths: Any) -> dt.datetime:
    """The latest modification time of delivered files, UTC without tzinfo (as the warehouse stores times)."""
    latest = max(path.stat().st_mtime for path in paths)
    return dt.datetime.fromtimestamp(latest, dt.UTC).replace(tzinfo=None, microsecond=0)


def load_id_for(load_date: dt.date, fingerprint: str) -> str:
    """The batch id :func:`cityshare.lake.land` gives this content (load date + fingerprint)."""
    return f"{load_date:%Y%m%d}-{fingerprint[:12]}"


def server_kind(contract: Contract) -> tuple[str, str | None]:
    """(type, format) of the contract's server, normalised (format only matters for ``local``)."""
    server = contract.server
    kind = str(server.get("type", ""))
    if kind == "custom" and contract.server_option("serverType") == "cityshare":
        return "cityshare", None  # ODCS's server types are a closed list: a peer instance is a custom server
    fmt = str(server.get("format") or "csv").lower() if kind == "local" else None
    return kind, fmt


def string_schema(names: list[str]) -> pa.Schema:
    return pa.schema([pa.field(n, pa.string()) for n in names])


def source_fields(contract: Contract) -> dict[str, str]:
    """contract column → where its value comes from (``sourceField``, else the column name)."""
    return {p.name: str(p.custom.get("sourceField") or p.name) for p in contract.properties}


def to_text(value: Any, logical_type: str = "string") -> str | None:
    """One source value as raw text: None/empty → null; whole floats lose ``.0``; dates ISO."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if logical_type == "date":
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, decimal.Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def dig(record: Any, path: str) -> Any:
    """The value at a dotted path of a nested JSON record (``kitchen.uscc``), None if absent."""
    value = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


class BatchDigest:
    """A fingerprint of string batches that does not depend on where the rows are cut into batches.

    Per column, one hash over the values' UTF-8 byte lengths (-1 for null) and one over their bytes, after a header
    naming the window. A database extract's row path and bulk path hash their batches with it, so both give one
    load id for one window (hashing each row's ``repr`` cannot be done without Python per row).
    """

    def __init__(self, header: str, width: int) -> None:
        self.header = header
        self._hashes = [(hashlib.sha256(), hashlib.sha256()) for _ in range(width)]

    def update(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        for (lengths, data), column in zip(self._hashes, batch.columns, strict=True):
            if column.type != pa.string():
                raise TypeError(f"BatchDigest hashes string columns, not {column.type}")
            sizes = pc.fill_null(pc.binary_length(column), -1).to_numpy(zero_copy_only=False)
            lengths.update(sizes.astype("<i8").tobytes())
            if column.null_count:  # a null slot may keep bytes behind it: hash only the values'
                column = pc.fill_null(column, "")
            offsets, values = column.buffers()[1:3]
            if values is None or not len(column):
                continue
            ends = memoryview(offsets).cast("i")
            start, end = ends[column.offset], ends[column.offset + len(column)]
            data.update(memoryview(values)[start:end])

    def hexdigest(self) -> str:
        parts = [self.header, *(lengths.hexdigest() + data.hexdigest() for lengths, data in self._hashes)]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


class RowBatcher:
    """Collect rows (tuples in ``names`` order) and emit Arrow batches of ``size`` rows."""

    def __init__(self, names: list[str], size: int = BATCH_ROWS) -> None:
        self.names = names
        self.schema = string_schema(names)
        self.size = size
        self._rows: list[tuple[str | None, ...]] = []

    def add(self, row: tuple[str | None, ...]) -> pa.RecordBatch | None:
        self._rows.append(row)
        return self.flush() if len(self._rows) >= self.size else None

    def flush(self) -> pa.RecordBatch | None:
        if not self._rows:
            return None
        columns = list(zip(*self._rows, strict=True))
        self._rows = []
        return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in columns], schema=self.schema)
