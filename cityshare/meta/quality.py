"""``meta.quality_results`` and ``meta.quality_history``: every rule's result per batch and stage, kept.

The gate (cityshare.ingest) and the publish audit (cityshare.publish) record their rule results here; the
directory, the share service, the OpenMetadata sink and the quality reports read them through these functions.

``meta.quality_history`` complements ``meta.quality_results`` (kept as it was) with the measures governance
staff read: the rate X = A/B (GB/T 36344), which way it counts (``rate_kind``: ``pass`` — A are the items meeting
the rule; ``fail`` — A are the bad ones, as for 重复率/脏数据出现率), the threshold, the verdict, the duration and
the Data Docs page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cityshare.sqlexec import insert_rows

if TYPE_CHECKING:  # the contracts layer sits above this one: for type hints only
    from cityshare.gate.gx_runner import RuleResult

# meta.quality_results' columns, named in every insert (cityshare.meta.schema.DDL)
RESULT_COLUMNS = ("dataset", "load_id", "stage", "rule", "level", "column_name", "dimension", "dimension_zh",
                  "description", "evaluated", "failed", "success", "error", "checked_at")

# meta.quality_history's columns, named in every insert
HISTORY_COLUMNS = ("dataset", "load_id", "stage", "rule", "level", "column_name", "dimension", "dimension_zh",
                   "description", "evaluated", "failed", "x_rate", "rate_kind", "threshold", "verdict", "duration_ms",
                   "data_docs_url", "error", "checked_at")

# Rule results with the load date of their batch, only the latest check of every (dataset, load, stage): a batch
# re-gated or a table re-audited with the same content counts once, with its latest results. Audit results
# describe a published table, not a delivery: their load_date is NULL (cityshare.quality.history fills it in).
# Only the columns the gate has always written are selected, so columns added later change nothing for readers.
# Needs meta.quality_results and meta.batches; read by cityshare.quality.history.quality_results.
LATEST_RUN_RESULTS = """WITH q AS (
               SELECT dataset, load_id, stage, rule, level, column_name, dimension, dimension_zh,
                      description, evaluated, failed, success, error, checked_at
               FROM meta.quality_results
               QUALIFY checked_at = max(checked_at) OVER (PARTITION BY dataset, load_id, stage))
           SELECT q.*, b.load_date FROM q
           LEFT JOIN meta.batches b ON b.dataset = q.dataset AND b.load_id = q.load_id AND q.stage = 'gate'
           ORDER BY q.dataset, q.checked_at, q.rule"""


# -- writes ---------------------------------------------------------------------------------------------------------
def insert_results(con: Any, rows: list[list[Any]]) -> None:
    """Insert result rows, each with its values in RESULT_COLUMNS order."""
    insert_rows(con, "meta.quality_results", rows, RESULT_COLUMNS)


def add_results(con: Any, stage: str, runs: Iterable[tuple[str, str, Iterable[RuleResult]]],
                checked_at: dt.datetime) -> None:
    """Add the results of check runs of one stage, each run a (dataset, load id, results), in one insert.

    Nothing is replaced: an audit of a published table adds its results beside the earlier audits (readers take
    the latest check).
    """
    insert_results(con, [[dataset, load_id, stage, r.rule, r.level, r.column, r.dimension, r.dimension_zh,
                          r.description, r.evaluated, r.failed, r.success, r.error, checked_at]
                         for dataset, load_id, results in runs for r in results])


def replace_results(con: Any, stage: str, dataset: str, load_id: str, results: Iterable[RuleResult],
                    checked_at: dt.datetime) -> None:
    """Replace the results of one batch and stage (a re-gate of the same batch overwrites them)."""
    con.execute("DELETE FROM meta.quality_results WHERE dataset = ? AND load_id = ? AND stage = ?",
                [dataset, load_id, stage])
    add_results(con, stage, [(dataset, load_id, results)], checked_at)


def record_history(con: Any, stage: str, dataset: str, load_id: str, results: Iterable[RuleResult],
                   checked_at: dt.datetime, docs: dict[str, str] | None = None) -> None:
    """Replace the history of one batch and stage (a re-gate of the same batch overwrites it).

    ``docs``: the Data Docs page of the batch's validations by level (``batch``, ``row``), as stored paths.
    """
    con.execute("DELETE FROM meta.quality_history WHERE dataset = ? AND load_id = ? AND stage = ?",
                [dataset, load_id, stage])
    docs = docs or {}
    rows = [[dataset, load_id, stage, r.rule, r.level, r.column, r.dimension, r.dimension_zh, r.description,
             r.evaluated, r.failed, r.x_rate, r.rate_kind, r.threshold, r.verdict or ("passed" if r.success
             else "failed"), r.duration_ms, docs.get("batch" if r.level == "batch" else "row"), r.error,
             checked_at] for r in results]
    insert_rows(con, "meta.quality_history", rows, HISTORY_COLUMNS)


# -- reads ----------------------------------------------------------------------------------------------------------
def latest_run(con: Any, dataset: str) -> list[dict[str, Any]]:
    """The results of the dataset's latest check run (gate or audit), failed rules first, as dicts by column name
    (stage, load_id, rule, level, column_name, dimension_zh, description, evaluated, failed, success, checked_at).
    """
    cur = con.execute(
        """SELECT stage, load_id, rule, level, column_name, dimension_zh, description, evaluated, failed, success,
                  checked_at FROM meta.quality_results
           WHERE dataset = ? AND checked_at = (SELECT max(checked_at) FROM meta.quality_results WHERE dataset = ?)
           ORDER BY success, rule""", [dataset, dataset])
    rows = cur.fetchall()
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in rows]


def batch_results(con: Any, dataset: str, load_id: str, stage: str = "gate") -> dict[str, dict[str, Any]]:
    """Rule → its result for one batch and stage (rule, level, column_name, evaluated, failed, success, error), so a
    second checker run on the same batch can be compared rule by rule (tests/unit/test_datacontract_portability.py)."""
    cur = con.execute(
        "SELECT rule, level, column_name, evaluated, failed, success, error FROM meta.quality_results "
        "WHERE dataset = ? AND load_id = ? AND stage = ? ORDER BY rule", [dataset, load_id, stage])
    cols = [d[0] for d in cur.description]
    return {row[0]: dict(zip(cols, row, strict=True)) for row in cur.fetchall()}


def latest_run_summaries(con: Any) -> dict[str, tuple[Any, ...]]:
    """Dataset → (rules, rules passed, checked_at) of its latest check run, for every dataset, in one query
    (meta.quality_results grows with every gate and audit: never one query per dataset)."""
    return {row[0]: tuple(row[1:]) for row in con.execute(
        "SELECT q.dataset, count(*), count(*) FILTER (WHERE q.success), max(q.checked_at) "
        "FROM meta.quality_results q JOIN (SELECT dataset, max(checked_at) AS at "
        "FROM meta.quality_results GROUP BY dataset) l ON q.dataset = l.dataset AND q.checked_at = l.at "
        "GROUP BY q.dataset").fetchall()}


def latest_rule_results(con: Any) -> list[tuple[Any, ...]]:
    """The latest result of every rule of every dataset (gate for sources, audit for published), by dataset and
    rule, as (dataset, rule, level, column_name, dimension, description, evaluated, failed, success, error,
    checked_at)."""
    return list(con.execute(
        "SELECT dataset, rule, level, column_name, dimension, description, evaluated, failed, success, "
        "error, checked_at FROM meta.quality_results "
        "QUALIFY row_number() OVER (PARTITION BY dataset, rule ORDER BY checked_at DESC) = 1 "
        "ORDER BY dataset, rule"
    ).fetchall())
