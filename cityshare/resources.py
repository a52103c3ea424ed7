"""What this machine gives DuckDB (机器资源): threads and a memory limit derived from its cores and memory.

Why: DuckDB's own default is every core and 80 % of RAM for each process. CityShare's build, gates and portal
run side by side under Airflow, and on a 24 GB machine a 10 M-row full build then held 3.4–4.1 GB although
the same build completes in far less by spilling its largest joins and aggregations to disk. The default here
gives DuckDB ``MEMORY_PER_THREAD`` per thread, never more than 80 % of the machine's memory: DuckDB's
performance guide names 125 MB per thread as the minimum and 1–4 GB as best for joins and aggregations, so a
machine dedicated to builds may set more for speed (the trade-off at 10 M rows: ``bench/build_memory_bench.py``).
Cores and memory are read as the process sees them: its CPU affinity and a container's cgroup limits.

Settable: ``CITYSHARE_DUCKDB_THREADS`` and ``CITYSHARE_DBT_MEMORY_LIMIT`` (any DuckDB size, e.g. ``4GB`` or
``50%``). Used by the build (the dbt plugin ``cityshare.transform_udfs`` sets them on dbt's DuckDB): the
gate's and the portal's DuckDB work on one batch or one snapshot at a time.
"""

from __future__ import annotations

import os
from pathlib import Path

from cityshare.settings import Settings

MEMORY_PER_THREAD = 512 * 2**20  # bytes of DuckDB memory per thread by default
MIN_MEMORY = 512 * 2**20
CGROUP = Path("/sys/fs/cgroup")


def cpu_count() -> int:
    """Cores this process may use: its affinity, within a cgroup v2 CPU quota (``cpu.max``)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _read(CGROUP / "cpu.max").split()
    if len(quota) == 2 and quota[0] != "max":
        cores = min(cores, max(1, int(int(quota[0]) / int(quota[1]))))
    return max(1, cores)


def memory_bytes() -> int:
    """Memory this process may use: physical RAM, within a cgroup v2 limit (``memory.max``)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _read(CGROUP / "memory.max")
    return min(total, int(limit)) if limit.isdigit() else total


def duckdb_threads(settings: Settings) -> int:
    """DuckDB threads: ``CITYSHARE_DUCKDB_THREADS``, else the usable cores."""
    return settings.duckdb_threads or cpu_count()


def duckdb_memory_limit(settings: Settings) -> str:
    """DuckDB's ``memory_limit``: the setting, else ``MEMORY_PER_THREAD`` × threads within 80 % of memory."""
    if settings.dbt_memory_limit:
        return settings.dbt_memory_limit
    derived = min(MEMORY_PER_THREAD * duckdb_threads(settings), int(memory_bytes() * 0.8))
    return f"{max(MIN_MEMORY, derived) // 2**20}MiB"


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
