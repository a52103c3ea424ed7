"""Portal sessions (会话): an opaque, expiring, server-side id in the cookie — never the API token.

The store keeps only a SHA-256 of the id (a stolen store opens no session), the token it was opened
with (revoking or expiring the token ends its sessions too) and the session's CSRF token, which
every state-changing form echoes. Logging out revokes the row, so a copied cookie dies with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cityshare.settings import Settings
from cityshare.share import store
from cityshare.share.tokens import Identity, resolve_id

COOKIE = "cityshare_session"
LIFETIME = dt.timedelta(hours=8)


@dataclass(frozen=True)
class Session:
    identity: Identity
    csrf: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(settings: Settings, ident: Identity) -> str:
    """A new session for a token's identity; returns the cookie value (shown to nobody else)."""
    session_id = secrets.token_urlsafe(32)
    created = store.now()
    with store.connect(settings, write=True) as con:
        con.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, NULL)",
                    [_hash(session_id), ident.token_id, secrets.token_urlsafe(32), created.isoformat(),
                     (created + LIFETIME).isoformat()])
    return session_id


def resolve(settings: Settings, session_id: str) -> tuple[Session | None, str | None]:
    """(session, None) for a live session of a live token, else (None, reason)."""
    if not session_id or len(session_id) > 100:
        return None, "会话无效，请重新登录"
    with store.connect(settings) as con:
        row = con.execute("SELECT * FROM sessions WHERE id_hash = ?", [_hash(session_id)]).fetchone()
    if row is None or row["revoked_at"]:
        return None, "会话无效或已退出，请重新登录"
    if dt.datetime.fromisoformat(row["expires_at"]) <= store.now():
        return None, "会话已过期，请重新登录"
    ident, problem = resolve_id(settings, row["token_id"])
    if ident is None or problem:
        return None, problem or "令牌无效"
    return Session(ident, row["csrf"]), None


def revoke(settings: Settings, session_id: str) -> bool:
    with store.connect(settings, write=True) as con:
        cur = con.execute("UPDATE sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL",
                          [store.now().isoformat(), _hash(session_id or "")])
        return cur.rowcount == 1


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    return session is not None and bool(presented) and hmac.compare_digest(session.csrf, presented or "")
