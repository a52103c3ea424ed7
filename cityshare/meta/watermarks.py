"""``meta.watermarks``: the window of rows each database extract read, counted once its batch is accepted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityshare.settings import Settings
from cityshare.warehouse import connect


def record_window(con: Any, dataset: str, load_date: Any, load_id: str, column: str, low: str | None,
                  high: str | None, rows: int, recorded_at: dt.datetime) -> None:
    """Remember the window a database extract read, in the transaction that records its batch's gate decision
    (cityshare.ingest); it counts only once that batch is accepted (committed_watermark)."""
    con.execute("DELETE FROM meta.watermarks WHERE dataset = ? AND load_id = ?", [dataset, load_id])
    con.execute("INSERT INTO meta.watermarks (dataset, load_date, load_id, watermark_column, low_value, high_value, "
                "rows, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [dataset, load_date, load_id, column, low, high, rows, recorded_at])


def committed_watermark(settings: Settings, dataset: str, before: Any) -> str | None:
    """The highest watermark of the source's accepted batches for load dates before ``before``.

    Joined with ``meta.batches``: a window whose batch was blocked, or never gated (a crash after
    landing), does not advance the watermark, so its rows are read again by the next load.
    """
    with connect(settings) as con:
        row = con.execute(
            """SELECT max(w.high_value) FROM meta.watermarks w
               JOIN meta.batches b ON b.dataset = w.dataset AND b.load_id = w.load_id AND b.status = 'accepted'
               WHERE w.dataset = ? AND w.load_date < ?""",
            [dataset, before],
        ).fetchone()
    return row[0] if row else None
