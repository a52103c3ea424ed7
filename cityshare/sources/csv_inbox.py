"""CSV files dropped by a department into its inbox folder, one file per load date.

Server (ODCS ``local``, ``format: csv``): ``path`` with ``{date}``; server customProperties (ODCS has no
encoding field): ``encoding`` ``UTF-8`` (default; strict, a BOM is tolerated), ``auto`` (UTF-8, else
GB18030 — the superset of GBK/GB2312) or any Python codec name; the file must decode in full before it
is parsed (:mod:`.integrity`: ``encoding_invalid``), and a file cut off in transfer is blocked as
``file_truncated`` naming the line.
customProperties: ``delimiter`` (``,`` default, ``\\t``, or ``auto`` to sniff the header line),
``headerRow`` (1-based line of the header; lines above it — a title — are skipped). Headers map to
contract columns by ``name``, ``businessName`` or ``sourceField``. A UTF-8 file is read by DuckDB's CSV
reader straight into the raw batch (``Extract.native``, :func:`cityshare.lake.land_delivery`); any other
file, or one DuckDB's strict reader refuses, is streamed by Arrow's CSV reader in 8 MB blocks (the tolerant
path): both yield the same text. Memory stays bounded either way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from cityshare.contracts.model import Contract
from cityshare.errors import FileRejected, NoDelivery, UnusableInput
from cityshare.settings import Settings
from cityshare.sources.base import Extract, NativeScan, modified_at
from cityshare.sources.integrity import FILE_TRUNCATED, TextFile, check_text
from cityshare.sqlquote import q

_BLOCK = 8 << 20


def inbox_path(contract: Contract, load_date: dt.date, settings: Settings) -> Path:
    template = contract.server_value("path", settings)
    return Path(template.replace("{date}", load_date.isoformat()))


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def delivered_file(contract: Contract, load_date: dt.date, settings: Settings) -> Path:
    """The day's file; NoDelivery when it is missing, a SourceError when it is empty."""
    path = inbox_path(contract, load_date, settings)
    if not path.is_file():
        raise NoDelivery(f"{path}: no delivery from {contract.department} for {load_date} (file missing)")
    if path.stat().st_size == 0:
        raise UnusableInput(f"{path}: the file is empty (0 bytes)")
    return path


def extract_csv(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    path = delivered_file(contract, load_date, settings)
    text = check_text(path, str(contract.server_option("encoding") or "UTF-8"))  # before any parsing
    extract = Extract(source_uri=str(path), batches=iter(()), delivered_at=modified_at(path))
    extract.fingerprint_parts.append(text.digest)
    layout = _layout(contract, text)
    extract.batches = _read(layout, text)
    scan = _native(layout, text)
    extract.native, extract.native_reason = (scan, "") if isinstance(scan, NativeScan) else (None, scan)
    return extract


def _delimiter(option: str | None, header: str) -> str:
    if option is None:
        return ","
    if option == "auto":
        counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
        return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    return option.encode().decode("unicode_escape") if option.startswith("\\") else option


@dataclass(frozen=True)
class _Layout:
    """Where a delivered CSV's rows start and how its fields are named and separated."""

    header_row: int
    delimiter: str
    names: list[str]  # contract column names for the file's headers, in file order


def _layout(contract: Contract, text: TextFile) -> _Layout:
    """Read the header line and check the file's shape before any row is parsed (both readers share it)."""
    path, codec = text.path, text.codec
    header_row = int(contract.server_option("headerRow", 1))
    with path.open(encoding=codec, newline="") as fh:
        for _ in range(header_row):
            header_text = fh.readline()
    header_text = header_text.lstrip("\ufeff").rstrip("\r\n")
    if header_text.startswith("PK\x03\x04") or "\x00" in header_text:
        raise UnusableInput(f"{path}: line {header_row}: not a CSV text file (binary content; an .xlsx renamed .csv?)")
    delimiter = _delimiter(contract.server_option("delimiter"), header_text)
    headers = [h.strip().strip('"') for h in header_text.split(delimiter)]
    dupes = sorted({h for h in headers if headers.count(h) > 1})
    if dupes:
        raise UnusableInput(f"{path}: line {header_row}: duplicated header(s) {', '.join(dupes)}")
    if not text.ends_with_newline and text.lines > header_row:  # the last row may be cut anywhere
        _raise_fault(text, delimiter, header_row, len(headers))
    mapping = contract.column_by_header()
    for p in contract.properties:
        if p.custom.get("sourceField"):
            mapping[str(p.custom["sourceField"])] = p.name
    return _Layout(header_row, delimiter, [mapping.get(h, h) for h in headers])


def _read(layout: _Layout, text: TextFile) -> Iterator[pa.RecordBatch]:
    """The tolerant reader: Arrow's CSV reader in 8 MB blocks; a failure is diagnosed by line."""
    import pyarrow.csv as pacsv

    path, codec, names = text.path, text.codec, layout.names
    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=layout.header_row, block_size=_BLOCK,
        encoding="utf8" if codec == "utf-8-sig" else codec,
    )
    parse = pacsv.ParseOptions(delimiter=layout.delimiter)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    try:
        reader = pacsv.open_csv(path, read_options=read_opts, parse_options=parse, convert_options=convert)
        yield from reader
    except pa.ArrowInvalid as exc:
        _raise_fault(text, layout.delimiter, layout.header_row, len(names))
        reason = str(exc).splitlines()[0][:300]
        raise UnusableInput(f"{path}: cannot parse CSV (delimiter {layout.delimiter!r}, {codec}): {reason}") from None


def _native(layout: _Layout, text: TextFile) -> NativeScan | str:
    """DuckDB's strict CSV reader set up to yield exactly what :func:`_read` yields, or why it cannot.

    Same rules as Arrow's: the header line(s) skipped and the contract names given, every field text,
    the same null spellings (Arrow's defaults, quoted ones too), RFC 4180 quotes, blank lines skipped; a
    ragged row fails the scan (strict mode), and the tolerant reader then names its line.
    """
    import pyarrow.csv as pacsv

    if text.codec != "utf-8-sig":
        return f"encoding {text.codec}: DuckDB's CSV reader is used for UTF-8 files only"
    if text.lines <= layout.header_row:
        return "no rows after the header"
    options = {
        "header": "false", "skip": "?", "auto_detect": "false", "delim": "?", "quote": "'\"'", "escape": "'\"'",
        "columns": "?", "nullstr": "?", "allow_quoted_nulls": "true", "strict_mode": "true",
        "null_padding": "false", "max_line_size": str(_BLOCK),
        "encoding": "'utf-8'",
    }
    relation = "read_csv(?, " + ", ".join(f"{k} = {v}" for k, v in options.items()) + ")"
    params = [str(text.path), layout.header_row, layout.delimiter, {n: "VARCHAR" for n in layout.names},
              pacsv.ConvertOptions().null_values]
    return NativeScan(relation, params, {n: q(n) for n in layout.names})


def _raise_fault(text: TextFile, delimiter: str, header_row: int, width: int) -> None:
    """Name the first row that breaks the file's structure, by line (Arrow's errors name none).

    A file ending inside a quoted field, with a short last row or without the last row's line break
    was cut off in transfer: ``file_truncated`` blocks the batch. A wrong field count elsewhere is bad
    input (SourceError). Runs only on a suspect file, so its full scan costs nothing on good ones.
    """
    import csv

    path = text.path
    with path.open(encoding=text.codec, newline="") as fh:
        for _ in range(header_row):
            fh.readline()
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        end = 0  # lines read after the header
        while True:
            start = header_row + end + 1
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if "end of data" in str(exc):
                    raise FileRejected(FILE_TRUNCATED, path, f"line {start}",
                                       "the file ends inside a quoted field opened on this line") from None
                if not text.ends_with_newline and header_row + reader.line_num >= text.lines:
                    raise FileRejected(FILE_TRUNCATED, path, f"line {start}",
                                       f"the last row is cut off without a line break ({exc})") from None
                raise UnusableInput(f"{path}: line {header_row + reader.line_num}: malformed CSV ({exc})") from None
            end = reader.line_num
            if not record or len(record) == width:
                continue
            last = next(reader, None) is None
            if last and len(record) < width:
                raise FileRejected(FILE_TRUNCATED, path, f"line {start}",
                                   f"the last row has {len(record)} of {width} fields")
            raise UnusableInput(f"{path}: line {start}: {len(record)} fields where the header has {width}")
    if not text.ends_with_newline:
        raise FileRejected(FILE_TRUNCATED, path, f"line {text.lines}",
                           "the last row has no line break, so its last field may be cut")
