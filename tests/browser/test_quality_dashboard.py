"""The quality dashboard in a real Chromium: the server-rendered SVG charts are there, with data marks.

Uses the hand-checked fixture of tests/unit/test_quality_scorecards.py; the portal runs in a thread on a
free loopback port; the screenshot is kept under the test's tmp dir.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_quality_scorecards import PERIOD, seed_history, write_project

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def portal(tmp_path, monkeypatch):
    import uvicorn

    from cityshare.settings import get_settings
    from cityshare.share.app import create_app

    write_project(tmp_path / "project", monkeypatch)
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    seed_history(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "portal did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_dashboard_charts_render_in_chromium(portal, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            response = page.goto(f"{portal}/quality?start={PERIOD.start}&end={PERIOD.end}")
            assert response is not None and response.status == 200
            assert "数据质量与时效考核" in page.title()
            marks = {
                "chart-scores": "g.mark-rect path",        # one bar per department with a score
                "chart-radar": "g.mark-line path",         # rings and department polygons
                "chart-heatmap": "g.mark-rect path",       # department × day cells
                "chart-trend": "g.mark-symbol path",       # weekly points
            }
            for chart, selector in marks.items():
                svg = page.locator(f"#{chart} svg")
                assert svg.count() == 1, chart
                box = svg.bounding_box()
                assert box and box["width"] > 100 and box["height"] > 100, chart
                assert page.locator(f"#{chart} {selector}").count() > 0, chart
            # the scores bar has exactly the two departments of the fixture with data
            assert page.locator("#chart-scores g.mark-rect.role-mark path").count() == 2
            # 8+ registered departments × 14 days of heatmap cells
            assert page.locator("#chart-heatmap g.mark-rect path").count() >= 8 * 14
            assert page.locator("tr[data-department='cgj']").first.is_visible()
            shot = tmp_path / "quality_dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
