"""Paginated JSON HTTP APIs of departments (bearer token, page pagination, retries)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from cityshare.contracts.model import Contract, expand
from cityshare.errors import SourceError
from cityshare.settings import Settings
from cityshare.sources import Extract, string_schema

RETRIES = 3


def _token(contract: Contract, settings: Settings) -> str | None:
    env = contract.server_option("tokenEnv")
    if not env:
        return None
    # The simulator's token has an embedded default so the embedded demo needs no secret set up.
    default = settings.sim_api_token if env == "CITYSHARE_SCJGJ_API_TOKEN" else None
    return os.environ.get(env, default)


def _get(client: Any, url: str, params: dict[str, Any]) -> Any:
    """GET with exponential backoff on 5xx and transport errors; 4xx fails at once."""
    import httpx

    for attempt in range(RETRIES):
        try:
            resp = client.get(url, params=params)
        except httpx.TransportError as exc:
            if attempt == RETRIES - 1:
                raise SourceError(f"{url}: {type(exc).__name__} after {RETRIES} tries: {exc}") from None
        else:
            if resp.status_code < 500:
                break
            if attempt == RETRIES - 1:
                raise SourceError(f"{url}: HTTP {resp.status_code} after {RETRIES} tries")
        time.sleep(0.5 * 2**attempt)
    if resp.status_code != 200:
        raise SourceError(f"{url}?{params}: HTTP {resp.status_code}: {resp.text[:200]}")
    if "json" not in resp.headers.get("content-type", ""):
        raise SourceError(f"{url}: expected JSON, got {resp.headers.get('content-type')!r}")
    try:
        return resp.json()
    except ValueError as exc:
        raise SourceError(f"{url}: response is not valid JSON: {exc}") from None


def extract_api(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    url = expand(contract.server["location"], settings)
    extract = Extract(source_uri=f"{url}?{contract.server_option('windowParameter')}={load_date}",
                      batches=iter(()))
    extract.batches = _pages(contract, url, load_date, settings, extract)
    return extract


def _pages(
    contract: Contract, url: str, load_date: dt.date, settings: Settings, extract: Extract
) -> Iterator[pa.RecordBatch]:
    import httpx

    names = [p.name for p in contract.properties]
    schema = string_schema(names)
    page_size = int(contract.server_option("pageSize", 500))
    window = contract.server_option("windowParameter", "date")
    token = _token(contract, settings)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(headers=headers, timeout=30.0) as client:
        page, seen = 1, 0
        while True:
            body = _get(client, url, {window: load_date.isoformat(), "page": page, "page_size": page_size})
            rows = body.get("data") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise SourceError(f"{url}: page {page}: no 'data' list in the response")
            extract.fingerprint_parts.append(hashlib.sha256(repr(rows).encode()).hexdigest())
            if rows:
                columns = {n: [_text(r.get(n)) for r in rows] for n in names}
                yield pa.RecordBatch.from_pydict(columns, schema=schema)
            seen += len(rows)
            if not rows or seen >= int(body.get("total", 0)):
                return
            page += 1


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)
