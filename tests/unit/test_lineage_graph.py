"""Lineage from the real dbt build: table + column edges, the portal's graph shape, the routes."""

from __future__ import annotations

import re

import pytest
from test_directory_support import built_home

from cityshare.directory.document import load_entries
from cityshare.lineage import UnknownResource, lineage_graph
from cityshare.warehouse import connect


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_home(tmp_path_factory.getbasetemp())


def _code(settings, key):
    return next(e["信息资源代码"] for e in load_entries(settings) if e["contract_key"] == key)


def test_graph_shape_for_the_storefront_table(built):
    code = _code(built, "shared/storefront_order_street_day")
    graph = lineage_graph(code, built)
    assert set(graph) == {"nodes", "edges"}
    assert all(set(n) == {"id", "label", "kind", "resource_code"} for n in graph["nodes"])
    assert all(set(e) == {"source", "target", "columns"} for e in graph["edges"])
    ids = {n["id"]: n for n in graph["nodes"]}
    # both department sources, with their own resource codes, reach the shared table
    assert ids["raw.cgj__city_cases"]["resource_code"] == _code(built, "cgj/city_cases")
    assert ids["raw.scjgj__business_registry"]["resource_code"] == _code(built, "scjgj/business_registry")
    assert ids["shared.collab_storefront_order__street_day"]["kind"] == "shared"
    assert {n["kind"] for n in graph["nodes"]} >= {"source", "model", "shared"}
    for e in graph["edges"]:
        assert e["source"] in ids and e["target"] in ids
    edge = next(e for e in graph["edges"] if e["target"] == "shared.collab_storefront_order__street_day")
    assert ["storefront_cases", "storefront_cases"] in edge["columns"]


def test_column_lineage_follows_the_masked_phone_from_source_to_shared(built):
    graph = lineage_graph(_code(built, "shared/city_cases"), built)
    edges = {(e["source"], e["target"]): e["columns"] for e in graph["edges"]}
    stg = edges[("raw.cgj__city_cases", "standard.stg_cgj__city_cases")]
    assert ["reporter_phone", "reporter_phone"] in stg and ["reporter_phone", "reporter_token"] in stg
    theme = edges[("standard.stg_cgj__city_cases", "theme.theme_city_cases__case")]
    assert ["reporter_phone", "reporter_phone"] in theme
    # a shop name comes from the legal-entity base table (cross-department join)
    assert ["entity_name", "shop_name"] in edges[("base.base_legal_entity", "theme.theme_city_cases__case")]


def test_a_source_entry_shows_where_its_data_goes(built):
    graph = lineage_graph(_code(built, "scjgj/business_registry"), built)
    shared = {n["id"] for n in graph["nodes"] if n["kind"] == "shared"}
    assert shared == {"shared.base_legal_entity", "shared.theme_city_cases__case",
                      "shared.collab_storefront_order__street_day"}


def test_lineage_is_queryable_in_the_directory_schema(built):
    with connect(built, read_only=True) as con:
        rows = con.execute(
            "SELECT source, source_column FROM directory.column_lineage "
            "WHERE target = 'standard.stg_cgj__city_cases' AND target_column = 'reporter_token'").fetchall()
        kinds = dict(con.execute("SELECT kind, count(*) FROM directory.lineage_nodes GROUP BY 1").fetchall())
    assert rows == [("raw.cgj__city_cases", "reporter_phone")]
    assert kinds["source"] == 2 and kinds["shared"] == 3


def test_related_codes_come_from_lineage(built):
    entries = {e["contract_key"]: e for e in load_entries(built)}
    storefront = entries["shared/storefront_order_street_day"]
    assert storefront["关联资源代码"] == sorted([entries["cgj/city_cases"]["信息资源代码"],
                                             entries["scjgj/business_registry"]["信息资源代码"]])
    assert entries["shared/city_cases"]["信息资源代码"] in storefront["上游共享资源代码"]


def test_unknown_code_raises(built):
    with pytest.raises(UnknownResource, match="999999/99999"):
        lineage_graph("999999/99999", built)


def test_lineage_routes_render_json_and_svg(built):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from cityshare.share.routes_directory import build_router

    app = FastAPI()
    app.include_router(build_router(built))
    client = TestClient(app)
    code = _code(built, "shared/storefront_order_street_day")
    assert client.get(f"/api/directory/{code}/lineage").json() == lineage_graph(code, built)
    page = client.get(f"/directory/{code}/lineage")
    assert page.status_code == 200 and "<svg" in page.text
    assert "门前三包店外经营街道日统计" in page.text and "raw.cgj__city_cases" in page.text
    assert client.get("/api/directory/999999/99999/lineage").status_code == 404
    # zoom: the same whole graph drawn at half size (its viewBox unchanged), with links to step in and out
    full = re.search(r'<svg [^>]*width="(\d+)" height="(\d+)"\s+viewBox="0 0 (\d+) (\d+)"', page.text)
    half_page = client.get(f"/directory/{code}/lineage", params={"zoom": 50})
    half = re.search(r'<svg [^>]*width="(\d+)" height="(\d+)"\s+viewBox="0 0 (\d+) (\d+)"', half_page.text)
    assert full and half and full.group(3, 4) == half.group(3, 4) == full.group(1, 2)
    assert abs(int(half.group(1)) - int(full.group(1)) / 2) <= 1
    nodes = len(lineage_graph(code, built)["nodes"])
    assert half_page.text.count('<g class="node') == page.text.count('<g class="node') == nodes
    assert 'href="?zoom=25"' in half_page.text and 'href="?zoom=75"' in half_page.text
    assert client.get(f"/directory/{code}/lineage", params={"zoom": 5000}).status_code == 422
