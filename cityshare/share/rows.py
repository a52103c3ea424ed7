"""Row queries on a published snapshot: column selection, typed filters, sorting, paging.

Column names are checked against the table's own columns before they are quoted into SQL; every
value travels as a bound parameter. Nothing the caller sends is ever spliced into SQL text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cityshare.share.snapshot_reader import cursor
from cityshare.share.tables import SharedTable
from cityshare.sqlquote import q

MAX_LIMIT = 10_000
MAX_FILTERS = 20
MAX_IN_VALUES = 100
OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
TEXT_OPS = {"contains", "prefix"}
ALL_OPS = [*OPS, *TEXT_OPS, "in", "null", "notnull"]

class QueryError(ValueError):
    """The caller's query is not valid for this table; the message names the parameter and rule."""


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "op": self.op, "value": self.value}


@dataclass
class Query:
    """A validated query; ``sql``/``params`` select the rows, ``count_sql`` counts them."""

    table: SharedTable
    columns: list[str]
    filters: list[Filter] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0

    def _where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for f in self.filters:
            col = q(f.column)
            if f.op in OPS:
                clauses.append(f"{col} {OPS[f.op]} ?")
                params.append(f.value)
            elif f.op == "contains":
                clauses.append(f"contains({col}, ?)")
                params.append(f.value)
            elif f.op == "prefix":
                clauses.append(f"starts_with({col}, ?)")
                params.append(f.value)
            elif f.op == "in":
                clauses.append(f"{col} IN ({', '.join('?' * len(f.value))})")
                params.extend(f.value)
            elif f.op == "null":
                clauses.append(f"{col} IS NULL")
            elif f.op == "notnull":
                clauses.append(f"{col} IS NOT NULL")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    @property
    def sql(self) -> tuple[str, list[Any]]:
        where, params = self._where()
        sql = f"SELECT {', '.join(q(c) for c in self.columns)} FROM read_parquet(?, hive_partitioning = false){where}"
        if self.sort:
            sql += " ORDER BY " + ", ".join(f"{q(c)} {'DESC' if desc else 'ASC'} NULLS LAST" for c, desc in self.sort)
        if self.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params = [*params, self.limit, self.offset]
        return sql, [str(self.table.snapshot), *params]

    @property
    def count_sql(self) -> tuple[str, list[Any]]:
        where, params = self._where()
        return f"SELECT count(*) FROM read_parquet(?, hive_partitioning = false){where}", [str(self.table.snapshot), *params]


def _known(table: SharedTable, name: str, param: str, allowed: set[str] | None) -> str:
    if name not in table.columns:
        raise QueryError(f"{param}: 表 {table.name} 没有字段 {name!r}")
    if allowed is not None and name not in allowed:
        raise QueryError(f"{param}: 授权范围不含字段 {name!r}")
    return name


def typed(table: SharedTable, column: str, raw: Any, param: str) -> Any:
    """Convert a filter value to the column's type, or say which type was expected."""
    kind = table.columns[column].upper()
    text = str(raw)
    try:
        if kind in {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER"}:
            return int(text)
        if kind in {"DOUBLE", "FLOAT", "REAL"} or kind.startswith("DECIMAL"):
            value = float(text)
            if value != value or value in {float("inf"), float("-inf")}:
                raise ValueError(text)
            return value
        if kind == "DATE":
            return dt.date.fromisoformat(text)
        if kind.startswith("TIMESTAMP"):
            return dt.datetime.fromisoformat(text).replace(tzinfo=None)
        if kind == "BOOLEAN":
            if text.lower() in {"true", "1", "是"}:
                return True
            if text.lower() in {"false", "0", "否"}:
                return False
            raise ValueError(text)
    except (ValueError, OverflowError):
        raise QueryError(f"{param}: 字段 {column} 的类型为 {kind}，{text[:40]!r} 不是合法取值") from None
    if "\x00" in text or len(text) > 500:
        raise QueryError(f"{param}: 取值过长或含空字符")
    return text


def parse_filter(table: SharedTable, spec: str, param: str, allowed: set[str] | None) -> Filter:
    """``column:op:value`` (ops: eq ne lt le gt ge contains prefix in null notnull; ``in`` splits on |)."""
    parts = spec.split(":", 2)
    if len(parts) < 2:
        raise QueryError(f"{param}: 应为 字段:运算符:值，例如 street_code:eq:500108002")
    column = _known(table, parts[0], param, allowed)
    op = parts[1]
    if op not in ALL_OPS:
        raise QueryError(f"{param}: 未知运算符 {op!r}，可用 {', '.join(ALL_OPS)}")
    if op in {"null", "notnull"}:
        return Filter(column, op)
    if len(parts) < 3:
        raise QueryError(f"{param}: 运算符 {op} 需要一个值")
    if op in TEXT_OPS and not table.columns[column].upper().startswith("VARCHAR"):
        raise QueryError(f"{param}: 运算符 {op} 只用于文本字段")
    if op == "in":
        values = parts[2].split("|")
        if len(values) > MAX_IN_VALUES:
            raise QueryError(f"{param}: in 最多 {MAX_IN_VALUES} 个值")
        return Filter(column, op, [typed(table, column, v, param) for v in values])
    return Filter(column, op, typed(table, column, parts[2], param))


def grant_filters(table: SharedTable, specs: list[dict[str, Any]]) -> list[Filter]:
    """Row restrictions stored on a grant (same vocabulary as the API's filters)."""
    out = []
    for i, s in enumerate(specs):
        value = s.get("value")
        spec = f"{s['column']}:{s['op']}" + ("" if value is None else ":" + ("|".join(map(str, value))
                                                                          if isinstance(value, list) else str(value)))
        out.append(parse_filter(table, spec, f"grant row_filter[{i}]", None))
    return out


def build_query(table: SharedTable, *, columns: str | None = None, filters: list[str] | None = None,
                sort: str | None = None, limit: int | None = 100, offset: int = 0,
                allowed: set[str] | None = None, forced: list[Filter] | None = None) -> Query:
    """Validate the caller's parameters against the table (and the grant's columns/rows)."""
    if columns:
        wanted = [c.strip() for c in columns.split(",") if c.strip()]
        if len(wanted) > len(table.columns):
            raise QueryError("columns: 字段过多")
        chosen = [_known(table, c, "columns", allowed) for c in dict.fromkeys(wanted)]
    else:
        chosen = [c for c in table.columns if allowed is None or c in allowed]
    if not chosen:
        raise QueryError("columns: 未选择任何字段")
    filters = filters or []
    if len(filters) > MAX_FILTERS:
        raise QueryError(f"filter: 最多 {MAX_FILTERS} 个条件")
    parsed = [parse_filter(table, f, f"filter[{i}]", allowed) for i, f in enumerate(filters)]
    order: list[tuple[str, bool]] = []
    for part in (sort or "").split(","):
        part = part.strip()
        if part:
            desc = part.startswith("-")
            order.append((_known(table, part.lstrip("-+"), "sort", allowed), desc))
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit: 1–{MAX_LIMIT}")
    if not 0 <= offset <= 10**12:
        raise QueryError("offset: 不得为负")
    return Query(table, chosen, [*(forced or []), *parsed], order, limit, offset)


def _json_safe(value: Any) -> Any:
    """NaN/inf have no JSON form: send null rather than fail the response."""
    if isinstance(value, float) and (value != value or value in {float("inf"), float("-inf")}):
        return None
    return value


def fetch(query: Query) -> dict[str, Any]:
    """One page of rows as JSON-ready dicts, plus the total matching the filters."""
    cur = cursor()
    try:
        sql, params = query.sql
        result = cur.execute(sql, params)
        names = [d[0] for d in result.description]
        rows = [dict(zip(names, map(_json_safe, r), strict=True)) for r in result.fetchall()]
        total = cur.execute(*query.count_sql).fetchone()[0]
    finally:
        cur.close()
    return {"table": query.table.name, "version": query.table.version, "columns": names, "total": total,
            "offset": query.offset, "limit": query.limit, "returned": len(rows), "rows": rows}
