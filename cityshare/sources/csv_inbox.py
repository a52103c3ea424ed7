"""CSV files dropped by a department into its inbox folder, one file per load date.

Server (ODCS ``local``, ``format: csv``): ``path`` with ``{date}``. Server customProperties (ODCS has no
encoding field): ``encoding`` ``UTF-8`` (default; strict, a BOM is tolerated), ``auto`` (BOM → UTF-8 → charset
detection, GBK/GB2312 read as their superset GB18030) or any Python codec name; ``delimiter`` (``,`` default, ``\\t``, or
``auto`` to sniff the header line), ``headerRow`` (1-based line of the header; lines above it — a
title — are skipped). Headers map to contract columns by ``name``, ``businessName`` or
``sourceField``. The file is streamed by Arrow's CSV reader in 8 MB blocks: memory stays bounded.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from cityshare.contracts.model import Contract, expand
from cityshare.errors import SourceError
from cityshare.settings import Settings
from cityshare.sources import Extract

_BLOCK = 8 << 20
_SAMPLE = 1 << 20
_GB = {"gb2312", "gbk", "gb18030", "cp936", "hz", "gb18030-2000"}


def inbox_path(contract: Contract, load_date: dt.date, settings: Settings) -> Path:
    template = expand(contract.server["path"], settings)
    return Path(template.replace("{date}", load_date.isoformat()))


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def delivered_file(contract: Contract, load_date: dt.date, settings: Settings) -> Path:
    """The day's file, or a SourceError saying it is missing or empty."""
    path = inbox_path(contract, load_date, settings)
    if not path.is_file():
        raise SourceError(f"{path}: no delivery from {contract.department} for {load_date} (file missing)")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty (0 bytes)")
    return path


def extract_csv(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    path = delivered_file(contract, load_date, settings)
    extract = Extract(source_uri=str(path), batches=iter(()))
    extract.fingerprint_parts.append(file_digest(path))
    extract.batches = _read(contract, path)
    return extract


def _utf8_ok(sample: bytes) -> bool:
    """Whether ``sample`` is UTF-8, allowing a multi-byte character cut at the sample's end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str:
    """The encoding of a department's text file: BOM, then UTF-8, then charset detection.

    Reads a sample from the start and the end only. GBK and GB2312 are read as GB18030 (a superset),
    because departments' exports label them loosely.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(_SAMPLE)
        tail = b""
        if size > 2 * _SAMPLE:
            fh.seek(size - _SAMPLE)
            tail = fh.read()
            tail = tail[tail.find(b"\n") + 1:]  # start at a line boundary
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _utf8_ok(head) and _utf8_ok(tail):
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    name = (best.encoding if best else "gb18030").lower().replace("_", "-")
    return "gb18030" if name in _GB or best is None else name


def _codec(declared: str, path: Path) -> str:
    if declared.lower() == "auto":
        return detect_encoding(path)
    if declared.upper().replace("_", "-") in ("UTF-8", "UTF8"):
        return "utf-8-sig"
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise SourceError(f"{path}: servers[0].customProperties.encoding {declared!r} is not a known encoding") from None
    return "gb18030" if name in _GB else name


def _delimiter(option: str | None, header: str) -> str:
    if option is None:
        return ","
    if option == "auto":
        counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
        return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    return option.encode().decode("unicode_escape") if option.startswith("\\") else option


def _read(contract: Contract, path: Path) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pacsv

    declared = str(contract.server_option("encoding") or "UTF-8")
    codec = _codec(declared, path)
    header_row = int(contract.server_option("headerRow", 1))
    with path.open("rb") as fh:
        for _ in range(header_row):
            header_line = fh.readline()
    try:
        header_text = header_line.decode(codec)
    except UnicodeDecodeError as exc:
        hint = ""
        if codec.startswith("utf-8") and detect_encoding(path) == "gb18030":
            hint = " — the file looks GBK/GB18030-encoded; set the server customProperty encoding to auto or GB18030"
        raise SourceError(f"{path}: line {header_row}: header is not {declared} ({exc.reason}){hint}") from None
    header_text = header_text.lstrip("\ufeff").rstrip("\r\n")
    delimiter = _delimiter(contract.server_option("delimiter"), header_text)
    headers = [h.strip().strip('"') for h in header_text.split(delimiter)]
    dupes = sorted({h for h in headers if headers.count(h) > 1})
    if dupes:
        raise SourceError(f"{path}: line {header_row}: duplicated header(s) {', '.join(dupes)}")
    mapping = contract.column_by_header()
    for p in contract.properties:
        if p.custom.get("sourceField"):
            mapping[str(p.custom["sourceField"])] = p.name
    names = [mapping.get(h, h) for h in headers]
    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=header_row, block_size=_BLOCK,
        encoding="utf8" if codec in ("utf-8", "utf-8-sig") else codec,
    )
    parse = pacsv.ParseOptions(delimiter=delimiter)
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    try:
        reader = pacsv.open_csv(path, read_options=read_opts, parse_options=parse, convert_options=convert)
        yield from reader
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        reason = str(exc).splitlines()[0][:300]
        if "invalid UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
            reason += f" — the file is not valid {declared}"
        raise SourceError(f"{path}: cannot parse CSV (delimiter {delimiter!r}, {codec}): {reason}") from None
