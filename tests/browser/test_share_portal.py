"""The portal end to end in Chromium: search → entry → request (A) → approve (B) → download (A) → receipt."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture
def portal(tmp_path):
    import uvicorn

    settings = build_world(tmp_path / "world")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "portal did not start"
    yield settings, f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _login(browser, base: str, token: str):
    context = browser.new_context(accept_downloads=True, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return context, page


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
def test_request_approve_download_verify(portal, tmp_path):
    from playwright.sync_api import sync_playwright

    settings, base = portal
    _, token_a = issue(settings, "jd_nanping", "网格员王", "consumer")
    _, token_b = issue(settings, "cgj", "审批人李", "approver")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            ctx_a, a = _login(browser, base, token_a)
            a.fill("input[name=q]", "案件")
            a.click("form.search button[type=submit]")
            a.click("a.entry-link:has-text('城市管理案件主题库')")
            assert a.inner_text("#sharing-type") == "有条件共享"
            assert "尚无有效授权" in a.inner_text("#denied")
            a.fill("textarea[name=purpose]", "南坪街道门前三包店外经营协同处置")
            a.check("input[name=columns][value=case_id]")
            a.check("input[name=columns][value=street_code]")
            a.check("input[name=columns][value=reporter_phone]")
            a.click("#request-form button[type=submit]")
            assert "待审批" in a.inner_text("#my-requests")

            ctx_b, b = _login(browser, base, token_b)
            b.goto(f"{base}/approvals")
            b.click("button.approve")
            b.wait_for_load_state()
            assert "已批准" in b.inner_text("table.list")

            a.goto(a.url)  # back on /grants: the grant is now listed
            a.reload()
            assert "有效" in a.inner_text("#my-grants")
            a.goto(f"{base}/")
            a.click("a.entry-link:has-text('城市管理案件主题库')")
            headers = a.inner_text("table.sample tr")
            assert headers.split() == ["case_id", "street_code", "reporter_phone"]
            assert "****" in a.inner_text("table.sample")
            with a.expect_download() as dl:
                a.click("#download-parquet")
            data = tmp_path / dl.value.suggested_filename
            dl.value.save_as(data)
            a.goto(f"{base}/grants")
            with a.expect_download() as dl:
                a.click("a.receipt")
            receipt = tmp_path / "receipt.json"
            dl.value.save_as(receipt)
            a.screenshot(path=str(tmp_path / "portal-grants.png"), full_page=True)
            ctx_a.close()
            ctx_b.close()
        finally:
            browser.close()

    import pyarrow.parquet as pq

    table = pq.read_table(data)
    assert table.column_names == ["case_id", "street_code", "reporter_phone"] and table.num_rows == 40
    from cityshare.cli import app

    env = {"CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(app, ["receipt", "verify", str(data), str(receipt)], env=env)
    assert result.exit_code == 0, result.output
    assert "receipt ok" in result.output and "jd_nanping" in result.output
    assert (tmp_path / "portal-grants.png").stat().st_size > 10_000
