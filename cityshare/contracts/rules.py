"""Compile a contract into quality rules: each rule knows its GX expectation and its bad-row SQL.

One rule definition gives both what Great Expectations evaluates (counts, stored results) and the SQL
that selects the failing rows for quarantine, so the two can never disagree about what a rule means.
``{batch}`` in SQL is Great Expectations' placeholder for the batch under test.

Levels: ``batch`` rules (schema drift, volume, freshness, row count) block the whole batch; ``row``
rules send failing rows to quarantine; ``warn`` rules (ODCS ``severity: warning``/``info``, and
referential integrity unless it says otherwise) are measured and stored but stop nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract, ContractError, Property
from cityshare.contracts.predicates import (
    FORMAT_TYPES,
    TYPE_OK,
    cast_fails_sql,
    code_list_sql,
    format_ok_sql,
    formula_sql,
    reference_sql,
    type_ok_sql,
)
from cityshare.identifiers import IDENTIFIER_SQL, id_number_sql, uscc_sql
from cityshare.sqlquote import lit, q
from cityshare.vocabulary import QUALITY_DIMENSION_ZH

GBT36344 = QUALITY_DIMENSION_ZH  # ODCS dimension → GB/T 36344-2018 dimension (cityshare.vocabulary)

# Logical type → the DuckDB type its raw (VARCHAR) values must cast to.
CASTS = {"integer": "BIGINT", "number": "DOUBLE", "date": "DATE", "timestamp": "TIMESTAMP"}
# Load metadata columns every landed batch carries besides the contract's columns (see lake.py).
META_COLUMNS = ("_load_id", "_loaded_at", "_source", "_source_row", "_row_hash", "_load_date")
RETYPED_SHARE = 0.05  # default: more than 5 % of non-null values not casting → the column was retyped
_UNIT_DAYS = {"d": 1.0, "day": 1.0, "days": 1.0, "h": 1 / 24, "hour": 1 / 24, "hours": 1 / 24,
              "w": 7.0, "week": 7.0, "weeks": 7.0, "m": 30.0, "month": 30.0, "months": 30.0,
              "y": 365.0, "yr": 365.0, "year": 365.0, "years": 365.0}
_CYCLE_DAYS = {"实时": 1.0, "每日": 1.0, "每周": 7.0, "每月": 31.0, "每季度": 92.0, "每半年": 183.0, "每年": 366.0}



# Every cast a rule makes of raw text is TRY_CAST: one bad cell must quarantine one row, not raise and
# kill the load. A contract's own `sql` rule is held to the same (checked when it is compiled).
_BARE_CAST = re.compile(r"(?<![\w.])cast\s*\(|::", re.IGNORECASE)
# castTo values a contract may name, and the DuckDB type each one means.
TYPE_CASTS = {**CASTS, "boolean": "BOOLEAN", "double": "DOUBLE", "bigint": "BIGINT"}


def guard_casts(contract: Contract, where: str, query: str) -> None:
    """Refuse a contract SQL rule with a bare ``CAST``/``::``: on one malformed cell it would raise."""
    if _BARE_CAST.search(query):
        raise ContractError(contract.path, f"{where}.query", "use try_cast(x AS type), not CAST/:: — a cast "
                            "that fails on one malformed value would stop the whole load")


# ODCS defines a `sql` rule as a query whose number is compared with mustBe; CityShare's is the count of the
# rows that break it, so another ODCS implementation gets the same number, and the gate can quarantine them.
_COUNT_ROWS = re.compile(r"\s*SELECT\s+COUNT\s*\(\s*\*\s*\)\s+FROM\s+\$\{table\}\s+WHERE\s+(?P<condition>.+?)[\s;]*",
                         re.IGNORECASE | re.DOTALL)
SQL_RULE_FORM = "SELECT COUNT(*) FROM ${table} WHERE <condition a failing row meets>, with mustBe: 0"


def failing_rows_query(contract: Contract, where: str, check: dict[str, Any], column: str | None = None) -> str:
    """The rows a contract ``sql`` rule counts, as a query over ``{batch}`` (GX's placeholder, braces escaped).

    Only the standard form is accepted (:data:`SQL_RULE_FORM`): a ``SELECT *`` rule or another threshold
    would mean something else to every other ODCS implementation."""
    query = str(check.get("query") or "")
    match = _COUNT_ROWS.fullmatch(query)
    thresholds = [k for k in check if k.startswith("mustBe")]
    if match is None or thresholds != ["mustBe"] or check["mustBe"] != 0:
        raise ContractError(contract.path, f"{where}.query", f"a sql rule counts the rows that break it: {SQL_RULE_FORM}")
    guard_casts(contract, where, query)
    rows = f"SELECT * FROM ${{table}} WHERE {match['condition']}".replace("${table}", "{batch}")
    return gx_query(rows.replace("${column}", column) if column else rows)


# A row rule comparing two columns of one type, the commonest contract `sql` rule ("closed before reported"):
# `try_cast(a AS T) < try_cast(b AS T)` (or >, <=, >=). Recognised, it runs as GX's own column-pair
# expectation on typed copies of both columns; the contract keeps its portable ODCS `sql` form.
_CAST_SIDE = r"try_cast\s*\(\s*(?P<{0}>[A-Za-z_][A-Za-z0-9_]*)\s+AS\s+(?P<{0}_type>[A-Za-z]+)\s*\)"
_PAIR = re.compile(rf"\s*{_CAST_SIDE.format('a')}\s*(?P<op><=|>=|<|>)\s*{_CAST_SIDE.format('b')}\s*", re.IGNORECASE)


def column_pair(condition: str) -> dict[str, Any] | None:
    """The column-pair expectation a failing-row ``condition`` negates — ``column_A`` greater than (or equal to)
    ``column_B``, both cast to ``cast`` — or None when the condition is anything else."""
    from cityshare.contracts.predicates import CAST_TYPES

    m = _PAIR.fullmatch(condition)
    if m is None or m["a_type"].upper() != m["b_type"].upper() or m["a_type"].upper() not in CAST_TYPES:
        return None
    a, b, op = m["a"], m["b"], m["op"]
    # failing a < b ⇔ expect a ≥ b; a <= b ⇔ a > b; a > b ⇔ b ≥ a; a >= b ⇔ b > a
    high, low = (a, b) if op.startswith("<") else (b, a)
    return {"column_A": high, "column_B": low, "or_equal": op in ("<", ">"), "cast": m["a_type"].upper()}


def id_number_valid_sql(col: str) -> str:
    """GB 11643-1999 validity of column ``col`` as DuckDB SQL (never NULL, never raises)."""
    return id_number_sql(q(col))


def uscc_valid_sql(col: str) -> str:
    """GB 32100-2015 validity of column ``col`` as DuckDB SQL (never NULL, never raises)."""
    return uscc_sql(q(col))


@dataclass
class GateContext:
    """What the gate knows beyond the contract: the load date, history, reference data, columns.

    Without a context (audit of published tables, ``contracts compile``) the history- and
    reference-based rules are not compiled.
    """

    load_date: dt.date
    history: list[int] = field(default_factory=list)  # rows of recent accepted batches, newest first
    references: dict[str, list[str]] = field(default_factory=dict)  # dataset key → accepted Parquet paths
    columns: list[str] | None = None  # the landed batch's columns (for extra-column drift)
    code_lists: dict[str, str] = field(default_factory=dict)  # seed → code list received from a higher instance


@dataclass
class Rule:
    """One compiled quality rule."""

    name: str
    level: str  # "batch": blocks the whole batch; "row": failing rows are quarantined; "warn": recorded only
    dimension: str
    description: str
    column: str | None = None
    kind: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    bad_rows_sql: str | None = None  # SELECT ... FROM {batch} WHERE <row fails>, braces escaped
    predicate: str | None = None  # row-level: SQL that is true for a failing row (may use a window)
    skip_reason: str | None = None  # set when the rule cannot be evaluated yet (e.g. no history)

    @property
    def dimension_zh(self) -> str:
        return GBT36344.get(self.dimension, self.dimension)

    @property
    def rate_kind(self) -> str:
        """GB/T 36344 X = A/B: ``pass`` — A counts conforming items (合格率/完整率…); ``fail`` — A counts
        the bad ones (重复率, 脏数据出现率)."""
        return "fail" if self.kind == "unique" else "pass"

    def reason_sql(self, alias: str) -> str:
        """This rule's quarantine reason for one row of ``alias``, as SQL: the description, or for a
        length rule the column, its limit and the row's actual length (so the department sees what to cut)."""
        if self.kind == "max_length":
            length = f"length(CAST({alias}.{q(str(self.column))} AS VARCHAR))"
            return (f"concat({lit(self.params['label'] + '长度 ')}, {length}, "
                    f"{lit(' 个字符，超过契约上限 ' + str(self.params['max']) + ' 个字符')})")
        return lit(self.description)

    @property
    def gx_description(self) -> str:
        """What Data Docs show as the expectation: the rule by its contract name (契约规则名), then what it means.
        GX renders an expectation's ``description`` in place of its own sentence, so without the name a reader
        could not find the rule in the contract, the gate's message or the quality history."""
        return f"[{self.name}] {self.description}"

    @property
    def native(self) -> bool:
        """A row rule GX evaluates with a column expectation of its own — GX's built-in (not null, in set,
        between, lengths, unique, compound unique, column pair; in set for allowed values and code lists) or
        CityShare's custom
        ones (full-match regex, identifiers, logical type, cast, reference dataset, formula injection;
        ``gx_expectations``) — so Data
        Docs show the rule on its column with
        unexpected counts, sample values and their source rows instead of a precomputed flag."""
        if self.predicate is None or self.column is None or self.level not in ("row", "warn"):
            return False
        if self.kind == "in_set":
            return all(isinstance(v, str) for v in self.params["values"])
        if self.kind == "code_list":
            return True
        return self.kind in _NATIVE_KINDS

    @property
    def gx_columns(self) -> dict[str, str]:
        """The columns a native expectation checks → the SQL that makes each from the raw batch (the gate
        copies them into its flag table in the same pass): the raw column, or for a range the value cast
        to its type, named ``<column>::<type>``."""
        if self.kind == "range":
            return {f"{self.column}::{self.params['cast'].lower()}":
                    f"try_cast({q(str(self.column))} AS {self.params['cast']})"}
        if self.kind == "column_pair":
            cast = self.params["cast"]
            return {f"{c}::{cast.lower()}": f"try_cast({q(c)} AS {cast})"
                    for c in (self.params["column_A"], self.params["column_B"])}
        return {c: q(c) for c in self.params.get("key") or [str(self.column)]}

    def expectation(self, mostly: float | None = None, copies: bool = False, flag: str | None = None) -> Any:
        """The Great Expectations 1.x expectation for this rule (GX imported lazily).

        ``mostly`` (column expectations only): the share of rows that must pass for GX to call the batch
        successful — the gate passes ``1 − quarantineThreshold``; the quarantine still takes every failing row.
        ``copies``: the relation carries :attr:`gx_columns` (the gate's flag table), so every native rule runs as
        its column expectation; elsewhere (audit of typed published tables) only not-null and in-set do, the
        others select their failing rows with their own SQL. ``flag``: the relation's precomputed verdict of this
        rule (the gate's flag), which CityShare's own column expectations read instead of evaluating their
        condition again.
        """
        import great_expectations.expectations as gxe

        meta = {"rule": self.name}
        extra: dict[str, Any] = {"mostly": mostly} if mostly is not None and self.native else {}
        column = self.column or ""  # the column-level kinds below always have one
        if copies and self.native and self.kind not in ("not_null", "in_set"):
            return self._native_expectation(meta, extra, flag)
        if self.kind == "column_exists":
            return gxe.ExpectColumnToExist(column=column, meta=meta, description=self.gx_description)
        if self.kind in ("row_count_min", "volume"):
            return gxe.ExpectTableRowCountToBeBetween(
                min_value=self.params.get("min"), max_value=self.params.get("max"), meta=meta,
                description=self.gx_description,
            )
        if self.kind == "extra_columns":
            return gxe.ExpectTableColumnsToMatchSet(
                column_set=self.params["expected"], exact_match=True, meta=meta, description=self.gx_description
            )
        if self.kind == "not_null":
            return gxe.ExpectColumnValuesToNotBeNull(column=column, meta=meta, description=self.gx_description,
                                                     **extra)
        if self.kind == "in_set":
            return gxe.ExpectColumnValuesToBeInSet(
                column=column, value_set=self.params["values"], meta=meta, description=self.gx_description,
                **extra,
            )
        if copies and self.kind == "sql" and "condition" in self.params:  # the relation carries the raw columns
            return self.own_query_expectation()
        return gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=self.bad_rows_sql or "", description=self.gx_description, meta=meta
        )

    def own_query_expectation(self) -> Any:
        """A contract ``sql`` row rule as its own query (the contract's condition over the batch), keeping 20
        sample rows with their source row and the rule's column, so Data Docs show what the rule itself found."""
        from cityshare.contracts.gx_expectations import UnexpectedRowsWithSamplesExpectation

        shown = ", ".join(["_source_row", *([q(self.column)] if self.column else [])])
        return UnexpectedRowsWithSamplesExpectation(
            unexpected_rows_query=gx_query(f"SELECT {shown} FROM {{batch}} WHERE {self.params['condition']}"),
            description=self.gx_description, meta={"rule": self.name},
        )

    def _native_expectation(self, meta: dict[str, Any], extra: dict[str, Any], flag: str | None = None) -> Any:
        import great_expectations.expectations as gxe

        from cityshare.contracts import gx_expectations as cx

        column, p = next(iter(self.gx_columns)), self.params
        common = {"meta": meta, "description": self.gx_description, **extra}
        own = {**common, **({"flag": flag} if flag else {})}  # CityShare's expectations can read the gate's flag
        if self.kind == "pattern":
            return cx.ExpectColumnValuesToFullyMatchRegex(column=column, regex=p["pattern"], **own)
        if self.kind == "range":
            return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=p.get("min"), max_value=p.get("max"),
                                                     strict_min=p["strict"], strict_max=p["strict"], **common)
        if self.kind in ("min_length", "max_length"):
            return gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=p.get("min"),
                                                           max_value=p.get("max"), **common)
        if self.kind == "unique" and len(p["key"]) > 1:
            return gxe.ExpectCompoundColumnsToBeUnique(column_list=list(p["key"]), **common)
        if self.kind == "unique":
            return gxe.ExpectColumnValuesToBeUnique(column=column, **common)
        if self.kind == "identifier":
            return cx.IDENTIFIER_EXPECTATIONS[p["identifier"]](column=column, **own)
        if self.kind == "code_list":
            return cx.ExpectColumnValuesToBeInCodeList(column=column, code_list=p["seed"], files=p["files"],
                                                       reference_columns=p["reference_columns"], **own)
        if self.kind == "column_pair":  # rows with either value missing or not of the type are not compared
            a, b = self.gx_columns
            return gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A=a, column_B=b, or_equal=p["or_equal"],
                                                               ignore_row_if="either_value_is_missing", **common)
        if self.kind == "cast":
            return cx.ExpectColumnValuesToCast(column=column, cast=p["cast"], **own)
        if self.kind == "reference":
            return cx.ExpectColumnValuesToExistInReferenceDataset(column=column, files=p["files"],
                                                                  reference_column=p["reference_column"], **own)
        if self.kind == "type":
            return cx.ExpectColumnValuesToBeOfLogicalType(column=column, logical_type=p["type"], **own)
        if self.kind == "format":
            return cx.ExpectColumnValuesToHaveLogicalFormat(column=column, logical_type=p["type"], format=p["format"],
                                                            **own)
        return cx.ExpectColumnValuesToNotBeSpreadsheetFormulas(column=column, **own)  # formula

    def flag_expectation(self, flag: str, with_column: bool = True) -> Any:
        """The expectation over the gate's flag table for a rule GX has no column expectation for (in a batch
        above ``NATIVE_ROWS``: every rule but not-null and in-set, contract ``sql`` rules included): the rows
        whose precomputed flag is set, with their source row and, ``with_column``, the rule's column (a copy in
        the flag table: :attr:`gx_columns`), so Data Docs show sample rows."""
        from cityshare.contracts.gx_expectations import UnexpectedRowsWithSamplesExpectation

        shown = ", ".join(["_source_row", *(q(c) for c in self.gx_columns if self.column and with_column)])
        return UnexpectedRowsWithSamplesExpectation(
            unexpected_rows_query=f"SELECT {shown} FROM {{batch}} WHERE {q(flag)}",
            description=self.gx_description, meta={"rule": self.name},
        )


# Row rule kinds GX checks with a column expectation of its own (``Rule.native``; in_set only for text values).
_NATIVE_KINDS = ("not_null", "pattern", "range", "min_length", "max_length", "unique", "identifier", "type",
                 "formula", "format", "cast", "column_pair", "reference")


def _seed_path(contract: Contract, seed: str, ctx: GateContext | None = None) -> Path:
    """The code list a ``referenceSeed`` rule checks against: the one received from a higher instance
    (cityshare.code_lists), else the project's seed."""
    if ctx is not None and seed in ctx.code_lists:
        return Path(ctx.code_lists[seed])
    path = contract.path.parent.parent.parent / "dbt_project" / "seeds" / f"{seed}.csv"
    if not path.exists():
        raise ContractError(contract.path, "quality.arguments.referenceSeed", f"no seed {path.name}")
    return path


def _check_seed_column(contract: Contract, path: Path, column: str, where: str) -> None:
    """A ``referenceSeed`` rule's ``referenceColumn`` is a column of its code list's CSV header."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh), [])
    if column not in header:
        raise ContractError(contract.path, f"{where}.arguments.referenceColumn",
                            f"{path.name} has no column {column!r} ({', '.join(header)})")


def gx_query(sql: str) -> str:
    """Escape braces for GX's ``str.format`` (regex quantifiers like ``{9}``), keeping ``{batch}``."""
    return sql.replace("{", "{{").replace("}", "}}").replace("{{batch}}", "{batch}")


def _where(predicate: str) -> str:
    return gx_query("SELECT * FROM {batch} WHERE " + predicate)


def _row_rule(name: str, level: str, dim: str, desc: str, column: str | None, predicate: str,
              kind: str = "sql", params: dict[str, Any] | None = None) -> Rule:
    return Rule(name, level, dim, desc, column, kind, params or {}, _where(predicate), predicate)


_RELATIVE = re.compile(r"^\s*loadDate\s*(?:([+-])\s*(\d+)\s*d?)?\s*$")


def load_date_relative(value: Any) -> bool:
    """A bound like ``loadDate-30``: a CityShare extension (ODCS ranges are fixed values)."""
    return isinstance(value, str) and _RELATIVE.match(value) is not None


def _bound(value: Any, cast: str, ctx: GateContext | None, where: str, contract: Contract) -> str:
    """A range bound as SQL: a literal, or ``loadDate±Nd`` relative to the batch's load date."""
    if isinstance(value, str) and (m := _RELATIVE.match(value)):
        base = f"DATE {lit(ctx.load_date.isoformat())}" if ctx else "current_date"
        days = int(m.group(2) or 0) * (-1 if m.group(1) == "-" else 1)
        return f"CAST({base} + INTERVAL ({days}) DAY AS {cast})"
    if cast in ("BIGINT", "DOUBLE"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ContractError(contract.path, where, f"range bound {value!r} is not a number")
        return f"CAST({value!r} AS DOUBLE)"
    try:  # checked here: a bad literal would make DuckDB raise on every batch
        (dt.date if cast == "DATE" else dt.datetime).fromisoformat(str(value))
    except ValueError:
        raise ContractError(contract.path, where, f"range bound {value!r} is not an ISO {cast.lower()}") from None
    return f"CAST({lit(value)} AS {cast})"


def _bound_value(value: Any, cast: str, ctx: GateContext | None) -> Any:
    """The same bound as :func:`_bound` as a Python value (GX's ``min_value``/``max_value``)."""
    if isinstance(value, str) and (m := _RELATIVE.match(value)):
        day = (ctx.load_date if ctx else dt.date.today()) + dt.timedelta(
            days=int(m.group(2) or 0) * (-1 if m.group(1) == "-" else 1))
        return dt.datetime.combine(day, dt.time()) if cast == "TIMESTAMP" else day
    if cast == "DOUBLE":
        return float(value)
    return (dt.date if cast == "DATE" else dt.datetime).fromisoformat(str(value))


def _range_rule(contract: Contract, prop: Property, args: dict[str, Any], where: str, ctx: GateContext | None,
                exclusive: bool = False) -> tuple[str, dict[str, Any]]:
    """A range check: the failing-row predicate, and the same bounds as parameters of GX's
    ``ExpectColumnValuesToBeBetween`` over the value cast to its type."""
    pred = _range_predicate(contract, prop, args, where, ctx, exclusive)
    cast = CASTS[prop.logical_type]
    value_type = "DOUBLE" if cast in ("BIGINT", "DOUBLE") else cast
    bounds = {side: _bound_value(args[arg], value_type, ctx) for side, arg in (("min", "minimum"), ("max", "maximum"))
              if args.get(arg) is not None}
    return pred, {"cast": value_type, "strict": exclusive, **bounds}


def _range_predicate(contract: Contract, prop: Property, args: dict[str, Any], where: str,
                     ctx: GateContext | None, exclusive: bool = False) -> str:
    cast = CASTS.get(prop.logical_type)
    if cast is None:
        raise ContractError(contract.path, where, f"a range needs a number/integer/date/timestamp column, "
                                                  f"{prop.name} is {prop.logical_type}")
    value_type = "DOUBLE" if cast in ("BIGINT", "DOUBLE") else cast
    value = f"try_cast({q(prop.name)} AS {value_type})"
    parts = []
    if args.get("minimum") is not None:
        parts.append(f"{value} <{'=' * exclusive} {_bound(args['minimum'], value_type, ctx, where, contract)}")
    if args.get("maximum") is not None:
        parts.append(f"{value} >{'=' * exclusive} {_bound(args['maximum'], value_type, ctx, where, contract)}")
    return f"{value} IS NOT NULL AND ({' OR '.join(parts)})"


def _level(check: dict[str, Any], default: str = "row") -> str:
    """ODCS ``severity: warning``/``info`` makes a rule advisory (recorded, never quarantines)."""
    severity = str(check.get("severity", "")).lower()
    if severity in ("warning", "warn", "info"):
        return "warn"
    if severity in ("error", "critical"):
        return "row"
    return default


def _property_rules(contract: Contract, prop: Property, ctx: GateContext | None) -> list[Rule]:
    rules: list[Rule] = []
    col = q(prop.name)
    label = prop.business_name or prop.name
    if prop.required:
        rules.append(_row_rule(f"{prop.name}_required", "row", "completeness", f"{label}不得为空",
                               prop.name, f"{col} IS NULL", "not_null"))
    if prop.max_length is not None:
        rules.append(max_length_rule(prop))
    rules.extend(type_rules(contract, prop, ctx))
    if formula := formula_rule(contract, prop):
        rules.append(formula)
    for i, check in enumerate(prop.quality):
        where = f"schema[0].properties[{prop.name}].quality[{i}]"
        name = check.get("name") or f"{prop.name}_rule_{i + 1}"
        dim = check.get("dimension", "conformity")
        desc = check.get("description", name)
        args = check.get("arguments") or {}
        level = _level(check)
        if check.get("type") == "sql":
            query = failing_rows_query(contract, where, check, col)
            condition = _COUNT_ROWS.fullmatch(str(check["query"]))["condition"].replace("${column}", col)  # type: ignore[index]
            if (pair := column_pair(condition)) is not None:  # checked by failing_rows_query
                rules.append(Rule(name, level, dim, desc, prop.name, "column_pair", pair, query, condition))
            else:
                rules.append(Rule(name, level, dim, desc, prop.name, "sql", {"condition": condition}, query))
            continue
        if check.get("type") != "library" or check.get("metric") not in ("invalidValues", "nullValues",
                                                                           "missingValues"):
            raise ContractError(contract.path, where, f"unsupported rule type/metric "
                                f"{check.get('type')!r}/{check.get('metric')!r} (library: invalidValues, "
                                "nullValues, missingValues; or sql)")
        if check.get("metric") in ("nullValues", "missingValues"):
            rules.append(_row_rule(name, level, dim, desc, prop.name, f"{col} IS NULL", "not_null"))
            continue
        if "validValues" in args:
            values = list(args["validValues"])
            pred = f"{col} IS NOT NULL AND {col} NOT IN ({', '.join(lit(v) for v in values)})"
            rules.append(_row_rule(name, level, dim, desc, prop.name, pred, "in_set", {"values": values}))
            continue
        if "referenceDataset" in args:
            rules.append(_reference_rule(contract, prop, check, args, where, ctx))
            continue
        kind, params = "sql", {}
        if "pattern" in args:
            pred, kind, params = _pattern_predicate(col, args["pattern"]), "pattern", {"pattern": args["pattern"]}
        elif "minimum" in args or "maximum" in args:
            (pred, params), kind = _range_rule(contract, prop, args, where, ctx), "range"
        elif "referenceSeed" in args:
            ref_col = str(args.get("referenceColumn", "code"))
            seed_path = _seed_path(contract, args["referenceSeed"], ctx)
            _check_seed_column(contract, seed_path, ref_col, where)
            files, columns = [str(seed_path)], [ref_col]
            if args.get("includeLegacyCodes"):
                files.append(str(_seed_path(contract, "area_code_changes", ctx)))
                columns.append("old_code")
            pred, kind = f"{col} IS NOT NULL AND {col} NOT IN ({code_list_sql(files, columns)})", "code_list"
            params = {"seed": str(args["referenceSeed"]), "files": files, "reference_columns": columns}
        elif "castTo" in args:
            target = TYPE_CASTS.get(str(args["castTo"]).lower())
            if target is None:
                raise ContractError(contract.path, f"{where}.arguments.castTo",
                                    f"castTo must be one of {', '.join(TYPE_CASTS)}, got {args['castTo']!r}")
            pred, kind, params = f"{col} IS NOT NULL AND {cast_fails_sql(col, target)}", "cast", {"cast": target}
        elif "checkDigit" in args:
            valid = IDENTIFIER_SQL.get(str(args["checkDigit"]))
            if valid is None:
                raise ContractError(contract.path, f"{where}.arguments.checkDigit",
                                    f"checkDigit must be one of {', '.join(IDENTIFIER_SQL)}, got {args['checkDigit']!r}")
            pred, kind, params = f"{col} IS NOT NULL AND NOT {valid(col)}", "identifier", {"identifier": args["checkDigit"]}
        else:
            raise ContractError(contract.path, f"{where}.arguments", f"unknown rule arguments {sorted(args)}")
        rules.append(_row_rule(name, level, dim, desc, prop.name, pred, kind, params))
    return rules


def _pattern_predicate(col: str, pattern: str) -> str:
    return f"{col} IS NOT NULL AND NOT regexp_full_match(CAST({col} AS VARCHAR), {lit(pattern)})"



_TYPE_ZH = {"integer": "整数", "number": "数值", "date": "日期", "timestamp": "时间", "boolean": "布尔值"}


_CONSTRAINED = ("pattern", "validValues", "checkDigit", "referenceSeed", "referenceDataset")


def formula_rule(contract: Contract, prop: Property) -> Rule | None:
    """The formula-injection rule of a text column (none where another rule already fixes its shape)."""
    setting = str(contract.custom.get("formulaInjection", "warning")).lower()
    if prop.logical_type != "string" or setting == "off" or any(
            k in (c.get("arguments") or {}) for c in prop.quality for k in _CONSTRAINED):
        return None
    col = q(prop.name)
    label = f"{prop.business_name}（{prop.name}）" if prop.business_name else prop.name
    pred = formula_sql(col)
    return _row_rule(f"{prop.name}_formula", _level({"severity": setting}, "warn"), "conformity",
                     f"{label}不得以公式字符开头（= + - @，表格公式注入）", prop.name, pred, "formula")


def _raw_property(contract: Contract, name: str) -> dict[str, Any]:
    return next((p for p in contract.table.get("properties") or [] if p.get("name") == name), {})


def type_rules(contract: Contract, prop: Property, ctx: GateContext | None) -> list[Rule]:
    """What the column's declaration itself says, as row rules (规范性): the value casts to its logical
    type (``<col>_type``; not added where the contract names its own ``castTo`` rule for the column),
    and ODCS ``logicalTypeOptions`` minimum/maximum/exclusiveMinimum/exclusiveMaximum, minLength,
    pattern and format (maxLength is :func:`max_length_rule`)."""
    rules: list[Rule] = []
    col, label = q(prop.name), f"{prop.business_name}（{prop.name}）" if prop.business_name else prop.name
    own_cast = any("castTo" in (c.get("arguments") or {}) for c in prop.quality)
    if prop.logical_type in TYPE_OK and not own_cast:
        rules.append(_row_rule(f"{prop.name}_type", "row", "conformity", f"{label}须为有效{_TYPE_ZH[prop.logical_type]}",
                               prop.name, f"{col} IS NOT NULL AND NOT {type_ok_sql(col, prop.logical_type)}", "type",
                               {"type": prop.logical_type}))
    options = _raw_property(contract, prop.name).get("logicalTypeOptions") or {}
    if not isinstance(options, dict):
        return rules
    where = f"schema[0].properties[{prop.name}].logicalTypeOptions"
    bounds = {"minimum": ("minimum", False, "不得小于"), "maximum": ("maximum", False, "不得大于"),
              "exclusiveMinimum": ("minimum", True, "须大于"), "exclusiveMaximum": ("maximum", True, "须小于")}
    for option, (side, exclusive, zh) in bounds.items():
        if options.get(option) is None:
            continue
        pred, params = _range_rule(contract, prop, {side: options[option]}, f"{where}.{option}", ctx, exclusive)
        rules.append(_row_rule(f"{prop.name}_{_snake(option)}", "row", "accuracy", f"{label}{zh} {options[option]}",
                               prop.name, pred, "range", params))
    if isinstance(options.get("minLength"), int) and not isinstance(options["minLength"], bool):
        rules.append(_row_rule(f"{prop.name}_min_length", "row", "conformity",
                               f"{label}长度不得少于 {options['minLength']} 个字符", prop.name,
                               f"length(CAST({col} AS VARCHAR)) < {int(options['minLength'])}", "min_length",
                               {"min": int(options["minLength"])}))
    if (fmt := options.get("format")) is not None:
        rules.extend(_format_rule(contract, prop, fmt, f"{where}.format", label))
    if isinstance(options.get("pattern"), str):
        try:
            re.compile(options["pattern"])
        except re.error as exc:
            raise ContractError(contract.path, f"{where}.pattern", f"not a regular expression: {exc}") from None
        rules.append(_row_rule(f"{prop.name}_pattern", "row", "conformity", f"{label}格式须符合 {options['pattern']}",
                               prop.name, _pattern_predicate(col, options["pattern"]), "pattern",
                               {"pattern": options["pattern"]}))
    return rules


def _format_rule(contract: Contract, prop: Property, fmt: Any, where: str, label: str) -> list[Rule]:
    """ODCS ``logicalTypeOptions.format`` (格式) as a row rule ``<col>_format`` (规范性): a string's kind
    (email, uuid, uri, hostname, ipv4, ipv6, byte), a date/timestamp's JDK pattern, an integer's or number's
    width (i8…u128, f32/f64). A number that is not one at all is left to ``<col>_type``; an unknown format is
    a contract error, never silently unchecked."""
    if prop.logical_type not in FORMAT_TYPES:
        raise ContractError(contract.path, where, f"ODCS defines no format for {prop.logical_type} columns")
    col = q(prop.name)
    try:
        ok = format_ok_sql(col, prop.logical_type, str(fmt))
    except ValueError as exc:
        raise ContractError(contract.path, where, f"{fmt!r}: {exc}") from None
    if ok is None:  # password, binary: nothing about the characters to check
        return []
    typed = f" AND {type_ok_sql(col, prop.logical_type)}" if prop.logical_type in ("integer", "number") else ""
    return [_row_rule(f"{prop.name}_format", "row", "conformity", f"{label}格式须为 {fmt}", prop.name,
                      f"{col} IS NOT NULL{typed} AND NOT {ok}", "format",
                      {"type": prop.logical_type, "format": str(fmt)})]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def max_length_rule(prop: Property) -> Rule:
    """The declared length (``VARCHAR(N)``/``maxLength``) as a row rule (规范性): an oversize cell is
    quarantined, not landed. Counts characters (DuckDB ``length``), so N Chinese characters fit N."""
    limit = int(prop.max_length or 0)
    label = f"{prop.business_name}（{prop.name}）" if prop.business_name else prop.name
    pred = f"length(CAST({q(prop.name)} AS VARCHAR)) > {limit}"
    return _row_rule(f"{prop.name}_max_length", "row", "conformity", f"{label}长度不得超过 {limit} 个字符",
                     prop.name, pred, "max_length", {"max": limit, "label": label})


def _reference_rule(contract: Contract, prop: Property, check: dict[str, Any], args: dict[str, Any],
                    where: str, ctx: GateContext | None) -> Rule:
    """Referential integrity against the accepted batches of another source (e.g. 市场主体登记).

    Advisory by default: a department delivering first (cases before the registry) must not lose
    rows; ``severity: error`` quarantines the orphans instead.
    """
    dataset = str(args["referenceDataset"])
    name = check.get("name") or f"{prop.name}_references_{dataset.replace('/', '__')}"
    level = _level(check, default="warn")
    desc = check.get("description", f"{prop.business_name or prop.name}须在 {dataset} 中存在")
    paths = ctx.references.get(dataset) or [] if ctx else []
    if not paths:
        reason = "参照数据仅在入库关口检查" if ctx is None else f"参照数据集 {dataset} 尚无已接收批次，暂不检查"
        return Rule(name, level, check.get("dimension", "consistency"), desc, prop.name, "reference",
                    {"dataset": dataset}, _where("false"), skip_reason=reason)
    ref_col = str(args.get("referenceColumn", prop.name))
    pred = f"{q(prop.name)} IS NOT NULL AND {q(prop.name)} NOT IN ({reference_sql(list(paths), ref_col)})"
    return _row_rule(name, level, check.get("dimension", "consistency"), desc, prop.name, pred, "reference",
                     {"dataset": dataset, "files": list(paths), "reference_column": ref_col})


def _sla(contract: Contract) -> dict[str, dict[str, Any]]:
    return {str(s.get("property")): s for s in contract.raw.get("slaProperties") or [] if isinstance(s, dict)}


def _days(sla: dict[str, Any] | None) -> float:
    if not sla or sla.get("value") in (None, ""):
        return 0.0
    return float(sla["value"]) * _UNIT_DAYS.get(str(sla.get("unit", "d")).lower(), 1.0)


def freshness_rule(contract: Contract, ctx: GateContext) -> Rule | None:
    """Newest timestamp of the SLA ``latency`` element vs the load date and the update cycle (时效性).

    A delivery for load date D covers one update cycle ending with D; it is stale when its newest
    ``element`` value is older than end-of-D − cycle − latency.
    """
    sla = _sla(contract)
    latency = sla.get("latency") or sla.get("freshness")
    column = freshness_element(contract)
    if column is None:
        return None
    if column not in {p.name for p in contract.properties}:
        raise ContractError(contract.path, "slaProperties.latency.element", f"no column {column!r}")
    cycle = _days(sla.get("frequency")) or _CYCLE_DAYS.get(contract.update_cycle, 1.0)
    allowed = cycle + _days(latency)
    oldest_ok = dt.datetime.combine(ctx.load_date + dt.timedelta(days=1), dt.time()) - dt.timedelta(days=allowed)
    sql = (f"SELECT * FROM (SELECT max(try_cast({q(column)} AS TIMESTAMP)) AS newest FROM {{batch}}) "
           f"WHERE newest IS NULL OR newest < TIMESTAMP {lit(oldest_ok.isoformat(sep=' '))}")
    absent = ctx.columns is not None and column not in ctx.columns  # column_present:<column> says so
    return Rule(f"freshness:{column}", "batch", "timeliness",
                f"数据不新鲜：{column} 最新值须不早于 {oldest_ok:%Y-%m-%d %H:%M}（更新周期 {cycle:g} 天 + 时延 "
                f"{_days(latency):g} 天）", column, "freshness", {"oldest_ok": oldest_ok.isoformat()}, gx_query(sql),
                skip_reason=f"字段 {column} 未到达，无法判断时效，见 column_present:{column}" if absent else None)


def freshness_element(contract: Contract) -> str | None:
    """The column the SLA ``latency`` (or ``freshness``) element names, if any."""
    sla = _sla(contract)
    latency = sla.get("latency") or sla.get("freshness")
    if not latency or not latency.get("element"):
        return None
    return str(latency["element"]).split(",")[0].strip().split(".")[-1]


def volume_bounds(history: list[int], args: dict[str, Any]) -> tuple[float, float, float] | None:
    """Robust volume band from recent accepted batches: median ± k·1.4826·MAD, widened to the ratio
    bounds (minRatio/maxRatio × median) so a very steady history does not reject normal noise."""
    window = int(args.get("window", 14))
    recent = history[:window]
    if len(recent) < int(args.get("minHistory", 5)):
        return None
    median = statistics.median(recent)
    mad = statistics.median(abs(x - median) for x in recent) * 1.4826
    k = float(args.get("k", 5))
    low = min(median - k * mad, median * float(args.get("minRatio", 0.5)))
    high = max(median + k * mad, median * float(args.get("maxRatio", 2.0)))
    return max(low, 0.0), high, median


VOLUME_ANOMALY_FORM = ("type: custom, engine: cityshare, implementation: {metric: volumeAnomaly, window, minHistory, "
                       "k, minRatio, maxRatio}")


def volume_anomaly(check: dict[str, Any]) -> dict[str, Any] | None:
    """The settings of a volume anomaly rule (批次行数异常), or None for another rule.

    ODCS has no anomaly metric, so it is a ``custom`` rule of the ``cityshare`` engine: other ODCS tools skip it,
    where a second ``rowCount`` rule would collide with the plain one."""
    impl = check.get("implementation")
    if check.get("type") == "custom" and check.get("engine") == "cityshare" and isinstance(impl, dict) \
            and impl.get("metric") == "volumeAnomaly":
        return impl
    return None


def _table_rules(contract: Contract, ctx: GateContext | None) -> list[Rule]:
    rules: list[Rule] = []
    for i, check in enumerate(contract.table_quality()):
        where = f"schema[0].quality[{i}]"
        if (check.get("arguments") or {}).get("anomaly"):
            raise ContractError(contract.path, f"{where}.arguments.anomaly",
                                f"a volume anomaly rule is a CityShare rule: {VOLUME_ANOMALY_FORM}")
        anomaly = volume_anomaly(check)
        if anomaly is None and check.get("metric") != "rowCount":
            if check.get("type") == "sql":
                query = failing_rows_query(contract, where, check)
                rules.append(Rule(check.get("name", f"table_rule_{i}"), "batch", check.get("dimension", "consistency"),
                                  check.get("description", "表级规则"), None, "sql", bad_rows_sql=query))
                continue
            raise ContractError(contract.path, where, f"table-level rules: library rowCount, sql, or {VOLUME_ANOMALY_FORM}")
        args = anomaly or check.get("arguments") or {}
        name = check.get("name", f"row_count_{i}")
        dim = check.get("dimension", "completeness")
        if anomaly is not None:
            desc = check.get("description", "批次行数须在近期批次的正常范围内")
            if ctx is None:
                continue
            bounds = volume_bounds(ctx.history, args)
            if bounds is None:
                rules.append(Rule(name, "batch", dim, desc, None, "volume", skip_reason=(
                    f"历史批次不足（{len(ctx.history)} < {int(args.get('minHistory', 5))}），暂不判断行数异常")))
                continue
            low, high, median = bounds
            rules.append(Rule(name, "batch", dim, f"{desc}（近期中位数 {median:g}，允许 {low:.0f}–{high:.0f} 行）",
                              None, "volume", {"min": int(low // 1 + (low % 1 > 0)), "max": int(high),
                                               "median": median}))
            continue
        minimum = check.get("mustBeGreaterThan", -1) + 1
        if "mustBeGreaterOrEqualTo" in check:
            minimum = check["mustBeGreaterOrEqualTo"]
        maximum = check.get("mustBeLessOrEqualTo")
        if "mustBeBetween" in check:
            minimum, maximum = check["mustBeBetween"]
        rules.append(Rule(name, "batch", dim, check.get("description", "行数"), None, "row_count_min",
                          {"min": minimum, "max": maximum}))
    return rules


def drift_rules(contract: Contract, ctx: GateContext | None) -> list[Rule]:
    """Schema drift (规范性): missing columns, extra columns, retyped columns — all batch-level.

    Extra columns block unless the contract says ``extraColumns: tolerate`` (then they are recorded
    as a warning). A column is retyped when more than ``retypedShare`` of its non-null values no
    longer cast to the contract's logical type (single bad values are left to the row rules).
    """
    expected = [p.name for p in contract.properties]
    arrived = [c for c in ctx.columns if c not in META_COLUMNS] if ctx is not None and ctx.columns is not None else []
    missing = [p for p in contract.properties if arrived and p.name not in arrived]
    unexpected = [c for c in arrived if c not in expected]
    fresh = freshness_element(contract)
    rules = []
    for p in contract.properties:
        role = "，时效性 SLA 字段 freshness element" if p.name == fresh else ""
        hint = ""
        if p in missing and (similar := similar_column(p, unexpected, sole=len(missing) == 1)):
            hint = f"；到达的相近字段 similar column arrived: {similar}"
        about = "，".join(part for part in (p.business_name, role.removeprefix("，")) if part)
        rules.append(Rule(f"column_present:{p.name}", "batch", "conformity",
                          f"缺少字段 {p.name}{f'（{about}）' if about else ''}{hint}", p.name, "column_exists"))
    if ctx is None:
        return rules
    if ctx.columns is not None:
        extra = [c for c in ctx.columns if c not in expected and c not in META_COLUMNS]
        tolerate = str(contract.custom.get("extraColumns", "block")).lower() == "tolerate"
        rules.append(Rule("schema:extra_columns", "warn" if tolerate else "batch", "conformity",
                          f"出现契约外字段{'（容忍）' if tolerate else ''}: {', '.join(extra) or '无'}", None,
                          "extra_columns", {"expected": [*expected, *(m for m in META_COLUMNS if m in ctx.columns)],
                                            "extra": extra}))
    present = set(ctx.columns) if ctx.columns is not None else set(expected)
    share = float(contract.custom.get("retypedShare", RETYPED_SHARE))
    for p in contract.properties:
        cast = CASTS.get(p.logical_type)
        if cast is None or p.name not in present:
            continue
        c = q(p.name)
        bad = f"{c} IS NOT NULL AND try_cast({c} AS {cast}) IS NULL"
        # the failing values, but only when there are more of them than the tolerated share
        sql = (f"SELECT * FROM {{batch}} WHERE {bad} AND (SELECT count(*) FROM {{batch}} WHERE {bad})"
               f" > {share!r} * (SELECT count({c}) FROM {{batch}})")
        rules.append(Rule(f"schema:retyped:{p.name}", "batch", "conformity",
                          f"字段 {_label(p)} 类型改变：超过 {share:.0%} 的值无法转换为 {p.logical_type}",
                          p.name, "retyped", {"share": share, "cast": cast}, gx_query(sql),
                          f"{bad} AND count_if({bad}) OVER () > {share!r} * count({c}) OVER ()"))  # the same, per row
    return rules


def _label(prop: Property) -> str:
    """A column as messages name it: ``name（业务名称）``, or the name alone when the contract gives no business name."""
    return f"{prop.name}（{prop.business_name}）" if prop.business_name else prop.name


def similar_column(prop: Property, arrived: list[str], sole: bool = False) -> str | None:
    """The arrived column most like a missing contract field (by name or business name, difflib).

    With ``sole`` (one field missing, so one rename is likely) the only unexpected column is named even
    when it shares little text (上报人电话 → 联系电话).
    """
    import difflib

    scored = [(max(difflib.SequenceMatcher(None, want, col).ratio() for want in (prop.name, prop.business_name)
                   if want), col) for col in arrived]
    best = max(scored, default=None)
    if best and best[0] >= 0.5:
        return best[1]
    return arrived[0] if sole and len(arrived) == 1 else None


def _unique_rule(key: list[str], order_column: str | None, description: str) -> Rule:
    """Duplicates of ``key`` (all parts non-null): the first delivered row wins, later copies fail."""
    cols = ", ".join(q(k) for k in key)
    order = q(order_column) if order_column else cols
    not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in key)
    dup_sql = (f"SELECT * EXCLUDE (_dup) FROM (SELECT *, row_number() OVER (PARTITION BY {cols} ORDER BY {order})"
               f" AS _dup FROM {{batch}}) WHERE _dup > 1 AND {not_null}")
    predicate = f"({not_null} AND row_number() OVER (PARTITION BY {cols} ORDER BY {order}) > 1)"
    return Rule(f"{'_'.join(key)}_unique", "row", "uniqueness", description, key[0], "unique", {"key": key},
                gx_query(dup_sql), predicate)


def compile_rules(contract: Contract, order_column: str | None = "_source_row",
                  ctx: GateContext | None = None) -> list[Rule]:
    """All rules of a contract: batch-level first (schema, volume, freshness), then row-level.

    ``order_column`` decides which duplicate is kept: the first delivered row wins, later copies
    are the duplicates (GB/T 36344 重复率).
    """
    rules = drift_rules(contract, ctx) + _table_rules(contract, ctx)
    if ctx is not None and (fresh := freshness_rule(contract, ctx)):
        rules.append(fresh)
    key = contract.primary_key
    if key:
        rules.append(_unique_rule(key, order_column, f"主键 {'+'.join(key)} 不得重复"))
    for p in contract.properties:  # every `unique: true` column, not only the first
        if p.unique and [p.name] != key:
            rules.append(_unique_rule([p.name], order_column, f"{p.business_name or p.name}（{p.name}）不得重复"))
    for prop in contract.properties:
        rules.extend(_property_rules(contract, prop, ctx))
    return rules
