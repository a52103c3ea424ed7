"""Who may read what (共享类型 enforcement) and who the caller is.

无条件共享 → every department; 有条件共享 → the provider, or a department holding an approved,
unexpired grant (limited to its columns and rows); 不予共享 → the provider only. Governance staff
oversee requests and the audit log but read rows under the same rules as everyone (least privilege).
Unknown sharing types fail closed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from cityshare.settings import Settings
from cityshare.share import sessions, store
from cityshare.share.sessions import Session
from cityshare.share.tables import SharedTable
from cityshare.share.tokens import Identity, resolve
from cityshare.vocabulary import SharingType


class ShareError(Exception):
    """An HTTP-facing refusal: status code and a zh-CN message naming the rule."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.audited = False  # set once the refusal is in the audit chain, so the app does not log it twice


@dataclass
class Caller:
    """The resolved caller; ``problem`` says why a presented token was refused."""

    identity: Identity | None
    problem: str | None = None
    presented: bool = False
    session: Session | None = None  # set when the caller came through a portal session cookie

    @property
    def ok(self) -> bool:
        return self.identity is not None and self.problem is None


def caller_from(settings: Settings, authorization: str | None, cookie: str | None) -> Caller:
    """A Bearer token (API clients), else the portal session cookie; neither = anonymous."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        ident, problem = resolve(settings, value.strip() if scheme.lower() == "bearer" else "")
        return Caller(ident, problem, presented=True)
    if cookie:
        session, problem = sessions.resolve(settings, cookie)
        return Caller(session.identity if session else None, problem, presented=True, session=session)
    return Caller(None, None, presented=False)


def require(caller: Caller, *roles: str) -> Identity:
    """The caller's identity, or 401 (no/bad token) / 403 (wrong role)."""
    if not caller.presented:
        raise ShareError(401, "需要令牌：请在 Authorization: Bearer 中提供部门令牌，或在门户登录")
    if not caller.ok or caller.identity is None:
        raise ShareError(401, caller.problem or "令牌无效")
    if roles and caller.identity.role not in roles:
        raise ShareError(403, f"此操作需要角色 {'/'.join(roles)}，当前为 {caller.identity.role}")
    return caller.identity


@dataclass
class Access:
    """A permitted read: the columns allowed (None = all), forced row filters, and on what basis."""

    basis: str
    grant_id: str | None = None
    columns: set[str] | None = None
    row_filter: list[dict[str, Any]] = field(default_factory=list)


def active_grant(settings: Settings, department: str, table: str,
                 today: dt.date) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the live grant, the most recent expired/revoked one) of a department for a table."""
    with store.connect(settings) as con:
        rows = [dict(r) for r in con.execute(
            "SELECT * FROM grants WHERE department = ? AND table_name = ? ORDER BY valid_until DESC",
            [department, table])]
    live = [g for g in rows if not g["revoked_at"] and g["valid_from"] <= today.isoformat() <= g["valid_until"]]
    dead = [g for g in rows if g not in live]
    return (live[0] if live else None), (dead[0] if dead else None)


def authorize_read(settings: Settings, ident: Identity, table: SharedTable, today: dt.date | None = None) -> Access:
    """Apply the sharing type; raises ShareError(403) naming the rule when the read is refused."""
    return entitle(settings, ident, table.name, table.provider, table.sharing_type, today=today)


def entitle(settings: Settings, ident: Identity, name: str, provider: str, sharing_type: str, *,
            oversight: bool = False, today: dt.date | None = None) -> Access:
    """The one sharing-type rule for every row-level read (shared rows, samples, exports, quarantine).

    ``oversight`` admits governance staff too: they audit data quality (quarantine drill-downs) but
    read shared rows under the same rules as everyone.
    """
    today = today or store.today()
    if ident.department == provider:
        return Access(basis="提供方")
    if oversight and ident.role == "governance":
        return Access(basis="治理监督")
    if sharing_type == SharingType.UNCONDITIONAL:
        return Access(basis=SharingType.UNCONDITIONAL)
    from cityshare.share.display import department, table_title

    title = table_title(settings, name)  # messages reach clerks in the portal: names, not slugs
    if sharing_type == SharingType.NOT_SHARED:
        raise ShareError(403, f"{title} 为不予共享资源，仅提供方{department(settings, provider)}可读取")
    if sharing_type != SharingType.CONDITIONAL:
        raise ShareError(403, f"{title} 的共享类型 {sharing_type!r} 未知，拒绝读取")
    grant, dead = active_grant(settings, ident.department, name, today)
    if grant is None:
        if dead is not None:
            state = f"已于 {dead['revoked_at'][:10]} 撤销" if dead["revoked_at"] else f"有效期至 {dead['valid_until']}，已过期"
            raise ShareError(403, f"{title} 为有条件共享资源：授权 {dead['id']} {state}，请重新申请")
        raise ShareError(403, f"{title} 为有条件共享资源：{department(settings, ident.department)}尚无有效授权，"
                              "请先提交共享申请")
    columns = json.loads(grant["columns"]) or None
    return Access(basis=f"授权 {grant['id']}", grant_id=grant["id"], columns=set(columns) if columns else None,
                  row_filter=json.loads(grant["row_filter"]))
