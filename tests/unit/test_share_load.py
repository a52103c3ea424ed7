"""Load: 50 concurrent API consumers on a live loopback server while ``publish`` swaps in a new
version — 0 errors, and no reader ever sees a half-published table (every answer is all old or all new).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import duckdb
import httpx
import pytest

from cityshare.share.sample_world import build_world

CONSUMERS, TABLE, ROWS = 50, "base_legal_entity", 120


@pytest.fixture
def live(tmp_path):
    import uvicorn

    from cityshare.share.app import create_app
    from cityshare.share.tokens import issue

    # one token for 50 consumers: this measures concurrency, so the rate limit is set out of the way
    settings = dataclasses.replace(build_world(tmp_path, rows=ROWS), rate_per_token=10**6, rate_per_address=10**6)
    _, token = issue(settings, "zjw", "load", "consumer")
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning",
                                           timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield settings, f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    server.should_exit = True
    thread.join(timeout=10)


def _publish_v2(settings) -> None:
    """The real publish step with a new content of the table (every name marked V2, 10 more rows)."""
    from cityshare.contracts.model import load_contracts
    from cityshare.publish import Audited, publish

    contract = next(c for c in load_contracts(settings, kind="shared") if c.model_name == TABLE)
    staged = settings.exports_dir / ".staging" / f"{TABLE}.parquet"
    staged.parent.mkdir(parents=True, exist_ok=True)
    v1 = settings.exports_dir / "shared" / TABLE / "version=1" / f"{TABLE}.parquet"
    duckdb.connect().execute(f"COPY (SELECT * REPLACE ('V2' || entity_name AS entity_name) FROM read_parquet('{v1}') "
                   f"UNION ALL SELECT * REPLACE ('V2' || entity_name AS entity_name, uscc || 'N' AS uscc) "
                   f"FROM read_parquet('{v1}') LIMIT {ROWS + 10}) TO '{staged}' (FORMAT parquet)")
    rows = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{staged}')").fetchone()[0]
    report = publish([Audited(contract, "base", staged, rows, "v2-hash", [])], settings)
    assert report[0]["version"] == 2 and report[0]["changed"]


def test_50_consumers_during_a_publish_swap_see_no_error_and_no_half_table(live):
    settings, base, headers = live
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def consumer() -> int:
        requests = 0
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            while not stop.is_set() or requests < 3:
                r = client.get(f"/api/tables/{TABLE}/rows", params={"limit": 1000, "columns": "uscc,entity_name"})
                requests += 1
                if r.status_code != 200:
                    seen.append((r.status_code, r.text[:200]))
                    continue
                body = r.json()
                marks = {row["entity_name"].startswith("V2") for row in body["rows"]}
                kind = "v2" if marks == {True} else "v1" if marks == {False} else "MIXED"
                seen.append((len(body["rows"]) if body["total"] == len(body["rows"]) else -1, kind))
        return requests

    with ThreadPoolExecutor(CONSUMERS) as pool:
        futures = [pool.submit(consumer) for _ in range(CONSUMERS)]
        time.sleep(1.0)
        _publish_v2(settings)
        time.sleep(1.0)
        stop.set()
        total_requests = sum(f.result() for f in futures)
    errors = [s for s in seen if isinstance(s[1], str) and s[1] not in ("v1", "v2")]
    assert errors == []
    assert {s for s in seen} <= {(ROWS, "v1"), (ROWS + 10, "v2")}
    assert (ROWS, "v1") in seen and (ROWS + 10, "v2") in seen
    print(f"\nload: {CONSUMERS} consumers, {total_requests} requests during a publish swap, 0 errors")
    after = httpx.get(f"{base}/api/tables/{TABLE}/rows", params={"limit": 1000}, headers=headers).json()
    assert after["total"] == ROWS + 10  # once published, new readers get the new version
