"""PostgreSQL's bulk reader (批量读取): one ``COPY (SELECT …) TO STDOUT`` parsed by pyarrow, no Python per value.

The row path (cityshare.sources.sql_db) hands each value psycopg loads to :func:`to_text`; that is the reference.
Here PostgreSQL renders every column as that very text, so the landed rows and the fingerprint are the same
whichever path ran (tests/unit/test_sources_sql.py compares them on every type departments use):

- text types (psycopg's TextLoader: text, varchar, char, name, enums …): the value; blank by Python's
  ``str.strip`` → null (in Arrow);
- int2/4/8, uuid: the type's own output, which is ``str()`` of psycopg's value;
- bool: ``true``/``false``;
- numeric: whole and below 10**prec (``Decimal.normalize`` rounds to the context's precision) → ``trunc``;
  other values from 1e-6 up → the output text, which ``str(Decimal)`` keeps digit for digit;
- float4/float8 (PostgreSQL ≥ 12 prints the shortest round-trip digits, as Python's ``repr``, unless
  extra_float_digits is set to 0 or below): the output text
  where PostgreSQL and ``repr`` write the same (below 1e15, and float8 from 1e39, float4 from 1e16), ``-0`` →
  ``0``, NaN/±Infinity → ``nan``/``inf``;
- date, timestamp, timestamptz (DateStyle ISO; timestamptz only when psycopg reads it in the session's own
  TimeZone): ISO text, fractional seconds as six digits.

Any other value of these types (numeric ≥ 1e28 or below 1e-6, a float8 from 1e15 up to 1e39, a year before 1000,
infinity …) comes flagged ``#`` + its output text and is converted by psycopg's own loader and ``to_text``: the
row path's code on the row path's input. A column of any other type (json, interval, arrays …) is converted that
way value by value; ``reader_reason`` names it.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from cityshare.sources.base import to_text

FLAG = "#"  # never the first character of a rendered numeric, float, date or time
# what Python's str.strip() removes (str.isspace()), so "blank → null" is the row path's to the character
PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B))
                 + "\u2028\u2029\u202f\u205f\u3000")
TEXT, EXACT, PYTHON = "text", "exact", "python"  # how a column's CSV text becomes the landed text (Column.kind)

# Types without a btree order (ORDER BY fails on them), ordered by their text instead: json, xml and geometry,
# and arrays of them.
NO_ORDER = frozenset({114, 199, 142, 143, 600, 601, 602, 603, 604, 628, 629, 718, 719, 1017, 1018, 1019, 1020, 1027})
# Types whose equal values can print differently (12.5 = 12.50, 1 day = 24 hours): their text breaks ties, so
# both paths — and every re-run — see tied rows in one order.
TEXT_TIEBREAK = frozenset({1700, 1186})

_LOADERS = {  # type oid → the psycopg loader the expressions below mirror (anything else: PYTHON)
    16: "BoolLoader", 20: "IntLoader", 21: "IntLoader", 23: "IntLoader", 700: "FloatLoader", 701: "FloatLoader",
    1082: "DateLoader", 1114: "TimestampLoader", 1184: "TimestamptzLoader", 1700: "NumericLoader",
    2950: "UUIDLoader",
}
_FRACTION = "CASE WHEN date_trunc('second', {c}) = {c} THEN '' ELSE to_char({c}, '.US') END"
_CLOCK = "to_char({c}, 'YYYY-MM-DD HH24:MI:SS') || " + _FRACTION


@dataclass(frozen=True)
class Session:
    """What the session's settings allow (the row path reads under the same ones)."""

    iso_dates: bool  # DateStyle ISO: date/timestamp output is ISO text and psycopg parses it
    shortest_floats: bool  # PostgreSQL ≥ 12 and extra_float_digits > 0: floats print the shortest round-trip digits
    zone_matches: bool  # psycopg converts timestamptz into the session's TimeZone (it knows that zone)
    precision: int  # Python's decimal context precision, which to_text's normalize() rounds to


@dataclass(frozen=True)
class Column:
    """One selected column: the SQL rendering it, how its text is finished, and the row path's conversion."""

    source: str  # the department's column
    type_name: str
    kind: str  # TEXT: blank → null; EXACT: flagged values through ``convert``; PYTHON: every value through it
    expr: str  # SQL over ``{c}``, the column reference
    convert: Callable[[str], str | None]  # output text → to_text(psycopg's value): the row path's conversion


def plan_column(source: str, type_name: str, oid: int, loader: Any, logical: str, session: Session) -> Column:
    """How the bulk reader renders one column: an exact SQL expression, else the row path's conversion."""

    def convert(raw: str) -> str | None:
        return to_text(loader.load(raw.encode()), logical)

    name = type(loader).__name__
    if name == "TextLoader":  # psycopg hands over the output text as it is
        return Column(source, type_name, TEXT, "{c}", convert)
    expr = _expression(oid, logical, session) if _LOADERS.get(oid) == name else None
    if expr is None:
        return Column(source, type_name, PYTHON, "{c}", convert)
    return Column(source, type_name, EXACT, expr, convert)


def _expression(oid: int, logical: str, s: Session) -> str | None:
    """The SQL giving to_text's text, or ``#`` + the output text for a value it leaves to the row path's code."""
    flag = f"'{FLAG}' || {{c}}::text"
    if oid in (20, 21, 23, 2950):
        return "{c}"
    if oid == 16:
        return "CASE {c} WHEN true THEN 'true' WHEN false THEN 'false' END"
    if oid == 1700:  # NaN/Infinity fail both tests and are flagged
        return (f"CASE WHEN {{c}} = trunc({{c}}) AND abs({{c}}) < 1e{s.precision} THEN trunc({{c}})::text "
                f"WHEN {{c}} <> trunc({{c}}) AND abs({{c}}) >= 0.000001 THEN {{c}}::text ELSE {flag} END")
    if oid in (700, 701) and s.shortest_floats:
        # Below 1e15 (float4: 1e6) both write fixed notation (whole values as integers, to_text's str(int)), below
        # 1e-4 both an exponent. From 1e15 PostgreSQL writes an exponent where repr waits for 1e16, and its Ryu
        # never takes a shortest candidate lying exactly on the rounding interval's bound, which repr does for an
        # even mantissa: a whole double from 2**53 up to about 2**127 may print with a digit more (2.8090423022979728e+16
        # for repr's 2.809042302297973e+16). A float4 is safe there: psycopg parses its text as a double, whose repr
        # gives those (at most 9) digits back.
        typ, fixed, exact_from = ("real", "1e6", "1e16") if oid == 700 else ("float8", "1e15", "1e39")
        return (f"CASE WHEN {{c}} = 'NaN' THEN 'nan' WHEN {{c}} = 'Infinity' THEN 'inf' "
                f"WHEN {{c}} = '-Infinity' THEN '-inf' WHEN {{c}} = 0 THEN '0' "
                f"WHEN abs({{c}}) < '{fixed}'::{typ} OR abs({{c}}) >= '{exact_from}'::{typ} THEN {{c}}::text "
                f"ELSE {flag} END")
    if oid == 1082 and s.iso_dates:
        return f"CASE WHEN {{c}} BETWEEN '0001-01-01' AND '9999-12-31' THEN {{c}}::text ELSE {flag} END"
    if oid in (1114, 1184) and s.iso_dates and (oid == 1114 or s.zone_matches):
        # strftime writes a year before 1000 without zeros; psycopg refuses infinity and years past 9999
        low, high = ("1000-01-01", "10000-01-01") if oid == 1114 else ("1000-01-02", "9999-12-30")
        if logical == "date":
            text = "to_char({c}, 'YYYY-MM-DD')"
        elif oid == 1114:
            text = "CASE WHEN date_trunc('second', {c}) = {c} THEN {c}::text ELSE to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US') END"
        else:
            text = _CLOCK
        return f"CASE WHEN {{c}} >= '{low}' AND {{c}} < '{high}' THEN {text} ELSE {flag} END"
    return None


def session_facts(con: Any) -> Session:
    """The settings of ``con`` the expressions depend on."""
    from zoneinfo import ZoneInfo

    zone = con.info.timezone
    return Session(
        iso_dates=str(con.info.parameter_status("DateStyle") or "").upper().startswith("ISO"),
        shortest_floats=con.info.server_version >= 120000 and int(
            con.execute("SELECT current_setting('extra_float_digits')").fetchone()[0]) > 0,
        zone_matches=isinstance(zone, ZoneInfo) and zone.key == con.info.parameter_status("TimeZone"),
        precision=decimal.getcontext().prec,
    )


def finish(table: pa.Table, columns: list[Column], fail: Callable[[Column, Exception], Exception]) -> list[pa.Array]:
    """The landed text of each column of one parsed CSV block (``columns`` in order); ``fail`` names a value the
    row path's conversion refuses."""
    import pyarrow.compute as pc

    out = []
    for column, values in zip(columns, table.columns, strict=True):
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if column.kind == TEXT:
            blank = pc.equal(pc.binary_length(pc.utf8_ltrim(values, PY_WHITESPACE)), 0)
            if pc.any(blank).as_py():
                values = pc.if_else(blank, pa.scalar(None, pa.string()), values)
        elif column.kind == EXACT:
            flagged = pc.starts_with(values, FLAG)
            if pc.any(flagged).as_py():
                raw = pc.filter(values, flagged).to_pylist()
                values = pc.replace_with_mask(values, flagged, pa.array(_convert(column, [r[1:] for r in raw], fail),
                                                                        pa.string()))
        else:
            values = pa.array(_convert(column, values.to_pylist(), fail), pa.string())
        out.append(values)
    return out


def _convert(column: Column, raw: list[str | None], fail: Callable[[Column, Exception], Exception]) -> list[str | None]:
    try:
        return [None if r is None else column.convert(r) for r in raw]
    except Exception as exc:  # psycopg's loaders raise DataError, ValueError …: the caller names the column
        raise fail(column, exc) from None


def read_csv(block: bytearray, width: int) -> pa.Table:
    """One block of COPY's CSV rows as string columns: an unquoted empty field is null, a quoted one the empty
    string."""
    from pyarrow import csv

    names = [f"c{i}" for i in range(width)]
    return csv.read_csv(
        pa.py_buffer(block),
        read_options=csv.ReadOptions(column_names=names, block_size=64 << 20),
        parse_options=csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), null_values=[""],
                                           strings_can_be_null=True, quoted_strings_can_be_null=False),
    )


def copy_blocks(cursor: Any, statement: Any, params: list[Any], size: int) -> Iterator[tuple[bytearray, int]]:
    """``COPY … TO STDOUT``'s rows in blocks of ``size`` rows (and their count): PostgreSQL sends a row per message,
    appended to one buffer (a list of 50,000 row objects cost more than the reading)."""
    with cursor.copy(statement, params) as copy:
        block, rows = bytearray(), 0
        for row in copy:
            block += row
            rows += 1
            if rows >= size:
                yield block, rows
                block, rows = bytearray(), 0
        if rows:
            yield block, rows
