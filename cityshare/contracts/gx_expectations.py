"""CityShare's own Great Expectations 1.x expectations, for the checks GX has no built-in for.

Each is a proper ``ColumnMapExpectation`` backed by a column-map metric with a SQLAlchemy condition, so
GX computes unexpected counts, percentages, sample values and their ``_source_row`` itself and Data Docs
render them like any built-in expectation. The condition is the same DuckDB SQL the gate uses to flag the
rows for quarantine (one definition: ``cityshare.identifiers`` and ``rules.py``), so the counts agree.

Importing this module registers the expectations and metrics with GX (the gate and the Data Docs step
import it before building or loading a suite).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import sqlalchemy as sa
from great_expectations.core.metric_domain_types import MetricDomainTypes
from great_expectations.execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations import UnexpectedRowsExpectation
from great_expectations.expectations.expectation import BatchExpectation, ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)
from great_expectations.expectations.metrics.metric_provider import metric_value
from great_expectations.expectations.metrics.table_metric_provider import TableMetricProvider
from great_expectations.render import LegacyDiagnosticRendererType, RenderedTableContent
from great_expectations.render.renderer.renderer import renderer

from cityshare.contracts.predicates import (
    cast_fails_sql,
    code_list_sql,
    format_ok_sql,
    formula_sql,
    reference_sql,
    type_ok_sql,
)
from cityshare.identifiers import id_number_sql, mobile_sql, uscc_sql
from cityshare.sqlquote import lit, q


def _metric(name: str, valid: Callable[..., str], value_keys: tuple[str, ...] = ()) -> str:
    """Register a column-map metric whose per-value condition is the DuckDB SQL ``valid(column, **values)``.

    With the expectation's ``flag`` (a boolean column of the batch, true where the row fails this rule) the
    condition reads that flag instead: the gate evaluates every rule's condition once, in its DuckDB pass, and
    GX's count, samples and source rows (three queries for a failing rule) then need not evaluate it again —
    ≈ 15 ms a query for a check-digit or code-list condition on an 18,000-row batch."""

    def condition(cls: type, column: sa.ColumnClause[Any], **kwargs: object) -> sa.ColumnElement[bool]:
        if kwargs.get("flag"):
            return sa.literal_column(f"(NOT {q(str(kwargs['flag']))})", sa.Boolean)
        values = {key: kwargs[key] for key in value_keys}
        return sa.literal_column(f"({valid(q(column.name), **values)})", sa.Boolean)

    metric_name = f"column_values.cityshare_{name}"
    type(f"CityShare{name.title().replace('_', '')}Metric", (ColumnMapMetricProvider,), {
        "condition_metric_name": metric_name,
        "condition_value_keys": (*value_keys, "flag"),
        "_sqlalchemy": column_condition_partial(engine=SqlAlchemyExecutionEngine)(condition),
    })
    return metric_name


_LIBRARY = {"maturity": "experimental", "tags": ["cityshare"], "contributors": ["@cityshare"], "requirements": []}


class CityShareColumnExpectation(ColumnMapExpectation):
    """A CityShare column expectation; ``flag`` (optional) names the batch's precomputed verdict of the rule
    (see ``_metric``)."""

    flag: str | None = None
    success_keys: ClassVar[tuple[str, ...]] = ("flag", "mostly")


class ExpectColumnValuesToFullyMatchRegex(CityShareColumnExpectation):
    """Whole values match the regular expression (RE2, DuckDB ``regexp_full_match``). GX's own
    ``ExpectColumnValuesToMatchRegex`` searches within the value and has no DuckDB dialect."""

    regex: str
    map_metric: ClassVar[str] = _metric("full_match_regex",
                                        lambda c, regex: f"regexp_full_match(CAST({c} AS VARCHAR), {lit(regex)})",
                                        ("regex",))
    success_keys: ClassVar[tuple[str, ...]] = ("regex", "flag", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "regex")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToBeValidResidentId(CityShareColumnExpectation):
    """Values are valid GB 11643-1999 citizen ID numbers (公民身份号码): structure, a real birth date from
    1900 to today, check digit."""

    map_metric: ClassVar[str] = _metric("valid_resident_id", id_number_sql)
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToBeValidUscc(CityShareColumnExpectation):
    """Values are valid GB 32100-2015 unified social credit codes (统一社会信用代码): authority and category
    codes, region, organization code check, check character."""

    map_metric: ClassVar[str] = _metric("valid_uscc", uscc_sql)
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToBeValidMobile(CityShareColumnExpectation):
    """Values are mainland China mobile numbers (手机号码)."""

    map_metric: ClassVar[str] = _metric("valid_mobile", mobile_sql)
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToNotBeSpreadsheetFormulas(CityShareColumnExpectation):
    """Text values must not start like a spreadsheet formula (= + - @ TAB CR; 公式注入)."""

    map_metric: ClassVar[str] = _metric("not_formula", lambda c: f"NOT {formula_sql(c)}")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToBeOfLogicalType(CityShareColumnExpectation):
    """Raw text values are proper values of the contract's ODCS ``logicalType`` (integer, number, date,
    timestamp, boolean)."""

    logical_type: str
    map_metric: ClassVar[str] = _metric("logical_type", type_ok_sql, ("logical_type",))
    success_keys: ClassVar[tuple[str, ...]] = ("logical_type", "flag", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "logical_type")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


def _format_ok(column: str, logical_type: str, format: str) -> str:
    return format_ok_sql(column, logical_type, format) or "true"


class ExpectColumnValuesToCast(CityShareColumnExpectation):
    """Raw text values cast to the DuckDB type a contract's ``castTo`` names (DATE, TIMESTAMP, BIGINT …)."""

    cast: str
    map_metric: ClassVar[str] = _metric("cast", lambda c, cast: f"NOT {cast_fails_sql(c, cast)}", ("cast",))
    success_keys: ClassVar[tuple[str, ...]] = ("cast", "flag", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "cast")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToExistInReferenceDataset(CityShareColumnExpectation):
    """Values exist in another source's accepted batches (参照完整性, e.g. a case's shop in 市场主体登记)."""

    files: list[str]
    reference_column: str
    map_metric: ClassVar[str] = _metric("in_reference_dataset",
                                        lambda c, files, reference_column: f"{c} IN ({reference_sql(files, reference_column)})",
                                        ("files", "reference_column"))
    success_keys: ClassVar[tuple[str, ...]] = ("files", "reference_column", "flag", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "files", "reference_column")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToBeInCodeList(CityShareColumnExpectation):
    """Values are codes of a code list (代码表: a seed, or the list received from a higher instance), which DuckDB
    reads from its CSV file(s) inside the query. The codes stay out of the expectation's configuration: GX
    re-serialises an expectation's configuration dozens of times per validation, and with the 1,031 street codes
    in GX's in-set expectation that copying was the gate's largest cost (bench/results/gate_fixed.md)."""

    code_list: str
    files: list[str]
    reference_columns: list[str]
    map_metric: ClassVar[str] = _metric(
        "in_code_list", lambda c, code_list, files, reference_columns: f"{c} IN ({code_list_sql(files, reference_columns)})",
        ("code_list", "files", "reference_columns"))
    success_keys: ClassVar[tuple[str, ...]] = ("code_list", "files", "reference_columns", "flag", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "code_list")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class ExpectColumnValuesToHaveLogicalFormat(CityShareColumnExpectation):
    """Raw text values have the ODCS ``logicalTypeOptions.format`` of their logical type (格式): a string's kind
    (email, uuid, uri, hostname, ipv4, ipv6, byte), a date/timestamp's JDK pattern, an integer's or number's width."""

    logical_type: str
    format: str
    map_metric: ClassVar[str] = _metric("logical_format", _format_ok, ("logical_type", "format"))
    success_keys: ClassVar[tuple[str, ...]] = ("logical_type", "format", "flag", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "logical_type", "format")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY


class UnexpectedRowsWithSamplesExpectation(UnexpectedRowsExpectation):
    """GX's ``UnexpectedRowsExpectation`` that also keeps the first rows its query returned (source row and
    the rule's column) in a SUMMARY result; GX's own keeps them only in COMPLETE, which for column
    expectations would list every unexpected value of a large batch."""

    samples: ClassVar[int] = 20

    def _validate(self, metrics: dict[str, Any], runtime_configuration: dict[str, Any] | None = None,
                  execution_engine: Any = None) -> Any:
        outcome = super()._validate(metrics, runtime_configuration, execution_engine)
        if isinstance(outcome, dict) and "result" in outcome and "details" not in outcome["result"]:
            rows = metrics["unexpected_rows_query.table"] or []
            outcome["result"]["details"] = {"unexpected_rows": list(rows)[: self.samples]}
        return outcome

    @classmethod
    @renderer(renderer_type=LegacyDiagnosticRendererType.UNEXPECTED_TABLE)
    def _diagnostic_unexpected_table_renderer(cls, configuration: Any = None, result: Any = None,
                                              runtime_configuration: dict[str, Any] | None = None) -> Any:
        """Data Docs: the sample rows (源文件行号 source row and the rule's column) under the rule, as column
        expectations show their sample unexpected values (GX's own renderer shows only the count)."""
        return sample_rows_table((result.result or {}) if result is not None else {})


def sample_rows_table(result: dict[str, Any]) -> list[Any] | None:
    """The Data Docs table of the sample rows in one stored result of :class:`UnexpectedRowsWithSamplesExpectation`."""
    rows = [r for r in ((result.get("details") or {}).get("unexpected_rows") or []) if isinstance(r, dict)]
    if not rows:
        return None
    header = list(dict.fromkeys(key for row in rows for key in row))
    return [RenderedTableContent(content_block_type="table", header_row=header,
                                 table=[[_cell(row.get(key)) for key in header] for row in rows],
                                 styling={"body": {"classes": ["table-bordered", "table-sm", "mt-3"]}})]


def _cell(value: Any) -> str:
    """One sample cell as Data Docs print it (GX's own tables say EMPTY and null too)."""
    if value is None:
        return "null"
    return "EMPTY" if value == "" else str(value)


# contract rule ``arguments: {checkDigit: <kind>}`` → its expectation class
IDENTIFIER_EXPECTATIONS = {"id_number": ExpectColumnValuesToBeValidResidentId, "uscc": ExpectColumnValuesToBeValidUscc,
                           "mobile": ExpectColumnValuesToBeValidMobile}


class CityShareFailingRowCounts(TableMetricProvider):
    """Per condition, how many rows of the batch meet it, and the batch's row count: one query (the conditions are
    evaluated in a subquery, so one may be a window expression, as a uniqueness rule's is)."""

    metric_name = "table.cityshare_failing_row_counts"
    value_keys = ("conditions",)

    @metric_value(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, execution_engine: SqlAlchemyExecutionEngine, metric_domain_kwargs: dict[str, Any],
                    metric_value_kwargs: dict[str, Any], metrics: dict[str, Any],
                    runtime_configuration: dict[str, Any]) -> dict[str, Any]:
        selectable: Any = execution_engine.get_compute_domain(metric_domain_kwargs, domain_type=MetricDomainTypes.TABLE)[0]
        conditions = metric_value_kwargs["conditions"]
        flags = sa.select(sa.literal(1).label("_row"), *[
            sa.literal_column(f"coalesce(({c}), false)", sa.Boolean).label(f"_c{i}") for i, c in enumerate(conditions)
        ]).select_from(selectable).subquery()
        counts = [sa.func.count_if(flags.c[f"_c{i}"]) for i in range(len(conditions))]  # a condition may use a window
        rows, *failing = execution_engine.execute_query(sa.select(sa.func.count(), *counts).select_from(flags)).one()
        return {"rows": int(rows), "failing": [int(n or 0) for n in failing]}


class ExpectRulesToFindNoFailingRows(BatchExpectation):
    """Row rules checked together: one query counts each rule's failing rows (``conditions``: DuckDB SQL, true
    where a row fails — in the gate, the rule flags of its one DuckDB pass; in the publish audit, the rules'
    predicates). Succeeds when no row fails any of them; the result gives every rule's count by name.

    Why: GX spends ≈ 3–15 ms of Python per expectation and batch whatever the batch's size, so a 40-rule
    contract costs a daily batch ≈ 0.5 s in GX alone, while a rule no row fails has no sample to show, only its
    count. The gate gives each rule its pass found failing rows its own expectation (samples, source rows) and
    checks the others with this one. ``rules`` (the contract's rule names, in order) are what the result reports
    by; the description lists them as ``[name] meaning``, so Data Docs readers find each rule by its name."""

    rules: list[str]
    conditions: list[str]
    metric_dependencies: ClassVar[tuple[str, ...]] = ("table.cityshare_failing_row_counts",)
    success_keys: ClassVar[tuple[str, ...]] = ("conditions",)
    args_keys: ClassVar[tuple[str, ...]] = ("rules", "conditions")
    library_metadata: ClassVar[dict[str, Any]] = _LIBRARY

    def _validate(self, metrics: dict[str, Any], runtime_configuration: dict[str, Any] | None = None,
                  execution_engine: Any = None) -> dict[str, Any]:
        counted = metrics["table.cityshare_failing_row_counts"]
        by_rule = dict(zip(self.rules, counted["failing"], strict=True))
        failing = sum(by_rule.values())
        return {"success": not failing,
                "result": {"observed_value": failing, "element_count": counted["rows"],
                           "details": {"unexpected_count_by_rule": by_rule}}}
