"""Access requests (共享申请), decisions, grants (授权) and data corrections (数据纠错).

A consumer applies with purpose, columns and period; the provider's approver answers within 10
working days on the Chinese calendar, a refusal with its reason; late answers are escalated to
governance. Every step is appended to the audit chain in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from cityshare.settings import Settings
from cityshare.share import audit, store
from cityshare.share.auth import ShareError
from cityshare.share.rows import QueryError, grant_filters
from cityshare.share.tables import SharedTable
from cityshare.share.tokens import Identity
from cityshare.vocabulary import SharingType
from cityshare.workcal import next_workday

MAX_PERIOD_DAYS = 366
REQUEST_DEADLINE_WORKDAYS = 10  # 《政务数据共享条例》: the provider answers within 10 working days
CORRECTION_DEADLINE_WORKDAYS = 5  # 数据纠错: provider's reply window (project default, unverified)


def _id(prefix: str) -> str:
    return f"{prefix}-{store.now():%Y%m%d}-{secrets.token_hex(3)}"


def _row(r: Any) -> dict[str, Any]:
    d = dict(r)
    for key in ("columns", "row_filter"):
        if key in d and isinstance(d[key], str):
            d[key] = json.loads(d[key])
    return d


def submit_request(settings: Settings, who: Identity, table: SharedTable, purpose: str, columns: list[str],
                   period_days: int, row_filter: list[dict[str, Any]] | None = None,
                   today: dt.date | None = None) -> dict[str, Any]:
    """File a request; the deadline is the 10th working day after receipt."""
    today = today or store.today()
    if who.role == "governance":
        raise ShareError(403, "治理管理员不以部门身份申请数据")
    if who.department == table.provider:
        raise ShareError(400, f"{who.department} 是 {table.name} 的提供方，无需申请")
    if table.sharing_type == SharingType.UNCONDITIONAL:
        raise ShareError(400, f"{table.name} 为无条件共享资源，无需申请，可直接读取")
    if table.sharing_type != SharingType.CONDITIONAL:
        raise ShareError(403, f"{table.name} 为{table.sharing_type or '未知共享类型'}资源，不受理共享申请；"
                              "请与提供方协商或报共享主管部门协调")
    purpose = (purpose or "").strip()
    if not 4 <= len(purpose) <= 500:
        raise ShareError(400, "purpose: 请说明用途（4–500 字）")
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise ShareError(400, f"columns: 表 {table.name} 没有字段 {', '.join(map(repr, unknown[:5]))}")
    if not 1 <= period_days <= MAX_PERIOD_DAYS:
        raise ShareError(400, f"period_days: 使用期限 1–{MAX_PERIOD_DAYS} 天")
    row_filter = row_filter or []
    try:
        grant_filters(table, row_filter)
    except (QueryError, KeyError, TypeError, AttributeError) as exc:
        raise ShareError(400, f"row_filter: {exc}") from None
    req = {"id": _id("REQ"), "table_name": table.name, "provider": table.provider, "department": who.department,
           "user_name": who.user, "purpose": purpose, "columns": json.dumps(list(dict.fromkeys(columns))),
           "row_filter": json.dumps(row_filter, ensure_ascii=False), "period_days": period_days,
           "status": "pending", "submitted_at": store.now().isoformat(),
           "deadline": next_workday(today, REQUEST_DEADLINE_WORKDAYS).isoformat(),
           "decided_at": None, "decided_by": None, "reason": None, "grant_id": None, "escalated_at": None}
    with store.connect(settings, write=True) as con:
        con.execute(f"INSERT INTO access_requests ({', '.join(req)}) VALUES ({', '.join('?' * len(req))})",
                    list(req.values()))
        audit.append(con, who, "request.submit", table.name, status=201,
                     detail={"request": req["id"], "columns": columns, "period_days": period_days,
                             "deadline": req["deadline"]}, settings=settings)
    return _row(req)


def decide(settings: Settings, who: Identity, request_id: str, approve: bool, reason: str = "",
           today: dt.date | None = None) -> dict[str, Any]:
    """The provider's approver approves (creating a grant) or refuses with a reason."""
    today = today or store.today()
    reason = (reason or "").strip()
    req = get_request(settings, request_id)
    if who.role != "approver" or who.department != req["provider"]:
        exc = ShareError(403, f"只有提供方 {req['provider']} 的审批人可以审批此申请")
        audit.record(settings, who, "request.decide", req["table_name"], status=403, detail={"request": request_id})
        exc.audited = True
        raise exc
    with store.connect(settings, write=True) as con:
        req = _row(con.execute("SELECT * FROM access_requests WHERE id = ?", [request_id]).fetchone())
        if req["status"] != "pending":
            raise ShareError(409, f"申请 {request_id} 已处理（{req['status']}）")
        if not approve and len(reason) < 2:
            raise ShareError(400, "reason: 不予批准必须说明理由")
        grant_id = None
        if approve:
            grant_id = _id("GRT")
            until = today + dt.timedelta(days=req["period_days"] - 1)
            con.execute("INSERT INTO grants VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                        [grant_id, request_id, req["table_name"], req["provider"], req["department"],
                         json.dumps(req["columns"]), json.dumps(req["row_filter"], ensure_ascii=False),
                         today.isoformat(), until.isoformat(), who.user, store.now().isoformat()])
        status = "approved" if approve else "refused"
        con.execute("UPDATE access_requests SET status = ?, decided_at = ?, decided_by = ?, reason = ?, grant_id = ? "
                    "WHERE id = ?", [status, store.now().isoformat(), who.user, reason or None, grant_id, request_id])
        audit.append(con, who, f"request.{'approve' if approve else 'refuse'}", req["table_name"], grant_id=grant_id,
                     detail={"request": request_id, "reason": reason, "on_time": today.isoformat() <= req["deadline"]},
                     settings=settings)
    return get_request(settings, request_id)


def get_request(settings: Settings, request_id: str) -> dict[str, Any]:
    with store.connect(settings) as con:
        row = con.execute("SELECT * FROM access_requests WHERE id = ?", [request_id]).fetchone()
    if row is None:
        raise ShareError(404, f"没有共享申请 {request_id}")
    return _row(row)


def list_requests(settings: Settings, who: Identity, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Governance sees all; others see their department's requests and those addressed to it."""
    today = today or store.today()
    with store.connect(settings) as con:
        if who.role == "governance":
            rows = con.execute("SELECT * FROM access_requests ORDER BY submitted_at DESC").fetchall()
        else:
            rows = con.execute("SELECT * FROM access_requests WHERE department = ? OR provider = ? "
                               "ORDER BY submitted_at DESC", [who.department, who.department]).fetchall()
    out = [_row(r) for r in rows]
    for r in out:
        r["overdue"] = r["status"] == "pending" and today.isoformat() > r["deadline"]
    return out


def list_grants(settings: Settings, who: Identity, today: dt.date | None = None) -> list[dict[str, Any]]:
    today = today or store.today()
    with store.connect(settings) as con:
        if who.role == "governance":
            rows = con.execute("SELECT * FROM grants ORDER BY created_at DESC").fetchall()
        else:
            rows = con.execute("SELECT * FROM grants WHERE department = ? OR provider = ? ORDER BY created_at DESC",
                               [who.department, who.department]).fetchall()
    out = [_row(r) for r in rows]
    for g in out:
        g["active"] = not g["revoked_at"] and g["valid_from"] <= today.isoformat() <= g["valid_until"]
    return out


def revoke_grant(settings: Settings, who: Identity | None, grant_id: str) -> bool:
    """Withdraw a grant early (provider approver, governance or the CLI)."""
    with store.connect(settings, write=True) as con:
        row = con.execute("SELECT provider, table_name FROM grants WHERE id = ?", [grant_id]).fetchone()
        if row is None:
            return False
        if who is not None and not (who.role == "governance" or (who.role == "approver" and who.department == row[0])):
            raise ShareError(403, "只有提供方审批人或治理管理员可以撤销授权")
        cur = con.execute("UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                          [store.now().isoformat(), grant_id])
        if cur.rowcount:
            audit.append(con, who, "grant.revoke", row[1], grant_id=grant_id, settings=settings)
        return cur.rowcount == 1


def sweep_overdue(settings: Settings, who: Identity | None = None, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Pending requests past their deadline; the first sighting escalates to governance (audited)."""
    today = today or store.today()
    with store.connect(settings, write=True) as con:
        rows = [_row(r) for r in con.execute(
            "SELECT * FROM access_requests WHERE status = 'pending' AND deadline < ? ORDER BY deadline",
            [today.isoformat()])]
        for r in rows:
            if r["escalated_at"] is None:
                r["escalated_at"] = store.now().isoformat()
                con.execute("UPDATE access_requests SET escalated_at = ? WHERE id = ?", [r["escalated_at"], r["id"]])
                audit.append(con, who, "request.escalate", r["table_name"], status=200,
                             detail={"request": r["id"], "provider": r["provider"], "deadline": r["deadline"]},
                             settings=settings)
    for r in rows:
        r["overdue_days"] = (today - dt.date.fromisoformat(r["deadline"])).days
    return rows


def submit_correction(settings: Settings, who: Identity, table: SharedTable, row_key: str, column: str,
                      current_value: str, proposed_value: str, description: str,
                      today: dt.date | None = None) -> dict[str, Any]:
    """数据纠错: a consumer flags a wrong value; the provider gets a case with a deadline."""
    today = today or store.today()
    if column not in table.columns:
        raise ShareError(400, f"column: 表 {table.name} 没有字段 {column!r}")
    row_key, description = (row_key or "").strip(), (description or "").strip()
    if not 1 <= len(row_key) <= 200:
        raise ShareError(400, "row_key: 请给出出错记录的主键值（1–200 字）")
    if not 4 <= len(description) <= 1000:
        raise ShareError(400, "description: 请说明错误情况（4–1000 字）")
    case = {"id": _id("FIX"), "table_name": table.name, "provider": table.provider, "department": who.department,
            "user_name": who.user, "row_key": row_key, "column_name": column, "current_value": (current_value or "")[:500],
            "proposed_value": (proposed_value or "")[:500], "description": description,
            "created_at": store.now().isoformat(),
            "deadline": next_workday(today, CORRECTION_DEADLINE_WORKDAYS).isoformat(), "status": "open",
            "resolved_at": None, "resolved_by": None, "resolution": None}
    with store.connect(settings, write=True) as con:
        con.execute(f"INSERT INTO corrections ({', '.join(case)}) VALUES ({', '.join('?' * len(case))})",
                    list(case.values()))
        audit.append(con, who, "correction.submit", table.name, status=201,
                     detail={"case": case["id"], "row_key": row_key, "column": column}, settings=settings)
    return case


def resolve_correction(settings: Settings, who: Identity, case_id: str, accepted: bool, resolution: str) -> dict[str, Any]:
    resolution = (resolution or "").strip()
    with store.connect(settings, write=True) as con:
        row = con.execute("SELECT * FROM corrections WHERE id = ?", [case_id]).fetchone()
        if row is None:
            raise ShareError(404, f"没有纠错工单 {case_id}")
        if who.role != "approver" or who.department != row["provider"]:
            raise ShareError(403, f"只有提供方 {row['provider']} 的审批人可以办理此工单")
        if row["status"] != "open":
            raise ShareError(409, f"工单 {case_id} 已办结")
        if len(resolution) < 2:
            raise ShareError(400, "resolution: 请说明处理结果")
        status = "fixed" if accepted else "rejected"
        con.execute("UPDATE corrections SET status = ?, resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ?",
                    [status, store.now().isoformat(), who.user, resolution, case_id])
        audit.append(con, who, f"correction.{status}", row["table_name"], detail={"case": case_id}, settings=settings)
        return dict(con.execute("SELECT * FROM corrections WHERE id = ?", [case_id]).fetchone())


def list_corrections(settings: Settings, who: Identity) -> list[dict[str, Any]]:
    with store.connect(settings) as con:
        if who.role == "governance":
            rows = con.execute("SELECT * FROM corrections ORDER BY created_at DESC").fetchall()
        else:
            rows = con.execute("SELECT * FROM corrections WHERE department = ? OR provider = ? ORDER BY created_at DESC",
                               [who.department, who.department]).fetchall()
    return [dict(r) for r in rows]
