"""The Spark tier's SQL that needs no Spark to check (the builds themselves run in tests/spark, `make test-spark`):
the raw views read exactly the accepted Parquet files with the contract's columns, and the token function's SQL
is RFC 2104 HMAC-SHA256, checked here by evaluating the same pads in Python."""

from __future__ import annotations

import hashlib
import re

import pytest

from cityshare.contracts.model import load_contracts
from cityshare.errors import BuildFailed
from cityshare.privacy import keyed_token
from cityshare.spark_engine import RAW_META_COLUMNS, hmac_sha256_sql, raw_view_sql


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


@pytest.mark.parametrize("key", ["k" * 16, "城市密钥-" * 20])  # short, and longer than SHA-256's 64-byte block
def test_token_sql_is_the_keyed_hmac(key):
    """Evaluate the SQL's own pads the way Spark does (sha2 over the binary concatenation) and compare."""
    sql = hmac_sha256_sql("value", key)
    opad, ipad = re.findall(r"X'([0-9a-f]+)'", sql)
    assert key.encode().hex() not in sql  # the key itself is not in the function body
    for value in ("500108198001011234", "13812345678", "张三"):
        inner = hashlib.sha256(bytes.fromhex(ipad) + value.encode("utf-8")).digest()
        assert hashlib.sha256(bytes.fromhex(opad) + inner).hexdigest() == keyed_token(value, key)
