"""The HTTP connector against a real loopback server: page/offset/cursor pagination, bearer token,
retries on 500 and timeouts, the rate limit, nested fields flattened by the contract."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from cityshare.contracts.model import load_contract
from cityshare.errors import SourceError
from cityshare.lake import land
from cityshare.sources import extract

DAY = dt.date(2026, 11, 25)
RECORDS = [{"id": f"R{i:03d}", "shop": {"uscc": f"U{i}", "name": f"店{i}"}, "level": i % 3 + 1} for i in range(1, 24)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        srv.calls.append((time.monotonic(), self.path, self.headers.get("Authorization")))
        if srv.fail_first:
            srv.fail_first -= 1
            self.send_response(500)
            self.end_headers()
            return
        if srv.delay:
            time.sleep(srv.delay)
        if self.headers.get("Authorization") != "Bearer s3cret":
            self.send_response(401)
            self.end_headers()
            return
        q = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        size = int(q.get("limit") or q.get("page_size") or 10)
        if srv.kind == "page":
            start = (int(q["page"]) - 1) * size
            body = {"data": RECORDS[start:start + size], "total": len(RECORDS)}
        elif srv.kind == "offset":
            start = int(q["offset"])
            body = {"result": {"rows": RECORDS[start:start + size]}}  # no total: a short page ends it
        else:
            start = int(q.get("cursor", "0"))
            end = start + size
            body = {"items": RECORDS[start:end], "next": str(end) if end < len(RECORDS) else None}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, kind: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.kind, self.fail_first, self.delay, self.calls = kind, 0, 0.0, []


@pytest.fixture
def server():
    servers = []

    def start(kind: str) -> _Server:
        srv = _Server(kind)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def _contract(tmp_path: Path, srv: _Server, **options) -> object:
    pagination = {"page": {"pagination": "page", "recordsField": "data"},
                  "offset": {"pagination": "offset", "recordsField": "result.rows"},
                  "cursor": {"pagination": "cursor", "recordsField": "items", "nextCursorField": "next"}}[srv.kind]
    opts = {**pagination, "pageSize": 10, "windowParameter": "date", "tokenEnv": "TEST_DEPT_TOKEN",
            "backoffSeconds": 0.01, **options}
    doc = {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "urn:test:api", "name": "t", "version": "1.0.0",
        "status": "active", "team": {"name": "tst"},
        "servers": [{"server": "api", "type": "api", "location": f"http://127.0.0.1:{srv.server_address[1]}/v1/things",
                     "customProperties": [{"property": k, "value": v} for k, v in opts.items()]}],
        "schema": [{"name": "things", "properties": [
            {"name": "id", "logicalType": "string"},
            {"name": "shop_uscc", "logicalType": "string",
             "customProperties": [{"property": "sourceField", "value": "shop.uscc"}]},
            {"name": "shop_name", "logicalType": "string",
             "customProperties": [{"property": "sourceField", "value": "shop.name"}]},
            {"name": "level", "logicalType": "integer"}]}],
    }
    path = tmp_path / "contracts" / "tst" / "things.odcs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_contract(path)


@pytest.mark.parametrize("kind", ["page", "offset", "cursor"])
def test_every_pagination_kind_reads_all_records_flattened(kind, server, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_DEPT_TOKEN", "s3cret")
    srv = server(kind)
    rows = [r for b in extract(_contract(tmp_path, srv), DAY, settings).batches for r in b.to_pylist()]
    assert rows == [{"id": r["id"], "shop_uscc": r["shop"]["uscc"], "shop_name": r["shop"]["name"], "level": str(r["level"])}
                    for r in RECORDS]
    assert len(srv.calls) == 3 and all(auth == "Bearer s3cret" for _, _, auth in srv.calls)
    assert all("date=2026-11-25" in path for _, path, _ in srv.calls)


def test_http_500_is_retried_then_succeeds_with_one_batch(server, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_DEPT_TOKEN", "s3cret")
    srv = server("page")
    srv.fail_first = 2
    contract = _contract(tmp_path, srv, retries=3)
    landed = land(contract, DAY, extract(contract, DAY, settings), settings)
    assert landed.rows == len(RECORDS)
    assert len(srv.calls) == 2 + 3  # two failures, then the three pages


def test_timeouts_exhausted_give_a_clear_error_and_no_batch(server, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_DEPT_TOKEN", "s3cret")
    srv = server("page")
    srv.delay = 0.5
    contract = _contract(tmp_path, srv, retries=2, timeoutSeconds=0.1)
    with pytest.raises(SourceError) as err:
        land(contract, DAY, extract(contract, DAY, settings), settings)
    assert "ReadTimeout" in str(err.value) and "after 2 tries" in str(err.value) and "page=1" in str(err.value)
    raw = settings.lake_dir / "raw"
    assert not raw.exists() or not [p for p in raw.rglob("*") if p.is_file()]


def test_rate_limit_spaces_requests(server, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_DEPT_TOKEN", "s3cret")
    srv = server("cursor")
    list(extract(_contract(tmp_path, srv, rateLimitPerSecond=5), DAY, settings).batches)
    times = [t for t, _, _ in srv.calls]
    assert len(times) == 3 and min(b - a for a, b in itertools.pairwise(times)) >= 0.18


def test_missing_token_and_wrong_token(server, settings, tmp_path, monkeypatch):
    srv = server("page")
    monkeypatch.delenv("TEST_DEPT_TOKEN", raising=False)
    with pytest.raises(SourceError, match=r"set the bearer token in \$TEST_DEPT_TOKEN"):
        extract(_contract(tmp_path, srv), DAY, settings)
    assert srv.calls == []
    monkeypatch.setenv("TEST_DEPT_TOKEN", "wrong")
    with pytest.raises(SourceError, match="HTTP 401"):
        list(extract(_contract(tmp_path, srv), DAY, settings).batches)
    assert len(srv.calls) == 1  # a 4xx is not retried


def test_same_records_give_the_same_batch_id(server, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_DEPT_TOKEN", "s3cret")
    srv = server("offset")
    contract = _contract(tmp_path, srv)
    ids = {land(contract, DAY, extract(contract, DAY, settings), settings).load_id for _ in range(3)}
    assert len(ids) == 1
    assert len(list((settings.lake_dir / "raw" / "tst" / "things").glob("load_date=*/batch=*"))) == 1
