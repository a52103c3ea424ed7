"""SQL predicates on raw (text) values that both the rule compiler (rules) and the GX expectations
(gx_expectations) use: a proper value of a logical type, a cell a spreadsheet would run as a formula."""

from __future__ import annotations

import re

from cityshare.sqlquote import lit, q

# Logical type → SQL true when a raw (text) value is a proper value of that type. Stricter than a bare
# TRY_CAST: DuckDB casts '12.5' to BIGINT 13 and 'inf' to DATE 9999-12-31.
TYPE_OK = {
    "integer": "try_cast({c} AS DOUBLE) = try_cast({c} AS BIGINT)",
    "number": "isfinite(try_cast({c} AS DOUBLE))",
    "date": "isfinite(try_cast({c} AS DATE))",
    "timestamp": "isfinite(try_cast({c} AS TIMESTAMP))",
    "boolean": "try_cast({c} AS BOOLEAN) IS NOT NULL",
}


CAST_TYPES = frozenset({"BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN"})  # what a castTo may mean


def cast_fails_sql(expr: str, cast: str) -> str:
    """True when the raw value ``expr`` does not cast to the DuckDB type ``cast`` (a contract's ``castTo``).
    ``cast`` is spliced into SQL, so only the known type names are accepted (also from a stored GX suite)."""
    if cast not in CAST_TYPES:
        raise ValueError(f"castTo type must be one of {', '.join(sorted(CAST_TYPES))}, got {cast!r}")
    return f"try_cast({expr} AS {cast}) IS NULL"


def reference_sql(files: list[str], reference_column: str) -> str:
    """The keys of a reference dataset's accepted batches (Parquet files), NULLs left out."""
    paths = ", ".join(lit(f) for f in files)
    return (f"SELECT {q(reference_column)} FROM read_parquet([{paths}], union_by_name = true) "
            f"WHERE {q(reference_column)} IS NOT NULL")


def code_list_sql(files: list[str], columns: list[str]) -> str:
    """The codes of a code list (代码表): each CSV file's code column read as text, NULLs (blank cells) left out."""
    return " UNION ALL ".join(f"SELECT {q(c)} FROM read_csv({lit(f)}, all_varchar = true) WHERE {q(c)} IS NOT NULL"
                              for f, c in zip(files, columns, strict=True))


def type_ok_sql(expr: str, logical_type: str) -> str:
    """True when the raw value ``expr`` is a proper value of ``logical_type`` (never NULL)."""
    return f"coalesce({TYPE_OK[logical_type].format(c=expr)}, false)"


# Formula injection (CSV/XLSX 公式注入): a text cell a spreadsheet would run — it starts with = @ TAB CR, or
# with + / - followed by something that is not a plain signed number ("+86 138…" and "-5" are data,
# "+cmd|…" and "-1+cmd|…" are not). Detection only: every CSV export escapes all of = + - @ TAB CR
# (cityshare.spreadsheet.FORMULA_LEAD). Contract customProperty ``formulaInjection``: ``warning``
# (default — recorded, stops nothing), ``error`` (quarantine the row) or ``off``.
_FORMULA = r"^(?:[=@\t\r]|[+-](?:[^0-9.\s]|[0-9.]*[-+*/^&|(!]))"


def formula_sql(expr: str) -> str:
    """True when the text value ``expr`` would run as a spreadsheet formula (not NULL for a non-NULL value)."""
    return f"(left({expr}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) AND regexp_matches({expr}, {lit(_FORMULA)}))"


# ODCS ``logicalTypeOptions.format`` (格式), as ODCS v3 defines it per logical type:
# * string — what the text is (the OpenAPI formats ODCS lists). Each checkable one is a full-match RE2 regex;
#   ``password`` and ``binary`` say nothing about the characters, so they add no rule.
# * date / timestamp — a JDK DateTimeFormatter pattern (``yyyy-MM-dd HH:mm:ss``): the text has that shape
#   (field widths, literals) and is a real date/time under it.
# * integer — the Rust integer type the value fits (``i8`` … ``u128``); number — ``f32`` / ``f64``.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join([
    rf"(?:{_H}:){{7}}{_H}", rf"(?:{_H}:){{1,7}}:", rf"(?:{_H}:){{1,6}}:{_H}", rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
    rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}", rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}", rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
    rf"{_H}:(?::{_H}){{1,6}}", rf":(?:(?::{_H}){{1,7}}|:)",
    rf"(?:{_H}:){{6}}{_IPV4}", rf"::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_IPV4}", rf"(?:{_H}:){{1,5}}:{_IPV4}",
])
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
STRING_FORMATS: dict[str, str | None] = {
    "email": rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+",
    "uuid": "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
    "uri": r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+",
    "hostname": rf"(?:{_LABEL})(?:\.{_LABEL})*",
    "ipv4": _IPV4,
    "ipv6": f"(?:{_IPV6})",
    "byte": "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?",  # base64
    "password": None,
    "binary": None,
}
INTEGER_FORMATS = {"i8": "TINYINT", "i16": "SMALLINT", "i32": "INTEGER", "i64": "BIGINT", "i128": "HUGEINT",
                   "u8": "UTINYINT", "u16": "USMALLINT", "u32": "UINTEGER", "u64": "UBIGINT", "u128": "UHUGEINT"}
NUMBER_FORMATS = {"f32": "FLOAT", "f64": "DOUBLE"}
# JDK DateTimeFormatter letters → (strptime directive, regex of the text), by the letter's repeat count.
_JDK_FIELDS: dict[str, dict[int, tuple[str, str]]] = {
    "y": {4: ("%Y", "[0-9]{4}"), 2: ("%y", "[0-9]{2}")}, "u": {4: ("%Y", "[0-9]{4}")},
    "M": {2: ("%m", "[0-9]{2}"), 1: ("%-m", "[0-9]{1,2}")}, "d": {2: ("%d", "[0-9]{2}"), 1: ("%-d", "[0-9]{1,2}")},
    "H": {2: ("%H", "[0-9]{2}"), 1: ("%-H", "[0-9]{1,2}")}, "m": {2: ("%M", "[0-9]{2}"), 1: ("%-M", "[0-9]{1,2}")},
    "s": {2: ("%S", "[0-9]{2}"), 1: ("%-S", "[0-9]{1,2}")},
    "S": {3: ("%g", "[0-9]{3}"), 6: ("%f", "[0-9]{6}"), 9: ("%n", "[0-9]{9}")},
}
_JDK_TOKEN = re.compile(r"'([^']*)'|([A-Za-z])\2*|(.)", re.DOTALL)


def jdk_date_format(pattern: str) -> tuple[str, str]:
    """A JDK DateTimeFormatter pattern as (DuckDB strptime format, full-match regex of the text).

    Raises ValueError for a field CityShare cannot check (week fields, zones, month names…)."""
    strp, shape = [], []
    for match in _JDK_TOKEN.finditer(pattern):
        quoted, letter, other = match.groups()
        if letter:
            field = _JDK_FIELDS.get(letter, {}).get(len(match.group(0)))
            if field is None:
                raise ValueError(f"unsupported date-time field {match.group(0)!r}")
            strp.append(field[0])
            shape.append(field[1])
            continue
        literal = quoted if quoted is not None else other
        strp.append(literal.replace("%", "%%"))
        shape.append(re.escape(literal))
    return "".join(strp), "".join(shape)


FORMAT_TYPES = ("string", "date", "timestamp", "integer", "number")


def format_ok_sql(expr: str, logical_type: str, fmt: str) -> str | None:
    """True when the raw text ``expr`` has the ODCS ``format`` of its logical type (never NULL); None when the
    format says nothing checkable (string ``password``/``binary``). Raises ValueError for an unknown format."""
    if logical_type == "string":
        if fmt not in STRING_FORMATS:
            raise ValueError(f"string format must be one of {', '.join(STRING_FORMATS)}")
        regex = STRING_FORMATS[fmt]
        return None if regex is None else f"coalesce(regexp_full_match({expr}, {lit(regex)}), false)"
    if logical_type in ("date", "timestamp"):
        strp, shape = jdk_date_format(fmt)
        return (f"coalesce(regexp_full_match({expr}, {lit(shape)}) "
                f"AND try_strptime({expr}, {lit(strp)}) IS NOT NULL, false)")
    casts = INTEGER_FORMATS if logical_type == "integer" else NUMBER_FORMATS if logical_type == "number" else {}
    if fmt not in casts:
        raise ValueError(f"{logical_type} format must be one of {', '.join(casts)}" if casts
                         else f"ODCS defines no format for {logical_type}")
    if logical_type == "integer":
        return f"(try_cast({expr} AS {casts[fmt]}) IS NOT NULL)"
    return f"coalesce(isfinite(try_cast({expr} AS {casts[fmt]})), false)"
