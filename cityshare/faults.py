"""Crash points for the crash-consistency harness (tests/unit/test_crash_consistency.py).

``CITYSHARE_CRASH_AT=<point>`` makes the process SIGKILL itself when it reaches ``crash_point(<point>)``
— no cleanup, no ``finally`` blocks, exactly like a power cut or the OOM killer. ``<point>@<seconds>``
instead arms a timer there, to kill the process in the middle of a long step (a dbt build). Unset in
production: one environment lookup per call.
"""

from __future__ import annotations

import errno
import os
import signal
import threading

POINTS = (
    "land.mid_extract",        # a source half read into the staging file
    "land.before_commit",      # the batch written under its .tmp- name, not yet renamed into place
    "gate.mid_gate",           # accepted/quarantine files written, the decision not yet committed
    "gate.mid_commit",         # inside the warehouse transaction that records the decision
    "dbt.mid_build",           # during dbt build (use @seconds)
    "publish.before_commit",   # version snapshots written and fsynced, the swap not yet committed
    "publish.mid_swap",        # inside the transaction that swaps tables into ``shared``
    "publish.before_pointers",  # swap committed, the served-version pointers not yet moved
    "export.mid_stream",       # an export half sent
    "audit.append",            # a read or decision about to be written to the audit chain
)


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_point(name: str) -> None:
    """Die here if ``CITYSHARE_CRASH_AT`` names this point; fail here if ``CITYSHARE_FAIL_AT`` does (testing only).

    ``CITYSHARE_FAIL_AT=<point>=<ENOSPC|EROFS|EACCES|ENOMEM>`` raises the OSError a full disk, a read-only volume or
    a missing permission would raise there (ENOMEM: MemoryError), to test the one-line exit-3 reports."""
    failing = os.environ.get("CITYSHARE_FAIL_AT")
    if failing:
        point, _, code = failing.partition("=")
        if point == name:
            if code == "ENOMEM":
                raise MemoryError
            number = getattr(errno, code)
            raise OSError(number, os.strerror(number), f"<{name}>")
    wanted = os.environ.get("CITYSHARE_CRASH_AT")
    if not wanted:
        return
    point, _, delay = wanted.partition("@")
    if point != name:
        return
    if delay:
        timer = threading.Timer(float(delay), _kill)
        timer.daemon = True
        timer.start()
        return
    _kill()
