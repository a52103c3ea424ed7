"""In front of every route: 429 + Retry-After under a burst (per token, per address, before the audit log),
security headers on every answer, Swagger UI from local assets, and owner-only files."""

from __future__ import annotations

import dataclasses
import os
import re
import stat

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cityshare.share import audit, receipts, store
from cityshare.share.app import create_app
from cityshare.share.guard import Buckets
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue

OPEN = "base_legal_entity"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("guard"))


def _bearer(settings, dept: str = "zjw") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue(settings, dept, 'burst', 'consumer')[1]}"}


def test_a_burst_on_one_token_gets_429_with_retry_after_and_no_audit_growth(world):
    settings = dataclasses.replace(world, rate_per_token=5, rate_per_address=1000)
    client = TestClient(create_app(settings))
    flood, other = _bearer(settings), _bearer(settings, "slj")
    answers = [client.get(f"/api/tables/{OPEN}/rows", headers=flood, params={"limit": 1}) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    before = audit.entries(settings, 1)[0]["seq"]
    refused = [client.get(f"/api/tables/{OPEN}/rows", headers=flood) for _ in range(20)]
    assert {r.status_code for r in refused} == {429}
    assert 1 <= int(refused[0].headers["Retry-After"]) <= 12 and "请求过于频繁" in refused[0].json()["detail"]
    assert audit.entries(settings, 1)[0]["seq"] == before  # a flood does not grow the audit log
    assert client.get(f"/api/tables/{OPEN}/rows", headers=other).status_code == 200  # another token is served


def test_a_burst_from_one_address_gets_429(world):
    client = TestClient(create_app(dataclasses.replace(world, rate_per_token=1000, rate_per_address=8)))
    codes = [client.get("/api/directory").status_code for _ in range(12)]
    assert codes[:8] == [200] * 8 and set(codes[8:]) == {429}
    assert client.get("/healthz").status_code == 200  # the load balancer's probe is never limited


def test_bucket_refills_at_its_rate():
    bucket = Buckets(per_minute=60)  # one per second, burst 60
    assert all(bucket.take("k", now=0.0) == 0 for _ in range(60))
    assert bucket.take("k", now=0.0) == pytest.approx(1.0)
    assert bucket.take("k", now=1.0) == 0 and bucket.take("k", now=1.0) > 0


@pytest.mark.parametrize("path", ["/", "/api/directory", "/api/tables/nope/rows", "/login", "/docs", "/quality"])
def test_security_headers_on_every_answer(world, path):
    r = TestClient(create_app(world)).get(path)
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "http" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin" and r.headers["X-Frame-Options"] == "DENY"
    if path != "/docs":
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_docs_load_only_local_assets(world):
    client = TestClient(create_app(world))
    page = client.get("/docs")
    assert page.status_code == 200 and not re.search(r"(src|href)=['\"]?(https?:)?//", page.text)
    assets = re.findall(r"""(?:src|href)=['"](/docs-assets/[^'"]+)""", page.text)
    assert {"/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"} <= set(assets)
    for asset in assets:
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 500, asset
    assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_access_store_keys_and_anchors_are_owner_only(tmp_path):
    settings = build_world(tmp_path)
    issue(settings, "zjw", "perm", "consumer")
    audit.record(settings, None, "probe")
    db = store.db_path(settings)
    assert _mode(db.parent) == 0o700 and _mode(db) == 0o600
    assert all(_mode(p) == 0o600 for p in db.parent.glob("access.sqlite3*"))
    key = receipts.key_path(settings)
    assert _mode(key.parent) == 0o700 and _mode(key) == 0o600
    assert _mode(settings.audit_anchor_dir) == 0o700


def test_the_cli_creates_files_owner_only(settings):
    from cityshare.cli import app

    old = os.umask(0o022)
    try:
        assert CliRunner().invoke(app, ["token", "list"]).exit_code == 0
        assert os.umask(0o022) == 0o077  # the CLI's processes (serve, build, Airflow's children) write 0600/0700
    finally:
        os.umask(old)
