"""JSON-lines sensor feeds (bridge strain/displacement, parking occupancy, elderly-care alerts).

Sensors push records as they come; a gateway appends them to files named by the day they *arrived*.
The load window is the arrival day: records measured earlier (late) or out of order are landed as
delivered, with their own event time, and the contract's timeliness rule judges how late is too late
(the batch carries ``_load_date``). Re-running a day reads the same files, so it yields the same batch.

Server (ODCS ``local``, ``format: jsonl``): ``path`` with ``{date}``, may contain ``*`` to take
several files of the day (e.g. hourly parts), read in name order; ``encoding`` as for CSV. Fields are
flattened from nested records by each property's ``sourceField`` (dotted path). Before parsing, each
file must decode in full (``encoding_invalid``) and must not end in a partial record; a record cut off
anywhere (the parser runs out of input at the end of its line) blocks the batch as ``file_truncated``
naming file and line. A line that is other bad JSON fails the extract naming file and line (exit 2).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pyarrow as pa

from cityshare.contracts.model import Contract, expand
from cityshare.errors import FileRejected, NoDelivery, SourceError
from cityshare.settings import Settings
from cityshare.sources import Extract, RowBatcher, dig, source_fields, to_text
from cityshare.sources.integrity import FILE_TRUNCATED, TextFile, check_text


def feed_files(contract: Contract, load_date: dt.date, settings: Settings) -> list[Path]:
    pattern = expand(contract.server["path"], settings).replace("{date}", load_date.isoformat())
    files = sorted(Path(p) for p in glob.glob(pattern))
    if not files:
        raise NoDelivery(f"{pattern}: no delivery from {contract.department} for {load_date} (no feed file)")
    return files


def extract_jsonl(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    files = feed_files(contract, load_date, settings)
    declared = str(contract.server_option("encoding") or "UTF-8")
    texts = [check_text(path, declared) for path in files]  # before any parsing
    for text in texts:
        if text.last_line.strip():
            try:
                json.loads(text.last_line)
            except json.JSONDecodeError as exc:
                _raise_partial(text.path, text.lines, text.last_line, exc)
    extract = Extract(source_uri=",".join(str(f) for f in files), batches=iter(()))
    extract.fingerprint_parts.extend(f"{t.path.name}:{t.digest}" for t in texts)
    extract.batches = _read(contract, texts)
    return extract


def _raise_partial(path: Path, line_no: int, line: str, exc: json.JSONDecodeError) -> NoReturn:
    """A record the parser ran out of input for was cut off (file_truncated); other bad JSON is bad input."""
    if exc.pos >= len(line.rstrip()) or exc.msg.startswith("Unterminated string"):
        raise FileRejected(FILE_TRUNCATED, path, f"line {line_no}",
                           f"partial JSON record ({len(line.rstrip())} characters, {exc.msg})")
    raise SourceError(f"{path}: line {line_no}: not valid JSON ({exc})")


def _read(contract: Contract, texts: list[TextFile]) -> Iterator[pa.RecordBatch]:
    fields = source_fields(contract)
    names = list(fields)
    types = {p.name: p.logical_type for p in contract.properties}
    batcher = RowBatcher(names)
    for text in texts:
        with text.path.open(encoding=text.codec) as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    _raise_partial(text.path, line_no, line, exc)
                if not isinstance(record, dict):
                    raise SourceError(f"{text.path}: line {line_no}: expected a JSON object, got {type(record).__name__}")
                out = batcher.add(tuple(to_text(dig(record, fields[n]), types[n]) for n in names))
                if out is not None:
                    yield out
    out = batcher.flush()
    if out is not None:
        yield out
