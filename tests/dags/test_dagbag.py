"""DAG integrity: the DAG files import cleanly and every DAG is owned, tagged and retried."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cityshare.contracts.model import load_contracts
from cityshare.dag_specs import ANY_RAW_BATCH, ANY_SHARED_TABLE

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow")
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_ingestion_dag_per_source_contract_plus_build_directory_and_report(dagbag):
    sources = {f"ingest__{c.department}__{c.dataset}" for c in load_contracts(kind="source")}
    assert set(dagbag.dag_ids) == sources | {"build_and_publish", "directory", "quality_report", "delivery_watch"}


def test_every_dag_has_tags_owner_and_retries(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.max_active_runs == 1, dag_id
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", (dag_id, t.task_id)
            assert t.retries >= 1, (dag_id, t.task_id)


def test_build_runs_on_any_accepted_batch_and_the_directory_on_any_publish(dagbag):
    """Each gate emits its source's Asset and the one "any raw batch" Asset build_and_publish is scheduled on:
    one department's batch starts a build, none waits for all the others, and the schedule does not grow
    with the number of sources. The directory likewise runs on any publish."""
    gate_outlets = {o.uri for d in dagbag.dags.values() if d.dag_id.startswith("ingest__")
                    for t in d.tasks for o in t.outlets}
    assert gate_outlets == {f"cityshare://raw/{c.key}" for c in load_contracts(kind="source")} | {ANY_RAW_BATCH}
    for d in (d for d in dagbag.dags.values() if d.dag_id.startswith("ingest__")):
        assert {o.uri for o in d.get_task("gate").outlets} >= {ANY_RAW_BATCH}
    assert {a.uri for a in dagbag.dags["build_and_publish"].timetable.asset_condition.objects} == {ANY_RAW_BATCH}
    published = {o.uri for t in dagbag.dags["build_and_publish"].tasks for o in t.outlets}
    assert published == {f"cityshare://shared/{c.model_name}" for c in load_contracts(kind="shared")} | {ANY_SHARED_TABLE}
    assert {a.uri for a in dagbag.dags["directory"].timetable.asset_condition.objects} == {ANY_SHARED_TABLE}


def test_dag_files_import_no_heavy_libraries():
    """Parsing must stay fast: the DAG file may not pull in dbt, GX, duckdb or pyarrow."""
    code = (
        "import sys, runpy; sys.path.insert(0, {!r}); runpy.run_path({!r});"
        "heavy = [m for m in ('dbt', 'great_expectations', 'duckdb', 'pyarrow') if m in sys.modules];"
        "print(','.join(heavy))"
    ).format(str(ROOT), str(ROOT / "dags" / "cityshare_dags.py"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), out.stdout


def test_ingest_dags_are_documented_tagged_and_pooled_from_their_contracts(dagbag):
    contracts = {f"ingest__{c.department}__{c.dataset}": c for c in load_contracts(kind="source")}
    for dag_id, c in contracts.items():
        dag = dagbag.dags[dag_id]
        assert {c.department, c.sharing_type, "ingest"} <= set(dag.tags), dag_id
        assert c.name in dag.doc_md and c.update_cycle in dag.doc_md and c.sharing_type in dag.doc_md
        assert all(q["name"] in dag.doc_md for p in c.properties for q in p.quality)
        land = dag.get_task("land")
        assert land.retries >= 3 and land.retry_exponential_backoff
        assert all(t.on_failure_callback for t in dag.tasks)
        is_api = (c.raw.get("servers") or [{}])[0].get("type") == "api"
        assert (land.pool == f"api__{c.department}") == (is_api and bool(c.server_option("rateLimitPerSecond")))


@pytest.mark.parametrize("dag_id", ["ingest__jd_nanping__street_cases", "build_and_publish", "directory"])
def test_a_task_process_builds_only_its_own_dag(dag_id):
    """Airflow's parsing context names the DAG a task runs: the file then builds that DAG alone (and reads one
    contract for an ingestion DAG), however many sources the city has."""
    code = (
        "import sys, runpy; sys.path.insert(0, {!r}); from airflow.sdk import DAG;"
        "g = runpy.run_path({!r}); print(sorted(k for k, v in g.items() if isinstance(v, DAG)))"
    ).format(str(ROOT), str(ROOT / "dags" / "cityshare_dags.py"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                              "_AIRFLOW_PARSING_CONTEXT_DAG_ID": dag_id, "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "x"})
    assert out.stdout.strip().splitlines()[-1] == str([dag_id])
