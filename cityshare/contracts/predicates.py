"""SQL predicates on raw (text) values that both the rule compiler (rules) and the GX expectations
(gx_expectations) use: a proper value of a logical type, a cell a spreadsheet would run as a formula."""

from __future__ import annotations

from cityshare.sqlquote import lit

# Logical type → SQL true when a raw (text) value is a proper value of that type. Stricter than a bare
# TRY_CAST: DuckDB casts '12.5' to BIGINT 13 and 'inf' to DATE 9999-12-31.
TYPE_OK = {
    "integer": "try_cast({c} AS DOUBLE) = try_cast({c} AS BIGINT)",
    "number": "isfinite(try_cast({c} AS DOUBLE))",
    "date": "isfinite(try_cast({c} AS DATE))",
    "timestamp": "isfinite(try_cast({c} AS TIMESTAMP))",
    "boolean": "try_cast({c} AS BOOLEAN) IS NOT NULL",
}


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
