"""A service manager stops the demo with SIGTERM: the Airflow runner it started goes too, and the demo says so
(exit 143), instead of leaving a child running DAGs against the data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.faults  # ≈ 10 s; in `make test` and `make test-faults`
CLI = str(Path(sys.executable).parent / "cityshare")


def _runner_of(parent: int) -> int | None:
    """The pid of ``parent``'s child running dags/run_dags.py (read from /proc), if there is one."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"run_dags.py" in cmdline:
            return int(stat.parent.name)
    return None


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_to_the_demo_stops_its_airflow_runner(tmp_path):
    env = {**os.environ, "CITYSHARE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    demo = subprocess.Popen([CLI, "demo", "--days", "1", "--no-serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    runner = None
    deadline = time.monotonic() + 240
    while runner is None and time.monotonic() < deadline and demo.poll() is None:
        runner = _runner_of(demo.pid)
        time.sleep(0.5)
    assert runner is not None, "the demo never started its Airflow runner"
    time.sleep(3)  # a DAG run is under way
    demo.send_signal(signal.SIGTERM)
    _out, errors = demo.communicate(timeout=60)
    assert demo.returncode == 143
    assert "stopped on SIGTERM" in " ".join(errors.split())
    assert not _alive(runner)
