"""``meta.batches`` and the tables beside it: which batches a gate accepted, in what order, and what views read them.

The gate (cityshare.ingest) records its decision here; builds, raw views, reports and recovery read it through
these functions, by column name.
"""

from __future__ import annotations

from typing import Any

from cityshare.meta.schema import BATCH_COLUMNS
from cityshare.sqlexec import insert_rows

# The latest accepted batch of each dataset and load date: what a raw view reads (a load date gated again
# replaces its batch). "Latest" is the commit sequence ``seq`` (next_batch_seq), never ``gated_at``: a worker
# whose clock is slow would otherwise gate a correction that never becomes current. cityshare.build_state
# fingerprints the same rows.
LATEST_ACCEPTED = """
    SELECT dataset, load_id, load_date, accepted_path, rows_accepted, seq FROM meta.batches
    WHERE status = 'accepted'
    QUALIFY row_number() OVER (PARTITION BY dataset, load_date ORDER BY seq DESC) = 1
"""

def next_batch_seq(con: Any) -> int:
    """The commit sequence for a batch decision being recorded: one more than any before.

    Called inside the transaction that inserts the batch row; DuckDB admits one writing process per
    file, so no two commits can draw the same number, whatever their clocks say.
    """
    return int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM meta.batches").fetchone()[0])




def batch_status(con: Any, dataset: str, load_id: str) -> str | None:
    """The recorded status of one batch (``accepted``, ``blocked``, ``retracted``…), None when it has none."""
    row = con.execute("SELECT status FROM meta.batches WHERE dataset = ? AND load_id = ?", [dataset, load_id]).fetchone()
    return row[0] if row else None


def record_batch(con: Any, values: dict[str, Any]) -> None:
    """Record one batch decision, replacing an earlier one of the same batch; ``values`` by column name
    (BATCH_COLUMNS), the commit sequence ``seq`` drawn here."""
    con.execute("DELETE FROM meta.batches WHERE dataset = ? AND load_id = ?", [values["dataset"], values["load_id"]])
    row = {**values, "seq": next_batch_seq(con)}
    unknown = set(row) - set(BATCH_COLUMNS)
    if unknown:
        raise ValueError(f"meta.batches has no column {sorted(unknown)}")
    names = tuple(name for name in BATCH_COLUMNS if name in row)
    insert_rows(con, "meta.batches", [[row[name] for name in names]], names)


def record_content(con: Any, dataset: str, load_id: str, content_hash: str | None) -> None:
    """What an accepted batch holds, whatever its path (None: nothing accepted): a daily snapshot repeating the last
    one changes no model, so a build need not run for it (cityshare.build_state.source_fingerprints)."""
    con.execute("DELETE FROM meta.batch_contents WHERE dataset = ? AND load_id = ?", [dataset, load_id])
    if content_hash is not None:
        insert_rows(con, "meta.batch_contents", [[dataset, load_id, content_hash]], ("dataset", "load_id", "content_hash"))


def latest_accepted(con: Any, dataset: str) -> list[tuple[str, str, int]]:
    """(load id, accepted file as stored, commit sequence) of the batch a raw view reads per load date, oldest day
    first."""
    return [(load_id, path, int(seq)) for load_id, path, seq in con.execute(
        f"SELECT load_id, accepted_path, seq FROM ({LATEST_ACCEPTED}) WHERE dataset = ? ORDER BY load_date",
        [dataset]).fetchall()]


def latest_accepted_by_dataset(con: Any) -> dict[str, list[tuple[str, str, int]]]:
    """latest_accepted for every dataset with an accepted batch, in one query."""
    return {dataset: [(i, p, int(q)) for i, p, q in zip(ids, paths, seqs, strict=True)]
            for dataset, ids, paths, seqs in con.execute(
                f"SELECT dataset, list(load_id ORDER BY load_date), list(accepted_path ORDER BY load_date), "
                f"list(seq ORDER BY load_date) FROM ({LATEST_ACCEPTED}) GROUP BY dataset").fetchall()}


def record_view_batches(con: Any, raw_table: str, load_ids: list[str]) -> None:
    """The batches a raw view reads, as rows (the incremental models compare them with the batches they processed,
    dbt_project/macros/incremental.sql, without scanning the Parquet files' _load_id column)."""
    con.execute("DELETE FROM meta.raw_view_batches WHERE raw_table = ?", [raw_table])
    if load_ids:
        insert_rows(con, "meta.raw_view_batches", [[raw_table, load_id] for load_id in load_ids],
                    ("raw_table", "load_id"))


def view_batches(con: Any) -> dict[str, list[str]]:
    """The batches on record per raw view (record_view_batches)."""
    return dict(con.execute("SELECT raw_table, list(load_id) FROM meta.raw_view_batches GROUP BY raw_table").fetchall())
