"""Entry versions (目录条目版本): every change of an entry is a new version with a changelog line.

Departments rely on an entry staying what it said it was; when it changes they need to see what
changed (field-level diff), when, and why (the contract version or the publication that caused it).
``directory.entries`` holds the current entry, ``directory.entry_versions`` the whole history.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cityshare.warehouse import insert_rows

DDL = """
CREATE TABLE IF NOT EXISTS directory.entry_versions (
    resource_code VARCHAR, entry_version INTEGER, contract_id VARCHAR, entry JSON, changes JSON,
    changelog VARCHAR, reason VARCHAR, contract_version VARCHAR, publication_version INTEGER,
    changed_at TIMESTAMP, PRIMARY KEY (resource_code, entry_version));
"""

# Keys describing the version itself; they never count as a change of the entry.
VERSION_KEYS = frozenset({"条目版本", "变更记录", "更新时间"})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"共享属性.共享类型": ..., "信息项信息[case_id].数据类型": ...}`` — the unit of a field diff."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, sub in value.items():
            if not prefix and key in VERSION_KEYS:
                continue
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        for item in value:
            out.update(flatten(item, f"{prefix}[{item['name']}]"))
    else:
        out[prefix] = value
    return out


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Field-level changes ``{"field", "old", "new"}`` (``old``/``new`` None when added/removed)."""
    a, b = flatten(old), flatten(new)
    return [{"field": k, "old": a.get(k), "new": b.get(k)}
            for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]


def _reason(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """Why the entry changed: contract version, publication version, new accepted batches."""
    if old is None:
        if not new.get("contract_id"):  # harvested from a DCAT-AP catalogue: no contract behind it here
            return f"首次编目（汇聚自{(new.get('来源平台') or {}).get('平台名称') or '下级平台'}）"
        return f"首次编目（契约 {new.get('contract_id')} 版本 {new.get('契约版本')}）"
    reasons = []
    if old.get("契约版本") != new.get("契约版本"):
        reasons.append(f"契约版本 {old.get('契约版本')} → {new.get('契约版本')}")
    if old.get("version") != new.get("version"):
        reasons.append(f"发布版本 v{old.get('version') or '—'} → v{new.get('version')}")
    if not reasons:
        reasons.append("契约或数据内容变更（契约版本号未变）")
    return "；".join(reasons)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "…"


def changelog_line(when: dt.datetime, version: int, changes: list[dict[str, Any]], reason: str) -> str:
    """One human line: ``2026-11-27 02:00:00 v3 共享属性.共享类型: 有条件共享 → 无条件共享 …（原因: …）``."""
    if not changes:
        what = "新建条目"
    else:
        parts = [f"{c['field']}: {_short(c['old']) if c['old'] is not None else '（无）'} → "
                 f"{_short(c['new']) if c['new'] is not None else '（删除）'}" for c in changes[:6]]
        what = "；".join(parts) + (f" 等 {len(changes)} 项" if len(changes) > 6 else "")
    return f"{when:%Y-%m-%d %H:%M:%S} v{version} {what}（原因：{reason}）"


def record_versions(con: Any, entries: list[dict[str, Any]], now: dt.datetime) -> list[str]:
    """Compare each entry with its latest version; store a new version where anything changed.

    Sets ``条目版本`` and ``变更记录`` (the latest changelog line) on every entry; returns the resource codes
    that got a new version. Runs inside the caller's transaction.
    """
    con.execute(DDL)
    latest = {
        code: (version, entry, line)
        for code, version, entry, line in con.execute(
            "SELECT resource_code, entry_version, entry::VARCHAR, changelog FROM directory.entry_versions "
            "QUALIFY row_number() OVER (PARTITION BY resource_code ORDER BY entry_version DESC) = 1"
        ).fetchall()
    }
    rows = []
    for entry in entries:
        code = entry["信息资源代码"]
        previous = latest.get(code)
        if previous:
            entry["条目版本"], entry["变更记录"] = previous[0], previous[2]
            if json.dumps(entry, ensure_ascii=False) == previous[1]:  # the same text: unchanged, no field diff needed
                continue
        old_entry = json.loads(previous[1]) if previous else None
        changes = diff(old_entry, entry) if old_entry is not None else []
        if previous and not changes:
            continue
        version = previous[0] + 1 if previous else 1
        reason = _reason(old_entry, entry)
        line = changelog_line(now, version, changes, reason)
        entry["条目版本"], entry["变更记录"] = version, line
        rows.append([code, version, entry.get("contract_id"), json.dumps(entry, ensure_ascii=False),
                     json.dumps(changes, ensure_ascii=False, default=str), line, reason,
                     entry.get("契约版本"), entry.get("version"), now])
    insert_rows(con, "directory.entry_versions", rows)
    return [row[0] for row in rows]
