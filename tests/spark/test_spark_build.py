"""The same dbt project on a Spark standalone cluster (dbt-spark, ``method: session``) gives the DuckDB build's tables.

One simulated day (small scale, with defects) is landed and gated, built on DuckDB as production does, then built
again on a Spark standalone cluster this test starts on 127.0.0.1 (a master and two workers from the pyspark
distribution, ``cityshare.spark_cluster``): the seeds, the standard layer (标准库, hand-written and
contract-derived models), base (基础库), theme (主题库) and collaboration (协同专题库) models, reading the same
landed Parquet files in place. Every Spark table and view must hold exactly the DuckDB one's rows — the same
masked values and the same keyed tokens —, every model must have run on Spark, and the executors the two workers
launched must have run the tasks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import sys

import pytest

from cityshare.ports import free_port
from cityshare.settings import PROJECT_ROOT, get_settings

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 1)
LAYERS = ("standard", "base", "theme", "collab")
# a dbt Python model (the scenario task list read from catalog/scenarios.yml): dbt-spark runs Python models only
# on Databricks, so it stays a DuckDB table (docs/spark.md)
PYTHON_MODELS = ("collab.collab_scenarios__tasks",)
SPARK_SELECT = ["--select", "tag:ref", "tag:standard", "tag:base", "tag:theme", "tag:collab",
                "--exclude", *(rel.split(".")[1] for rel in PYTHON_MODELS)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(settings, cluster, dbt-spark result) of a home built on DuckDB, then on a two-worker standalone cluster."""
    from cityshare import spark_cluster, spark_engine
    from cityshare.contracts.model import load_contracts
    from cityshare.errors import GateBlocked
    from cityshare.ingest import gate_batch, land_batch
    from cityshare.simulate import simulate
    from cityshare.simulate.api import start_api_server
    from cityshare.transform import build

    sys.path.insert(0, str(PROJECT_ROOT))
    from bench.run import make_home

    home = tmp_path_factory.mktemp("spark") / "home"
    port = free_port()
    make_home(home, port=port)  # registries come from the simulated department APIs on this port
    settings = dataclasses.replace(get_settings(), project_root=home, data_dir=home / "data")
    simulate(settings, days=1, start=DAY, scale=0.05, defect_rate=0.05, seed=7)
    with start_api_server(settings, port):
        for contract in load_contracts(settings, kind="source"):
            landed = land_batch(contract.key, DAY, settings)
            with contextlib.suppress(GateBlocked):  # a defective batch stays out of both builds alike
                gate_batch(contract.key, DAY, landed["load_id"], settings)
    build(settings)
    cluster = spark_cluster.start_standalone(settings, workers=2, cores=1, memory="1g")
    try:
        settings = dataclasses.replace(settings, spark_master=cluster.master_url)
        result = spark_engine.run_dbt_spark(
            ["build", "--exclude-resource-type", "unit_test", "--exclude-resource-type", "test", *SPARK_SELECT],
            settings,
        )
        yield settings, cluster, result
    finally:
        spark_engine.stop_session()
        cluster.stop()


def _relations(settings) -> list[str]:
    """The DuckDB build's tables and views of the layers Spark builds (without the Python model)."""
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                           f"WHERE table_schema IN ({', '.join('?' for _ in LAYERS)})", list(LAYERS)).fetchall()
    return sorted(f"{schema}.{name}" for schema, name in rows if f"{schema}.{name}" not in PYTHON_MODELS)


def test_every_model_ran_on_spark(built):
    settings, _, _ = built
    from cityshare.spark_engine import spark_dir

    target = spark_dir(settings) / "target"
    assert json.loads((target / "manifest.json").read_text(encoding="utf-8"))["metadata"]["adapter_type"] == "spark"
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    assert results["args"]["which"] == "build"
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    models = {uid for uid in statuses if uid.startswith("model.")}
    # every DuckDB table and view of the four layers (but the Python model) was built on Spark
    relations = _relations(settings)
    assert sum(rel.startswith("collab.") for rel in relations) >= 15 and sum(rel.startswith("theme.") for rel in relations) >= 10
    assert {f"model.cityshare.{rel.split('.')[1]}" for rel in relations} <= models
    assert {uid: s for uid, s in statuses.items() if s != "success"} == {}


def test_every_layer_equals_duckdb(built):
    settings, _, _ = built
    from cityshare.spark_engine import compare_with_duckdb, spark_rows, spark_session

    relations = [*_relations(settings), "ref.area_code_changes"]
    assert len(relations) >= 55
    assert compare_with_duckdb(settings, relations) == {}
    # not a comparison of empty tables: the simulated day reached most of them
    spark = spark_session(settings)
    empty = {rel for rel in relations if not spark_rows(spark, rel)[1]}
    assert len(empty) <= 6, empty


def test_the_models_ran_on_the_cluster_executors(built):
    settings, cluster, _ = built
    from cityshare.spark_engine import executor_tasks, spark_session

    spark = spark_session(settings)
    app_id = spark.sparkContext.applicationId
    assert spark.sparkContext.master == cluster.master_url
    # the master: two live workers, the build's application running with both workers' cores
    status = cluster.status()
    assert status["aliveworkers"] == 2
    assert [(a["id"], a["name"], a["state"], a["cores"]) for a in status["activeapps"]] == [
        (app_id, "cityshare", "RUNNING", 2)]
    # each worker launched an executor of that application
    for i in range(2):
        assert [e["appid"] for e in cluster.worker_status(i)["executors"]] == [app_id]
    # and the executors ran the build's tasks (the driver none): thousands of tasks, on both
    tasks = executor_tasks(spark)
    assert tasks.pop("driver")[1] == 0
    assert len(tasks) == 2 and all(host.startswith("127.0.0.1:") for host, _ in tasks.values())
    assert all(done > 100 for _, done in tasks.values()), tasks


def test_tokens_are_the_keyed_hmac_on_both_engines(built):
    settings, _, _ = built
    from cityshare.privacy import keyed_token, token_key
    from cityshare.spark_engine import duckdb_rows, spark_rows, spark_session

    spark = spark_session(settings)
    key = token_key()
    values = ["500108198001011234", "13812345678", "张三", "x" * 200]
    got = spark.sql("SELECT v, cs_token(v) FROM VALUES " + ", ".join(f"('{v}')" for v in values) + " AS t(v)").collect()
    assert {r[0]: r[1] for r in got} == {v: keyed_token(v, key) for v in values}
    assert spark.sql("SELECT cs_token(NULL), cs_token('')").collect()[0] == (None, None)
    # the tokens in a built table: present, equal across engines (registry legal persons and the grid rosters)
    for relation, column in (("standard.stg_scjgj__business_registry", "legal_person_token"),
                             ("standard.stg_jd_nanping__grid_workers", "worker_token")):
        s_cols, s_rows = spark_rows(spark, relation)
        d_cols, d_rows = duckdb_rows(settings, relation)
        s_tokens = sorted(r[s_cols.index(column)] for r in s_rows if r[s_cols.index(column)])
        assert s_tokens and s_tokens == sorted(r[d_cols.index(column)] for r in d_rows if r[d_cols.index(column)])
