"""Append-only audit log (审计日志) as a hash chain: each record's hash covers the previous hash.

Editing, deleting or reordering any record breaks every later hash, which ``cityshare audit verify``
detects. Appends serialize on SQLite's write lock, so the chain stays linear across processes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Any

from cityshare.settings import Settings
from cityshare.share import store
from cityshare.share.tokens import Identity

GENESIS = "0" * 64
FIELDS = ("seq", "at", "department", "user_name", "role", "token_id", "action", "target", "grant_id", "rows",
          "status", "detail")


def _digest(prev_hash: str, record: dict[str, Any]) -> str:
    body = json.dumps({k: record[k] for k in FIELDS}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(con: sqlite3.Connection, who: Identity | None, action: str, target: str | None = None, *,
           status: int = 200, rows: int | None = None, grant_id: str | None = None,
           detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one record inside the caller's write transaction; returns the stored record."""
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    record = {
        "seq": (last["seq"] + 1) if last else 1, "at": store.now().isoformat(),
        "department": who.department if who else None, "user_name": who.user if who else None,
        "role": who.role if who else None, "token_id": who.token_id if who else None,
        "action": action, "target": target, "grant_id": grant_id, "rows": rows, "status": status,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str) if detail else None,
    }
    prev = last["hash"] if last else GENESIS
    record["prev_hash"], record["hash"] = prev, _digest(prev, record)
    con.execute(f"INSERT INTO audit_log ({', '.join(record)}) VALUES ({', '.join('?' * len(record))})",
                list(record.values()))
    return record


def record(settings: Settings, who: Identity | None, action: str, target: str | None = None,
           **kwargs: Any) -> dict[str, Any]:
    """Append one record in its own transaction."""
    with store.connect(settings, write=True) as con:
        return append(con, who, action, target, **kwargs)


def entries(settings: Settings, limit: int = 100, action: str | None = None,
            target: str | None = None) -> list[dict[str, Any]]:
    """The latest records, newest first (optionally one action / one target)."""
    sql, params = "SELECT * FROM audit_log WHERE 1 = 1", []
    if action:
        sql, params = sql + " AND action = ?", [*params, action]
    if target:
        sql, params = sql + " AND target = ?", [*params, target]
    with store.connect(settings) as con:
        rows = con.execute(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit]).fetchall()
    return [dict(r) for r in rows]


def verify(settings: Settings) -> dict[str, Any]:
    """Recompute the chain; names the first record whose hash or link does not match."""
    prev, count = GENESIS, 0
    with store.connect(settings) as con:
        for row in con.execute("SELECT * FROM audit_log ORDER BY seq"):
            rec = dict(row)
            count += 1
            if rec["seq"] != count:
                return {"ok": False, "records": count, "bad_seq": rec["seq"], "reason": f"记录序号断档：应为 {count}"}
            if rec["prev_hash"] != prev:
                return {"ok": False, "records": count, "bad_seq": rec["seq"], "reason": "前序哈希不一致（记录被删除或改动）"}
            if _digest(prev, rec) != rec["hash"]:
                return {"ok": False, "records": count, "bad_seq": rec["seq"], "reason": "记录内容与哈希不符（记录被篡改）"}
            prev = rec["hash"]
    return {"ok": True, "records": count, "head": prev, "bad_seq": None, "reason": None}
