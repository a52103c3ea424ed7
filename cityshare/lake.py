"""The lake: immutable raw batches, accepted and quarantined rows, each made visible atomically.

Layout (``<zone>`` is raw, accepted or quarantine)::

    lake/<zone>/<department>/<dataset>/load_date=YYYY-MM-DD/batch=<load_id>/part-0.parquet

A batch is written under a ``.tmp-*`` name and renamed into place, so a crash never leaves a partial
batch where readers look. The load id is derived from the load date and a fingerprint of the source
content, so re-running the same window yields the same batch instead of a duplicate.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract
from cityshare.duckdb_instances import scratch
from cityshare.faults import crash_point
from cityshare.settings import Settings
from cityshare.sources import Extract, NativeScan, Watermark, load_id_for
from cityshare.sqlquote import lit
from cityshare.storage import LakePath, is_remote_path, lake_root, staged_dir

# The scratch DuckDB a batch is landed through: bounded, as the ordered COPY of a 5 M-row batch peaks near 2.7 GB
# without a limit; it spills to the lake's staging folder.
LAND_MEMORY_LIMIT = "512MB"

META_COLUMNS = ("_load_id", "_loaded_at", "_source", "_source_row", "_row_hash", "_load_date")


def content_hash_sql(rows: str) -> str:
    """SQL for one value naming a batch's rows as a multiset, whatever their order: md5 of the row count and the
    sums of both 64-bit halves of the rows' ``_row_hash`` (an md5 each). Order-independent, so no sort: ≈ 0.4 s
    for 5 M rows where md5 over the sorted hashes took ≈ 2 s. ``rows`` is a relation (a ``read_parquet(?)``)."""
    halves = ", ".join(f"sum(('0x' || {side}(_row_hash, 16))::UBIGINT)" for side in ("left", "right"))
    return f"SELECT md5(concat_ws(':', count(*), {halves})) FROM {rows}"


@dataclass(frozen=True)
class LandedBatch:
    """A committed raw batch."""

    dataset: str
    load_date: dt.date
    load_id: str
    path: Path
    rows: int
    source_uri: str
    reused: bool  # True when this exact content had already been landed (idempotent re-run)
    # "native" (DuckDB read the file straight to Parquet), "bulk" (PostgreSQL's COPY into Arrow) or "tolerant"
    # (the connector's batches, value by value)
    reader: str = "tolerant"
    reader_reason: str = ""  # why this reader ran, when the source offered a faster one or none
    delivered_at: dt.datetime | None = None  # when the department delivered (UTC; Extract.delivered_at)
    watermark: Watermark | None = None  # a database extract's window (Extract.watermark), recorded at commit


def batch_dir(settings: Settings, zone: str, contract: Contract, load_date: dt.date, load_id: str) -> LakePath:
    """A batch folder in the lake: a local Path, or a UPath on object storage (cityshare/storage.py)."""
    return (
        lake_root(settings) / zone / contract.path.parent.name / contract.dataset
        / f"load_date={load_date.isoformat()}" / f"batch={load_id}"
    )


def _metadata_sql(business: list[str]) -> str:
    """The load metadata columns after ``_source_row``; parameters: load id, loaded at, source, load date.

    ``_row_hash`` is md5 over the business columns' text in landed order, joined by the unit separator
    (chr 31), a null written ``\\N``; both readers land through it, so their hashes agree.
    """
    row_text = ", ".join(f"coalesce(\"{c}\", '\\N')" for c in business) or "''"
    return (f"? AS _load_id, ?::TIMESTAMP AS _loaded_at, ? AS _source, "
            f"md5(concat_ws(chr(31), {row_text})) AS _row_hash, ?::DATE AS _load_date")


DELIVERED_AT_KEY = "cityshare_delivered_at"  # Parquet key-value metadata of a landed batch: Extract.delivered_at
WATERMARK_KEY = "cityshare_watermark"  # … and Extract.watermark, as JSON


def _parquet_options(extract: Extract) -> str:
    """COPY options of a landed batch: the delivery time and a database window ride in the file's metadata to the
    gate task, which records them with its decision."""
    pairs = []
    if extract.delivered_at is not None:
        pairs.append(f"{DELIVERED_AT_KEY}: {lit(extract.delivered_at.isoformat())}")
    if extract.watermark is not None:
        pairs.append(f"{WATERMARK_KEY}: {lit(extract.watermark.to_json())}")
    return f"FORMAT parquet, KV_METADATA {{{', '.join(pairs)}}}" if pairs else "FORMAT parquet"


def watermark(metadata: dict[bytes, bytes] | None) -> Watermark | None:
    """The database window a landed batch's Parquet metadata carries (None: not a database source)."""
    value = (metadata or {}).get(WATERMARK_KEY.encode())
    try:
        return Watermark.from_json(value.decode()) if value else None
    except (ValueError, KeyError):
        return None


def delivered_at(metadata: dict[bytes, bytes] | None) -> dt.datetime | None:
    """The delivery time a landed batch's Parquet metadata carries (None for batches landed without one)."""
    value = (metadata or {}).get(DELIVERED_AT_KEY.encode())
    try:
        return dt.datetime.fromisoformat(value.decode()) if value else None
    except ValueError:
        return None


def land(contract: Contract, load_date: dt.date, extract: Extract, settings: Settings) -> LandedBatch:
    """Stream an extract into an immutable raw batch with load metadata columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    staging = settings.lake_dir / "raw" / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    tmp_file = staging / f"{contract.raw_table}-{uuid.uuid4().hex}.parquet"
    try:
        writer: pq.ParquetWriter | None = None
        row = 0
        for batch in extract.batches:
            ordinals = pa.array(range(row + 1, row + 1 + batch.num_rows), pa.int64())
            table = pa.Table.from_batches([batch]).append_column("_source_row", ordinals)
            if writer is None:
                writer = pq.ParquetWriter(tmp_file, table.schema)
            elif table.schema != writer.schema:
                table = table.select(writer.schema.names).cast(writer.schema)
            writer.write_table(table)
            crash_point("land.mid_extract")
            row += batch.num_rows
        if writer is not None:
            writer.close()
        load_id = f"{load_date:%Y%m%d}-{extract.fingerprint[:12]}"
        final = batch_dir(settings, "raw", contract, load_date, load_id)
        if final.exists():
            return LandedBatch(contract.key, load_date, load_id, final / "part-0.parquet",
                               row, extract.source_uri, reused=True)
        loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        with staged_dir(settings, final) as tmp:
            with scratch(LAND_MEMORY_LIMIT, staging) as con:
                if writer is None:  # an empty delivery still lands, so the gate can say so
                    cols = ", ".join(f"CAST(NULL AS VARCHAR) AS \"{p.name}\"" for p in contract.properties)
                    source = f"(SELECT {cols}, CAST(NULL AS BIGINT) AS _source_row WHERE false)"
                else:
                    source = f"read_parquet('{tmp_file}')"
                business = con.sql(f"SELECT * EXCLUDE (_source_row) FROM {source} LIMIT 0").columns
                con.execute(
                    f"""COPY (SELECT *, {_metadata_sql(business)} FROM {source} ORDER BY _source_row)
                        TO '{tmp / "part-0.parquet"}' ({_parquet_options(extract)})""",
                    [load_id, loaded_at, extract.source_uri, load_date],
                )
            crash_point("land.before_commit")
        return LandedBatch(contract.key, load_date, load_id, final / "part-0.parquet", row,
                           extract.source_uri, reused=False)
    finally:
        tmp_file.unlink(missing_ok=True)


class NativeFailed(Exception):
    """The native scan could not land this delivery exactly; the tolerant reader takes over."""


def land_delivery(contract: Contract, load_date: dt.date, extract: Extract, settings: Settings) -> LandedBatch:
    """Land an extract by its native scan when it has one (DuckDB reads the file straight into the batch,
    hashing and stamping rows in the same statement), else — or if that scan rejects the file — through
    :func:`land`. The batch says which reader ran and why. Both give the same rows, ``_source_row`` and
    ``_row_hash`` (tests/unit/test_native_landing.py), so the batch and its load id do not depend on it."""
    if extract.native is None:  # a database extract decides its reader as it starts reading, within land()
        landed = land(contract, load_date, extract, settings)
        return replace(landed, reader=extract.reader, reader_reason=extract.native_reason)
    try:
        return land_native(contract, load_date, extract, settings)
    except NativeFailed as exc:
        reason = f"native reader rejected the file: {exc}"
    return replace(land(contract, load_date, extract, settings), reader_reason=reason)


def land_native(contract: Contract, load_date: dt.date, extract: Extract, settings: Settings) -> LandedBatch:
    """One DuckDB ``COPY`` from the source file(s) to the batch's Parquet; NativeFailed if DuckDB rejects it.

    Rows keep the file's order (DuckDB preserves insertion order), so ``row_number() OVER ()`` numbers
    them as the tolerant reader does. The fingerprint is the file digests, known before the read, so a
    re-run of the same content is recognised without reading it. A scan that stops at a value its
    ``retry`` can settle is run again as that (the batch's ``reader_reason`` says so).
    """
    scan = extract.native
    assert scan is not None
    load_id = load_id_for(load_date, extract.fingerprint)
    final = batch_dir(settings, "raw", contract, load_date, load_id)
    staging = settings.lake_dir / "raw" / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    reason = ""
    with scratch(LAND_MEMORY_LIMIT, staging) as con:
        if final.exists():  # the count comes from the source, as the tolerant path's does: the gate judges the batch
            rows = _native_sql(con, f"SELECT count(*) FROM {scan.relation}", scan.params)
            return LandedBatch(contract.key, load_date, load_id, final / "part-0.parquet", rows,
                               extract.source_uri, reused=True, reader="native")
        loaded_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        while True:
            try:
                rows = _copy_native(con, scan, extract, settings, final, [load_id, loaded_at, extract.source_uri,
                                                                          load_date])
                break
            except NativeFailed as exc:
                if scan.retry is None or scan.retry_on not in str(exc):
                    raise
                scan, reason = scan.retry, f"second native scan: {exc}"
    return LandedBatch(contract.key, load_date, load_id, final / "part-0.parquet", rows, extract.source_uri,
                       reused=False, reader="native", reader_reason=reason)


def _copy_native(con: Any, scan: NativeScan, extract: Extract, settings: Settings, final: LakePath,
                 meta: list[Any]) -> int:
    """The batch's ``COPY`` by ``scan`` into a staged folder renamed to ``final``; ``meta``: load id, loaded at,
    source, load date. Returns the row count."""
    columns = ", ".join(f'{expr} AS "{name}"' for name, expr in scan.columns.items())
    with staged_dir(settings, final) as tmp:
        # the read runs inside DuckDB's COPY: a kill there leaves this temp folder, which the rerun sweeps
        crash_point("land.mid_extract")
        rows = _native_sql(
            con,
            f"""COPY (SELECT *, {_metadata_sql(list(scan.columns))}
                      FROM (SELECT {columns}, row_number() OVER () AS _source_row FROM {scan.relation}))
                TO '{tmp / "part-0.parquet"}' ({_parquet_options(extract)})""",
            [*meta, *scan.params],  # in placeholder order
        )
        if not rows:  # an empty delivery lands with the contract's columns, as the tolerant path writes it
            raise NativeFailed("no rows: an empty delivery lands with the contract's columns")
        crash_point("land.before_commit")
    return rows


def _native_sql(con: Any, sql: str, params: list[Any]) -> int:
    """Run a native statement and return its one number; DuckDB's refusal becomes NativeFailed."""
    import duckdb

    try:
        return int(con.execute(sql, params).fetchone()[0])
    except duckdb.Error as exc:
        raise NativeFailed(str(exc).strip().splitlines()[0][:300]) from None


def write_parquet_atomic(con: object, query: str, final: LakePath, settings: Settings | None = None) -> None:
    """``COPY (query) TO final`` through a temp name, so readers never see a half-written file."""
    if is_remote_path(final):  # object storage: finish the file locally, then one whole-object upload
        from cityshare.settings import get_settings
        from cityshare.storage import filesystem, scratch_dir

        settings = settings or get_settings()
        tmp = scratch_dir(settings) / f"put-{uuid.uuid4().hex[:12]}.parquet"
        try:
            con.execute(f"COPY ({query}) TO '{tmp}' (FORMAT parquet)")  # type: ignore[attr-defined]
            filesystem(settings).put_file(str(tmp), str(final))
        finally:
            tmp.unlink(missing_ok=True)
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{uuid.uuid4().hex[:8]}-{final.name}"
    try:
        con.execute(f"COPY ({query}) TO '{tmp}' (FORMAT parquet)")  # type: ignore[attr-defined]
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
