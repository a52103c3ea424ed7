"""Column lineage is computed once per changed model (cached by compiled SQL + input columns), and the
batched writes of the audit and the directory store exactly what they stored row by row."""

from __future__ import annotations

import copy
import datetime as dt
import json

import duckdb
import pytest
from test_directory_support import built_home, clone_built

from cityshare import lineage as lineage_mod
from cityshare.contracts.model import load_contracts
from cityshare.lineage import (
    cache_path,
    column_pairs,
    compute_lineage,
    load_manifest,
    model_column_pairs,
    warehouse_schema,
)
from cityshare.publish import audit
from cityshare.sqlexec import ARROW_ROWS, insert_rows
from cityshare.warehouse import connect

STREET_DAY = "collab_storefront_order__street_day"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_home(tmp_path_factory.getbasetemp())


@pytest.fixture
def inputs(built):
    with connect(built, read_only=True) as con:
        schema = warehouse_schema(con)
    return load_manifest(built), load_contracts(built), schema


@pytest.fixture
def counted(monkeypatch):
    """Count sqlglot analyses (column_pairs calls) while keeping their results."""
    calls: list[str] = []
    real = lineage_mod.column_pairs

    def spy(sql, schema, dialect="duckdb"):
        calls.append(sql)
        return real(sql, schema, dialect)

    monkeypatch.setattr(lineage_mod, "column_pairs", spy)
    return calls


def _sql_models(manifest):
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n.get("language", "sql") == "sql"]


def test_a_warm_cache_gives_the_same_graph_without_parsing_any_sql(inputs, tmp_path, counted):
    manifest, contracts, schema = inputs
    fresh = compute_lineage(manifest, contracts, {}, schema)
    assert len(counted) == len(_sql_models(manifest)) > 0
    cache = tmp_path / "cache.json"
    cold = compute_lineage(manifest, contracts, {}, schema, cache)
    counted.clear()
    warm = compute_lineage(manifest, contracts, {}, schema, cache)
    assert counted == []
    assert fresh.to_json() == cold.to_json() == warm.to_json()
    assert any(pairs for pairs in warm.edges.values())  # column pairs, not only table edges


def test_pairs_from_the_input_columns_equal_pairs_from_the_whole_warehouse_schema(inputs):
    """Only a model's input columns go into sqlglot (and the cache key): the same answer as the whole
    schema, also for an incremental run, whose SQL reads the model's own table (``{{ this }}``)."""
    manifest, _, schema = inputs
    manifest = copy.deepcopy(manifest)
    node = next(n for n in _sql_models(manifest) if n["name"] == "stg_cgj__city_cases")
    node["compiled_code"] = (f"with cur as ({node['compiled_code']}) select * from cur "
                             f"union all by name select held.* from {node['relation_name']} as held")
    ours = model_column_pairs(manifest, schema)
    assert ours == {n["unique_id"]: column_pairs(n["compiled_code"], schema) for n in _sql_models(manifest)}
    own = lineage_mod._relation(node["relation_name"])
    assert (own, "case_id") in ours[node["unique_id"]]["case_id"]


def test_a_changed_model_is_the_only_one_analysed_again(inputs, tmp_path, counted):
    manifest, contracts, schema = inputs
    cache = tmp_path / "cache.json"
    compute_lineage(manifest, contracts, {}, schema, cache)
    changed = copy.deepcopy(manifest)
    node = next(n for n in changed["nodes"].values() if n.get("alias") == STREET_DAY or n["name"] == STREET_DAY)
    assert node["compiled_code"].count("as cases_per_100_shops") == 1
    node["compiled_code"] = node["compiled_code"].replace(
        "as cases_per_100_shops", "as cases_per_100_shops, counted.street_code as street_again")
    counted.clear()
    graph = compute_lineage(changed, contracts, {}, schema, cache)
    assert len(counted) == 1
    into_model = {to for (_, tgt), pairs in graph.edges.items()
                  if tgt.endswith(f".{STREET_DAY}") and not tgt.startswith("shared.") for _, to in pairs}
    assert "street_again" in into_model
    # the file keeps only the entries of the current manifest
    assert len(json.loads(cache.read_text(encoding="utf-8"))["models"]) == len(_sql_models(manifest))


def test_a_changed_upstream_column_list_invalidates_its_readers(inputs, tmp_path, counted):
    manifest, contracts, schema = inputs
    cache = tmp_path / "cache.json"
    compute_lineage(manifest, contracts, {}, schema, cache)
    raw = schema["warehouse"]["raw"]["cgj__city_cases"]
    wider = copy.deepcopy(schema)
    wider["warehouse"]["raw"]["cgj__city_cases"] = {**raw, "extra_col": "VARCHAR"}
    counted.clear()
    compute_lineage(manifest, contracts, {}, wider, cache)
    readers = [n for n in _sql_models(manifest) if "source.cityshare.raw.cgj__city_cases" in n["depends_on"]["nodes"]]
    assert readers and len(counted) == len(readers)


def test_a_damaged_cache_is_recomputed(inputs, tmp_path):
    manifest, contracts, schema = inputs
    cache = tmp_path / "cache.json"
    cache.write_text("{not json", encoding="utf-8")
    graph = compute_lineage(manifest, contracts, {}, schema, cache)
    assert graph.to_json() == compute_lineage(manifest, contracts, {}, schema).to_json()
    assert json.loads(cache.read_text(encoding="utf-8"))["models"]


def test_the_pipeline_writes_the_cache_beside_the_manifest(built):
    doc = json.loads(cache_path(built).read_text(encoding="utf-8"))
    assert len(doc["models"]) == len(_sql_models(load_manifest(built)))


def test_insert_rows_stores_every_row_across_chunks_with_the_column_types():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (code VARCHAR, n BIGINT, ok BOOLEAN, doc JSON, ts TIMESTAMP)")
    now = dt.datetime(2026, 11, 28, 2, 0)
    rows = [[None, None, None, None, None], ["007", 1, True, '{"类": 1}', now], ["1e3", 2, False, "[]", now]]
    insert_rows(con, "t", rows, chunk=2)
    insert_rows(con, "t", [])
    assert con.execute("SELECT * FROM t").fetchall() == [tuple(r) for r in rows]
    assert con.execute("SELECT typeof(code), typeof(n) FROM t LIMIT 1").fetchone() == ("VARCHAR", "BIGINT")


@pytest.mark.parametrize("extra", [[], [["x", 1.5, 1, None, None]]], ids=["arrow", "mixed-kinds-values"])
def test_a_large_insert_stores_the_same_values_as_a_small_one(extra):
    """Above ARROW_ROWS rows go in as one Arrow table (a city's 54,000 column-lineage rows); a column whose
    values are of mixed kinds takes the VALUES path. Either way the table holds exactly the rows given."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (code VARCHAR, n DOUBLE, ok BOOLEAN, doc JSON, ts TIMESTAMP)")
    now = dt.datetime(2026, 11, 28, 2, 0)
    rows = [[f"{i:03d}", i, i % 2 == 0, f'{{"类": {i}}}', now + dt.timedelta(seconds=i)] if i % 7 else
            [None, None, None, None, None] for i in range(ARROW_ROWS * 3)] + extra
    insert_rows(con, "t", rows)
    assert con.execute("SELECT * FROM t ORDER BY rowid").fetchall() == [tuple(r) for r in rows]


def test_audit_records_one_quality_result_per_rule_of_each_table(built, tmp_path):
    home = clone_built(built, tmp_path / "home")
    with connect(home) as con:
        con.execute("DELETE FROM meta.quality_results WHERE stage = 'audit'")
    audited = audit(home)
    with connect(home, read_only=True) as con:
        stored = con.execute("SELECT dataset, load_id, rule, success FROM meta.quality_results "
                             "WHERE stage = 'audit' ORDER BY ALL").fetchall()
    expected = sorted((a.contract.key, a.content_hash[:12], r.rule, r.success) for a in audited for r in a.results)
    assert stored == expected and len(stored) > len(audited)
