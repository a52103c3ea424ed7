"""What a gate reads of earlier batches' accepted files (reference data for its rules); their volumes are
cityshare.meta.batches.recent_volumes.

The quality history the gate writes (``meta.quality_history``) is cityshare.meta.quality.
"""

from __future__ import annotations

from typing import Any

from cityshare.meta import batches as meta_batches
from cityshare.settings import Settings
from cityshare.storage import resolved_path


def accepted_paths(con: Any, dataset: str, settings: Settings) -> list[str]:
    """The accepted Parquet files of a dataset (what its raw view shows): reference data for a gate."""
    return [resolved_path(settings, path) or "" for path in meta_batches.latest_accepted_paths(con, dataset)]
