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
UTF-8 feeds are read by DuckDB's JSON reader straight into the raw batch when it can reproduce the text
exactly (:func:`_native`); otherwise records are parsed one by one in Python (the tolerant path).
"""

from __future__ import annotations

import datetime as dt
import glob
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa

from cityshare.contracts.model import Contract
from cityshare.errors import FileRejected, NoDelivery, SourceError
from cityshare.settings import Settings
from cityshare.sources.base import Extract, NativeScan, RowBatcher, dig, modified_at, source_fields, to_text
from cityshare.sources.integrity import FILE_TRUNCATED, TextFile, check_text
from cityshare.sqlquote import q


def feed_files(contract: Contract, load_date: dt.date, settings: Settings) -> list[Path]:
    pattern = contract.server_value("path", settings).replace("{date}", load_date.isoformat())
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
    extract = Extract(source_uri=",".join(str(f) for f in files), batches=iter(()), delivered_at=modified_at(*files))
    extract.fingerprint_parts.extend(f"{t.path.name}:{t.digest}" for t in texts)
    extract.batches = _read(contract, texts)
    scan = _native(contract, texts)
    extract.native, extract.native_reason = (scan, "") if isinstance(scan, NativeScan) else (None, scan)
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


# Characters Python's str.strip() removes (str.isspace): a string of only these is null, as in to_text.
_BLANK = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_BLANK_SQL = " || ".join(f"chr({ord(c)})" for c in _BLANK)
_BLANK_RE = "".join(f"\\x{{{ord(c):x}}}" for c in _BLANK)


def _struct_type(tree: dict[str, Any]) -> str:
    """DuckDB type reading the fields ``tree`` names: nested objects as STRUCTs, each leaf as JSON."""
    parts = ", ".join(f'"{k.replace(chr(34), chr(34) * 2)}" {"JSON" if v is None else _struct_type(v)}'
                      for k, v in tree.items())
    return f"STRUCT({parts})"


def _native_text(value: str, field: str) -> str:
    """SQL giving :func:`to_text` of one JSON leaf, or an ``error()`` where SQL could differ from Python.

    Dispatches on the leaf's JSON text (as DuckDB writes it back): strings unescaped only when they hold
    an escape, integers verbatim (any size, as Python's int), doubles by DuckDB's shortest round-trip
    text, which is Python's ``repr`` in [1e-4, 1e15) (whole ones as integers, as ``to_text`` does).
    """
    text = f"(({value})::VARCHAR)"
    number = f"({text})::DOUBLE"
    string = f"(CASE WHEN contains({text}, '\\') THEN {value} ->> '$' ELSE {text}[2:-2] END)"
    cant = f"error('{field.replace(chr(39), chr(39) * 2)}: a value only the tolerant reader renders exactly')"
    return f"""CASE WHEN {value} IS NULL THEN NULL ELSE CASE left({text}, 1)
        WHEN '"' THEN CASE WHEN {text} = '""' THEN NULL WHEN strpos({_BLANK_SQL} || '\\', {text}[2:2]) = 0 THEN {string}
                           WHEN regexp_full_match({string}, '[{_BLANK_RE}]*') THEN NULL ELSE {string} END
        WHEN 't' THEN {text} WHEN 'f' THEN {text} WHEN 'n' THEN NULL WHEN '{{' THEN {cant} WHEN '[' THEN {cant}
        ELSE CASE WHEN NOT (contains({text}, '.') OR contains({text}, 'e') OR contains({text}, 'E')) THEN {text}
                  WHEN abs({number}) < 1e15 AND {number} = trunc({number}) THEN ({number})::BIGINT::VARCHAR
                  WHEN abs({number}) < 1e15 AND abs({number}) >= 1e-4 THEN ({number})::VARCHAR
                  ELSE {cant} END END END"""


def _native(contract: Contract, texts: list[TextFile]) -> NativeScan | str:
    """DuckDB's NDJSON reader set up to yield exactly what :func:`_read` yields, or why it cannot.

    The fields' paths become nested STRUCT columns (leaves read as JSON), so each record is parsed once,
    in the reader. A record that is not an object, a path through a non-object, a key repeated in an
    object on a path (Python keeps the last, DuckDB refuses it) or a value SQL would render differently
    (a nested object or array, a double outside [1e-4, 1e15)) fails the scan, and the tolerant reader
    lands the file (or names the bad line).
    """
    if any(t.codec != "utf-8-sig" for t in texts):
        return "encoding other than UTF-8: DuckDB's JSON reader is used for UTF-8 files only"
    fields = source_fields(contract)
    tree: dict[str, Any] = {}  # path part → subtree (an object) or None (a leaf)
    for path in fields.values():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            if part in node and node[part] is None:
                return f"sourceField {path} reads inside another field's value"
            node = node.setdefault(part, {})
        if node.get(leaf) is not None:
            return f"sourceField {path} holds other fields"
        node[leaf] = None
    columns = {k: "JSON" if v is None else _struct_type(v) for k, v in tree.items()}
    relation = "read_json(?::VARCHAR[], format = 'newline_delimited', columns = ?) AS r"
    exprs = {name: _native_text("r." + ".".join(q(p) for p in path.split(".")), path)
             for name, path in fields.items()}
    return NativeScan(relation, [[str(t.path) for t in texts], columns], exprs)
