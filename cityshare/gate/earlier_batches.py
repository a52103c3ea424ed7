"""What a gate reads of earlier batches: their volumes and accepted files (reference data for its rules).

The quality history the gate writes (``meta.quality_history``) is cityshare.meta.quality.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityshare.meta import batches as meta_batches
from cityshare.settings import Settings
from cityshare.storage import resolved_path


def recent_volumes(con: Any, dataset: str, load_id: str, before: dt.date, limit: int = 60) -> list[int]:
    """Rows landed by the latest accepted batch of each earlier load date, newest first."""
    return meta_batches.recent_volumes(con, dataset, load_id, before, limit)


def accepted_paths(con: Any, dataset: str, settings: Settings) -> list[str]:
    """The accepted Parquet files of a dataset (what its raw view shows): reference data for a gate."""
    return [resolved_path(settings, path) or "" for path in meta_batches.latest_accepted_paths(con, dataset)]
