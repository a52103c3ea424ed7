"""Paginated JSON HTTP APIs of departments.

Server (ODCS ``api``): ``location``; customProperties:

- ``pagination``: ``page`` (``page``/``page_size`` parameters), ``offset`` (``offset``/``limit``),
  ``cursor`` (``cursor`` parameter, next cursor from ``nextCursorField``) or ``none``;
  ``pageSize``; parameter names can be renamed with ``pageParameter``, ``pageSizeParameter``,
  ``offsetParameter``, ``limitParameter``, ``cursorParameter``;
- ``windowParameter``: the query parameter that receives the load date;
- ``recordsField`` (default ``data``), ``totalField`` (default ``total``), ``nextCursorField``
  (default ``next_cursor``);
- ``tokenEnv``: the environment variable holding the bearer token (never the token itself);
- ``rateLimitPerSecond``: at most this many requests per second;
- ``retries`` (default 3), ``backoffSeconds`` (default 0.5, doubled per retry), ``timeoutSeconds``
  (default 30): 5xx, 429, timeouts and connection errors are retried; other 4xx fail at once.

Nested fields are flattened by each property's ``sourceField`` (dotted path). Every page is hashed,
so a re-run that receives the same records lands the same batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from cityshare.contracts.model import Contract
from cityshare.errors import SourceError, UnusableInput
from cityshare.settings import Settings
from cityshare.sources.base import Extract, RowBatcher, dig, source_fields, to_text

MAX_PAGES = 100_000


def bearer_token(contract: Contract, settings: Settings) -> str | None:
    """The bearer token from the variable the contract names (``tokenEnv``), None when it names none."""
    env = contract.server_option("tokenEnv")
    if not env:
        return None
    from cityshare.keys import MissingSecret, source_token

    try:  # the variable the contract names, or the demo simulator's own token; never another source's
        return source_token(settings, env)
    except MissingSecret as exc:
        raise UnusableInput(f"{contract.path}: servers[0].customProperties.tokenEnv: {exc}") from None


class _Client:
    """GET with rate limit and exponential backoff on 5xx/429/timeouts; 4xx fails at once."""

    def __init__(self, contract: Contract, token: str | None) -> None:
        import httpx

        opt = contract.server_option
        self.retries = max(1, int(opt("retries", 3)))
        self.backoff = float(opt("backoffSeconds", 0.5))
        rate = float(opt("rateLimitPerSecond", 0) or 0)
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._last = 0.0
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(headers=headers, timeout=float(opt("timeoutSeconds", 30)))
        self.requests = 0
        self.last_modified: dt.datetime | None = None  # the latest Last-Modified of the pages read (UTC)

    def _pace(self) -> None:
        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def get(self, url: str, params: dict[str, Any]) -> Any:
        import httpx

        where = f"{url}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        for attempt in range(1, self.retries + 1):
            self._pace()
            self.requests += 1
            try:
                resp = self.http.get(url, params=params)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if resp.status_code < 500 and resp.status_code != 429:
                    body = _json(resp, where)
                    self._note_modified(resp.headers.get("last-modified"))
                    return body
                problem = f"HTTP {resp.status_code}"
            if attempt == self.retries:
                raise SourceError(f"{where}: {problem} after {self.retries} tries; no batch landed")
            time.sleep(self.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_modified(self, header: str | None) -> None:
        """Keep the latest ``Last-Modified`` (RFC 9110 HTTP date) as the delivery time; ignore a malformed one."""
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(header).astimezone(dt.UTC).replace(tzinfo=None) if header else None
        except (TypeError, ValueError):
            when = None
        if when is not None and (self.last_modified is None or when > self.last_modified):
            self.last_modified = when

    def close(self) -> None:
        self.http.close()


def _json(resp: Any, where: str) -> Any:
    if resp.status_code != 200:
        raise SourceError(f"{where}: HTTP {resp.status_code}: {resp.text[:200]}")
    if "json" not in resp.headers.get("content-type", ""):
        raise SourceError(f"{where}: expected JSON, got {resp.headers.get('content-type')!r}")
    try:
        return resp.json()
    except ValueError as exc:
        raise SourceError(f"{where}: response is not valid JSON: {exc}") from None


def extract_api(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    url = contract.server_value("location", settings)
    window = contract.server_option("windowParameter")
    uri = f"{url}?{window}={load_date}" if window else url
    extract = Extract(source_uri=uri, batches=iter(()))
    token = bearer_token(contract, settings)  # fail before any request if the secret is missing
    extract.batches = _pages(contract, url, load_date, token, extract)
    return extract


def _pages(contract: Contract, url: str, load_date: dt.date, token: str | None,
           extract: Extract) -> Iterator[pa.RecordBatch]:
    opt = contract.server_option
    fields = source_fields(contract)
    names = list(fields)
    types = {p.name: p.logical_type for p in contract.properties}
    kind = str(opt("pagination", "page"))
    if kind not in ("page", "offset", "cursor", "none"):
        raise UnusableInput(f"{contract.path}: servers[0].customProperties.pagination: page/offset/cursor/none, got {kind!r}")
    size = int(opt("pageSize", 500))
    records_field = str(opt("recordsField", "data"))
    total_field = str(opt("totalField", "total"))
    base: dict[str, Any] = {}
    if opt("windowParameter"):
        base[str(opt("windowParameter"))] = load_date.isoformat()
    client = _Client(contract, token)
    try:
        page, offset, cursor, seen = 1, 0, None, 0
        for _ in range(MAX_PAGES):
            params = dict(base)
            if kind == "page":
                params |= {opt("pageParameter", "page"): page, opt("pageSizeParameter", "page_size"): size}
            elif kind == "offset":
                params |= {opt("offsetParameter", "offset"): offset, opt("limitParameter", "limit"): size}
            elif kind == "cursor":
                params[opt("limitParameter", "limit")] = size
                if cursor:
                    params[opt("cursorParameter", "cursor")] = cursor
            body = client.get(url, params)
            extract.delivered_at = client.last_modified
            rows = dig(body, records_field) if isinstance(body, dict) else body
            if not isinstance(rows, list):
                raise SourceError(f"{url}: page {page}: no {records_field!r} list in the response")
            extract.fingerprint_parts.append(
                hashlib.sha256(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
            )
            if rows:
                batcher = RowBatcher(names, size=len(rows) + 1)  # one Arrow batch per page
                for r in rows:
                    batcher.add(tuple(to_text(dig(r, fields[n]), types[n]) for n in names))
                out = batcher.flush()
                if out is not None:
                    yield out
            seen += len(rows)
            page += 1
            offset += len(rows)
            if kind == "none" or not rows:
                return
            if kind == "cursor":
                cursor = dig(body, str(opt("nextCursorField", "next_cursor")))
                if not cursor:
                    return
                continue
            total = body.get(total_field) if isinstance(body, dict) else None
            if (total is not None and seen >= int(total)) or (total is None and len(rows) < size):
                return
        raise UnusableInput(f"{url}: more than {MAX_PAGES} pages; the API does not end its pagination")
    finally:
        client.close()
