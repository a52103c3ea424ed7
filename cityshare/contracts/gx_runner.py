"""Run compiled rules as a Great Expectations 1.x suite, SQL pushed down to DuckDB.

GX 1.24 on duckdb-engine loses results when a pooled connection is returned before fetching (GX issue
#10738); registering duckdb as a persisted-connection dialect (the treatment sqlite gets) fixes it.
Each run uses a private in-memory DuckDB whose batch is a query over Parquet, so gates never take the
warehouse's write lock.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from cityshare.contracts.rules import Rule

_counter = itertools.count()


@dataclass
class RuleResult:
    """The outcome of one rule on one batch (a row of the quality history)."""

    rule: str
    level: str
    dimension: str
    dimension_zh: str
    column: str | None
    description: str
    evaluated: int
    failed: int
    success: bool
    error: str | None = None


def _exception(info: Any) -> str | None:
    """The first raised exception in GX's exception_info (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:500]
    for value in info.values():
        found = _exception(value) if isinstance(value, dict) else None
        if found:
            return found
    return None


class _DuckDBDialect(str):
    """A dialect name GX can compare with its enum (it reads ``.value``)."""

    @property
    def value(self) -> str:
        return str(self)


@cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine

    if "duckdb" not in engine._PERSISTED_CONNECTION_DIALECTS:
        engine._PERSISTED_CONNECTION_DIALECTS = (
            *engine._PERSISTED_CONNECTION_DIALECTS,
            _DuckDBDialect("duckdb"),
        )
    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_rules(rules: list[Rule], relation_sql: str, row_count: int) -> list[RuleResult]:
    """Validate ``relation_sql`` (a SELECT) against ``rules``; one GX validation run."""
    if not rules:
        return []
    import great_expectations as gx

    context = _context()
    n = next(_counter)
    source = context.data_sources.add_sql(name=f"cityshare_{n}", connection_string="duckdb:///:memory:")
    try:
        asset = source.add_query_asset(name="batch", query=relation_sql)
        batch = asset.add_batch_definition_whole_table("whole")
        suite = context.suites.add(
            gx.ExpectationSuite(name=f"suite_{n}", expectations=[r.expectation() for r in rules])
        )
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"validation_{n}", data=batch, suite=suite)
        )
        outcome = validation.run(result_format="SUMMARY")
        context.validation_definitions.delete(f"validation_{n}")
        context.suites.delete(f"suite_{n}")
    finally:
        context.data_sources.delete(f"cityshare_{n}")
    by_name = {r.name: r for r in rules}
    results: list[RuleResult] = []
    for res in outcome.results:
        rule = by_name[res.expectation_config.meta["rule"]]
        info = res.result or {}
        error = _exception(res.exception_info)
        failed = info.get("unexpected_count")
        if failed is None:
            observed = info.get("observed_value")
            failed = int(observed) if rule.kind not in ("row_count_min", "column_exists") and observed else 0
            if rule.level == "batch" and not res.success:
                failed = 1
        evaluated = info.get("element_count") or (1 if rule.level == "batch" else row_count)
        results.append(
            RuleResult(
                rule=rule.name, level=rule.level, dimension=rule.dimension, dimension_zh=rule.dimension_zh,
                column=rule.column, description=rule.description, evaluated=int(evaluated),
                failed=int(failed), success=bool(res.success) and error is None, error=error,
            )
        )
    order = {r.name: i for i, r in enumerate(rules)}
    return sorted(results, key=lambda r: order[r.rule])
