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
from cityshare.errors import FileRejected, NoDelivery, UnusableInput
from cityshare.settings import Settings
from cityshare.sources.base import Extract, NativeScan, RowBatcher, dig, modified_at, source_fields, to_text
from cityshare.sources.integrity import FILE_TRUNCATED, TextFile, check_text
from cityshare.sqlquote import lit, q


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
    raise UnusableInput(f"{path}: line {line_no}: not valid JSON ({exc})")


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
                    raise UnusableInput(f"{text.path}: line {line_no}: expected a JSON object, got {type(record).__name__}")
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
# Contract types whose leaves mostly hold JSON numbers: read as JSON, where the double 2.0 (landed "2") differs
# from the string "2.0". Every other leaf is read as VARCHAR: the reader unescapes its string, no SQL per value.
_NUMERIC = {"number", "integer"}
# First characters after which a VARCHAR leaf is its own text: not blank (str.isspace), not a number's, NaN's or
# Infinity's first character, not an object's or array's. Code point ranges [low, high); UTF-8 orders bytes
# as code points, so each is two byte comparisons on DuckDB's inlined string prefix.
_PLAIN_FIRST = ((0x21, 0x2B), (0x3A, 0x49), (0x4A, 0x4E), (0x4F, 0x5B), (0x5C, 0x69), (0x6A, 0x6E), (0x6F, 0x7B),
                (0x7C, 0x80), (0xA1, 0x1680), (0x1681, 0x2000), (0x2060, 0x3000), (0x3001, None))
RETRY_AS_JSON = "may be another JSON type's text: read again as JSON"  # a VARCHAR leaf's error(): see _native


def _struct_type(tree: dict[str, Any]) -> str:
    """DuckDB type reading the fields ``tree`` names: nested objects as STRUCTs, each leaf as its type."""
    parts = ", ".join(f'"{k.replace(chr(34), chr(34) * 2)}" {v if isinstance(v, str) else _struct_type(v)}'
                      for k, v in tree.items())
    return f"STRUCT({parts})"


def _error(field: str, why: str) -> str:
    return f"error({lit(f'{field}: {why}')})"


def _cant(field: str) -> str:
    return _error(field, "a value only the tolerant reader renders exactly")


def _fraction(text: str) -> str:
    return f"(contains({text}, '.') OR contains({text}, 'e') OR contains({text}, 'E'))"


def _double_text(number: str, otherwise: str) -> str:
    """:func:`to_text` of a double: whole ones as integers, others by DuckDB's shortest round-trip text, which is
    Python's ``repr`` in [1e-4, 1e15); ``otherwise`` outside that range."""
    return (f"CASE WHEN abs({number}) < 1e15 AND {number} = trunc({number}) THEN ({number})::BIGINT::VARCHAR "
            f"WHEN abs({number}) < 1e15 AND abs({number}) >= 1e-4 THEN ({number})::VARCHAR ELSE {otherwise} END")


def _json_number(text: str, field: str) -> str:
    """:func:`to_text` of a JSON number's text. Below 1e15 an integer's text is its double's, so one rule serves
    both; larger integers land verbatim (any size, as Python's int). The double is bound once by a lambda: each
    mention in a CASE would parse the text again (≈ 0.1 s per million values)."""
    beyond = f"CASE WHEN NOT {_fraction(text)} THEN {text} ELSE {_cant(field)} END"
    return f"list_transform([TRY_CAST({text} AS DOUBLE)], lambda x: {_double_text('x', beyond)})[1]"


def _json_text(value: str, field: str) -> str:
    """SQL giving :func:`to_text` of a leaf read as JSON, or an ``error()`` where SQL could differ from Python.

    Dispatches on the leaf's JSON text (as DuckDB writes it back), numbers first; strings unescaped only when
    they hold an escape. NaN and Infinity (Python lands ``nan``/``inf``, or refuses ``nan``), objects and
    arrays go to the tolerant reader.
    """
    text = f"(({value})::VARCHAR)"
    string = f"(CASE WHEN contains({text}, '\\') THEN {value} ->> '$' ELSE {text}[2:-2] END)"
    return f"""CASE WHEN {value} IS NULL THEN NULL
        WHEN ({text} >= '0' AND {text} < ':') OR ({text} >= '-0' AND {text} < '-:') THEN {_json_number(text, field)}
        WHEN {text} >= '"' AND {text} < '#' THEN
             CASE WHEN {text} = '""' THEN NULL WHEN strpos({_BLANK_SQL} || '\\', {text}[2:2]) = 0 THEN {string}
                  WHEN regexp_full_match({string}, '[{_BLANK_RE}]*') THEN NULL ELSE {string} END
        WHEN {text} = 'true' OR {text} = 'false' THEN {text}
        ELSE {_cant(field)} END"""


def _varchar_text(value: str, field: str) -> str:
    """SQL giving :func:`to_text` of a leaf read as VARCHAR, or an ``error()`` (:data:`RETRY_AS_JSON`) where the
    JSON type would matter.

    As VARCHAR a string arrives unescaped, an integer, ``true``/``false`` or an object as its JSON text: the same
    text whatever the type, except that a double's text may differ from what to_text makes of it (``2.0`` → ``2``,
    ``1e+20``, NaN) and an object or array is not landed as its text. So a value starting with none of their
    first characters (nor a blank) is its own text — two comparisons for most values. Otherwise: blank → null;
    an object or array, NaN or Infinity is refused; any other text stands where reading it as the double it may
    have been gives the same text (``1.5``, ``-7``, a date), else it is refused.
    """
    plain = " OR ".join(f"({value} >= chr({low})" + (f" AND {value} < chr({high}))" if high else ")")
                        for low, high in _PLAIN_FIRST)
    number, refuse = f"TRY_CAST({value} AS DOUBLE)", _error(field, RETRY_AS_JSON)
    return f"""CASE WHEN {value} IS NULL THEN NULL WHEN {plain} THEN {value}
        WHEN {value} >= '0' AND {value} < ':' AND NOT {_fraction(value)} THEN {value}
        WHEN regexp_full_match({value}, '[{_BLANK_RE}]*') THEN NULL
        WHEN ({value} >= '[' AND {value} < '\\') OR ({value} >= '{{' AND {value} < '|') THEN {refuse}
        WHEN {number} IS NULL THEN {value}
        WHEN NOT isfinite({number}) THEN {refuse}
        WHEN NOT {_fraction(value)} OR ({_double_text(number, 'NULL')}) = {value} THEN {value}
        ELSE {refuse} END"""


def _native(contract: Contract, texts: list[TextFile]) -> NativeScan | str:
    """DuckDB's NDJSON reader set up to yield exactly what :func:`_read` yields, or why it cannot.

    The fields' paths become nested STRUCT columns, so each record is parsed once, in the reader. Leaves of
    number and integer fields are read as JSON (:func:`_json_text`), the others as VARCHAR (:func:`_varchar_text`,
    much cheaper); where a VARCHAR leaf cannot tell the value's JSON type, the scan stops and its ``retry`` reads
    every leaf as JSON. A record that is not an object, a path through a non-object, a key repeated in an
    object on a path (Python keeps the last, DuckDB refuses it) or a value SQL would render differently
    (a nested object or array, a double outside [1e-4, 1e15), NaN) fails the scan, and the tolerant reader
    lands the file (or names the bad line).
    """
    if any(t.codec != "utf-8-sig" for t in texts):
        return "encoding other than UTF-8: DuckDB's JSON reader is used for UTF-8 files only"
    fields = source_fields(contract)
    types = {p.name: p.logical_type for p in contract.properties}
    tree: dict[str, Any] = {}  # path part → subtree (an object) or the leaf's DuckDB type
    leaves: dict[str, tuple[dict[str, Any], str]] = {}  # field → (its parent node, leaf key)
    for name, path in fields.items():
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            if isinstance(node.get(part), str):
                return f"sourceField {path} reads inside another field's value"
            node = node.setdefault(part, {})
        if isinstance(node.get(leaf), dict):
            return f"sourceField {path} holds other fields"
        node[leaf] = "JSON" if types[name] in _NUMERIC or node.get(leaf) == "JSON" else "VARCHAR"
        leaves[name] = node, leaf
    files = [str(t.path) for t in texts]
    relation = "read_json(?::VARCHAR[], format = 'newline_delimited', columns = ?) AS r"
    refs = {name: "r." + ".".join(q(p) for p in path.split(".")) for name, path in fields.items()}
    as_json = NativeScan(relation, [files, _columns(tree, "JSON")],
                         {name: _json_text(refs[name], path) for name, path in fields.items()})
    if all(node[leaf] == "JSON" for node, leaf in leaves.values()):
        return as_json
    exprs = {name: (_json_text if node[leaf] == "JSON" else _varchar_text)(refs[name], fields[name])
             for name, (node, leaf) in leaves.items()}
    return NativeScan(relation, [files, _columns(tree)], exprs, retry=as_json, retry_on=RETRY_AS_JSON)


def _columns(tree: dict[str, Any], leaf: str | None = None) -> dict[str, str]:
    """``read_json``'s columns for ``tree``: each leaf as its type, or all as ``leaf``."""
    if leaf is not None:
        tree = _relabel(tree, leaf)
    return {k: v if isinstance(v, str) else _struct_type(v) for k, v in tree.items()}


def _relabel(tree: dict[str, Any], leaf: str) -> dict[str, Any]:
    return {k: leaf if isinstance(v, str) else _relabel(v, leaf) for k, v in tree.items()}
