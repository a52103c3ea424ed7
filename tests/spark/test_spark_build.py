"""The same dbt project on Spark (dbt-spark, ``method: session``) gives the DuckDB build's tables.

One simulated day (small scale, with defects) is landed and gated, built on DuckDB as production does, then the
seeds, the whole standard layer (标准库, hand-written and contract-derived models), base (基础库) and theme (主题库)
models are built on a local Spark session reading the same landed Parquet files in place. Every Spark table must hold exactly the
DuckDB table's rows — the same masked values and the same keyed tokens — and every model must have run on Spark.
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
BASE_MODELS = ("base.base_areas", "base.base_streets", "base.base_legal_entity")
# 主题库: a table and two views over the standard models (durations, time limits, masked contacts)
THEME_MODELS = ("theme.theme_city_cases__case", "theme.theme_utilities__installation", "theme.theme_care__alert")
SPARK_SELECT = ["tag:ref", "tag:standard", *(rel.split(".")[1] for rel in BASE_MODELS + THEME_MODELS)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Settings of a home built on DuckDB, then on Spark; yields (settings, dbt-spark result)."""
    from cityshare import spark_engine
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
    result = spark_engine.run_dbt_spark(
        ["build", "--exclude-resource-type", "unit_test", "--exclude-resource-type", "test", "--select", *SPARK_SELECT],
        settings,
    )
    yield settings, result
    spark_engine.stop_session()


def _tables(settings, schema: str) -> set[str]:
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                           "AND table_type = 'BASE TABLE'", [schema]).fetchall()
    return {f"{schema}.{name}" for (name,) in rows}


def test_every_model_ran_on_spark(built):
    settings, _ = built
    from cityshare.spark_engine import spark_dir

    target = spark_dir(settings) / "target"
    assert json.loads((target / "manifest.json").read_text(encoding="utf-8"))["metadata"]["adapter_type"] == "spark"
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    assert results["args"]["which"] == "build"
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    models = {uid for uid in statuses if uid.startswith("model.")}
    # every DuckDB standard table (hand-written and contract-derived), and the base models, were built on Spark
    expected = {f"model.cityshare.{rel.split('.')[1]}"
                for rel in _tables(settings, "standard") | set(BASE_MODELS) | set(THEME_MODELS)}
    assert expected <= models
    assert {uid: s for uid, s in statuses.items() if s != "success"} == {}


def test_standard_base_and_theme_tables_equal_duckdb(built):
    settings, _ = built
    from cityshare.spark_engine import compare_with_duckdb, spark_rows, spark_session

    relations = sorted(_tables(settings, "standard")) + list(BASE_MODELS + THEME_MODELS) + ["ref.area_code_changes"]
    assert len(relations) >= 25
    assert compare_with_duckdb(settings, relations) == {}
    # not a comparison of empty tables: the simulated day reached most of them
    spark = spark_session(settings)
    non_empty = [rel for rel in relations if spark_rows(spark, rel)[1]]
    assert len(non_empty) >= len(relations) - 4, set(relations) - set(non_empty)


def test_tokens_are_the_keyed_hmac_on_both_engines(built):
    settings, _ = built
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
