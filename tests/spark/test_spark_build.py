"""The same dbt project on a Spark standalone cluster (dbt-spark, ``method: session``) gives the DuckDB build's tables.

Two simulated days (small scale, with defects) are landed and gated, built on DuckDB as production does, then built
again on a Spark standalone cluster this test starts on 127.0.0.1 (a master and two workers from the pyspark
distribution, ``cityshare.spark_cluster``): the seeds, the standard layer (标准库, hand-written and
contract-derived models), base (基础库), theme (主题库) and collaboration (协同专题库) models, reading the same
landed Parquet files in place. Every Spark table and view must hold exactly the DuckDB one's rows — the same
masked values and the same keyed tokens —, every model (the scenarios' task list rendered from catalog/scenarios.yml
too) and every data test must have run on Spark, the tests passed, and the executors the two workers launched must
have run the tasks.

Then write-audit-publish on Spark (``CITYSHARE_ENGINE=spark``): the DuckDB build was published first, its layer
tables are emptied, and the Spark build is audited and published by the same code — every published table (its
Parquet snapshot, the ``shared`` table, the ``meta.publications`` record) must hold exactly the rows DuckDB
published, and a Spark table that fails its audit must publish nothing. Last, a data test that fails holds back on
Spark what it holds back on DuckDB. Last, a third day is landed and built on Spark: the incremental models read only
its batches (insert_overwrite and append on partitioned Parquet tables), and every table equals a full DuckDB
rebuild of the three days.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import sys
import time

import pytest

from cityshare.ports import free_port
from cityshare.settings import PROJECT_ROOT, get_settings

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 11, 1)
NEXT_DAY = DAY + dt.timedelta(days=2)  # simulated with the first two, landed and built last (incremental)
LAYERS = ("standard", "base", "theme", "collab")


@pytest.fixture(scope="module")
def api_port() -> int:
    """The port of the home's simulated department APIs (registries are landed from them)."""
    return free_port()


def _land_and_gate(settings, day: dt.date, port: int) -> dict[str, str]:
    """Land and gate every source's delivery of ``day``; raw table → the load id the gate accepted."""
    from cityshare.contracts.model import load_contracts
    from cityshare.errors import GateBlocked
    from cityshare.ingest import gate_batch, land_batch
    from cityshare.simulate.api import start_api_server

    accepted = {}
    with start_api_server(settings, port):
        for contract in load_contracts(settings, kind="source"):
            landed = land_batch(contract.key, day, settings)
            with contextlib.suppress(GateBlocked):  # a defective batch stays out of both builds alike
                gate_batch(contract.key, day, landed["load_id"], settings)
                accepted[contract.raw_table] = landed["load_id"]
    return accepted


@pytest.fixture(scope="module")
def built(tmp_path_factory, api_port):
    """(settings, cluster, Spark build summary, DuckDB publish outcome) of a home whose first two days are built and
    published on DuckDB, then built by ``cityshare.engine.build`` with ``CITYSHARE_ENGINE=spark`` on a two-worker
    standalone cluster (the incremental models' first build: their tables are created)."""
    from cityshare import engine, spark_cluster, spark_engine
    from cityshare.publish import audit_and_publish
    from cityshare.simulate import simulate
    from cityshare.transform import build

    sys.path.insert(0, str(PROJECT_ROOT))
    from bench.run import make_home

    home = tmp_path_factory.mktemp("spark") / "home"
    make_home(home, port=api_port)  # registries come from the simulated department APIs on this port
    settings = dataclasses.replace(get_settings(), project_root=home, data_dir=home / "data")
    simulate(settings, days=3, start=DAY, scale=0.05, defect_rate=0.05, seed=7)
    for day in (DAY, DAY + dt.timedelta(days=1)):
        _land_and_gate(settings, day, api_port)
    build(settings)
    on_duckdb = audit_and_publish(settings)
    cluster = spark_cluster.start_standalone(settings, workers=2, cores=1, memory="1g")
    try:
        settings = dataclasses.replace(settings, engine="spark", spark_master=cluster.master_url)
        yield settings, cluster, engine.build(settings), on_duckdb
    finally:
        spark_engine.stop_session()
        cluster.stop()


def _relations(settings) -> list[str]:
    """The DuckDB build's tables and views of the layers Spark builds."""
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                           f"WHERE table_schema IN ({', '.join('?' for _ in LAYERS)})", list(LAYERS)).fetchall()
    return sorted(f"{schema}.{name}" for schema, name in rows)


def test_every_model_ran_on_spark(built):
    settings, _, summary, _ = built
    from cityshare.contracts.model import load_contracts
    from cityshare.spark_engine import spark_dir

    # cityshare.engine.build chose Spark: every node built, the published models written to the audit area
    assert (summary["engine"], summary["failed"], summary["nothing_built"]) == ("spark", {}, False)
    assert summary["models"] >= 55 and summary["audit_tables"] == len(load_contracts(settings, kind="shared")) >= 12

    target = spark_dir(settings) / "target"
    assert json.loads((target / "manifest.json").read_text(encoding="utf-8"))["metadata"]["adapter_type"] == "spark"
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    assert results["args"]["which"] == "build"
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    models = {uid for uid in statuses if uid.startswith("model.")}
    # every DuckDB table and view of the four layers was built on Spark, the scenarios' task list too
    relations = _relations(settings)
    assert "collab.collab_scenarios__tasks" in relations
    assert statuses["model.cityshare.collab_scenarios__tasks"] == "success"
    assert sum(rel.startswith("collab.") for rel in relations) >= 15 and sum(rel.startswith("theme.") for rel in relations) >= 10
    assert {f"model.cityshare.{rel.split('.')[1]}" for rel in relations} <= models
    # the seeds and models succeeded (the data tests passed: below)
    assert {uid: s for uid, s in statuses.items() if s != "success" and not uid.startswith("test.")} == {}


def test_the_data_tests_ran_on_spark_and_passed(built):
    settings, *_ = built
    from cityshare.spark_engine import spark_dir

    def tests(target):
        results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
        return {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("test.")}

    on_spark, on_duckdb = tests(spark_dir(settings) / "target"), tests(settings.dbt_target_dir)
    # the project's singular tests (dbt_project/tests/) and the models' data_tests: the same ones as the DuckDB
    # build ran, every one passed on Spark (assert_pii_masked's regex through cs_regexp_matches)
    singular = {f"test.cityshare.{p.stem}" for p in (settings.dbt_project_dir / "tests").glob("*.sql")}
    assert len(singular) >= 4 and singular <= set(on_spark)
    assert len(on_spark) >= 40 and set(on_spark) == set(on_duckdb)
    assert {uid: s for uid, s in on_spark.items() if s != "pass"} == {}


def test_every_layer_equals_duckdb(built):
    settings, *_ = built
    from cityshare.spark_engine import compare_with_duckdb, spark_rows, spark_session

    relations = [*_relations(settings), "ref.area_code_changes"]
    assert len(relations) >= 56 and "collab.collab_scenarios__tasks" in relations
    assert compare_with_duckdb(settings, relations) == {}
    # not a comparison of empty tables: the simulated day reached most of them
    spark = spark_session(settings)
    empty = {rel for rel in relations if not spark_rows(spark, rel)[1]}
    assert len(empty) <= 6, empty


def test_the_models_ran_on_the_cluster_executors(built):
    settings, cluster, *_ = built
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
    settings, *_ = built
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


def test_the_policy_check_reads_the_spark_builds_lineage(built):
    settings, *_ = built
    from cityshare.contracts.model import load_contracts
    from cityshare.policy import check_policy_by_contract, current_lineage, manifest_path
    from cityshare.spark_engine import SCHEMA_FILE, target_dir

    contracts = load_contracts(settings)
    on_duckdb = dataclasses.replace(settings, engine="duckdb")
    assert manifest_path(settings) == target_dir(settings) / "manifest.json" != manifest_path(on_duckdb)
    assert (target_dir(settings) / SCHEMA_FILE).exists()
    spark_graph, duckdb_graph = current_lineage(settings, contracts), current_lineage(on_duckdb, contracts)
    assert spark_graph is not None and duckdb_graph is not None
    # the Spark manifest's compiled Spark SQL (sqlglot's spark dialect, the catalog's columns) gives DuckDB's
    # lineage: the same tables, dependencies and column pairs from every source to every shared table
    assert spark_graph.nodes.keys() == duckdb_graph.nodes.keys()
    assert spark_graph.edges.keys() == duckdb_graph.edges.keys() and len(spark_graph.edges) >= 50
    assert check_policy_by_contract(settings, contracts) == check_policy_by_contract(on_duckdb, contracts)
    differ = {k: (sorted(set(v) - set(duckdb_graph.edges[k])), sorted(set(duckdb_graph.edges[k]) - set(v)))
              for k, v in spark_graph.edges.items() if sorted(v) != sorted(duckdb_graph.edges[k])}
    assert differ == {}  # edge → (column pairs only on Spark, only on DuckDB)
    # column pairs parsed from the models' Spark SQL, not only the shared tables' copies of their models
    assert sum(len(v) for (_, target), v in spark_graph.edges.items() if not target.startswith("shared.")) >= 100
    assert (target_dir(settings) / "column_lineage_cache.json").exists()


# Write-audit-publish on Spark. These tests come last: the fixture below empties the DuckDB build's layer tables.


def _published(settings) -> dict[str, tuple[int, list[str], list[tuple]]]:
    """Published table → (version the share service serves, columns, sorted rows of its Parquet snapshot)."""
    from cityshare import snapshots
    from cityshare.contracts.model import load_contracts
    from cityshare.spark_engine import _value
    from cityshare.warehouse import connect

    out = {}
    with connect(settings, read_only=True) as con:
        for contract in load_contracts(settings, kind="shared"):
            version, path = snapshots.current(settings, contract.model_name)
            if version is None:
                continue
            # hive_partitioning off: the snapshot's folder (version=N) is not a column of the table
            cur = con.execute("SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(path)])
            rows = sorted((tuple(_value(v) for v in r) for r in cur.fetchall()), key=repr)
            out[f"shared.{contract.model_name}"] = (version, [d[0] for d in cur.description], rows)
    return out


@pytest.fixture(scope="module")
def published_on_spark(built):
    """(settings, what DuckDB published, its outcome, Spark's outcome): the DuckDB build's published tables are
    read, its layer tables emptied (a publish that read them would publish empty tables) and its dbt manifest
    removed (as in a home that never built on DuckDB: the sharing-attribute check reads the Spark build's), then
    the Spark build is audited and published by ``cityshare.publish.audit_and_publish``, as ``cityshare build``
    does."""
    from cityshare.publish import audit_and_publish
    from cityshare.warehouse import connect, transaction

    settings, _, summary, on_duckdb = built
    assert len(on_duckdb["published"]) >= 10
    before = _published(settings)
    with connect(settings) as con, transaction(con):
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = "
                             f"'BASE TABLE' AND table_schema IN ({', '.join('?' for _ in LAYERS)})", list(LAYERS)).fetchall()
        for schema, name in tables:
            con.execute(f'DELETE FROM {schema}."{name}"')
    (settings.dbt_target_dir / "manifest.json").unlink()
    return settings, before, on_duckdb, audit_and_publish(settings, not_built=summary["failed"])


def test_spark_publishes_the_tables_duckdb_published(published_on_spark, tmp_path):
    settings, before, on_duckdb, outcome = published_on_spark
    from cityshare import snapshots
    from cityshare.contracts.model import load_contracts
    from cityshare.meta.publications import latest_publication
    from cityshare.publish import content_digest
    from cityshare.storage import resolved_path
    from cityshare.warehouse import connect

    # the same outcome as on DuckDB: the same tables published (and held back or waiting, if any)
    assert not outcome.get("unchanged") and sorted(r["table"] for r in outcome["published"]) == sorted(before)
    assert (set(outcome["blocked"]), outcome["waiting"]) == (set(on_duckdb["blocked"]), on_duckdb["waiting"])
    after = _published(settings)
    # same columns, same rows (masked values and tokens included), table by table
    assert {t: (cols, rows) for t, (_v, cols, rows) in after.items()} == {
        t: (cols, rows) for t, (_v, cols, rows) in before.items()}
    assert sum(bool(rows) for _v, _c, rows in after.values()) >= len(after) - 3
    contracts = {f"shared.{c.model_name}": c for c in load_contracts(settings, kind="shared")}
    with connect(settings, read_only=True) as con:
        for r in outcome["published"]:
            name = r["table"].split(".", 1)[1]
            version, path = snapshots.current(settings, name)
            # the share service's pointer, meta.publications and the shared table agree with the snapshot
            assert version == r["version"] and path is not None
            rows, digest = content_digest(con, path, contracts[r["table"]])
            assert latest_publication(con, name) == (version, digest) and rows == r["rows"]
            stored = con.execute("SELECT snapshot_path FROM meta.publications WHERE table_name = ? AND version = ?",
                                 [name, version]).fetchone()[0]
            assert resolved_path(settings, stored) == str(path)
            assert con.execute(f'SELECT count(*) FROM shared."{name}"').fetchone()[0] == rows
            # a table whose rows are byte-for-byte DuckDB's keeps its version, a changed one gets the next
            assert version == before[r["table"]][0] + (1 if r["changed"] else 0)


def test_a_failed_audit_on_spark_publishes_nothing(published_on_spark):
    settings, _, on_duckdb, _ = published_on_spark
    from cityshare import snapshots
    from cityshare.contracts.model import load_contracts
    from cityshare.publish import audit_and_publish
    from cityshare.spark_engine import export_for_audit, spark_session
    from cityshare.warehouse import connect

    spark = spark_session(settings)
    shared = [c for c in load_contracts(settings, kind="shared")]
    # a published model that is a Spark table with a primary key and rows: one of its rows written twice
    victim, relation = next(
        (c, f"{layer}.{c.model_name}") for c in shared if c.primary_key for layer in LAYERS
        if spark.catalog.tableExists(f"{layer}.{c.model_name}")
        and spark.catalog.getTable(f"{layer}.{c.model_name}").tableType == "MANAGED"
        and spark.table(f"{layer}.{c.model_name}").limit(1).count())
    spark.sql(f"INSERT INTO {relation} SELECT * FROM {relation} LIMIT 1")
    assert export_for_audit(settings, [c.model_name for c in shared])

    def state():
        with connect(settings, read_only=True) as con:
            records = con.execute("SELECT * FROM meta.publications ORDER BY ALL").fetchall()
            shared_rows = con.execute(f'SELECT count(*) FROM shared."{victim.model_name}"').fetchone()[0]
        folders = {c.model_name: sorted(snapshots.versions(settings, c.model_name)) for c in shared}
        pointers = {c.model_name: snapshots.pointer(settings, c.model_name) for c in shared}
        return records, shared_rows, folders, pointers

    before = state()
    outcome = audit_and_publish(settings)
    table = f"shared.{victim.model_name}"
    assert set(outcome["blocked"]) == {*on_duckdb["blocked"], table}
    assert "unique" in " ".join(outcome["blocked"][table]), outcome["blocked"][table]
    assert table not in {r["table"] for r in outcome["published"]}
    # nothing of it published, nor half: no new version folder, record or pointer, the shared table as it was;
    # the others' rows did not change, so they keep their versions
    assert state() == before
    assert not (settings.exports_dir / ".staging" / f"{victim.model_name}.parquet").exists()


def test_a_failed_data_test_holds_back_on_spark_what_it_holds_back_on_duckdb(published_on_spark, monkeypatch):
    settings, *_ = published_on_spark
    from cityshare import engine, spark_engine
    from cityshare.contracts.model import load_contracts
    from cityshare.publish import audit_and_publish
    from cityshare.transform import failed_nodes, run_dbt

    # a data test of a published model that fails whatever the rows (in this home's copy of the project)
    (settings.dbt_project_dir / "tests" / "assert_forced_failure.sql").write_text(
        "-- depends_on: {{ ref('theme_city_cases__case') }}\nselect 'forced' as failure\n", encoding="utf-8")
    select = "theme_city_cases__case+"
    on_duckdb_failed = failed_nodes(run_dbt(["build", "--exclude-resource-type", "unit_test", "--select", select],
                                            settings, allow_failed_nodes=True))
    monkeypatch.setattr(spark_engine, "SPARK_SELECT", (select,))  # that subgraph only: a full build takes minutes
    summary = engine.build(settings)
    # dbt build on either engine: the test fails, the models downstream of its model are skipped
    assert summary["failed"].keys() == on_duckdb_failed.keys()
    assert summary["failed"]["assert_forced_failure"] and "collab_storefront_order__street_day" in summary["failed"]
    outcome = audit_and_publish(settings, not_built=summary["failed"])
    held = {t for t, reasons in outcome["blocked"].items() if any(": dbt " in r for r in reasons)}
    assert "shared.collab_storefront_order__street_day" in held and "shared.theme_city_cases__case" not in held
    # exactly the published models DuckDB's failed nodes name (what the audit holds back after a DuckDB build)
    shared = {c.model_name for c in load_contracts(settings, kind="shared")}
    assert held == {f"shared.{name}" for name in shared & on_duckdb_failed.keys()}


# A next-day build on Spark, through Airflow. Last: it lands a third day in the home the tests above used.


def _created(spark, relation: str) -> str:
    """When Spark's catalog created the table (a full rebuild drops and creates it again)."""
    return next(r.data_type for r in spark.sql(f"DESCRIBE TABLE EXTENDED {relation}").collect()
                if r.col_name == "Created Time")


@pytest.fixture(scope="module")
def next_day(built, published_on_spark, api_port):
    """The third day landed and gated, then the ``build_and_publish`` DAG run through Airflow (``dag.test``, as
    ``cityshare demo`` runs it) with ``CITYSHARE_ENGINE=spark`` and the test's cluster as its master: its
    ``dbt_build`` task is the Spark driver. Returns what the tests below compare."""
    from cityshare import spark_engine
    from cityshare.orchestrate import init_airflow, run_dags

    settings, cluster = published_on_spark[0], built[1]
    (settings.dbt_project_dir / "tests" / "assert_forced_failure.sql").unlink(missing_ok=True)  # the test above's
    manifest = json.loads((spark_engine.target_dir(settings) / "manifest.json").read_text(encoding="utf-8"))
    incremental = {uid: f"{n['schema']}.{n['alias']}" for uid, n in manifest["nodes"].items()
                   if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental"}
    spark = spark_engine.spark_session(settings)
    created = {uid: _created(spark, rel) for uid, rel in incremental.items()}
    before = _published(settings)
    status = cluster.status()
    apps_before = {a["id"] for a in status["activeapps"] + status["completedapps"]}  # this process's among them

    accepted = _land_and_gate(settings, NEXT_DAY, api_port)
    # the Airflow task process is the driver now: this one's JVM ends, and with it its hold on the metastore
    spark_engine.stop_session(release_jvm=True)
    init_airflow(settings)
    started = time.time()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CITYSHARE_ENGINE", "spark")
        env.setenv("CITYSHARE_SPARK_MASTER", cluster.master_url)
        run = run_dags([("build_and_publish", NEXT_DAY)], settings)[0]
    return {"settings": settings, "cluster": cluster, "run": run, "accepted": accepted, "manifest": manifest,
            "incremental": incremental, "created": created, "before": before, "apps_before": apps_before,
            "started": started}


def test_airflow_builds_on_spark_and_publishes(next_day):
    import sqlite3

    settings, run, before = next_day["settings"], next_day["run"], next_day["before"]
    from cityshare.spark_engine import target_dir

    con = sqlite3.connect(settings.airflow_home / "airflow.db")
    try:
        states = dict(con.execute("SELECT task_id, state FROM task_instance WHERE dag_id = 'build_and_publish'"))
    finally:
        con.close()
    # the DAG's three tasks succeeded: built, audited and published every table
    assert states == {"dbt_build": "success", "audit_and_publish": "success", "all_published": "success"}, (
        states, run.output[-3000:])
    assert run.ok
    # the build ran on Spark, in the task, on the cluster: a Spark build's run results, and one application more,
    # finished with the task's process
    run_results = target_dir(settings) / "run_results.json"
    assert run_results.stat().st_mtime > next_day["started"]
    assert json.loads(run_results.read_text(encoding="utf-8"))["args"]["which"] == "build"
    new_apps = [a for a in next_day["cluster"].status()["completedapps"] if a["id"] not in next_day["apps_before"]]
    assert [(a["name"], a["state"]) for a in new_apps] == [("cityshare", "FINISHED")]
    # every published table is there, the ones the new day changed in a new version
    after = _published(settings)
    assert after.keys() == before.keys() and len(after) >= 12
    assert all(version >= before[t][0] for t, (version, _c, _r) in after.items())
    changed = {t for t, (version, _c, rows) in after.items() if version > before[t][0]}
    assert changed == {t for t in after if after[t][2] != before[t][2]} and len(changed) >= 6


def test_the_next_day_build_on_spark_is_incremental_and_equals_a_full_rebuild(next_day):
    settings, manifest, incremental = next_day["settings"], next_day["manifest"], next_day["incremental"]
    from cityshare.contracts.model import load_contracts
    from cityshare.spark_engine import compare_with_duckdb, duckdb_rows, spark_session, target_dir
    from cityshare.transform import build

    # the standard models merged by key (insert_overwrite on Spark), the two day models (append)
    by_day = {"model.cityshare.collab_muck_truck__truck_day", "model.cityshare.theme_parking__lot_day"}
    keyed = {uid for uid in incremental if uid.startswith("model.cityshare.stg_")}
    assert by_day < incremental.keys() and len(keyed) >= 11 and keyed | by_day == incremental.keys()
    results = {r["unique_id"]: r for r in json.loads(
        (target_dir(settings) / "run_results.json").read_text(encoding="utf-8"))["results"]}
    spark = spark_session(settings)
    accepted = next_day["accepted"]
    assert len(accepted) >= 10
    for uid, relation in incremental.items():
        assert results[uid]["status"] == "success", uid
        # built incrementally: the table was not dropped and created again...
        assert _created(spark, relation) == next_day["created"][uid], relation
        code = results[uid]["compiled_code"]
        if uid in keyed:
            # ...and its SQL read only the batch of the new day (none when its source's day-3 delivery was blocked)
            raw = next(d.rsplit(".", 1)[1] for d in manifest["nodes"][uid]["depends_on"]["nodes"]
                       if d.startswith("source."))
            read = re.search(r"_load_id in \(([^)]*)\)", code)  # `where false` when nothing is new
            expected = {accepted[raw]} if raw in accepted else set()
            assert (set(re.findall(r"'([^']*)'", read.group(1))) if read else set()) == expected, (relation, raw)
            assert "cs: a processed batch left the raw view" not in code
        else:
            # ...and recomputed only the days its new rows fall on, the new day among them
            days = re.search(r"cs_new_days: ([^ ]*) \*/", code).group(1)
            assert days != "all" and NEXT_DAY.isoformat() in days.split(","), (relation, days)
    assert sum("_load_id in (" in results[uid]["compiled_code"] for uid in keyed) >= 9

    # the same tables as a full rebuild of the three days on DuckDB: the incremental models, every published model,
    # and what the share service serves of it (the snapshots the Airflow run published)
    build(dataclasses.replace(settings, engine="duckdb"), full_refresh=True)
    shared = load_contracts(settings, kind="shared")
    models = {c.model_name: next(f"{layer}.{c.model_name}" for layer in LAYERS
                                 if spark.catalog.tableExists(f"{layer}.{c.model_name}")) for c in shared}
    assert compare_with_duckdb(settings, sorted({*incremental.values(), *models.values()})) == {}
    published = _published(settings)
    for name, relation in models.items():
        _version, columns, rows = published[f"shared.{name}"]
        assert (columns, rows) == duckdb_rows(settings, relation), name
