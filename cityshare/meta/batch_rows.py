"""One batch's rows across the ``meta`` tables — its decision, content hash, gate quality results and history,
watermark and retractions — read and written whole, for the batch journal (cityshare.journal) that makes the
warehouse rebuildable from the lake."""

from __future__ import annotations

from typing import Any

from cityshare.sqlexec import insert_rows

# meta table → which of its rows describe one batch (parameters: dataset, load id), in the journal's order
TABLES: dict[str, str] = {
    "batches": "dataset = ? AND load_id = ?",
    "batch_contents": "dataset = ? AND load_id = ?",
    "quality_results": "dataset = ? AND load_id = ? AND stage = 'gate'",
    "quality_history": "dataset = ? AND load_id = ? AND stage = 'gate'",
    "watermarks": "dataset = ? AND load_id = ?",
    "batch_actions": "dataset = ? AND load_id = ?",
}


def _present(con: Any) -> set[str]:
    """The tables this warehouse has (one restored from an old backup may lack a later one)."""
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'meta'").fetchall()}


def read(con: Any, dataset: str, load_id: str) -> dict[str, dict[str, list[Any]]]:
    """table → {"columns": names, "rows": rows} of one batch, every column, for each table the warehouse has."""
    present, record = _present(con), {}
    for table, where in TABLES.items():
        if table in present:
            cur = con.execute(f"SELECT * FROM meta.{table} WHERE {where}", [dataset, load_id])
            record[table] = {"columns": [d[0] for d in cur.description], "rows": [list(r) for r in cur.fetchall()]}
    return record


def replace(con: Any, dataset: str, load_id: str, record: dict[str, dict[str, list[Any]]]) -> None:
    """Put one batch's rows (as ``read`` returned them, values possibly as JSON gave them back) into the warehouse
    in place of what it holds of that batch, by column name; tables it lacks, or no longer knows, are skipped."""
    present = _present(con)
    for table, part in record.items():
        if table in TABLES and table in present and part["rows"]:
            con.execute(f"DELETE FROM meta.{table} WHERE {TABLES[table]}", [dataset, load_id])
            insert_rows(con, f"meta.{table}", part["rows"], tuple(part["columns"]))
