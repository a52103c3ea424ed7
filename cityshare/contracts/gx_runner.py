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
    """The outcome of one rule on one batch (a row of the quality history).

    ``x_rate`` is GB/T 36344's X = A/B with B = ``evaluated``: for ``rate_kind == "pass"`` A counts the
    items meeting the rule (合格率, 完整率 …); for ``"fail"`` A counts the bad ones (重复率). ``verdict``
    is passed | failed (blocks) | quarantined | warned | skipped | error.
    """

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
    verdict: str = ""
    rate_kind: str = "pass"
    threshold: float | None = None
    duration_ms: float = 0.0
    kind: str = ""

    @property
    def x_rate(self) -> float | None:
        if not self.evaluated:
            return None
        bad = min(self.failed, self.evaluated) / self.evaluated
        return round(bad if self.rate_kind == "fail" else 1.0 - bad, 6)


def skipped(rule: Rule) -> RuleResult:
    """A rule that cannot be evaluated yet (no history, no reference data): recorded, never blocks."""
    return RuleResult(rule.name, rule.level, rule.dimension, rule.dimension_zh, rule.column,
                      f"{rule.description}（{rule.skip_reason}）", 0, 0, True, verdict="skipped",
                      rate_kind=rule.rate_kind, kind=rule.kind)


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
    return run_suite(rules, relation_sql, row_count)[0]


def run_suite(rules: list[Rule], relation_sql: str, row_count: int, flags: dict[str, str] | None = None,
              name: str = "cityshare") -> tuple[list[RuleResult], dict[str, Any] | None]:
    """One GX validation run; returns the rule results and the GX validation result as JSON.

    With ``flags`` (rule name → boolean column of ``relation_sql``) a rule is evaluated as "rows whose
    flag is set": the gate computes every row rule's flag in one DuckDB pass and GX counts them.
    """
    import time

    import great_expectations as gx

    pending = [r for r in rules if r.skip_reason is None]
    results = [skipped(r) for r in rules if r.skip_reason is not None]
    validation_json: dict[str, Any] | None = None
    if pending:
        started = time.perf_counter()
        context = _context()
        n = next(_counter)
        source = context.data_sources.add_sql(name=f"{name}_{n}", connection_string="duckdb:///:memory:")
        try:
            asset = source.add_query_asset(name="batch", query=relation_sql)
            batch = asset.add_batch_definition_whole_table("whole")
            expectations = [r.flag_expectation(flags[r.name]) if flags and r.name in flags else r.expectation()
                            for r in pending]
            suite = context.suites.add(gx.ExpectationSuite(name=f"{name}_{n}", expectations=expectations))
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"validation_{n}", data=batch, suite=suite)
            )
            outcome = validation.run(result_format="SUMMARY")
            context.validation_definitions.delete(f"validation_{n}")
            context.suites.delete(f"{name}_{n}")
        finally:
            context.data_sources.delete(f"{name}_{n}")
        elapsed = (time.perf_counter() - started) * 1000
        validation_json = outcome.to_json_dict()
        by_name = {r.name: r for r in pending}
        for res in outcome.results:
            rule = by_name[res.expectation_config.meta["rule"]]
            results.append(_result(rule, res, row_count, elapsed))
    order = {r.name: i for i, r in enumerate(rules)}
    return sorted(results, key=lambda r: order[r.rule]), validation_json


def _result(rule: Rule, res: Any, row_count: int, elapsed_ms: float) -> RuleResult:
    """Translate one GX expectation result into a quality-history row."""
    info = res.result or {}
    error = _exception(res.exception_info)
    success = bool(res.success)
    failed = info.get("unexpected_count")
    evaluated = info.get("element_count") or row_count
    if rule.kind == "extra_columns":  # missing columns are reported by column_present:*
        extra = (info.get("details") or {}).get("mismatched", {}).get("unexpected") or []
        failed, evaluated, success = len(extra), len(rule.params["expected"]) + len(extra), not extra
    elif rule.kind in ("column_exists", "row_count_min", "volume", "freshness"):
        failed, evaluated = (0 if success else 1), 1
    elif failed is None:
        failed = int(info.get("observed_value") or 0)
    if rule.kind == "retyped":  # failing values only count once above the tolerated share
        failed = int(info.get("observed_value") or 0)
    success = success and error is None
    return RuleResult(
        rule=rule.name, level=rule.level, dimension=rule.dimension, dimension_zh=rule.dimension_zh,
        column=rule.column, description=rule.description, evaluated=int(evaluated), failed=int(failed),
        success=success, error=error, verdict="error" if error else ("passed" if success else "failed"),
        rate_kind=rule.rate_kind, duration_ms=round(elapsed_ms, 1), kind=rule.kind,
    )
