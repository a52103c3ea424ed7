"""Per-department API tokens (令牌): issued by the CLI, stored only as an HMAC, revocable, expiring."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cityshare.errors import CityShareError
from cityshare.keys import require_token_key
from cityshare.settings import Settings
from cityshare.share import store

ROLES = {"consumer": "使用方", "approver": "提供方审批人", "governance": "治理管理员"}
_USER = re.compile(r"^[\w.\-\u4e00-\u9fff]{1,64}$")


@dataclass(frozen=True)
class Identity:
    """Who is calling: a department user holding one role."""

    token_id: str
    department: str
    user: str
    role: str

    @property
    def role_zh(self) -> str:
        return ROLES.get(self.role, self.role)


def departments(settings: Settings) -> dict[str, dict[str, str]]:
    from cityshare.departments import registry

    return registry(settings)


def token_hash(settings: Settings, token: str) -> str:
    """HMAC-SHA256 under a key derived from the city-held secret: a stolen store reveals no tokens."""
    key = hashlib.sha256(b"cityshare-api-token\x00" + require_token_key(settings).encode()).digest()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def issue(settings: Settings, department: str, user: str, role: str, days: int = 30) -> tuple[str, str]:
    """Create a token; returns (token id, token). The token itself is never stored."""
    known = departments(settings)
    if department not in known:
        raise CityShareError(f"{settings.catalog_dir / 'departments.yml'}: department {department!r} is not "
                             f"registered; known: {', '.join(sorted(known))}")
    if role not in ROLES:
        raise CityShareError(f"--role {role!r}: must be one of {', '.join(ROLES)}")
    if not _USER.match(user):
        raise CityShareError(f"--user {user!r}: 1–64 letters, digits, Chinese characters, '.', '-' or '_'")
    if not 1 <= days <= 366:
        raise CityShareError(f"--days {days}: a token lives 1–366 days")
    token_id = "tk_" + secrets.token_hex(6)
    token = "cs_" + secrets.token_urlsafe(32)
    created = store.now()
    with store.connect(settings, write=True) as con:
        con.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                    [token_id, token_hash(settings, token), department, user, role,
                     created.isoformat(), (created + dt.timedelta(days=days)).isoformat()])
    return token_id, token


def revoke(settings: Settings, token_id: str) -> bool:
    """Revoke a token by id; False when no such live token exists."""
    with store.connect(settings, write=True) as con:
        cur = con.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                          [store.now().isoformat(), token_id])
        return cur.rowcount == 1


def list_tokens(settings: Settings) -> list[dict[str, Any]]:
    with store.connect(settings) as con:
        rows = con.execute("SELECT id, department, user_name, role, created_at, expires_at, revoked_at "
                           "FROM tokens ORDER BY created_at").fetchall()
    return [dict(r) for r in rows]


def resolve(settings: Settings, token: str) -> tuple[Identity | None, str | None]:
    """(identity, None) for a live token, else (identity-or-None, reason) — reason names why it fails."""
    if not token or len(token) > 200:
        return None, "令牌无效"
    with store.connect(settings) as con:
        row = con.execute("SELECT * FROM tokens WHERE token_hash = ?", [token_hash(settings, token)]).fetchone()
    return _live(row)


def resolve_id(settings: Settings, token_id: str) -> tuple[Identity | None, str | None]:
    """As ``resolve``, by token id (a portal session holds the id, never the token)."""
    with store.connect(settings) as con:
        return _live(con.execute("SELECT * FROM tokens WHERE id = ?", [token_id]).fetchone())


def _live(row: Any) -> tuple[Identity | None, str | None]:
    if row is None:
        return None, "令牌无效"
    ident = Identity(row["id"], row["department"], row["user_name"], row["role"])
    if row["revoked_at"]:
        return ident, f"令牌 {row['id']} 已于 {row['revoked_at'][:19]} 吊销"
    if dt.datetime.fromisoformat(row["expires_at"]) <= store.now():
        return ident, f"令牌 {row['id']} 已于 {row['expires_at'][:19]} 过期"
    return ident, None
