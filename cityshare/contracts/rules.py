"""Compile a contract into quality rules: each rule knows its GX expectation and its bad-row SQL.

One rule definition gives both what Great Expectations evaluates (counts, stored results) and the SQL
that selects the failing rows for quarantine, so the two can never disagree about what a rule means.
``{batch}`` in SQL is Great Expectations' placeholder for the batch under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract, ContractError, Property

# ODCS dimension → GB/T 36344-2018 dimension (数据质量评价指标). Duplicate rate sits under 准确性.
GBT36344 = {
    "conformity": "规范性",
    "completeness": "完整性",
    "coverage": "完整性",
    "accuracy": "准确性",
    "uniqueness": "准确性",
    "consistency": "一致性",
    "timeliness": "时效性",
    "accessibility": "可访问性",
}

_ID_WEIGHTS = "[7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2]"
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = "[1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28]"


def q(identifier: str) -> str:
    """Quote a SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: Any) -> str:
    """A SQL string literal (contract values are trusted config, still escaped)."""
    return "'" + str(value).replace("'", "''") + "'"


def id_number_valid_sql(col: str) -> str:
    """GB 11643-1999 check digit, as DuckDB SQL (true when the ID number is well-formed)."""
    c = q(col)
    digits = f"list_transform(range(1, 18), lambda i: cast(substr({c}, i, 1) AS INTEGER) * {_ID_WEIGHTS}[i])"
    check = f"substr('10X98765432', cast(1 + list_sum({digits}) % 11 AS BIGINT), 1)"
    return f"(regexp_full_match({c}, '^[0-9]{{17}}[0-9X]$') AND substr({c}, 18, 1) = {check})"


def uscc_valid_sql(col: str) -> str:
    """GB 32100-2015 check character, as DuckDB SQL (true when the USCC is well-formed)."""
    c, a = q(col), lit(_USCC_ALPHABET)
    values = f"list_transform(range(1, 18), lambda i: (instr({a}, substr({c}, i, 1)) - 1) * {_USCC_WEIGHTS}[i])"
    check = f"substr({a}, cast(1 + (31 - list_sum({values}) % 31) % 31 AS BIGINT), 1)"
    return f"(regexp_full_match({c}, '^[0-9A-HJ-NPQRTUWXY]{{18}}$') AND substr({c}, 18, 1) = {check})"


@dataclass
class Rule:
    """One compiled quality rule."""

    name: str
    level: str  # "batch": blocks the whole batch; "row": failing rows are quarantined
    dimension: str
    description: str
    column: str | None = None
    kind: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    bad_rows_sql: str | None = None  # SELECT ... FROM {batch} WHERE <row fails>, braces escaped

    @property
    def dimension_zh(self) -> str:
        return GBT36344.get(self.dimension, self.dimension)

    def expectation(self) -> Any:
        """The Great Expectations 1.x expectation for this rule (GX imported lazily)."""
        import great_expectations.expectations as gxe

        meta = {"rule": self.name}
        if self.kind == "column_exists":
            return gxe.ExpectColumnToExist(column=self.column, meta=meta)
        if self.kind == "row_count_min":
            return gxe.ExpectTableRowCountToBeBetween(min_value=self.params["min"], meta=meta)
        if self.kind == "not_null":
            return gxe.ExpectColumnValuesToNotBeNull(column=self.column, meta=meta)
        if self.kind == "in_set":
            return gxe.ExpectColumnValuesToBeInSet(
                column=self.column, value_set=self.params["values"], meta=meta
            )
        return gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=self.bad_rows_sql, description=self.description, meta=meta
        )


def _seed_path(contract: Contract, seed: str) -> Path:
    path = contract.path.parent.parent.parent / "dbt_project" / "seeds" / f"{seed}.csv"
    if not path.exists():
        raise ContractError(contract.path, "quality.arguments.referenceSeed", f"no seed {path.name}")
    return path


def gx_query(sql: str) -> str:
    """Escape braces for GX's ``str.format`` (regex quantifiers like ``{9}``), keeping ``{batch}``."""
    return sql.replace("{", "{{").replace("}", "}}").replace("{{batch}}", "{batch}")


def _where(predicate: str) -> str:
    return gx_query("SELECT * FROM {batch} WHERE " + predicate)


def _property_rules(contract: Contract, prop: Property) -> list[Rule]:
    rules: list[Rule] = []
    col = q(prop.name)
    if prop.required:
        rules.append(
            Rule(
                f"{prop.name}_required", "row", "completeness", f"{prop.business_name or prop.name}不得为空",
                prop.name, "not_null", bad_rows_sql=_where(f"{col} IS NULL"),
            )
        )
    for i, check in enumerate(prop.quality):
        name = check.get("name") or f"{prop.name}_rule_{i + 1}"
        dim = check.get("dimension", "conformity")
        desc = check.get("description", name)
        args = check.get("arguments") or {}
        if check.get("type") == "sql":
            query = gx_query(check["query"].replace("${table}", "{batch}").replace("${column}", col))
            rules.append(Rule(name, "row", dim, desc, prop.name, "sql", bad_rows_sql=query))
            continue
        if check.get("metric") not in ("invalidValues", "nullValues", "missingValues"):
            raise ContractError(contract.path, f"{prop.name}.quality[{i}]", "unsupported metric")
        if check.get("metric") in ("nullValues", "missingValues"):
            pred = f"{col} IS NULL"
            rules.append(Rule(name, "row", dim, desc, prop.name, "sql", bad_rows_sql=_where(pred)))
            continue
        if "validValues" in args:
            values = list(args["validValues"])
            pred = f"{col} IS NOT NULL AND {col} NOT IN ({', '.join(lit(v) for v in values)})"
            rules.append(
                Rule(name, "row", dim, desc, prop.name, "in_set", {"values": values}, _where(pred))
            )
            continue
        if "pattern" in args:
            pred = f"{col} IS NOT NULL AND NOT regexp_full_match({col}, {lit(args['pattern'])})"
        elif "referenceSeed" in args:
            ref_col = q(args.get("referenceColumn", "code"))
            seed = lit(_seed_path(contract, args["referenceSeed"]))
            ref = f"SELECT {ref_col} FROM read_csv({seed}, all_varchar = true)"
            if args.get("includeLegacyCodes"):
                legacy = lit(_seed_path(contract, "area_code_changes"))
                ref += f" UNION ALL SELECT old_code FROM read_csv({legacy}, all_varchar = true)"
            pred = f"{col} IS NOT NULL AND {col} NOT IN ({ref})"
        elif "castTo" in args:
            pred = f"{col} IS NOT NULL AND try_cast({col} AS {args['castTo'].upper()}) IS NULL"
        elif args.get("checkDigit") == "id_number":
            pred = f"{col} IS NOT NULL AND NOT coalesce({id_number_valid_sql(prop.name)}, false)"
        elif args.get("checkDigit") == "uscc":
            pred = f"{col} IS NOT NULL AND NOT coalesce({uscc_valid_sql(prop.name)}, false)"
        else:
            raise ContractError(contract.path, f"{prop.name}.quality[{i}].arguments", "unknown rule")
        rules.append(Rule(name, "row", dim, desc, prop.name, "sql", bad_rows_sql=_where(pred)))
    return rules


def compile_rules(contract: Contract, order_column: str | None = "_source_row") -> list[Rule]:
    """All rules of a contract: batch-level first (schema, volume), then row-level.

    ``order_column`` decides which duplicate is kept: the first delivered row wins, later copies
    are the duplicates (GB/T 36344 重复率).
    """
    rules: list[Rule] = [
        Rule(
            f"column_present:{p.name}", "batch", "conformity", f"缺少字段 {p.name}（{p.business_name}）",
            p.name, "column_exists",
        )
        for p in contract.properties
    ]
    for i, check in enumerate(contract.table_quality()):
        if check.get("metric") == "rowCount":
            minimum = check.get("mustBeGreaterThan", -1) + 1
            rules.append(
                Rule(check.get("name", f"row_count_{i}"), "batch", check.get("dimension", "completeness"),
                     check.get("description", "行数"), None, "row_count_min", {"min": minimum})
            )
    key = contract.primary_key or [p.name for p in contract.properties if p.unique][:1]
    if key:
        cols = ", ".join(q(k) for k in key)
        order = q(order_column) if order_column else cols
        not_null = " AND ".join(f"{q(k)} IS NOT NULL" for k in key)
        dup_sql = (
            f"SELECT * EXCLUDE (_dup) FROM (SELECT *, row_number() OVER (PARTITION BY {cols} ORDER BY {order})"
            f" AS _dup FROM {{batch}}) WHERE _dup > 1 AND {not_null}"
        )
        rules.append(
            Rule(f"{'_'.join(key)}_unique", "row", "uniqueness", f"主键 {'+'.join(key)} 不得重复",
                 key[0], "unique", {"key": key}, gx_query(dup_sql))
        )
    for prop in contract.properties:
        rules.extend(_property_rules(contract, prop))
    return rules
