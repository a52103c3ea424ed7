"""Streamed exports (CSV, XLSX, JSON lines, Parquet, Arrow IPC) that hash what they send.

Record batches flow from DuckDB straight into the format writer and out to the socket; nothing is
materialized whole. The running SHA-256, byte count and row count feed the signed delivery receipt,
which ``DeliveryResponse`` signs only after the last byte was handed to the server and the client is
still connected; a transfer cut short is audited as aborted with the bytes sent (issue 32 #1).

For people who open exports in Excel: CSV starts with a UTF-8 BOM (without it a zh-CN Windows Excel
shows mojibake) and CSV/XLSX may carry the Chinese item names (信息项名称) as headers. A ``Range``
request is served from the finished export spooled to a temporary file, so its total size is known
and the receipt still describes the whole file (the client's resumed copy must hash to it).

Two things keep exports fast (bench/share_bench.py): a Parquet export of a whole table — every column,
no filter, sort or paging — sends the published snapshot's own bytes (it *is* that table version,
immutable), and hashing runs in a worker thread (hashlib releases the GIL) while the next batch is read.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import StreamingResponse

from cityshare.faults import crash_point
from cityshare.share.rows import Query
from cityshare.share.snapshot_reader import cursor
from cityshare.spreadsheet import defuse_cell, defuse_formulas

BATCH_ROWS = 65_536
FILE_CHUNK = 1 << 20
SEND_PIECE = 1 << 16  # bytes per ASGI send: the server's flow control sees the client's pace
BOM = b"\xef\xbb\xbf"
XLSX_MAX_ROWS = 1_048_575  # one sheet holds 1,048,576 rows, the header included
# Formats whose bytes are a pure function of the query and the snapshot: strong ETag, Range served.
# openpyxl stamps creation times into the workbook, so XLSX gets a weak ETag and no Range.
BYTE_STABLE = frozenset({"csv", "jsonl", "parquet", "arrow"})
FORMATS: dict[str, tuple[str, str]] = {  # format → (media type, file extension)
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "parquet": ("application/vnd.apache.parquet", "parquet"),
    "arrow": ("application/vnd.apache.arrow.stream", "arrows"),
}


@dataclass
class Tally:
    """What has been delivered so far."""

    rows: int = 0
    bytes: int = 0
    sha: Any = field(default_factory=hashlib.sha256)
    complete: bool = False  # every byte produced
    sent: int = 0  # bytes the server took from us (handed to the connection)

    def take(self, chunk: builtins.bytes) -> builtins.bytes:  # ``bytes`` is also a field here
        self.sha.update(chunk)
        self.bytes += len(chunk)
        return chunk


class _Hasher:
    """Feeds chunks to ``tally`` in order on one worker thread, so hashing overlaps the next read."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-sha")
        self.pending: Future[bytes] | None = None

    def take(self, chunk: bytes) -> bytes:
        if self.pending is not None:
            self.pending.result()  # at most one chunk in flight: bounded memory, ordered digest
        self.pending = self.pool.submit(self.tally.take, chunk)
        return chunk

    def finish(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Sink:
    """A write-only file object whose bytes are drained after each batch."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.pos = 0
        self.closed = False

    def write(self, data: Any) -> int:
        b = bytes(data)
        self.chunks.append(b)
        self.pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def drain(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def _json_default(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _encode(reader: Any, fmt: str, tally: Tally, headers: list[str] | None = None) -> Iterator[bytes]:
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pcsv

        names = headers or reader.schema.names
        sink, first = pa.BufferOutputStream(), True
        yield BOM
        for batch in _batches(reader, tally):
            sink = pa.BufferOutputStream()
            pcsv.write_csv(defuse_formulas(batch).rename_columns(names), sink, pcsv.WriteOptions(include_header=first))
            first = False
            yield sink.getvalue().to_pybytes()
        if first:  # no rows: still send the header
            empty = pa.schema([pa.field(n, f.type) for n, f in zip(names, reader.schema, strict=True)]).empty_table()
            pcsv.write_csv(empty, sink, pcsv.WriteOptions(include_header=True))
            yield sink.getvalue().to_pybytes()
    elif fmt == "xlsx":
        yield from _xlsx(reader, tally, headers or reader.schema.names)
    elif fmt == "jsonl":
        for batch in _batches(reader, tally):
            lines = (json.dumps(r, ensure_ascii=False, default=_json_default, allow_nan=False)
                     if _finite(r) else json.dumps(_nullify(r), ensure_ascii=False, default=_json_default)
                     for r in batch.to_pylist())
            yield ("\n".join(lines) + "\n").encode()
    elif fmt in {"parquet", "arrow"}:
        import pyarrow.parquet as pq

        out = _Sink()
        # no dictionary pages: ~25 % faster to write, and zstd already folds repeated values (bench/share_bench.py)
        writer = (pq.ParquetWriter(out, reader.schema, compression="zstd", use_dictionary=False) if fmt == "parquet"
                  else pa.ipc.new_stream(out, reader.schema))
        for batch in _batches(reader, tally):
            writer.write_batch(batch)
            if chunk := out.drain():
                yield chunk
        writer.close()
        if chunk := out.drain():
            yield chunk
    else:
        raise ValueError(fmt)


def _xlsx(reader: Any, tally: Tally, headers: list[str]) -> Iterator[bytes]:
    """One sheet (数据) written row by row by openpyxl's write-only workbook, then sent from a temp file."""
    import tempfile

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("数据")
    sheet.append(headers)
    for batch in _batches(reader, tally):
        for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            sheet.append([xlsx_cell(v) for v in row])
    with tempfile.TemporaryFile() as handle:
        book.save(handle)
        handle.seek(0)
        while chunk := handle.read(FILE_CHUNK):
            yield chunk


def xlsx_cell(value: Any) -> Any:
    """A value Excel can hold: formulas defused, Beijing wall time for aware timestamps, control
    characters (illegal in the sheet's XML) dropped, anything exotic as its text."""
    import datetime as dt
    import decimal

    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        return defuse_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        from cityshare.workcal import to_beijing

        return to_beijing(value)
    if value is None or isinstance(value, (bool, int, float, decimal.Decimal, dt.date, dt.time)):
        return value
    return defuse_cell(ILLEGAL_CHARACTERS_RE.sub("", json.dumps(value, ensure_ascii=False, default=_json_default)))


# A text cell starting with one of these is run as a formula by spreadsheets (CSV/XLSX injection).
def _finite(row: dict[str, Any]) -> bool:
    return all(not isinstance(v, float) or (v == v and v not in {float("inf"), float("-inf")}) for v in row.values())


def _nullify(row: dict[str, Any]) -> dict[str, Any]:
    return {k: None if isinstance(v, float) and not _finite({k: v}) else v for k, v in row.items()}


def _batches(reader: Any, tally: Tally) -> Iterator[Any]:
    for batch in reader:
        if batch.num_rows:
            tally.rows += batch.num_rows
            yield batch


def whole_snapshot(query: Query) -> bool:
    """True when the query asks for the published snapshot exactly: all its columns, in order, every row."""
    return (query.table.snapshot is not None and not query.filters and not query.sort and query.limit is None
            and not query.offset and list(query.columns) == list(query.table.columns))


def _snapshot_chunks(query: Query, tally: Tally) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    path = query.table.snapshot
    assert path is not None  # only a whole-snapshot query comes here (whole_snapshot)
    rows = pq.ParquetFile(path).metadata.num_rows
    with open(path, "rb") as handle:
        while chunk := handle.read(FILE_CHUNK):
            yield chunk
    tally.rows = rows  # counted as delivered only once the last byte is out


def stream(query: Query, fmt: str, tally: Tally, headers: list[str] | None = None) -> Iterator[bytes]:
    """Yield the export's bytes, hashed and counted into ``tally``; ``tally.complete`` once all were produced.

    ``headers`` replaces the column names in a CSV/XLSX header row (the Chinese item names).

    Producing bytes is not delivering them: ``DeliveryResponse`` decides that, after the last byte.
    """
    cur = cursor()
    hasher = _Hasher(tally)
    try:
        if fmt == "parquet" and whole_snapshot(query):
            chunks = _snapshot_chunks(query, tally)
        else:
            sql, params = query.sql
            chunks = _encode(cur.sql(sql, params=params).to_arrow_reader(BATCH_ROWS), fmt, tally, headers)
        for chunk in chunks:
            if chunk:
                yield hasher.take(chunk)
                crash_point("export.mid_stream")
        hasher.finish()
        tally.complete = True
    finally:
        hasher.close()
        cur.close()


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range of a ``Range: bytes=a-b`` / ``a-`` / ``-n`` header, clipped to ``size``.

    None when there is no usable single range (the whole file is sent); ``(size, size)`` when the
    range starts past the end (416). Multiple ranges are answered with the whole file, as RFC 9110 allows.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if not first:  # the last n bytes
            n = int(last)
            return None if n <= 0 else ((max(size - n, 0), size - 1) if size else (size, size))
        start, end = int(first), (min(int(last), size - 1) if last else size - 1)
    except ValueError:
        return None
    if start >= size:
        return (size, size)
    return (start, end) if start <= end else None


def spool(chunks: Iterator[bytes]) -> tuple[Any, int]:
    """Run an export to its end into a temporary file (hashing it on the way); the file and its size."""
    import tempfile

    handle = tempfile.TemporaryFile()  # noqa: SIM115  (handed on to window(), which closes it)
    try:
        for chunk in chunks:
            handle.write(chunk)
    except BaseException:
        handle.close()
        raise
    return handle, handle.tell()


def window(handle: Any, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of a spooled export; the file is closed when done or abandoned."""
    try:
        handle.seek(start)
        left = end - start + 1
        while left > 0 and (chunk := handle.read(min(FILE_CHUNK, left))):
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


@dataclass
class Delivery:
    """An export on its way: its chunks, and what to record when it was delivered or aborted."""

    chunks: Iterator[bytes]
    tally: Tally
    on_done: Callable[[Tally], None]
    on_abort: Callable[[Tally], None]


class DeliveryResponse(StreamingResponse):
    """Streams a ``Delivery`` in bounded pieces and records it as delivered only if it was.

    A piece counts as sent once the server took it (``send`` returned, the buffer drained below its
    high-water mark). After the last piece an empty flush waits for the server's buffer to drain;
    only then, with the connection still open, ``on_done`` signs the receipt — before the closing
    chunk, so the receipt exists when the client has the body. A disconnect at any point (the
    ``http.disconnect`` message, or ``OSError`` from ``send`` under ASGI 2.4) ends the stream and
    runs ``on_abort`` with the bytes sent. Either way the producer is closed explicitly, not by GC.
    """

    def __init__(self, delivery: Delivery, media_type: str, headers: dict[str, str], status_code: int = 200) -> None:
        super().__init__(iter(()), media_type=media_type, headers=headers, status_code=status_code)
        self.delivery = delivery

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        import anyio
        from anyio.lowlevel import checkpoint

        delivery, tally = self.delivery, self.delivery.tally
        gone = anyio.Event()

        async def listen() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        recorded = False
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(listen)
                try:
                    delivered = await self._send_all(send, gone, checkpoint)
                except OSError:  # ASGI 2.4 servers report a client gone while sending
                    delivered = False
                group.cancel_scope.cancel()
            if delivered:
                await anyio.to_thread.run_sync(delivery.on_done, tally)
                recorded = True  # a failed on_done commits nothing and is recorded as aborted below
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_close, delivery.chunks)
                if not recorded:
                    await anyio.to_thread.run_sync(delivery.on_abort, tally)

    async def _send_all(self, send: Any, gone: Any, checkpoint: Any) -> bool:
        import anyio

        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        end = object()
        while not gone.is_set():
            chunk = await anyio.to_thread.run_sync(next, self.delivery.chunks, end)
            if not isinstance(chunk, bytes):  # the end marker
                break
            view = memoryview(chunk)
            for start in range(0, len(view), SEND_PIECE):
                piece = view[start:start + SEND_PIECE]
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                if gone.is_set():
                    return False
                self.delivery.tally.sent += len(piece)
        if gone.is_set() or not self.delivery.tally.complete:
            return False
        await send({"type": "http.response.body", "body": b"", "more_body": True})  # waits for the drain
        await checkpoint()  # let a pending disconnect be seen
        return not gone.is_set()


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
