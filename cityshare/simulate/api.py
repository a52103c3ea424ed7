"""The 市场监管局 registry's HTTP JSON API, as the department would expose it (loopback only).

``GET /api/v1/business_registry?updated_on=YYYY-MM-DD&page=1&page_size=500`` with
``Authorization: Bearer <token>`` returns ``{"data": [...], "page", "page_size", "total"}``: the
record versions whose ``updated_at`` falls on ``updated_on``, in the file's stable order
(``updated_at``, ``uscc``). ``GET /health`` needs no token. The same server plays two more departments' APIs:
``/api/v1/kitchen_alerts?date=…&limit=…&cursor=…`` (智慧厨房 alerts, cursor pagination, the 市场监管局
token) and ``/api/v1/parking_lots?as_of=…&offset=…&limit=…`` (交通局, offset pagination, records under
``result.lots``, token ``$CITYSHARE_JTJ_API_TOKEN``, see cityshare.keys). Errors are JSON: 400 bad parameters,
401 missing/wrong token, 404 unknown path. The JSONL file is read on every request, so a new
simulation is served without a restart.

Standard library only (``http.server``), so the simulator needs nothing the pipeline does not.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cityshare.keys import source_token
from cityshare.settings import Settings
from cityshare.simulate.arrivals import last_modified

HOST = "127.0.0.1"
REGISTRY_ENDPOINT = "/api/v1/business_registry"
KITCHEN_ENDPOINT = "/api/v1/kitchen_alerts"
PARKING_ENDPOINT = "/api/v1/parking_lots"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 500
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def registry_path(settings: Settings) -> Path:
    """Where the simulated 市场监管局 system keeps its registry (JSON Lines, one version per line)."""
    return settings.departments_dir / "scjgj" / "business_registry.jsonl"


class _BadRequest(ValueError):
    pass


def _int_param(params: dict[str, list[str]], name: str, default: int, maximum: int | None = None) -> int:
    values = params.get(name)
    if not values:
        return default
    raw = values[-1]
    if not raw.isascii() or not raw.isdigit():
        raise _BadRequest(f"{name} must be a positive integer, got {raw!r}")
    value = int(raw)
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" and at most {maximum}" if maximum is not None else ""
        raise _BadRequest(f"{name} must be at least 1{limit}, got {value}")
    return value


def _valid_date(text: str) -> bool:
    if not _DATE.fullmatch(text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _records_of_day(path: Path, day: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                record = json.loads(line)
                if str(record.get("updated_at", ""))[:10] == day:
                    records.append(record)
    return records


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _kitchen_alerts_of_day(path: Path, day: str) -> list[dict[str, Any]]:
    return [r for r in _jsonl(path) if r["alert"]["time"][:10] == day]


def _lots_open_on(path: Path, day: str) -> list[dict[str, Any]]:
    return [r for r in _jsonl(path) if r["opened_on"] <= day]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._cache_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def records(self, path: Path, window: str, select: Callable[[Path, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The records of one file and window, parsed once while the file is unchanged: without this every
        page request re-read the whole file, and paging a 10 M-row simulation took hours (quadratic)."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return []
        key = (str(path), stat.st_mtime_ns, stat.st_size, window)
        with self._cache_lock:
            if key not in self._cache:
                if len(self._cache) >= 8:  # a few windows at a time: bounded memory
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = select(path, window)
            return self._cache[key]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "scjgj-registry/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line."""

    def _send(self, status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": status.phrase, "message": message}, headers)

    def _authorized(self) -> bool:
        expected = f"Bearer {source_token(self.server.settings, 'CITYSHARE_SCJGJ_API_TOKEN')}".encode()
        given = self.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, expected)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._send(HTTPStatus.OK, {"status": "ok"})
            return
        if url.path.rstrip("/") in (KITCHEN_ENDPOINT, PARKING_ENDPOINT):
            self._more(url.path.rstrip("/"), parse_qs(url.query, keep_blank_values=True))
            return
        if url.path.rstrip("/") != REGISTRY_ENDPOINT:
            self._error(HTTPStatus.NOT_FOUND, f"no such endpoint: {url.path}")
            return
        if not self._authorized():
            self._error(HTTPStatus.UNAUTHORIZED, "missing or invalid bearer token",
                        {"WWW-Authenticate": 'Bearer realm="scjgj"'})
            return
        params = parse_qs(url.query, keep_blank_values=True)
        try:
            day = (params.get("updated_on") or [""])[-1]
            if not _valid_date(day):
                raise _BadRequest(f"updated_on must be a date YYYY-MM-DD, got {day!r}")
            page = _int_param(params, "page", 1)
            page_size = _int_param(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        except _BadRequest as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        records = self.server.records(registry_path(self.server.settings), day, _records_of_day)
        first = (page - 1) * page_size
        self._send(HTTPStatus.OK, {
            "data": records[first:first + page_size],
            "page": page,
            "page_size": page_size,
            "total": len(records),
        }, self._modified("scjgj/business_registry", day))

    def _modified(self, dataset: str, day: str) -> dict[str, str]:
        """``Last-Modified``: when the department published the day's data (cityshare.simulate.arrivals)."""
        header = last_modified(self.server.settings, dataset, day)
        return {"Last-Modified": header} if header else {}


    def _more(self, endpoint: str, params: dict[str, list[str]]) -> None:
        """智慧厨房 alerts (cursor pagination) and 交通局 parking lots (offset pagination)."""
        settings = self.server.settings
        kitchen = endpoint == KITCHEN_ENDPOINT
        token = source_token(settings, "CITYSHARE_SCJGJ_API_TOKEN" if kitchen else "CITYSHARE_JTJ_API_TOKEN")
        given = self.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            realm = "scjgj" if kitchen else "jtj"
            self._error(HTTPStatus.UNAUTHORIZED, "missing or invalid bearer token",
                        {"WWW-Authenticate": f'Bearer realm="{realm}"'})
            return
        try:
            day = (params.get("date" if kitchen else "as_of") or [""])[-1]
            if not _valid_date(day):
                raise _BadRequest(f"{'date' if kitchen else 'as_of'} must be a date YYYY-MM-DD, got {day!r}")
            limit = _int_param(params, "limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
            if kitchen:
                cursor = (params.get("cursor") or [""])[-1]
                try:
                    start = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
                except (ValueError, UnicodeDecodeError):
                    raise _BadRequest(f"invalid cursor {cursor!r}") from None
            else:
                offsets = (params.get("offset") or ["0"])[-1]
                if not offsets.isascii() or not offsets.isdigit():
                    raise _BadRequest(f"offset must be a non-negative integer, got {offsets!r}")
                start = int(offsets)
        except _BadRequest as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        dept = "scjgj" if kitchen else "jtj"
        name = "kitchen_alerts.jsonl" if kitchen else "parking_lots.jsonl"
        records = self.server.records(settings.departments_dir / dept / name, day,
                                      _kitchen_alerts_of_day if kitchen else _lots_open_on)
        modified = self._modified(f"{dept}/{name.removesuffix('.jsonl')}", day)
        if kitchen:
            page = records[start:start + limit]
            end = start + len(page)
            nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(records) else None
            self._send(HTTPStatus.OK, {"items": page, "next_cursor": nxt}, modified)
        else:
            self._send(HTTPStatus.OK, {"result": {"lots": records[start:start + limit], "total": len(records)},
                                       "offset": start, "limit": limit}, modified)


class ApiServer:
    """A running API server (daemon thread); ``stop()`` it or use it as a context manager."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="scjgj-api", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ApiServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_api_server(settings: Settings, port: int | None = None) -> ApiServer:
    """Start the API on 127.0.0.1 in a daemon thread (``port`` default ``settings.sim_api_port``; 0 = any)."""
    return ApiServer(_Server(settings.sim_api_port if port is None else port, settings))


def serve_forever(settings: Settings, port: int | None = None) -> None:
    """Serve the API in the foreground until interrupted (for a CLI command)."""
    server = _Server(settings.sim_api_port if port is None else port, settings)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
