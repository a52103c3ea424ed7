"""Source faults against a real loopback API: 5xx bursts, timeouts, slow answers, connection resets,
an expired token. Retries back off, then fail with a clear message — and never land a partial batch.

Extends tests/unit/test_sources_http.py (its server and contract helpers), adding the faults it lacks.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time

import pytest
from test_sources_http import DAY, RECORDS, _contract, _Handler, _Server

from cityshare.errors import SourceError
from cityshare.lake import land
from cityshare.sources import extract


class _FaultyHandler(_Handler):
    """Scripted faults: ``srv.script`` is consumed one entry per request, then normal answers."""

    def do_GET(self) -> None:
        srv = self.server
        fault = srv.script.pop(0) if srv.script else None
        if fault is None and srv.fail_page and f"page={srv.fail_page}&" in self.path + "&":
            fault = "503"
        if fault is None:
            return super().do_GET()
        srv.calls.append((time.monotonic(), self.path, self.headers.get("Authorization")))
        if fault == "reset":  # abortive close: the client sees a connection reset, no HTTP answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if fault == "expired":
            body = b'{"error": "invalid_token", "error_description": "token expired"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(int(fault))
        self.send_header("Content-Length", "0")
        self.end_headers()


class _FaultyServer(_Server):
    def __init__(self) -> None:
        super().__init__("page")
        self.RequestHandlerClass = _FaultyHandler
        self.script: list[str] = []
        self.fail_page = 0


@pytest.fixture
def api(monkeypatch):
    import threading

    monkeypatch.setenv("TEST_DEPT_TOKEN", "s3cret")
    srv = _FaultyServer()
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _no_batch(settings) -> bool:
    raw = settings.lake_dir / "raw"
    return not raw.exists() or not [p for p in raw.rglob("*") if p.is_file()]


def test_5xx_burst_shorter_than_the_retries_is_ridden_out_with_backoff(api, settings, tmp_path):
    api.script = ["503", "502", "500"]
    contract = _contract(tmp_path, api, retries=4, backoffSeconds=0.05)
    landed = land(contract, DAY, extract(contract, DAY, settings), settings)
    assert landed.rows == len(RECORDS)
    gaps = [b - a for (a, _, _), (b, _, _) in itertools.pairwise(api.calls[:4])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # exponential backoff: 0.05, 0.1, 0.2 s


def test_5xx_burst_longer_than_the_retries_fails_clearly_with_no_batch(api, settings, tmp_path):
    api.script = ["503"] * 10
    contract = _contract(tmp_path, api, retries=3)
    with pytest.raises(SourceError, match=r"page=1.*HTTP 503 after 3 tries; no batch landed"):
        land(contract, DAY, extract(contract, DAY, settings), settings)
    assert len(api.calls) == 3 and _no_batch(settings)


def test_failure_on_a_later_page_lands_nothing(api, settings, tmp_path):
    api.fail_page = 2  # page 1 arrived, page 2 never does
    contract = _contract(tmp_path, api, retries=2)
    with pytest.raises(SourceError, match=r"page=2.*HTTP 503 after 2 tries"):
        land(contract, DAY, extract(contract, DAY, settings), settings)
    assert _no_batch(settings)
    staging = settings.lake_dir / "raw" / ".staging"
    assert not staging.exists() or not list(staging.iterdir())  # the half-read page is not kept either


def test_connection_resets_are_retried(api, settings, tmp_path):
    api.script = ["reset", "reset"]
    contract = _contract(tmp_path, api, retries=3)
    landed = land(contract, DAY, extract(contract, DAY, settings), settings)
    assert landed.rows == len(RECORDS) and len(api.calls) == 2 + 3


def test_connection_resets_exhausted_name_the_transport_error(api, settings, tmp_path):
    api.script = ["reset"] * 5
    contract = _contract(tmp_path, api, retries=2)
    with pytest.raises(SourceError, match=r"(ReadError|RemoteProtocolError|ConnectError).*after 2 tries") as err:
        land(contract, DAY, extract(contract, DAY, settings), settings)
    assert "Traceback" not in str(err.value) and _no_batch(settings)


def test_slow_answers_within_the_timeout_succeed(api, settings, tmp_path):
    api.delay = 0.3
    contract = _contract(tmp_path, api, timeoutSeconds=2)
    assert land(contract, DAY, extract(contract, DAY, settings), settings).rows == len(RECORDS)
    assert len(api.calls) == 3  # no request was retried


def test_expired_token_fails_at_once_with_the_servers_reason(api, settings, tmp_path):
    api.script = ["expired"]
    contract = _contract(tmp_path, api, retries=5)
    with pytest.raises(SourceError, match=r"HTTP 401.*token expired") as err:
        land(contract, DAY, extract(contract, DAY, settings), settings)
    assert len(api.calls) == 1 and _no_batch(settings)  # a 401 is not retried: retrying cannot fix it
    assert "s3cret" not in str(err.value)  # the token itself never appears in the message
