"""``meta.batches`` and the tables beside it: which batches a gate accepted, in what order, and what views read them.

The gate (cityshare.ingest) records its decision here; builds, raw views, reports and recovery read it through
these functions, by column name.
"""

from __future__ import annotations

import datetime as dt
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


def accepted_files(con: Any) -> list[tuple[str, str | None, int]]:
    """(dataset, accepted file as stored, commit sequence) of every batch a raw view reads, by dataset and load date:
    an engine other than DuckDB (cityshare.spark_engine) reads the same files as the raw views."""
    return [(dataset, path, int(seq)) for dataset, path, seq in con.execute(
        f"SELECT dataset, accepted_path, seq FROM ({LATEST_ACCEPTED}) ORDER BY dataset, load_date").fetchall()]


def content_fingerprints(con: Any) -> dict[str, str]:
    """Dataset → md5 of the non-empty accepted batches its raw view reads, leaving out a batch whose content hash
    (record_content) repeats that of the dataset's previous non-empty batch by load date.

    An empty batch adds no row and a repeated snapshot changes no value in any standard model (each keeps the
    latest row per key), so neither changes the fingerprint; a load date gated again changes the path and so the
    fingerprint. A dataset without such a batch is absent (cityshare.build_state.source_fingerprints)."""
    return dict(con.execute(f"""
        WITH batches AS (
            SELECT b.dataset, b.load_date, b.accepted_path, c.content_hash,
                   lag(c.content_hash) OVER (PARTITION BY b.dataset ORDER BY b.load_date) AS previous_hash
            FROM ({LATEST_ACCEPTED}) AS b
            LEFT JOIN meta.batch_contents AS c ON c.dataset = b.dataset AND c.load_id = b.load_id
            WHERE b.rows_accepted > 0)
        SELECT dataset, md5(coalesce(string_agg(accepted_path, '|' ORDER BY load_date)
                                     FILTER (WHERE content_hash IS DISTINCT FROM previous_hash
                                             OR content_hash IS NULL), ''))
        FROM batches GROUP BY dataset""").fetchall())


def latest_accepted_paths(con: Any, dataset: str) -> list[str | None]:
    """The accepted files as stored of a dataset's latest accepted batch per load date (what its raw view shows),
    oldest day first: the reference data a gate compares a new batch with."""
    return [r[0] for r in con.execute(
        """SELECT accepted_path FROM meta.batches WHERE dataset = ? AND status = 'accepted'
           AND accepted_path IS NOT NULL
           QUALIFY row_number() OVER (PARTITION BY load_date ORDER BY seq DESC) = 1
           ORDER BY load_date""",
        [dataset],
    ).fetchall()]


def recent_volumes(con: Any, dataset: str, load_id: str, before: dt.date, limit: int = 60) -> list[int]:
    """Rows landed by the latest accepted batch of each load date before ``before`` (other than ``load_id``),
    newest first: the volume history a gate judges a new batch's size against."""
    rows = con.execute(
        """SELECT rows_landed FROM meta.batches
           WHERE dataset = ? AND status = 'accepted' AND load_id <> ? AND load_date < ?
           QUALIFY row_number() OVER (PARTITION BY load_date ORDER BY seq DESC) = 1
           ORDER BY load_date DESC LIMIT ?""",
        [dataset, load_id, before, limit],
    ).fetchall()
    return [int(r[0]) for r in rows]


def newest_accepted_load_dates(con: Any) -> dict[str, dt.date]:
    """Dataset → the newest load date it has an accepted batch for: how late its deliveries are (freshness, alerts)."""
    return dict(con.execute("SELECT dataset, max(load_date) FROM meta.batches WHERE status = 'accepted' "
                            "GROUP BY dataset").fetchall())


def accepted_datasets(con: Any) -> set[str]:
    """The datasets with at least one accepted batch (one never delivered has nothing to publish yet)."""
    return {r[0] for r in con.execute("SELECT DISTINCT dataset FROM meta.batches WHERE status = 'accepted'").fetchall()}


def accepted_load_ids(con: Any, dataset: str) -> set[str]:
    """The load ids of a dataset's accepted batches, whatever their load date."""
    return {r[0] for r in con.execute("SELECT load_id FROM meta.batches WHERE dataset = ? AND status = "
                                      "'accepted'", [dataset]).fetchall()}


def accepted_totals(con: Any) -> dict[str, tuple[Any, ...]]:
    """Dataset → (rows accepted over all its accepted batches, when the latest was gated): a directory entry's facts."""
    return {row[0]: tuple(row[1:]) for row in con.execute(
        "SELECT dataset, sum(rows_accepted), max(gated_at) FROM meta.batches "
        "WHERE status = 'accepted' GROUP BY dataset").fetchall()}


def dataset_totals(con: Any) -> list[tuple[Any, ...]]:
    """(dataset, batches, rows landed, accepted, quarantined, blocked batches) per dataset, in dataset order, every
    batch counted whatever its status (the demo's summary)."""
    rows: list[tuple[Any, ...]] = con.execute(
        """SELECT dataset, count(*) AS batches, sum(rows_landed) AS landed,
                  sum(rows_accepted) AS accepted, sum(rows_quarantined) AS quarantined,
                  count(*) FILTER (WHERE status = 'blocked') AS blocked
           FROM meta.batches GROUP BY dataset ORDER BY dataset"""
    ).fetchall()
    return rows


def first_load_date(con: Any) -> dt.date | None:
    """The earliest load date of any recorded batch (None: none yet), where a report period may begin."""
    row = con.execute("SELECT min(load_date) AS d FROM meta.batches").fetchone()
    return row[0] if row else None


def gated_batches(con: Any, start: dt.date | None = None, end: dt.date | None = None) -> list[dict[str, Any]]:
    """Gated batches (accepted and blocked) by column name, with their load date in [start, end] if given, by load
    date, dataset and gate time.

    Only the columns reports read, selected by name: a warehouse opened read-only and not yet migrated has no
    ``delivered_at``, and its rows then have none."""
    where, params = "", []
    if start is not None and end is not None:
        where, params = "WHERE load_date BETWEEN ? AND ?", [start, end]
    cur = con.execute(
        f"""SELECT COLUMNS(lambda c: c IN ('dataset', 'load_id', 'load_date', 'source', 'quarantine_path', 'rows_landed',
                   'rows_accepted', 'rows_quarantined', 'status', 'reason', 'gated_at', 'delivered_at'))
            FROM meta.batches {where} ORDER BY load_date, dataset, gated_at""",
        params)
    return _dicts(cur)


def quarantine_of(con: Any, dataset: str, load_id: str) -> dict[str, Any] | None:
    """Where one batch's quarantined rows are (as stored), with its load date, status and count; None: no such batch."""
    rows = _dicts(con.execute("SELECT quarantine_path, load_date, status, rows_quarantined FROM meta.batches "
                              "WHERE dataset = ? AND load_id = ?", [dataset, load_id]))
    return rows[0] if rows else None


def batches_of_load_id(con: Any, load_id: str, dataset: str | None = None) -> list[tuple[str, str]]:
    """(dataset, status) of the batches with this load id (in ``dataset`` only, if given), by dataset: a load id
    alone may name batches of several datasets."""
    return [(d, s) for d, s in con.execute(
        "SELECT dataset, status FROM meta.batches WHERE load_id = ? AND (? IS NULL OR dataset = ?) "
        "ORDER BY dataset", [load_id, dataset, dataset]).fetchall()]


def set_status(con: Any, dataset: str, load_id: str, status: str) -> None:
    """Change one batch's recorded status in place (a retraction or restore; its commit sequence stays)."""
    con.execute("UPDATE meta.batches SET status = ? WHERE dataset = ? AND load_id = ?", [status, dataset, load_id])


def record_action(con: Any, dataset: str, load_id: str, action: str, reason: str, actor: str,
                  acted_at: dt.datetime) -> None:
    """Record an operator's retraction or restore of a batch (who, when, why), numbered after every earlier one."""
    seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM meta.batch_actions").fetchone()[0]
    insert_rows(con, "meta.batch_actions", [[dataset, load_id, action, reason, actor, acted_at, seq]],
                ("dataset", "load_id", "action", "reason", "actor", "acted_at", "seq"))


def latest_actions(con: Any, limit: int = 50) -> list[dict[str, Any]]:
    """The latest retractions and restores by column name, newest first."""
    return _dicts(con.execute("SELECT dataset, load_id, action, reason, actor, acted_at FROM meta.batch_actions "
                              "ORDER BY seq DESC LIMIT ?", [limit]))


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
