"""What a gate reads of earlier batches: their volumes and accepted files (reference data for its rules).

The quality history the gate writes (``meta.quality_history``) is cityshare.meta.quality.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityshare.settings import Settings
from cityshare.storage import resolved_path


def recent_volumes(con: Any, dataset: str, load_id: str, before: dt.date, limit: int = 60) -> list[int]:
    """Rows landed by the latest accepted batch of each earlier load date, newest first."""
    rows = con.execute(
        """SELECT rows_landed FROM meta.batches
           WHERE dataset = ? AND status = 'accepted' AND load_id <> ? AND load_date < ?
           QUALIFY row_number() OVER (PARTITION BY load_date ORDER BY seq DESC) = 1
           ORDER BY load_date DESC LIMIT ?""",
        [dataset, load_id, before, limit],
    ).fetchall()
    return [int(r[0]) for r in rows]


def accepted_paths(con: Any, dataset: str, settings: Settings) -> list[str]:
    """The accepted Parquet files of a dataset (what its raw view shows): reference data for a gate."""
    rows = con.execute(
        """SELECT accepted_path FROM meta.batches WHERE dataset = ? AND status = 'accepted'
           AND accepted_path IS NOT NULL
           QUALIFY row_number() OVER (PARTITION BY load_date ORDER BY seq DESC) = 1
           ORDER BY load_date""",
        [dataset],
    ).fetchall()
    return [resolved_path(settings, r[0]) or "" for r in rows]
