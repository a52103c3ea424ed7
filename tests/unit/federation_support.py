"""Helpers (no tests) for the federation tests: an instance's portal and API served in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cityshare.ports import free_port
from cityshare.settings import Settings


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The instance's portal and API on a free loopback port (its URL) until the block ends."""
    import uvicorn

    from cityshare.share.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, f"127.0.0.1:{port} did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
