"""The Spark tier's SQL that needs no Spark to check (the builds themselves run in tests/spark, `make test-spark`):
the raw views read exactly the accepted Parquet files with the contract's columns, and the token function's SQL
is RFC 2104 HMAC-SHA256, checked here by evaluating the same pads in Python."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest

from cityshare.contracts.model import load_contracts
from cityshare.errors import BuildFailed
from cityshare.privacy import keyed_token
from cityshare.settings import get_settings
from cityshare.spark_engine import RAW_META_COLUMNS, check_master, hmac_sha256_sql, raw_view_sql


@pytest.fixture(scope="module")
def registry():
    return next(c for c in load_contracts(kind="source") if c.key == "scjgj/business_registry")


def test_raw_view_reads_each_accepted_file_with_the_contract_columns(registry):
    sql = raw_view_sql(registry, [("/lake/a.parquet", 3), ("/lake/it`s.parquet", 7)])
    assert sql.startswith("CREATE OR REPLACE VIEW raw.`scjgj__business_registry` AS SELECT `uscc`,")
    assert re.findall(r"FROM parquet\.`([^`]*(?:``[^`]*)*)`", sql) == ["/lake/a.parquet", "/lake/it``s.parquet"]
    columns = sql.split("SELECT ", 2)[1].split(" FROM", 1)[0].split(", ")
    assert columns == [f"`{p.name}`" for p in registry.properties] + [name for name, _ in RAW_META_COLUMNS] + [
        "CAST(3 AS BIGINT) AS _batch_seq"]  # each file's rows carry its batch's commit sequence
    assert "CAST(7 AS BIGINT) AS _batch_seq FROM parquet.`/lake/it``s.parquet`" in sql


def test_raw_view_without_batches_is_empty_but_typed(registry):
    sql = raw_view_sql(registry, [])
    assert "WHERE false" in sql and "parquet." not in sql
    assert "CAST(NULL AS timestamp) AS _loaded_at" in sql and "CAST(NULL AS STRING) AS `uscc`" in sql
    assert "CAST(NULL AS BIGINT) AS _batch_seq" in sql


def test_object_storage_lake_is_refused_in_one_line(registry):
    with pytest.raises(BuildFailed, match=re.escape("Spark 引擎暂只读取本地湖目录：s3://lake/x.parquet")):
        raw_view_sql(registry, [("s3://lake/x.parquet", 1)])


@pytest.mark.parametrize("master", ["local", "local[2]", "local[*]", "spark://127.0.0.1:7077",
                                    "spark://localhost:7077,127.0.0.1:7078"])
def test_masters_whose_executors_read_the_local_lake_are_accepted(master):
    assert check_master(master, get_settings()) == master


def test_a_remote_standalone_master_needs_the_data_folder_shared():
    settings = get_settings()
    with pytest.raises(BuildFailed, match=r"spark://10\.0\.0\.5:7077 的 worker 不在本机.*CITYSHARE_SPARK_SHARED_DATA=1"):
        check_master("spark://10.0.0.5:7077", settings)
    shared = dataclasses.replace(settings, spark_shared_data=True)
    assert check_master("spark://10.0.0.5:7077", shared) == "spark://10.0.0.5:7077"


@pytest.mark.parametrize("master", ["yarn", "k8s://https://10.0.0.1:6443", "local-cluster[2,1,1024]"])
def test_other_cluster_managers_are_refused_in_one_line(master):
    with pytest.raises(BuildFailed, match=r"^不支持的 Spark master .*：仅支持 local\[N\] 与 spark:// 独立集群"):
        check_master(master, dataclasses.replace(get_settings(), spark_shared_data=True))


@pytest.mark.parametrize("key", ["k" * 16, "城市密钥-" * 20])  # short, and longer than SHA-256's 64-byte block
def test_token_sql_is_the_keyed_hmac(key):
    """Evaluate the SQL's own pads the way Spark does (sha2 over the binary concatenation) and compare."""
    sql = hmac_sha256_sql("value", key)
    opad, ipad = re.findall(r"X'([0-9a-f]+)'", sql)
    assert key.encode().hex() not in sql  # the key itself is not in the function body
    for value in ("500108198001011234", "13812345678", "张三"):
        inner = hashlib.sha256(bytes.fromhex(ipad) + value.encode("utf-8")).digest()
        assert hashlib.sha256(bytes.fromhex(opad) + inner).hexdigest() == keyed_token(value, key)


def test_the_engine_is_chosen_in_one_place(settings, monkeypatch):
    """``cityshare build`` (cityshare.engine.build) runs the Spark build only with CITYSHARE_ENGINE=spark, and the
    audit then stages each published model from the Parquet files that build wrote, never from a DuckDB table."""
    from cityshare import engine, spark_engine
    from cityshare.warehouse import connect

    monkeypatch.setenv("CITYSHARE_ENGINE", "Spark")
    assert get_settings().engine == "spark"
    with pytest.raises(BuildFailed, match="duckdb / spark"):
        engine.engine(dataclasses.replace(settings, engine="flink"))
    calls = []
    monkeypatch.setattr(spark_engine, "build", lambda s, **kw: calls.append((s.engine, kw)) or {"engine": "spark"})
    on_spark = dataclasses.replace(settings, engine="spark")
    assert engine.build(on_spark) == {"engine": "spark"}
    assert calls == [("spark", {"full_refresh": False, "on_node": None})]
    with connect(settings) as con:
        con.execute("CREATE SCHEMA theme; CREATE TABLE theme.t AS SELECT 1 AS x")
        assert engine.audit_source(con, settings, "t") == 'theme."t"'
        assert engine.audit_source(con, on_spark, "t") is None  # the Spark build wrote no files of it
        folder = spark_engine.audit_dir(settings) / "t"
        folder.mkdir(parents=True)
        con.execute(f"COPY (SELECT 2 AS x) TO '{folder / 'part-0.parquet'}' (FORMAT parquet)")
        source = engine.audit_source(con, on_spark, "t")
        assert con.execute(f"SELECT x FROM {source}").fetchall() == [(2,)]
