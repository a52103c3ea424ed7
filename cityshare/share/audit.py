"""Append-only audit log (审计日志): a keyed hash chain plus signed checkpoints of its head.

Each record's hash is an HMAC, under the audit key (cityshare.keys.audit_key), of the previous
hash and the record: editing, deleting or reordering a record breaks the chain, and recomputing it
after an edit needs the key. A chain cannot show that its newest records were cut off, so the head
(record count and hash) is anchored: a checkpoint signed with the platform's Ed25519 key and appended
to a file apart from the log (``settings.audit_anchor_dir``), at least once a day and on every export
receipt. ``verify`` checks the chain and every checkpoint, and names the first bad record.
Appends serialize on SQLite's write lock, so the chain stays linear across processes. Raw ID numbers
and mobile numbers in logged parameters are masked before they are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

from cityshare.faults import crash_point
from cityshare.keys import audit_key, owner_only_dir
from cityshare.privacy import mask_id_number, mask_mobile
from cityshare.settings import Settings
from cityshare.share import receipts, store
from cityshare.share.tokens import Identity

GENESIS = "0" * 64
FIELDS = ("seq", "at", "department", "user_name", "role", "token_id", "action", "target", "grant_id", "rows",
          "status", "detail")
ANCHORS = "anchors.jsonl"
# PII in parameters (a filter value, a row key): an ID number or a mobile number standing alone.
_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
_anchored_day: dict[Path, str] = {}
_anchor_lock = threading.Lock()


def _key(settings: Settings) -> bytes:
    return audit_key(settings)


def _digest(key: bytes, prev_hash: str, record: dict[str, Any]) -> str:
    body = json.dumps({k: record[k] for k in FIELDS}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, (prev_hash + body).encode(), hashlib.sha256).hexdigest()


def mask_pii(text: str) -> str:
    """ID and mobile numbers masked the way the shared layer masks them."""
    text = _ID.sub(lambda m: mask_id_number(m.group()) or "", text)
    return _MOBILE.sub(lambda m: mask_mobile(m.group()) or "", text)


def append(con: sqlite3.Connection, who: Identity | None, action: str, target: str | None = None, *,
           status: int = 200, rows: int | None = None, grant_id: str | None = None,
           detail: dict[str, Any] | None = None, settings: Settings) -> dict[str, Any]:
    """Append one record inside the caller's write transaction; returns the stored record."""
    last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    record = {
        "seq": (last["seq"] + 1) if last else 1, "at": store.now().isoformat(),
        "department": who.department if who else None, "user_name": who.user if who else None,
        "role": who.role if who else None, "token_id": who.token_id if who else None,
        "action": action, "target": mask_pii(target) if target else target, "grant_id": grant_id, "rows": rows,
        "status": status,
        "detail": mask_pii(json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)) if detail else None,
    }
    prev = last["hash"] if last else GENESIS
    record["prev_hash"], record["hash"] = prev, _digest(_key(settings), prev, record)
    crash_point("audit.append")
    con.execute(f"INSERT INTO audit_log ({', '.join(record)}) VALUES ({', '.join('?' * len(record))})",
                list(record.values()))
    return record


def record(settings: Settings, who: Identity | None, action: str, target: str | None = None,
           **kwargs: Any) -> dict[str, Any]:
    """Append one record in its own transaction; the first record of a day anchors the head."""
    with store.connect(settings, write=True) as con:
        rec = append(con, who, action, target, settings=settings, **kwargs)
    if _anchored_day.get(settings.audit_anchor_dir) != rec["at"][:10]:
        anchor(settings)
    return rec


def _anchors_file(settings: Settings) -> Path:
    return settings.audit_anchor_dir / ANCHORS


def anchor(settings: Settings) -> dict[str, Any]:
    """Sign the committed head (record count and hash) and append it to the anchors file."""
    with store.connect(settings) as con:
        last = con.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    payload: dict[str, Any] = {"kind": "cityshare-audit-anchor", "records": last["seq"] if last else 0,
               "head": last["hash"] if last else GENESIS, "at": store.now().isoformat()}
    doc = receipts.sign(settings, payload)
    line = json.dumps({"checkpoint": doc["receipt"], "signature": doc["signature"]}, ensure_ascii=False)
    path = _anchors_file(settings)
    with _anchor_lock:
        owner_only_dir(path.parent)
        fresh = not path.exists()
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        if fresh:
            path.chmod(0o600)
        _anchored_day[settings.audit_anchor_dir] = payload["at"][:10]
    return payload


def anchors(settings: Settings) -> list[dict[str, Any]]:
    """The signed checkpoints, oldest first (each with ``valid``: its signature checks out)."""
    path, public = _anchors_file(settings), receipts.public_key_pem(settings)
    out = []
    if path.exists():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                doc = json.loads(line)
                ok = receipts.signature_ok({"receipt": doc["checkpoint"], "signature": doc["signature"]}, public)
                out.append({**doc["checkpoint"], "valid": ok, "line": number})
            except (ValueError, KeyError, TypeError):
                out.append({"valid": False, "line": number})
    return out


def entries(settings: Settings, limit: int = 100, action: str | None = None,
            target: str | None = None) -> list[dict[str, Any]]:
    """The latest records, newest first (optionally one action / one target)."""
    sql, params = "SELECT * FROM audit_log WHERE 1 = 1", list[Any]()
    if action:
        sql, params = sql + " AND action = ?", [*params, action]
    if target:
        sql, params = sql + " AND target = ?", [*params, target]
    with store.connect(settings) as con:
        rows = con.execute(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit]).fetchall()
    return [dict(r) for r in rows]


def verify(settings: Settings) -> dict[str, Any]:
    """Recompute the keyed chain, then hold it against every signed checkpoint; names the first bad record."""
    key, prev, count, heads = _key(settings), GENESIS, 0, {}

    def bad(seq: int, reason: str) -> dict[str, Any]:
        return {"ok": False, "records": count, "bad_seq": seq, "reason": reason}

    with store.connect(settings) as con:
        for row in con.execute("SELECT * FROM audit_log ORDER BY seq"):
            rec = dict(row)
            count += 1
            if rec["seq"] != count:
                return bad(count, f"记录 {count} 缺失（下一条为 {rec['seq']}）：记录被删除")
            if rec["prev_hash"] != prev:
                return bad(count, "前序哈希不一致（记录被删除、调换顺序或改动）")
            if not hmac.compare_digest(_digest(key, prev, rec), rec["hash"]):
                return bad(count, "记录内容与带密钥哈希不符（记录被篡改）")
            prev = heads[count] = rec["hash"]
    checkpoints = anchors(settings)
    for cp in checkpoints:
        if not cp["valid"]:
            return bad(count + 1, f"锚点文件第 {cp['line']} 行签名无效（锚点被伪造或改动）")
        if cp["records"] > count:
            return bad(count + 1, f"日志尾部被截断：{cp['at'][:19]} 的锚点记录了 {cp['records']} 条，日志只有 {count} 条")
        if cp["records"] and heads.get(cp["records"]) != cp["head"]:
            return bad(cp["records"], f"第 {cp['records']} 条与 {cp['at'][:19]} 的锚点哈希不符")
    return {"ok": True, "records": count, "head": prev, "bad_seq": None, "reason": None,
            "anchors": len(checkpoints), "anchored_records": max((c["records"] for c in checkpoints), default=0)}
