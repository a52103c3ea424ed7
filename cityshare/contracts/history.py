"""Quality history (质量历史): one row per batch, stage and rule, with GB/T 36344 X = A/B.

``meta.quality_history`` complements ``meta.quality_results`` (kept as it was, other writers insert
into it positionally) with the measures governance staff read: the rate X = A/B, which way it counts
(``rate_kind``: ``pass`` — A are the items meeting the rule; ``fail`` — A are the bad ones, as for
重复率/脏数据出现率), the threshold, the verdict, the duration and the Data Docs page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from cityshare.contracts.gx_runner import RuleResult
from cityshare.meta import batches as meta_batches
from cityshare.settings import Settings
from cityshare.storage import resolved_path
from cityshare.warehouse import insert_rows

DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.quality_history (
    dataset VARCHAR, load_id VARCHAR, stage VARCHAR, rule VARCHAR, level VARCHAR, column_name VARCHAR,
    dimension VARCHAR, dimension_zh VARCHAR, description VARCHAR, evaluated BIGINT, failed BIGINT,
    x_rate DOUBLE, rate_kind VARCHAR, threshold DOUBLE, verdict VARCHAR, duration_ms DOUBLE,
    data_docs_url VARCHAR, error VARCHAR, checked_at TIMESTAMP);
ALTER TABLE meta.quality_history ADD COLUMN IF NOT EXISTS data_docs_url VARCHAR;
"""

COLUMNS = ("dataset", "load_id", "stage", "rule", "level", "column_name", "dimension", "dimension_zh",
           "description", "evaluated", "failed", "x_rate", "rate_kind", "threshold", "verdict", "duration_ms",
           "data_docs_url", "error", "checked_at")


def ensure(con: Any) -> None:
    con.execute(DDL)


def record(con: Any, stage: str, dataset: str, load_id: str, results: Iterable[RuleResult],
           checked_at: dt.datetime, docs: dict[str, str] | None = None) -> None:
    """Replace the history of one batch and stage (a re-gate of the same batch overwrites it)."""
    ensure(con)
    con.execute("DELETE FROM meta.quality_history WHERE dataset = ? AND load_id = ? AND stage = ?",
                [dataset, load_id, stage])
    docs = docs or {}
    rows = [[dataset, load_id, stage, r.rule, r.level, r.column, r.dimension, r.dimension_zh, r.description,
             r.evaluated, r.failed, r.x_rate, r.rate_kind, r.threshold, r.verdict or ("passed" if r.success
             else "failed"), r.duration_ms, docs.get("batch" if r.level == "batch" else "row"), r.error,
             checked_at] for r in results]
    insert_rows(con, "meta.quality_history", rows, COLUMNS)


def recent_volumes(con: Any, dataset: str, load_id: str, before: dt.date, limit: int = 60) -> list[int]:
    """Rows landed by the latest accepted batch of each earlier load date, newest first."""
    return meta_batches.recent_volumes(con, dataset, load_id, before, limit)


def accepted_paths(con: Any, dataset: str, settings: Settings) -> list[str]:
    """The accepted Parquet files of a dataset (what its raw view shows): reference data for a gate."""
    return [resolved_path(settings, path) or "" for path in meta_batches.latest_accepted_paths(con, dataset)]
