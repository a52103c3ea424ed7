"""Processes CityShare starts in their own process group (the DAG runner, Spark daemons): how they are ended."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any


def stop_group(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """End a process group (the runner's, a Spark daemon's) if it is still there: SIGTERM, then SIGKILL after
    ``grace`` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue
