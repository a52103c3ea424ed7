"""DuckDB's threads and memory for the build come from the machine (issue #24), and the settings override them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cityshare import resources
from cityshare.settings import get_settings


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cgroup folder of the test's own, and no setting in the environment."""
    monkeypatch.setattr(resources, "CGROUP", tmp_path)
    monkeypatch.delenv("CITYSHARE_DBT_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("CITYSHARE_DUCKDB_THREADS", raising=False)
    return tmp_path


def test_a_container_quota_bounds_cores_and_memory(machine: Path) -> None:
    (machine / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs
    (machine / "memory.max").write_text(str(3 * 2**30))
    assert resources.cpu_count() == 1
    assert resources.memory_bytes() == 3 * 2**30
    (machine / "cpu.max").write_text("max 100000\n")  # no quota
    (machine / "memory.max").write_text("max\n")
    assert resources.cpu_count() >= 1 and resources.memory_bytes() > 3 * 2**30


def test_the_default_limit_is_memory_per_thread_within_80_percent_of_memory(machine: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "cpu_count", lambda: 4)
    monkeypatch.setattr(resources, "memory_bytes", lambda: 64 * 2**30)
    assert resources.duckdb_threads(get_settings()) == 4
    assert resources.duckdb_memory_limit(get_settings()) == f"{4 * resources.MEMORY_PER_THREAD // 2**20}MiB"
    monkeypatch.setattr(resources, "memory_bytes", lambda: 2**30)  # a small container: 80 % of it
    assert resources.duckdb_memory_limit(get_settings()) == f"{int(2**30 * 0.8) // 2**20}MiB"
    monkeypatch.setenv("CITYSHARE_DUCKDB_THREADS", "1")
    monkeypatch.setenv("CITYSHARE_DBT_MEMORY_LIMIT", "6GB")
    assert (resources.duckdb_threads(get_settings()), resources.duckdb_memory_limit(get_settings())) == (1, "6GB")


def test_dbt_s_duckdb_runs_with_them(machine: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The project's dbt plugin sets them on the connection dbt-duckdb opens (profiles.yml loads it)."""
    from cityshare.transform_udfs import Plugin

    monkeypatch.setattr(resources, "cpu_count", lambda: 3)
    monkeypatch.setattr(resources, "memory_bytes", lambda: 64 * 2**30)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    Plugin(name="transform_udfs", plugin_config={}).configure_connection(con)
    threads, limit = con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
    assert threads == 3
    # DuckDB shows the limit rounded to a tenth of its unit ("2.2 GiB"): compare bytes
    expected = 3 * resources.MEMORY_PER_THREAD
    shown = float(limit.split()[0]) * {"MiB": 2**20, "GiB": 2**30}[limit.split()[1]]
    assert abs(shown - expected) / expected < 0.05, limit
    con.close()
