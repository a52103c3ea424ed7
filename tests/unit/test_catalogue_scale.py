"""A city's whole catalogue on one installation: 300 source contracts from 17 synthetic street offices
(bench/catalogue.py; real GB/T 2260 codes, each onboarded by its contracts alone) through every fixed-cost step.
The figures at 18 / 300 / 3,000 contracts are bench/catalogue_bench.py's (timings belong there, not in a test);
this checks that each step works, that a task parses only its DAG, that Airflow's DAG sync stays under its
memory cap and that directory answers stay small. That a no-op build does no work is test_no_work_unchanged's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


@pytest.mark.slow
def test_a_300_contract_catalogue_lints_parses_syncs_builds_and_searches(tmp_path):
    from catalogue_bench import measure

    result = measure(300, tmp_path)  # every step in its own process; a failing step fails here with its output
    print(result)
    assert result["n"] == 300
    assert result["dag_file"]["dags"] == 300 + 4  # one per source + build_and_publish, directory, delivery_watch, quality_report
    assert result["task_parse"]["dags"] == 1  # a task process builds only its own DAG
    assert result["dag_sync"]["peak_rss_mb"] < 1024  # Airflow's DAG sync: was quadratic, MemoryError at 900
    assert result["search_p99"]["max_kb"] <= 100  # paged summaries, whatever the catalogue's size
