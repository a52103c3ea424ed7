"""Cells a spreadsheet opens safely (CSV/XLSX formula injection, 公式注入).

Every export of rows (share) and of the directory (directory) passes text cells through here: a cell that
starts with ``= + - @ TAB CR`` gets a leading ``'`` so Excel or WPS shows it as text and never runs it.
The gate's ``formula`` rule (``contracts.rules``) flags such values at load time; this is the last line.
"""

from __future__ import annotations

from typing import Any

FORMULA_LEAD = "=+-@\t\r"


def defuse_cell(value: Any) -> Any:
    """One cell for a CSV/XLSX export: text starting with = + - @ TAB CR gets a leading ``'``."""
    return "'" + value if isinstance(value, str) and value[:1] and value[0] in FORMULA_LEAD else value


def defuse_formulas(batch: Any) -> Any:
    """Prefix ``'`` to text cells starting with = + - @ TAB CR: a spreadsheet opening the CSV must
    show them as text, never run them as formulas (CSV injection, ``=cmd|' /C calc'!A0``)."""
    import re

    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    lead = "^[" + re.escape(FORMULA_LEAD) + "]"
    for column in batch.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.fill_null(pc.match_substring_regex(column, lead), False)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
