"""The portal end to end in Chromium, as the demo's three logins use it (使用方 / 提供方审批人 / 治理管理员):
find → request → approve → sample → download CSV, XLSX and Parquet → verify the receipt → the
provider revokes the grant in the portal → the next download is refused. Then every page, for each
role, at a 375 px phone width: no horizontal scroll, no internal token on screen, a screenshot kept
in ``artifacts/browser/`` (gitignored; ``CITYSHARE_ARTIFACTS`` moves it).

One server and one browser per module: the tests here share them.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from cityshare.share.app import create_app
from cityshare.share.display import DENY
from cityshare.share.sample_world import build_world

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("CITYSHARE_ARTIFACTS") or Path(__file__).resolve().parents[2] / "artifacts") / "browser"
CASES = "城市管理案件主题库"
PHONE = {"width": 375, "height": 740}
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    import uvicorn

    settings = build_world(tmp_path_factory.mktemp("portal") / "world")
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


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def logins(portal):
    """The demo's printed logins, by role: what a newcomer pastes into the login page."""
    from cityshare.demo import demo_logins

    settings, _ = portal
    return {role.split()[0]: token for role, _, token in demo_logins(settings)}


def _login(browser, base: str, token: str, **context):
    ctx = browser.new_context(accept_downloads=True, locale="zh-CN", timezone_id="Asia/Shanghai", **context)
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return ctx, page


def _download(page, selector: str, folder: Path) -> Path:
    with page.expect_download() as dl:
        page.click(selector)
    path = folder / dl.value.suggested_filename
    dl.value.save_as(path)
    return path


@pytest.mark.browser
@needs_chromium
def test_find_request_approve_download_revoke(portal, chromium, logins, tmp_path):
    import openpyxl
    import pandas as pd
    import pyarrow.parquet as pq

    from cityshare.share.tables import shared_tables

    settings, base = portal
    items = shared_tables(settings)["theme_city_cases__case"].business_names
    chosen = ["case_id", "street_code", "reporter_phone"]
    zh = [items[c] for c in chosen]
    ctx_a, a = _login(chromium, base, logins["consumer"])
    ctx_b, b = _login(chromium, base, logins["approver"])
    try:
        assert "南坪街道" in a.inner_text("header .who")  # the department's name, not its slug
        # find: a two-character Chinese word
        a.fill("input[name=q]", "城管案件")  # no text holds it: cut into 城管 (城管局) + 案件
        a.click("form.search button[type=submit]")
        assert a.locator("a.entry-link").all_inner_texts() == [CASES]
        assert "城管 + 案件" in a.inner_text("#segmented")
        a.fill("input[name=q]", "案件")
        a.click("form.search button[type=submit]")
        assert a.locator("a.entry-link").all_inner_texts() == [CASES]
        a.click(f"a.entry-link:has-text('{CASES}')")
        assert a.inner_text("#sharing-type") == "有条件共享"
        assert "重庆市城市管理局" in a.inner_text("#provider")
        assert "尚无有效授权" in a.inner_text("#denied")
        entry_url = a.url
        # request
        a.fill("textarea[name=purpose]", "南坪街道门前三包店外经营协同处置")
        for c in chosen:
            a.check(f"input[name=columns][value={c}]")
        a.click("#request-form button[type=submit]")
        assert "待审批" in a.inner_text("#my-requests") and CASES in a.inner_text("#my-requests")
        # approve
        b.goto(f"{base}/approvals")
        assert "南坪街道" in b.inner_text("table.list")
        b.click("button.approve")
        b.wait_for_load_state()
        assert "已批准" in b.inner_text("table.list")
        a.goto(f"{base}/grants")
        assert "有效" in a.inner_text("#my-grants") and "重庆市" not in a.inner_text("#my-grants .status")
        # sample and downloads, with the Chinese item names as headers
        a.goto(entry_url)
        assert a.inner_text("table.sample tr").split("\t") == zh
        assert "****" in a.inner_text("table.sample")
        csv = _download(a, "#download-csv", tmp_path)
        xlsx = _download(a, "#download-xlsx", tmp_path)
        data = _download(a, "#download-parquet", tmp_path)
        assert csv.name == "城市管理案件主题库-v1.csv" and xlsx.name.endswith("-v1.xlsx")
        frame = pd.read_csv(csv, encoding="utf-8-sig", dtype=str)
        assert list(frame.columns) == zh and len(frame) == 40
        assert frame[items["reporter_phone"]].str.contains(r"\*\*\*\*").all()  # masked in the file too
        sheet = openpyxl.load_workbook(xlsx, read_only=True)["数据"]
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == zh and len(rows) == 41
        assert pq.read_table(data).column_names == chosen
        a.goto(f"{base}/grants")
        assert a.locator("#deliveries tr").count() == 4  # header + three downloads
        with a.expect_download() as dl:
            a.click("#deliveries tr:has-text('PARQUET') a.receipt")
        receipt = tmp_path / "receipt.json"
        dl.value.save_as(receipt)
        # revoke in the portal: the provider's approver, on their grants page
        b.goto(f"{base}/grants")
        b.once("dialog", lambda d: d.accept())
        b.click("#given-grants button.revoke")
        b.wait_for_url("**/grants?revoked=*")
        assert "已撤销" in b.inner_text("#given-grants")
        refused = a.request.get(f"{base}/api/tables/theme_city_cases__case/export?format=csv&header=zh")
        assert refused.status == 403
        a.goto(entry_url)
        assert a.locator("#download-csv").count() == 0 and "授权" in a.inner_text("#denied")
        a.goto(f"{base}/grants")
        assert "已撤销" in a.inner_text("#my-grants")
    finally:
        ctx_a.close()
        ctx_b.close()
    from cityshare.cli import app

    env = {"CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(app, ["receipt", "verify", str(data), str(receipt)], env=env)
    assert result.exit_code == 0, result.output
    assert "receipt ok" in result.output and "jd_nanping" in result.output
    assert io.BytesIO(csv.read_bytes()).read(3) == b"\xef\xbb\xbf"


def _pages(settings) -> dict[str, str]:
    from cityshare.share import service

    entries = service.directory(settings)[0]
    code = next(e["信息资源代码"] for e in entries if e["信息资源名称"] == CASES)
    return {"directory": "/", "search": "/?q=" + quote("案件"), "entry": "/entry?code=" + quote(code, safe=""),
            "grants": "/grants", "approvals": "/approvals", "corrections": "/corrections",
            "governance": "/governance", "login": "/login", "quality": "/quality",
            "reference": "/reference?name=chongqing_streets"}


@pytest.mark.browser
@needs_chromium
def test_every_page_fits_a_phone_and_shows_no_internal_token(portal, chromium, logins):
    settings, base = portal
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for role, token in logins.items():
        ctx, page = _login(chromium, base, token, viewport=PHONE)
        mine = {"directory", "search", "entry", "grants", "corrections", "login", "quality", "reference",
                *({"approver": ["approvals"], "governance": ["governance"]}.get(role, []))}
        try:
            for name, path in _pages(settings).items():
                if name not in mine:
                    continue
                response = page.goto(base + path)
                assert response is not None and response.status == 200, (role, path)
                width = page.evaluate("document.documentElement.scrollWidth")
                if width > PHONE["width"]:
                    problems.append(f"{role} {path}: page is {width}px wide at 375px")
                text = page.inner_text("body")
                problems += [f"{role} {path}: shows {m.group(0)!r}" for rx in DENY if (m := rx.search(text))]
                page.screenshot(path=str(ARTIFACTS / f"{role}-{name}-375.png"), full_page=True)
        finally:
            ctx.close()
    assert problems == [], "\n".join(problems)
    assert len(list(ARTIFACTS.glob("*-375.png"))) >= 15
