"""Shared bits of the benchmarks: child processes with their peak RSS, per-stage meters, the machine.

Every measured side runs in a fresh child process (as an Airflow task would), so its peak RSS is its
own; inside one child a stage's peak is read from ``VmHWM`` after resetting it (``clear_refs`` 5).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def run_child(args: list[str], env: dict[str, str], label: str) -> dict[str, Any]:
    """Run ``python <args>`` in a fresh process; its last stdout line is JSON; add its peak RSS (MB)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env)
    out, errs = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed (exit {proc.returncode}):\n{errs[-4000:]}")
    info = json.loads(out.strip().splitlines()[-1])
    info.setdefault("peak_rss_mb", info.get("process_peak_rss_mb"))
    return info


def _vm(field: str) -> float:
    """A ``/proc/self/status`` memory field in MB (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reset_peak_rss() -> None:
    """Reset this process's RSS high-water mark so the next stage's peak is its own."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


class StageMeter:
    """Wall time and peak RSS of each named stage of one child run."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        reset_peak_rss()
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            self.stages[name] = {"seconds": round(seconds, 3), "peak_rss_mb": round(_vm("VmHWM"), 1)}

    def report(self, **extra: Any) -> dict[str, Any]:
        # the highest stage peak, not ru_maxrss: Linux keeps ru_maxrss across fork+exec, so a child would report
        # the bench parent's own peak (≈ 3 GB after simulating 10 M rows) as its own
        peak = max([s["peak_rss_mb"] for s in self.stages.values()] or [_vm("VmHWM")])
        return {"stages": self.stages, "process_peak_rss_mb": round(peak, 1), **extra}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, versions and the load average at the time of the run."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = 0.0
    with suppress(OSError, IndexError, ValueError):
        ram_gb = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    import duckdb
    import pyarrow

    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(ram_gb, 1),
        "python": platform.python_version(), "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
        "os": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write_report(out: Path, report: dict[str, Any], markdown: str) -> None:
    """``out``.json (the figures) and ``out``.md (the table), then the table on stdout."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown, encoding="utf-8")
    print(markdown)
