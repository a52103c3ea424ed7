"""Helpers (no tests) for the federation tests: an instance's portal and API served in this process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cityshare.demo_federation import LoopbackServer
from cityshare.settings import Settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The instance's portal and API on a free loopback port (its URL) until the block ends."""
    server = LoopbackServer(settings)
    try:
        yield server.url
    finally:
        server.stop()
