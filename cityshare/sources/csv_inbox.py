"""CSV files dropped by a department into its inbox folder, one file per load date."""

from __future__ import annotations

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


def inbox_path(contract: Contract, load_date: dt.date, settings: Settings) -> Path:
    template = expand(contract.server["path"], settings)
    return Path(template.replace("{date}", load_date.isoformat()))


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def extract_csv(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    path = inbox_path(contract, load_date, settings)
    if not path.is_file():
        raise SourceError(f"{path}: no delivery from {contract.department} for {load_date} (file missing)")
    if path.stat().st_size == 0:
        raise SourceError(f"{path}: the file is empty (0 bytes)")
    extract = Extract(source_uri=str(path), batches=iter(()))
    extract.fingerprint_parts.append(_file_digest(path))
    extract.batches = _read(contract, path)
    return extract


def _read(contract: Contract, path: Path) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pacsv

    encoding = contract.server.get("encoding", "UTF-8")
    with path.open("rb") as fh:
        header_line = fh.readline()
    try:
        header_text = header_line.decode("utf-8-sig" if encoding.upper() == "UTF-8" else encoding)
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: line 1: header is not {encoding} ({exc.reason})") from None
    headers = [h.strip() for h in header_text.rstrip("\r\n").split(",")]
    dupes = sorted({h for h in headers if headers.count(h) > 1})
    if dupes:
        raise SourceError(f"{path}: line 1: duplicated header(s) {', '.join(dupes)}")
    mapping = contract.column_by_header()
    names = [mapping.get(h, h) for h in headers]
    read_opts = pacsv.ReadOptions(
        column_names=names, skip_rows=1, block_size=_BLOCK,
        encoding="utf8" if encoding.upper() == "UTF-8" else encoding,
    )
    convert = pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    try:
        reader = pacsv.open_csv(path, read_options=read_opts, convert_options=convert)
        yield from reader
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot parse CSV: {exc}") from None
