"""Build directory entries (《政务信息资源目录编制指南》 fields) from contracts and the warehouse.

Resource codes (信息资源代码) are 类(1) + 项(2) + 目(3) from the contract's classification, then "/"
and a sequence number assigned the first time a resource is seen and stored, so codes stay stable
across rebuilds and never get reused.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cityshare.contracts.lint import departments
from cityshare.contracts.model import Contract, load_contracts
from cityshare.settings import Settings, get_settings
from cityshare.warehouse import connect, transaction

DDL = """
CREATE SCHEMA IF NOT EXISTS directory;
CREATE TABLE IF NOT EXISTS directory.resource_codes (contract_id VARCHAR PRIMARY KEY, resource_code VARCHAR UNIQUE);
CREATE TABLE IF NOT EXISTS directory.entries (resource_code VARCHAR PRIMARY KEY, contract_id VARCHAR,
    kind VARCHAR, entry JSON, built_at TIMESTAMP);
"""

# Warehouse type → 编制指南 信息项 data type letter.
_TYPE_LETTERS = [("VARCHAR", "C"), ("BIGINT", "I"), ("INTEGER", "I"), ("HUGEINT", "I"), ("DOUBLE", "B"),
                 ("FLOAT", "F"), ("DECIMAL", "N"), ("TIMESTAMP", "T"), ("DATE", "D"), ("BOOLEAN", "L")]
_LOGICAL_LETTERS = {"string": "C", "integer": "I", "number": "N", "date": "D", "timestamp": "T",
                    "boolean": "L"}


def type_letter(warehouse_type: str) -> str:
    upper = warehouse_type.upper()
    return next((letter for prefix, letter in _TYPE_LETTERS if upper.startswith(prefix)), "M")


def _resource_code(con: Any, contract: Contract) -> str:
    row = con.execute("SELECT resource_code FROM directory.resource_codes WHERE contract_id = ?",
                      [contract.id]).fetchone()
    if row:
        return row[0]
    cls, item, subject = str(contract.custom.get("classification", "3/99/999")).split("/")
    prefix = f"{cls}{item.zfill(2)}{subject.zfill(3)}"
    taken = con.execute("SELECT count(*) FROM directory.resource_codes WHERE resource_code LIKE ?",
                        [prefix + "/%"]).fetchone()[0]
    code = f"{prefix}/{taken + 1:05d}"
    con.execute("INSERT INTO directory.resource_codes VALUES (?, ?)", [contract.id, code])
    return code


def _items(con: Any, contract: Contract) -> list[dict[str, Any]]:
    """信息项: name, Chinese name, type letter and length (measured on the shared table)."""
    types: dict[str, str] = {}
    lengths: dict[str, int] = {}
    if contract.kind == "shared":
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'shared' AND table_name = ? ORDER BY ordinal_position",
            [contract.model_name],
        ).fetchall()
        types = dict(rows)
        text_cols = [c for c, t in rows if t.upper().startswith("VARCHAR")]
        if text_cols:
            sel = ", ".join(f'max(length("{c}"))' for c in text_cols)
            values = con.execute(f'SELECT {sel} FROM shared."{contract.model_name}"').fetchone()
            lengths = {c: int(v or 0) for c, v in zip(text_cols, values, strict=True)}
    items = []
    for p in contract.properties:
        letter = type_letter(types[p.name]) if p.name in types else _LOGICAL_LETTERS.get(p.logical_type, "C")
        length = lengths.get(p.name)
        if length is None and "(" in p.physical_type:
            length = int(p.physical_type.split("(")[1].rstrip(")").split(",")[0])
        items.append({"name": p.name, "信息项名称": p.business_name or p.name, "数据类型": letter,
                      "数据长度": length, "分级": p.classification or ""})
    return items


def _publication(con: Any, contract: Contract) -> dict[str, Any]:
    row = con.execute(
        "SELECT version, rows, published_at FROM meta.publications WHERE table_name = ? "
        "ORDER BY version DESC LIMIT 1", [contract.model_name]
    ).fetchone()
    if row:
        return {"version": row[0], "rows": row[1], "published_at": row[2].isoformat(sep=" ")}
    row = con.execute(
        "SELECT sum(rows_accepted), max(gated_at) FROM meta.batches WHERE dataset = ? AND status = 'accepted'",
        [contract.key],
    ).fetchone()
    return {"version": None, "rows": int(row[0] or 0),
            "published_at": row[1].isoformat(sep=" ") if row[1] else None}


def build_entry(con: Any, contract: Contract, settings: Settings) -> dict[str, Any]:
    dept = departments(settings.catalog_dir).get(contract.department, {})
    pub = _publication(con, contract)
    fmt = str(contract.custom.get("resourceFormat", "数据库/duckdb")).split("/")
    c = contract.custom
    return {
        "信息资源代码": _resource_code(con, contract),
        "信息资源名称": contract.name,
        "信息资源分类": c.get("classification"),
        "信息资源提供方": dept.get("name", contract.department),
        "提供方代码": dept.get("provider_code"),
        "信息资源摘要": contract.description,
        "信息资源格式": {"格式分类": fmt[0], "格式类型": fmt[1] if len(fmt) > 1 else ""},
        "信息项信息": _items(con, contract),
        "共享属性": {"共享类型": c.get("sharingType"), "共享条件": c.get("sharingCondition", ""),
                     "共享方式": c.get("sharingMethod", ""), "不予共享依据": c.get("legalBasis", "")},
        "开放属性": {"开放类型": c.get("openType", "")},
        "更新周期": contract.update_cycle,
        "发布日期": (pub["published_at"] or "")[:10] or None,
        "关联资源代码": [],
        "kind": contract.kind,
        "contract_id": contract.id,
        "table": f"shared.{contract.model_name}" if contract.kind == "shared" else f"raw.{contract.raw_table}",
        "department": contract.department,
        "rows": pub["rows"],
        "version": pub["version"],
    }


def build_directory(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Rebuild every entry in the warehouse ``directory`` schema and write directory.json."""
    settings = settings or get_settings()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    contracts = load_contracts(settings)
    with connect(settings) as con, transaction(con):
        con.execute(DDL)
        entries = [build_entry(con, c, settings) for c in contracts]
        _link_related(entries, contracts, settings)
        con.execute("DELETE FROM directory.entries")
        con.executemany(
            "INSERT INTO directory.entries VALUES (?, ?, ?, ?, ?)",
            [[e["信息资源代码"], e["contract_id"], e["kind"], json.dumps(e, ensure_ascii=False), now]
             for e in entries],
        )
    export_json(entries, settings.directory_dir / "directory.json")
    return entries


def _link_related(entries: list[dict[str, Any]], contracts: list[Contract], settings: Settings) -> None:
    """关联资源代码: the source resources upstream of each published table (dbt manifest lineage)."""
    manifest_path = settings.dbt_target_dir / "manifest.json"
    if not manifest_path.exists():
        return
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    parents: dict[str, list[str]] = manifest.get("parent_map", {})
    code_by_raw = {c.raw_table: e["信息资源代码"] for c, e in zip(contracts, entries, strict=True)
                   if c.kind == "source"}
    for contract, entry in zip(contracts, entries, strict=True):
        if contract.kind != "shared":
            continue
        node = f"model.cityshare.{contract.model_name}"
        seen, stack, related = set(), [node], set()
        while stack:
            for parent in parents.get(stack.pop(), []):
                if parent in seen:
                    continue
                seen.add(parent)
                if parent.startswith("source.cityshare.raw."):
                    code = code_by_raw.get(parent.rsplit(".", 1)[1])
                    if code:
                        related.add(code)
                stack.append(parent)
        entry["关联资源代码"] = sorted(related)


def export_json(entries: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"共享数据资源目录": entries}, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def load_entries(settings: Settings | None = None) -> list[dict[str, Any]]:
    settings = settings or get_settings()
    path = settings.directory_dir / "directory.json"
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))["共享数据资源目录"]
