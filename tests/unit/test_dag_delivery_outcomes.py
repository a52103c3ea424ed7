"""Through Airflow (issue #23): a window with no delivery skips its land task with the reason and no retry,
a truncated delivery fails it at once as a blocked batch, and the Data Docs teardown survives both. Bad-input
corpus cases of every outcome (tests/corpus/cases.yml) show in the task log the one-line reason the CLI gives:
unusable input (CLI exit 2) and a blocked gate (exit 1) fail their task once, never retried; quarantined
rows leave the run green.

One subprocess runs every DAG run (``cityshare.orchestrate.run_dags``, Airflow's ``dag.test``); task states
and try numbers are read from Airflow's own metadata DB, as an operator's UI shows them.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "ingest__cgj__city_cases"
MISSING, TRUNCATED = dt.date(2026, 11, 23), dt.date(2026, 11, 24)
CORPUS = yaml.safe_load((ROOT / "tests" / "corpus" / "cases.yml").read_text(encoding="utf-8"))
CORPUS_DAY = dt.date.fromisoformat(CORPUS["date"])
# one window each; the rows' own dates only matter to the accepted case, which keeps the corpus's day
CASES = {"zero_bytes": dt.date(2026, 11, 17), "duplicated_header": dt.date(2026, 11, 18),
         "xlsx_renamed_as_csv": dt.date(2026, 11, 19), "gbk_encoded": dt.date(2026, 11, 20),
         "renamed_column": dt.date(2026, 11, 21), "duplicate_key": CORPUS_DAY}


@pytest.fixture
def project(tmp_path, monkeypatch):
    home = tmp_path / "home"
    for part in ("contracts", "catalog", "dbt_project", "dags"):
        shutil.copytree(ROOT / part, home / part, ignore=shutil.ignore_patterns("target", "logs", "__pycache__"))
    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    from cityshare.settings import get_settings

    settings = get_settings()
    inbox = settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{TRUNCATED}.csv"
    inbox.parent.mkdir(parents=True)
    good = (ROOT / "tests" / "corpus" / "files" / "good.csv").read_bytes()
    inbox.write_bytes(good[:-5])  # cut inside the last field of the last row
    for case in _cases():
        shutil.copy(ROOT / "tests" / "corpus" / "files" / case["file"], inbox.with_name(f"city_cases_{CASES[case['id']]}.csv"))
    return settings


def _cases() -> list[dict]:
    return [c for c in CORPUS["cases"] if c["id"] in CASES]


def _task_states(settings, day: dt.date) -> dict[str, tuple[str, int]]:
    con = sqlite3.connect(settings.airflow_home / "airflow.db")
    try:
        rows = con.execute(
            """SELECT ti.task_id, ti.state, ti.try_number FROM task_instance ti
               JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id
               WHERE ti.dag_id = ? AND date(dr.logical_date) = ?""", [DAG_ID, day.isoformat()]).fetchall()
    finally:
        con.close()
    return {task: (state, tries) for task, state, tries in rows}


def test_no_delivery_is_skipped_and_a_truncated_file_fails_once(project):
    from cityshare.orchestrate import init_airflow, run_dags

    init_airflow(project)
    missing, truncated, *corpus = run_dags([(DAG_ID, MISSING), (DAG_ID, TRUNCATED)]
                                           + [(DAG_ID, CASES[c["id"]]) for c in _cases()], project)

    states = _task_states(project, MISSING)
    assert states["land"] == ("skipped", 1), (states, missing.output[-3000:])
    assert states["gate"][0] == "skipped"
    assert states["data_docs"][0] == "success", missing.output[-3000:]
    assert f"no delivery from cgj for {MISSING} (file missing)" in missing.output
    assert "TypeError" not in missing.output and "Traceback" not in missing.output

    states = _task_states(project, TRUNCATED)
    assert states["land"] == ("failed", 1), (states, truncated.output[-3000:])  # a verdict: no retry
    assert states["data_docs"][0] == "success", truncated.output[-3000:]
    assert "line 31: the last row has no line break, so its last field may be cut [file_truncated]" in truncated.output
    assert "TypeError" not in truncated.output
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    batches = con.execute("SELECT load_date, status, rows_landed FROM meta.batches").fetchall()
    con.close()
    assert (TRUNCATED, "blocked", 0) in batches

    for case, run in zip(_cases(), corpus, strict=True):
        day = CASES[case["id"]]
        states, log = _task_states(project, day), run.output
        reason = case["message"].replace(str(CORPUS_DAY), str(day))
        lines = [line for line in log.splitlines() if reason in line]
        assert lines, (case["id"], log[-3000:])
        assert not any(leak in line for line in lines for leak in ("SELECT ", "Binder Error", "_duckdb")), lines
        assert "TypeError" not in log and states["data_docs"][0] == "success", (case["id"], states)
        if case["exit"] == 2:  # unusable input: the land task fails once; retrying cannot help
            assert states["land"] == ("failed", 1) and states["gate"][0] == "upstream_failed", (case["id"], states)
        elif case["exit"] == 1:  # blocked by a rule: the task that gave the verdict fails once
            failed = "land" if case.get("rule") in ("encoding_invalid", "file_truncated") else "gate"
            assert states[failed] == ("failed", 1), (case["id"], states)
        else:  # quarantined rows: the batch is accepted and the run is green
            assert states["land"][0] == states["gate"][0] == "success", (case["id"], states)
            assert run.ok, log[-3000:]
