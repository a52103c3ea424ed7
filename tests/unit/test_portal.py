"""The portal's directory page renders the entries a user expects (zh-CN), and the JSON API agrees."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from cityshare.share.app import create_app


def test_directory_page_and_api(settings):
    entry = {"信息资源代码": "210001/00001", "信息资源名称": "门前三包店外经营街道日统计", "信息资源分类": "2/10/001",
             "信息资源提供方": "重庆市城市运行和治理中心", "提供方代码": "11500000MB1C00038K", "信息资源摘要": "摘要",
             "信息资源格式": {"格式分类": "数据库", "格式类型": "duckdb"},
             "信息项信息": [{"name": "street_code", "信息项名称": "街道代码", "数据类型": "C", "数据长度": 9, "分级": ""}],
             "共享属性": {"共享类型": "无条件共享", "共享条件": "", "共享方式": "共享平台/接口", "不予共享依据": ""},
             "开放属性": {"开放类型": "无条件开放"}, "更新周期": "每日", "发布日期": "2026-11-28", "关联资源代码": [],
             "kind": "shared", "contract_id": "urn:x", "table": "shared.collab_storefront_order__street_day",
             "department": "cyzx", "rows": 168, "version": 1}
    settings.directory_dir.mkdir(parents=True)
    (settings.directory_dir / "directory.json").write_text(
        json.dumps({"共享数据资源目录": [entry]}, ensure_ascii=False), encoding="utf-8")
    client = TestClient(create_app(settings))
    page = client.get("/")
    assert page.status_code == 200
    assert "共享数据资源目录" in page.text and "门前三包店外经营街道日统计" in page.text and "无条件共享" in page.text
    api = client.get("/api/directory").json()
    assert api["共享数据资源目录"][0]["信息资源代码"] == "210001/00001"
    assert client.get("/api/directory/210001/00001").json()["rows"] == 168
    assert client.get("/api/directory/999").status_code == 404


def test_directory_search_is_paged_with_facets_at_catalogue_scale(settings):
    """A city's catalogue has thousands of entries: a search answers one page of summaries (≤ 100 KB) with the
    total and facet counts; the whole entry stays one call away."""
    items = [{"name": f"col_{i}", "信息项名称": f"信息项{i}", "数据类型": "C", "数据长度": 20, "分级": ""} for i in range(40)]
    entries = [{"信息资源代码": f"301001/{i:05d}", "信息资源名称": f"街道网格事件台账{i}", "信息资源分类": "3/01/001",
                "目录视图": "部门信息资源", "信息资源提供方": ("重庆市城市管理局", "南岸区南坪街道办事处")[i % 2],
                "信息资源摘要": "街道网格员上报的事件台账。" * 5, "信息项信息": items,
                "共享属性": {"共享类型": ("无条件共享", "有条件共享")[i % 2]}, "更新周期": "每日", "kind": "source",
                "table": f"raw.s__{i}", "department": "cgj", "rows": i, "version": None} for i in range(3000)]
    settings.directory_dir.mkdir(parents=True)
    (settings.directory_dir / "directory.json").write_text(json.dumps({"共享数据资源目录": entries}, ensure_ascii=False),
                                                           encoding="utf-8")
    client = TestClient(create_app(settings))
    first = client.get("/api/directory", params={"q": "网格"})
    body = first.json()
    assert body["total"] == 3000 and len(body["共享数据资源目录"]) == 50 and len(first.content) <= 100_000
    assert body["facets"]["sharing_type"] == {"无条件共享": 1500, "有条件共享": 1500}
    assert "信息项信息" not in body["共享数据资源目录"][0]
    page = client.get("/api/directory", params={"q": "网格", "limit": 20, "offset": 2990}).json()
    assert [e["信息资源代码"] for e in page["共享数据资源目录"]] == [f"301001/{i:05d}" for i in range(2990, 3000)]
    full = client.get(f"/api/directory/{page['共享数据资源目录'][0]['信息资源代码']}").json()
    assert len(full["信息项信息"]) == 40
