"""ASGI guard in front of the app: rate limits (限流) and security headers on every response.

A flood is refused with 429 + Retry-After before it reaches the routes, so it cannot grow the audit
log. Each token (or session) and each client address has a token bucket refilled at its limit per
minute, bursting up to one minute's worth. Buckets live in this process; one portal process per
host is the deployment (docs/security.md). Pure ASGI, so streamed exports stay streamed.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

# 'self' only: no CDN, no inline script; inline style stays for the server-rendered SVG charts.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# Swagger UI's page starts itself with one inline script (its assets are local: /docs-assets).
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY"), (b"cross-origin-opener-policy", b"same-origin")]
MAX_BUCKETS = 50_000


class Buckets:
    """Token buckets by key: ``take`` answers 0 (go) or the seconds to wait."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._state[key] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._state) > MAX_BUCKETS:  # forget the longest idle (they are full again by now)
                self._state.popitem(last=False)
            return wait


class Guard:
    """Rate limits per credential and per client address, then the security headers."""

    def __init__(self, app: ASGI, per_token: int, per_address: int, credential_cookie: str) -> None:
        self.app = app
        self.tokens = Buckets(per_token) if per_token > 0 else None
        self.addresses = Buckets(per_address) if per_address > 0 else None
        self.cookie = credential_cookie.encode()

    def _credential(self, headers: dict[bytes, bytes]) -> str | None:
        raw = headers.get(b"authorization")
        if raw is None:
            for part in headers.get(b"cookie", b"").split(b";"):
                name, _, value = part.strip().partition(b"=")
                if name == self.cookie:
                    raw = value
        return hashlib.sha256(raw).hexdigest() if raw else None  # never keep a credential in memory

    def _wait(self, scope: Scope) -> float:
        headers = dict(scope.get("headers") or [])
        waits = []
        if self.tokens and (cred := self._credential(headers)):
            waits.append(self.tokens.take(cred))
        if self.addresses:
            waits.append(self.addresses.take((scope.get("client") or ("?", 0))[0]))
        return max(waits, default=0.0)

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [*HEADERS, (b"content-security-policy",
                            (DOCS_CSP if scope["path"].startswith("/docs") else CSP).encode())]
        wait = self._wait(scope) if scope["path"] != "/healthz" else 0.0
        if wait:
            seconds = max(1, math.ceil(wait))
            body = json.dumps({"detail": f"请求过于频繁，请 {seconds} 秒后重试"}, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", str(seconds).encode()),
                (b"content-length", str(len(body)).encode()), *extra]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
