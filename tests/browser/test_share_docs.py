"""The API docs in Chromium with the network unplugged: Swagger UI renders from the package's own assets,
and the page asks no other host for anything (and trips no Content-Security-Policy rule)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from test_share_portal import ARGS, CHROMIUM, portal  # noqa: F401  (the live portal fixture)


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
def test_docs_render_offline(portal):  # noqa: F811
    from playwright.sync_api import sync_playwright

    _, base = portal
    own = urlsplit(base).netloc
    elsewhere: list[str] = []
    console: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()

            def unplugged(route):  # the network beyond this host is gone
                if urlsplit(route.request.url).netloc == own or route.request.url.startswith("data:"):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", unplugged)
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            operations = page.locator(".opblock").count()
            title = page.inner_text(".info .title")
        finally:
            browser.close()
    assert operations >= 18 and "CityShare" in title
    assert elsewhere == [], elsewhere
    assert not [m for m in console if "Content Security Policy" in m], console
