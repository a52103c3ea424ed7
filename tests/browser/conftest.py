"""Browser tier: registers the ``browser`` marker (Chromium from Debian via Playwright)."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the portal in headless Chromium (/usr/bin/chromium)")
