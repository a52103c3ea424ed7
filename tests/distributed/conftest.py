"""The distributed tier: real PostgreSQL, Redis and Airflow processes on loopback.

Excluded from the default run: these tests run only with ``-m distributed`` (``tests/distributed/run.sh``)
or ``CITYSHARE_DISTRIBUTED=1``. Every process is started in its own session and its whole process
group is killed at the end, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_cluster import Processes, Services, free_port, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")
REDIS = Path("/usr/bin/redis-server")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "distributed: Airflow CeleryExecutor on PostgreSQL + Redis (slow, opt-in)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = "distributed" in (config.option.markexpr or "") or os.environ.get("CITYSHARE_DISTRIBUTED") == "1"
    if wanted:
        return
    skip = pytest.mark.skip(reason="distributed tier: run tests/distributed/run.sh (or -m distributed)")
    for item in items:
        if "distributed" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path / "logs")
    procs.log_dir.mkdir(parents=True)
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def services(processes: Processes) -> Iterator[Services]:
    """PostgreSQL 15 (trust auth on loopback, throwaway cluster) and Redis 7 (no persistence)."""
    for binary in (PG_BIN / "initdb", REDIS):
        if not binary.exists():
            pytest.skip(f"{binary} missing: install Debian's postgresql and redis-server (make system-deps)")
    pg_dir = Path(tempfile.mkdtemp(prefix="cityshare-pg-"))
    shutil.chown(pg_dir, "postgres", "postgres")
    data, sock = pg_dir / "data", pg_dir / "sock"
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, "mkdir", str(sock)], check=True)
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
    pg_port, redis_port = free_port(), free_port()
    processes.start("postgres", [*as_pg, str(PG_BIN / "postgres"), "-D", str(data), "-h", "127.0.0.1",
                                 "-p", str(pg_port), "-k", str(sock), "-c", "max_connections=200",
                                 "-c", "fsync=off"])
    processes.start("redis", [str(REDIS), "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "",
                              "--appendonly", "no", "--daemonize", "no"])
    import psycopg

    database = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
    wait_for(lambda: psycopg.connect(database, connect_timeout=2).close() or True, "PostgreSQL", 60, 0.5)
    wait_for(lambda: socket.create_connection(("127.0.0.1", redis_port), timeout=2).close() or True,
             "Redis", 30, 0.3)
    try:
        yield Services(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/postgres",
                       broker_url=f"redis://127.0.0.1:{redis_port}/0")
    finally:
        processes.stop_all()
        shutil.rmtree(pg_dir, ignore_errors=True)
