"""JSON-lines sensor feeds (bridge strain/displacement, parking occupancy, elderly-care alerts).

Sensors push records as they come; a gateway appends them to files named by the day they *arrived*.
The load window is the arrival day: records measured earlier (late) or out of order are landed as
delivered, with their own event time, and the contract's timeliness rule judges how late is too late
(the batch carries ``_load_date``). Re-running a day reads the same files, so it yields the same batch.

Server (ODCS ``local``, ``format: jsonl``): ``path`` with ``{date}``, may contain ``*`` to take
several files of the day (e.g. hourly parts), read in name order. Fields are flattened from nested
records by each property's ``sourceField`` (dotted path). A line that is not JSON fails the extract
naming file and line; a last line without its newline is reported as a truncated file.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from cityshare.contracts.model import Contract, expand
from cityshare.errors import SourceError
from cityshare.settings import Settings
from cityshare.sources import Extract, RowBatcher, dig, source_fields, to_text


def feed_files(contract: Contract, load_date: dt.date, settings: Settings) -> list[Path]:
    pattern = expand(contract.server["path"], settings).replace("{date}", load_date.isoformat())
    files = sorted(Path(p) for p in glob.glob(pattern))
    if not files:
        raise SourceError(f"{pattern}: no delivery from {contract.department} for {load_date} (no feed file)")
    return files


def extract_jsonl(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    files = feed_files(contract, load_date, settings)
    extract = Extract(source_uri=",".join(str(f) for f in files), batches=iter(()))
    extract.batches = _read(contract, files, extract)
    return extract


def _read(contract: Contract, files: list[Path], extract: Extract) -> Iterator[pa.RecordBatch]:
    fields = source_fields(contract)
    names = list(fields)
    types = {p.name: p.logical_type for p in contract.properties}
    batcher = RowBatcher(names)
    for path in files:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            line_no = 0
            for raw in fh:
                line_no += 1
                digest.update(raw)
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    what = "truncated file: last line is incomplete" if not raw.endswith(b"\n") else "not valid JSON"
                    raise SourceError(f"{path}: line {line_no}: {what} ({exc})") from None
                if not isinstance(record, dict):
                    raise SourceError(f"{path}: line {line_no}: expected a JSON object, got {type(record).__name__}")
                out = batcher.add(tuple(to_text(dig(record, fields[n]), types[n]) for n in names))
                if out is not None:
                    yield out
        extract.fingerprint_parts.append(f"{path.name}:{digest.hexdigest()}")
    out = batcher.flush()
    if out is not None:
        yield out
