"""The layers built on Apache Spark (``CITYSHARE_ENGINE=spark``): the same dbt project through dbt-spark.

Why in-process (dbt-spark ``method: session``): dbt-spark's session cursor calls
``SparkSession.builder.getOrCreate()``, so the session this module creates first — its master (``local[N]`` or a
standalone cluster's ``spark://`` URL), its warehouse directory, the raw views over the landed Parquet lake and
the ``cs_*`` functions — is the one every dbt node runs in. No Thrift server, and the token key is registered
here, never written into SQL that dbt compiles or logs.

- Raw sources (贴源): ``raw.<dept>__<dataset>`` views reading the latest accepted Parquet batch of every load date
  in place, the batches the DuckDB warehouse's ``meta.batches`` register lists (the same as its raw views).
- ``cs_token``: a Spark SQL function computing HMAC-SHA256 with the built-in ``sha2`` (RFC 2104 written out), so
  it runs in the JVM; the same token as :func:`cityshare.privacy.keyed_token` for the same key and value.
- The masking functions call :mod:`cityshare.privacy` as Python UDFs (the same code as DuckDB's).

Optional: ``uv sync --extra spark`` installs dbt-spark and pyspark; Spark needs a Java 17 runtime (docs/spark.md).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract, load_contracts
from cityshare.errors import BuildFailed
from cityshare.scenarios import sql_literal
from cityshare.settings import Settings, get_settings
from cityshare.transform import (
    PARTITION_COLUMN,
    NodeProgress,
    failed_nodes,
    node_results,
    progress_callback,
    render_dbt_files,
)

RAW_META_COLUMNS = (("_load_id", "string"), ("_loaded_at", "timestamp"), ("_source", "string"),
                    ("_source_row", "bigint"), ("_row_hash", "string"), ("_load_date", "date"))
LAYERS = ("standard", "base", "theme", "collab")
# what a Spark build builds: the seeds and every model of the four layers, with their data tests
SPARK_SELECT = ("tag:ref", "tag:standard", "tag:base", "tag:theme", "tag:collab")
MASK_FUNCTIONS = ("cs_mask_mobile", "cs_mask_id_number", "cs_mask_person_name", "cs_truncate_address")
SCHEMA_FILE = "warehouse_schema.json"
# the incremental models' record of processed batches in Spark's catalog (not the DuckDB warehouse's meta schema):
# created and written by the dbt project (macros/cross_engine.sql spark__cs_seen_ddl, spark__cs_record_batches)
SEEN_BATCHES = "meta.dbt_seen_batches"
_SESSION: Any = None


def spark_dir(settings: Settings) -> Path:
    """Where the Spark tier keeps its warehouse (Parquet tables), metastore and dbt artifacts."""
    return settings.data_dir / "spark"


def target_dir(settings: Settings) -> Path:
    """The Spark build's dbt artifacts (manifest, run results) and the catalog's columns (:data:`SCHEMA_FILE`)."""
    return spark_dir(settings) / "target"


def require_spark() -> None:
    """Fail with one line when the optional Spark tier is not installed."""
    try:
        import dbt.adapters.spark  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise BuildFailed(f"Spark 引擎未安装（{exc.name}）：请运行 `uv sync --extra spark` 或 `make test-spark`") from None
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise BuildFailed("Spark 引擎需要 Java 17 运行时：请安装 Debian 软件包 openjdk-17-jre-headless"
                          "（`make test-spark` 会自动安装）")


def spark_session(settings: Settings | None = None, master: str | None = None) -> Any:
    """The process's SparkSession (created once): Hive catalog in the data folder, NTZ timestamps like DuckDB's."""
    global _SESSION
    if _SESSION is not None:
        return _SESSION
    require_spark()
    from pyspark.sql import SparkSession

    settings = settings or get_settings()
    master = check_master(master or settings.spark_master, settings)
    home = spark_dir(settings)
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python UDF workers run this environment's cityshare
    builder = (
        SparkSession.builder.appName("cityshare")
        .master(master)
        # no web UI and no event log: query plans hold the cs_token function's key-derived pads (see register_functions)
        .config("spark.ui.enabled", "false")
        # on a cluster: small executors, one core each (the workers' cores bound how many run)
        .config("spark.executor.memory", settings.spark_executor_memory)
        .config("spark.executor.cores", "1")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", str(home / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true")
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={home}")
        # DuckDB's TIMESTAMP has no time zone: Spark's TIMESTAMP_NTZ is the same type (no shift by the session zone)
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")  # as dbt-spark sets it: casts give NULL, like DuckDB's try_cast
        .config("spark.sql.shuffle.partitions", str(settings.spark_partitions))
        # INSERT OVERWRITE replaces only the partitions the query writes (the incremental models' insert_overwrite,
        # each model's partition of meta.dbt_seen_batches), through a staging folder per statement: models written
        # side by side do not meet, and a model may read the partitions it replaces
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        # no constraint propagation: with it, Spark's optimizer fails on a keyed model's incremental union when a
        # branch holds a correlated subquery (cs_changed_code in stg_zjw__bridge_sensor_readings: "NoSuchElementException:
        # key not found" in Union.rewriteConstraints); it only infers filters, the results are the same
        .config("spark.sql.constraintPropagation.enabled", "false")
        .enableHiveSupport()
    )
    if on_this_machine(master):  # the driver listens on the loopback address only (its executors are here)
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    _SESSION = builder.getOrCreate()
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def check_master(master: str, settings: Settings) -> str:
    """``master`` when the build can run there, else a one-line BuildFailed.

    The raw views read the landed Parquet files and the tables are written under the data folder by local path,
    so every executor must see that folder at the same path: ``local[N]`` and a standalone master on this machine
    (``spark://127.0.0.1:7077``, its workers here) do; a standalone master elsewhere only when its workers mount
    the data folder at the same path (``CITYSHARE_SPARK_SHARED_DATA=1``). YARN, Kubernetes and others are refused.
    """
    if on_this_machine(master) or (master.startswith("spark://") and settings.spark_shared_data):
        return master
    if master.startswith("spark://"):
        raise BuildFailed(f"Spark 集群 {master} 的 worker 不在本机：仅当每个 worker 以同一路径挂载数据目录 "
                          f"{settings.data_dir} 时可用（设置 CITYSHARE_SPARK_SHARED_DATA=1，见 docs/spark.md）")
    raise BuildFailed(f"不支持的 Spark master {master}：仅支持 local[N] 与 spark:// 独立集群（docs/spark.md）")


def on_this_machine(master: str) -> bool:
    """Whether every executor of ``master`` runs on this machine: ``local[N]``, or a standalone master (and so, in
    the deployments this project starts, its workers) on the loopback address."""
    if master == "local" or master.startswith("local["):
        return True
    hosts = {hp.rsplit(":", 1)[0].strip("[]") for hp in master.removeprefix("spark://").split(",")}
    return master.startswith("spark://") and hosts <= {"127.0.0.1", "localhost", "::1"}


def executor_tasks(spark: Any) -> dict[str, tuple[str, int]]:
    """Executor id → (host:port, tasks completed) of the session's application, as the application's REST status
    (``/api/v1/applications/<id>/executors``) reports it, read from the driver's status store (the web UI is off).
    Under ``local[N]`` the one executor is ``driver``; on a cluster the executors the workers launched."""
    executors = spark.sparkContext._jsc.sc().statusStore().executorList(False)
    out = {}
    for i in range(executors.size()):
        e = executors.apply(i)
        out[str(e.id())] = (str(e.hostPort()), int(e.completedTasks()))
    return out


def stop_session(release_jvm: bool = False) -> None:
    """Stop the process's SparkSession (the next spark_session() starts a new one).

    ``release_jvm``: also end the JVM pyspark started, and with it the embedded Derby metastore it booted, which
    stays locked to that JVM after the session stops: another process (an Airflow task) can then build."""
    global _SESSION
    if _SESSION is not None:
        _SESSION.stop()
        _SESSION = None
    if release_jvm:
        from pyspark import SparkContext

        gateway = SparkContext._gateway
        if gateway is not None:
            gateway.shutdown()
            proc = getattr(gateway, "proc", None)  # the JVM pyspark launched (none when it attached to one)
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
            SparkContext._gateway = None
            SparkContext._jvm = None


def hmac_sha256_sql(value: str, key: str | bytes) -> str:
    """HMAC-SHA256 of ``value`` (a SQL expression) as Spark SQL on built-ins: sha2(K⊕opad ‖ sha2(K⊕ipad ‖ m)).

    The result contains key material: it belongs in a session-scoped function definition, never in model SQL.
    """
    key_bytes = key.encode("utf-8") if isinstance(key, str) else key
    if len(key_bytes) > 64:  # RFC 2104: a key longer than the block is hashed first
        key_bytes = hashlib.sha256(key_bytes).digest()
    key_bytes = key_bytes.ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in key_bytes).hex()
    opad = bytes(b ^ 0x5C for b in key_bytes).hex()
    inner = f"unhex(sha2(concat(X'{ipad}', encode({value}, 'UTF-8')), 256))"
    return f"sha2(concat(X'{opad}', {inner}), 256)"


def register_functions(spark: Any, key: str | bytes | None = None) -> None:
    """The ``cs_*`` functions the models call, as temporary functions of ``spark`` (same values as DuckDB's)."""
    from pyspark.sql.types import StringType

    from cityshare import privacy

    key = privacy.token_key() if key is None else key
    for name in MASK_FUNCTIONS:
        spark.udf.register(name, getattr(privacy, name.removeprefix("cs_")), StringType())
    spark.sql(  # NULL and '' give NULL, as privacy.keyed_token
        "CREATE OR REPLACE TEMPORARY FUNCTION cs_token(value STRING) RETURNS STRING RETURN "
        f"CASE WHEN value IS NULL OR value = '' THEN NULL ELSE {hmac_sha256_sql('value', key)} END"
    )


def accepted_batches(settings: Settings) -> dict[str, list[tuple[str, str, int]]]:
    """Dataset key → (load id, Parquet file, commit sequence) of its latest accepted batch of every load date (the
    DuckDB raw views' batches and files)."""
    from cityshare.meta.batches import latest_accepted_by_dataset
    from cityshare.storage import resolved_path
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        rows = latest_accepted_by_dataset(con)
    out: dict[str, list[tuple[str, str, int]]] = {}
    for dataset, batches in rows.items():
        for load_id, stored, seq in batches:
            path = resolved_path(settings, stored)  # meta keeps paths under the data folder relative to it
            if path:
                out.setdefault(dataset, []).append((load_id, path, seq))
    return out


def raw_view_sql(contract: Contract, batches: Iterable[tuple[str, int]]) -> str:
    """``raw.<dept>__<dataset>`` over the given Parquet files, columns in the contract's order (all text as landed),
    each file's rows with its batch's commit sequence as ``_batch_seq`` (as the DuckDB raw view)."""
    business = [f"`{p.name}`" for p in contract.properties]
    columns = ", ".join([*business, *(name for name, _ in RAW_META_COLUMNS)])
    selects = [f"SELECT {columns}, CAST({int(seq)} AS BIGINT) AS _batch_seq FROM parquet.`{_local_path(p)}`"
               for p, seq in batches]
    if not selects:  # nothing accepted yet: empty but typed, as the DuckDB raw view
        typed = [f"CAST(NULL AS STRING) AS {b}" for b in business]
        typed += [f"CAST(NULL AS {kind}) AS {name}" for name, kind in RAW_META_COLUMNS]
        selects = [f"SELECT {', '.join(typed)}, CAST(NULL AS BIGINT) AS _batch_seq WHERE false"]
    return f"CREATE OR REPLACE VIEW raw.`{contract.raw_table}` AS " + "\nUNION ALL ".join(selects)


def _local_path(path: str) -> str:
    if "://" in path and not path.startswith("file://"):
        raise BuildFailed(f"Spark 引擎暂只读取本地湖目录：{path}（对象存储湖见 docs/spark.md）")
    return path.replace("`", "``")


def register_raw_views(spark: Any, settings: Settings) -> dict[str, int]:
    """Create the ``raw`` and ``meta`` databases and one raw view per source contract; raw table → files read.

    Also ``meta.raw_view_batches`` (raw table, load id), the batches the raw views read, as the DuckDB warehouse
    keeps them: the incremental models compare it with the batches they processed (macros/incremental.sql)."""
    spark.sql("CREATE DATABASE IF NOT EXISTS raw")
    spark.sql("CREATE DATABASE IF NOT EXISTS meta")
    batches = accepted_batches(settings)
    out = {}
    view_batches: list[tuple[str, str]] = []
    for contract in load_contracts(settings, kind="source"):
        held = batches.get(contract.key, [])
        spark.sql(raw_view_sql(contract, [(path, seq) for _, path, seq in held]))
        view_batches += [(contract.raw_table, load_id) for load_id, _, _ in held]
        out[contract.raw_table] = len(held)
    rows = ", ".join(f"({sql_literal(t, 'spark')}, {sql_literal(i, 'spark')})" for t, i in view_batches)
    spark.sql("CREATE OR REPLACE VIEW meta.raw_view_batches AS " + (
        f"SELECT raw_table, load_id FROM VALUES {rows} AS t(raw_table, load_id)" if rows
        else "SELECT CAST(NULL AS STRING) AS raw_table, CAST(NULL AS STRING) AS load_id WHERE false"))
    # before the incremental models: Spark builds kept no record of processed batches in an unpartitioned table,
    # which the models' partition-per-model record (spark__cs_seen_ddl) replaces
    if spark.catalog.tableExists(SEEN_BATCHES) and not any(
            c.isPartition for c in spark.catalog.listColumns(SEEN_BATCHES)):
        spark.sql(f"DROP TABLE {SEEN_BATCHES}")
    return out



def run_dbt_spark(args: list[str], settings: Settings | None = None, allow_failed_nodes: bool = False,
                  on_node: NodeProgress | None = None) -> Any:
    """dbt on the Spark session (profile target ``spark``); raises BuildFailed naming the failed nodes.

    With ``allow_failed_nodes`` a run whose nodes ran but some failed returns normally, as
    :func:`cityshare.transform.run_dbt` (the others are built; the audit holds back what depends on the failed)."""
    from dbt.cli.main import dbtRunner

    settings = settings or get_settings()
    spark = spark_session(settings)
    register_functions(spark)
    register_raw_views(spark, settings)
    # a copy of the project with the generated files rendered for Spark: the DuckDB build's own generated files
    # (fingerprinted by cityshare.build_state) stay as they are
    project = spark_dir(settings) / "dbt_project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(settings.dbt_project_dir, project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "_generated", ".user.yml"))
    render_dbt_files(settings, out=project / "models" / "_generated", engine="spark")
    target = target_dir(settings)
    previous = os.environ.get("CITYSHARE_ENGINE")
    os.environ["CITYSHARE_ENGINE"] = "spark"
    try:
        result = dbtRunner(callbacks=[progress_callback(on_node)] if on_node else []).invoke([
            *args, "--project-dir", str(project), "--profiles-dir", str(project),
            "--target-path", str(target), "--log-path", str(target / "logs"), "--quiet"])
    finally:
        if previous is None:
            del os.environ["CITYSHARE_ENGINE"]
        else:
            os.environ["CITYSHARE_ENGINE"] = previous
    if not result.success and not (allow_failed_nodes and result.exception is None and failed_nodes(result)):
        failures = [f"{r.node.name}: {' '.join(str(r.message).split())[:800]}"
                    for r in getattr(result.result, "results", None) or [] if str(r.status) in ("error", "fail")]
        raise BuildFailed(f"Spark 上的 dbt {' '.join(args)} 失败：{'; '.join(failures) or result.exception}")
    return result


def audit_dir(settings: Settings) -> Path:
    """The Spark build's audit area (审核区) as DuckDB reads it: one folder of Parquet files per published model."""
    return spark_dir(settings) / "audit"


def export_for_audit(settings: Settings, models: Iterable[str]) -> list[str]:
    """Write each built published model as Parquet under :func:`audit_dir`; returns the models written. The
    folder is emptied first, so a model this build did not make has no files and the audit reports it not built.

    Spark writes the files (a view's rows too), each folder whole and then renamed into place; DuckDB's audit
    reads them (:func:`cityshare.engine.audit_source`) exactly as it reads a DuckDB table."""
    spark = spark_session(settings)
    root = audit_dir(settings)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    out = []
    for model in models:
        relation = next((f"{layer}.{model}" for layer in LAYERS if spark.catalog.tableExists(f"{layer}.{model}")), None)
        if relation is None:
            continue
        tmp = root / f".tmp-{model}"
        # an empty table still gets one file, with its schema
        spark.table(relation).drop(PARTITION_COLUMN).write.parquet(str(tmp))
        os.rename(tmp, root / model)
        out.append(model)
    return out


def build(settings: Settings, full_refresh: bool = False, on_node: NodeProgress | None = None) -> dict[str, Any]:
    """``cityshare build`` on Spark (``CITYSHARE_ENGINE=spark``, see :mod:`cityshare.engine`): the seeds and every
    model of the layers with their data tests, then the published models written to the audit area; the gate's
    ``meta.batches`` in the DuckDB warehouse says which landed batches the raw views read.

    Every model is built, but the incremental ones read only the batches they have not processed (dbt-spark's
    insert_overwrite and append on partitioned Parquet tables, docs/spark.md); ``full_refresh`` rebuilds them too.
    The summary has :func:`cityshare.transform.build`'s keys; ``failed`` lists the nodes dbt could not
    build or that failed, and what dbt skipped behind a failed model or data test — as on DuckDB, the same
    ``dbt build`` graph — which are not written to the audit area, so the audit holds them back."""
    shutil.rmtree(audit_dir(settings), ignore_errors=True)  # a failed build leaves nothing the audit could take
    # unit tests check model logic on fixtures (CI, cityshare.transform.unit_test), not the data: as on DuckDB
    result = run_dbt_spark(["build", "--exclude-resource-type", "unit_test", "--select", *SPARK_SELECT,
                            *(["--full-refresh"] if full_refresh else [])], settings,
                           allow_failed_nodes=True, on_node=on_node)
    failed = failed_nodes(result)
    exported = export_for_audit(settings, [c.model_name for c in load_contracts(settings, kind="shared")
                                           if c.model_name not in failed])
    write_warehouse_schema(settings)
    nodes = node_results(result)
    return {"nodes": len(nodes), "models": sum(1 for r in nodes if r.node.resource_type == "model"),
            "failed": failed, "selected": "all",
            "reason": "Spark 引擎：全量重建 full refresh" if full_refresh
            else "Spark 引擎：每个模型都运行，增量模型只读新批次 every model runs, incremental ones read new batches only",
            "raw_views_refreshed": 0, "nothing_built": False, "engine": "spark", "audit_tables": len(exported)}


def write_warehouse_schema(settings: Settings) -> Path:
    """``{schema: {table: {column: type}}}`` of the raw views, seeds and layers in Spark's catalog, written beside
    the build's manifest: the audit's sharing-attribute check qualifies the manifest's compiled Spark SQL with it
    (:func:`lineage_inputs`) without a Spark session, as it does the DuckDB build's with the warehouse's columns."""
    spark = spark_session(settings)
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for db in ("raw", "ref", *LAYERS):
        if not spark.catalog.databaseExists(db):
            continue
        for table in spark.catalog.listTables(db):
            if not table.isTemporary:
                fields = spark.table(f"`{db}`.`{table.name}`").schema.fields
                schema.setdefault(db, {})[table.name] = {f.name: f.dataType.simpleString() for f in fields}
    path = target_dir(settings) / SCHEMA_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(schema, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def lineage_inputs(settings: Settings) -> tuple[dict[str, Any] | None, dict[str, Any], Path]:
    """The last Spark build's dbt manifest (None before one), its catalog's columns and the column-lineage cache
    file: what :func:`cityshare.lineage.compute_lineage` reads (needs no Spark session or pyspark)."""
    target = target_dir(settings)
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        schema = json.loads((target / SCHEMA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:  # no finished Spark build: nothing can be proven
        return None, {}, target / "column_lineage_cache.json"
    return manifest, schema, target / "column_lineage_cache.json"


def _value(v: Any) -> Any:
    """A cell as both engines' Python clients agree on it (floats to 12 significant digits)."""
    if isinstance(v, float | decimal.Decimal):
        return float(f"{float(v):.12g}")
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def spark_rows(spark: Any, relation: str) -> tuple[list[str], list[tuple]]:
    """Columns and sorted rows of a Spark table (``schema.table``), without the engine's :data:`PARTITION_COLUMN`."""
    df = spark.table(relation).drop(PARTITION_COLUMN)
    rows = sorted((tuple(_value(v) for v in r) for r in df.collect()), key=repr)
    return df.columns, rows


def duckdb_rows(settings: Settings, relation: str) -> tuple[list[str], list[tuple]]:
    """Columns and sorted rows of a DuckDB warehouse table (``schema.table``)."""
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        cur = con.execute(f"SELECT * FROM {relation}")
        columns = [d[0] for d in cur.description]
        rows = sorted((tuple(_value(v) for v in r) for r in cur.fetchall()), key=repr)
    return columns, rows


def compare_with_duckdb(settings: Settings, relations: Iterable[str]) -> dict[str, str]:
    """Relation → how the Spark build differs from the DuckDB warehouse's (empty when every table is equal)."""
    spark = spark_session(settings)
    differences = {}
    for relation in relations:
        s_cols, s_rows = spark_rows(spark, relation)
        d_cols, d_rows = duckdb_rows(settings, relation)
        if s_cols != d_cols:
            differences[relation] = f"columns differ: spark {s_cols} / duckdb {d_cols}"
        elif s_rows != d_rows:
            only_s = [r for r in s_rows if r not in d_rows][:3]
            only_d = [r for r in d_rows if r not in s_rows][:3]
            differences[relation] = (f"{len(s_rows)} rows on spark, {len(d_rows)} on duckdb; "
                                     f"spark only {only_s}; duckdb only {only_d}")
    return differences
