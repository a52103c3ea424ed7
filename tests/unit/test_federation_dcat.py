"""目录汇聚 from a plain DCAT-AP feed (``format: dcat-ap``): a CityShare instance's own ``/catalog.ttl`` and a
catalogue that is not CityShare, harvested into a city's directory like any lower platform's entries."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from federation_support import serving
from rdflib import RDF, Graph
from rdflib.namespace import DCAT, DCTERMS
from test_dcat_shacl import SHAPES, _violations

from cityshare.errors import SourceError
from cityshare.federation.harvest import harvest
from cityshare.settings import Settings
from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world

DISTRICT = {"instance_level": "区县", "instance_area": "500108", "instance_name": "南岸区城市运行和治理中心"}
CITY = {"instance_level": "市", "instance_area": "500000", "instance_name": "重庆市城市运行和治理中心"}
FIELDS = ("信息资源代码", "信息资源名称", "信息资源提供方", "提供方代码", "信息资源摘要", "信息资源分类", "更新周期",
          "发布日期")

# A district catalogue published by a CKAN-style portal: English beside Chinese, EU codes without labels, no
# CityShare vocabulary, a theme without a notation, one dataset whose identifier is no directory code.
OTHER_FEED = """\
@prefix dcat: <http://www.w3.org/ns/dcat#> . @prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> . @prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<https://data.example.gov.cn/catalog> a dcat:Catalog ;
  dct:title "渝北区公共数据目录"@zh ; dct:publisher <https://data.example.gov.cn/org/ybq> ;
  foaf:homepage <https://data.example.gov.cn/> ;
  dcat:dataset <https://data.example.gov.cn/dataset/parks>, <https://data.example.gov.cn/dataset/bad> .
<https://data.example.gov.cn/org/ybq> a foaf:Agent ; foaf:name "渝北区大数据局"@zh, "Yubei Big Data Bureau"@en .
<https://data.example.gov.cn/dataset/parks> a dcat:Dataset ;
  dct:identifier "303001/50011200007" ; dct:title "Urban parks"@en, "城市公园名录"@zh ;
  dct:description "区内公园名称、位置与开放时间。"@zh ;
  dct:publisher [ a foaf:Agent ; foaf:name "渝北区城市管理局"@zh ; dct:identifier "11500112MB0000001X" ] ;
  dct:accrualPeriodicity <http://publications.europa.eu/resource/authority/frequency/MONTHLY> ;
  dct:accessRights <http://publications.europa.eu/resource/authority/access-right/PUBLIC> ;
  dct:issued "2026-10-01"^^xsd:date ; dct:modified "2026-11-30T02:15:00Z"^^xsd:dateTime ;
  dcat:keyword "公园"@zh, "绿地"@zh ; dcat:theme [ a skos:Concept ; skos:prefLabel "地区和城市"@zh ] ;
  dcat:landingPage <https://data.example.gov.cn/dataset/parks.html> .
<https://data.example.gov.cn/dataset/bad> a dcat:Dataset ; dct:identifier "parks-2026" ; dct:title "无代码数据集"@zh .
"""


@contextmanager
def static(files: dict[str, str]) -> Iterator[str]:
    """``files`` (name → text) served over HTTP on a free loopback port, as a portal serves its feed."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path.lstrip("/"))
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/turtle; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "").encode("utf-8"))

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def _harvesting(city: Settings, **entry: str) -> Settings:
    item = {"name": "lower", "level": "区县", **entry}
    (city.catalog_dir / "federation.yml").write_text(yaml.safe_dump({"harvest": [item]}, allow_unicode=True),
                                                     encoding="utf-8")
    return city


def _entries(settings: Settings) -> dict[str, dict[str, object]]:
    import json

    doc = json.loads((settings.directory_dir / "directory.json").read_text(encoding="utf-8"))
    return {e["信息资源代码"]: e for e in doc["共享数据资源目录"] if e.get("kind") == "harvested"}


def test_a_cityshare_districts_dcat_feed_gives_the_entries_its_api_gives(tmp_path: Path) -> None:
    district = build_world(tmp_path / "nanan", rows=20, **DISTRICT)
    with serving(district) as url:
        by_api = _harvesting(build_world(tmp_path / "city_api", rows=20, **CITY), endpoint=url, area="500108")
        by_dcat = _harvesting(build_world(tmp_path / "city_dcat", rows=20, **CITY), endpoint=f"{url}/catalog.ttl",
                              area="500108", format="dcat-ap")
        harvest("lower", by_api)
        first = harvest("lower", by_dcat)
        again = harvest("lower", by_dcat)
    api, dcat = _entries(by_api), _entries(by_dcat)
    assert first["received"] == len(api) > 0 and first["refused"] == []
    assert set(dcat) == set(api)  # the same global codes (the district's area in each)
    for code, e in api.items():
        assert {k: dcat[code].get(k) for k in FIELDS} == {k: e.get(k) for k in FIELDS}, code
        assert dcat[code]["共享属性"]["共享类型"] == e["共享属性"]["共享类型"]  # type: ignore[index]
        origin = dcat[code]["来源平台"]
        assert origin["平台名称"] == district.instance_name and origin["行政区划代码"] == "500108"  # type: ignore[index]
        assert dcat[code]["申请方式"]["申请地址"] == f"{url}/entry?code={origin['原信息资源代码'].replace('/', '%2F')}"  # type: ignore[index]
    assert (again["changed"], again["new_versions"]) == (0, 0)  # a DCAT feed has no "since": compared, not re-versioned
    with serving(by_dcat) as city_url:  # the city's own feed, harvested entries included, to the official shapes
        feed = Graph().parse(data=httpx.get(f"{city_url}/catalog.ttl", timeout=30).text, format="turtle")
    modified = {str(d): feed.value(d, DCTERMS.modified) for d in feed.subjects(RDF.type, DCAT.Dataset)}
    assert len(modified) >= 2 * len(api) and None not in modified.values()  # own + harvested, each with its time
    assert _violations(feed, Graph().parse(SHAPES, format="turtle")) == []


def test_a_catalogue_that_is_not_cityshare_is_harvested_with_what_dcat_ap_carries(tmp_path: Path) -> None:
    city = build_world(tmp_path / "city", rows=20, **CITY)
    with static({"catalog.ttl": OTHER_FEED}) as url:
        result = harvest("lower", _harvesting(city, endpoint=f"{url}/catalog.ttl", area="500112", format="dcat-ap",
                                              title="渝北区公共数据平台"))
    assert result["received"] == 1 and len(result["refused"]) == 1 and "parks-2026" in result["refused"][0]
    e = _entries(city)["303001/50011200007"]
    assert (e["信息资源名称"], e["信息资源提供方"], e["提供方代码"]) == ("城市公园名录", "渝北区城市管理局", "11500112MB0000001X")
    assert (e["更新周期"], e["共享属性"]["共享类型"], e["发布日期"]) == ("每月", "无条件共享", "2026-10-01")  # type: ignore[index]
    assert e["信息资源分类"] == "3/03/001" and e["关键词"] == ["公园", "绿地"] and e["信息项信息"] == []
    assert e["来源平台"]["平台名称"] == "渝北区大数据局" and e["来源平台"]["平台地址"] == "https://data.example.gov.cn"  # type: ignore[index]
    assert e["申请方式"]["申请地址"] == "https://data.example.gov.cn/dataset/parks.html"  # type: ignore[index]
    assert "原因：首次编目（汇聚自渝北区大数据局）" in e["变更记录"] and "None" not in e["变更记录"]  # type: ignore[union-attr]
    page = TestClient(create_app(city)).get("/entry", params={"code": "303001/50011200007"})
    assert page.status_code == 200 and "城市公园名录" in page.text and "渝北区大数据局" in page.text
    assert "https://data.example.gov.cn/dataset/parks.html" in page.text
    feed = Graph().parse(data=TestClient(create_app(city)).get("/catalog.jsonld").text, format="json-ld")
    assert _violations(feed, Graph().parse(SHAPES, format="turtle")) == []  # a thin harvested entry passes on validly


@pytest.mark.parametrize(("feed", "says"), [
    (OTHER_FEED.replace('foaf:homepage', 'dct:spatial [ dct:identifier "500108" ] ; foaf:homepage'),
     "该目录自称 ?级 500108，与 harvest 条目 lower 的 区县级 500112 不符"),
    ("<a> <b> .\n}", "无法按 turtle 解析 DCAT-AP 目录"),
    (OTHER_FEED.split("<https://data.example.gov.cn/org/ybq> a")[0].replace(
        "dcat:dataset <https://data.example.gov.cn/dataset/parks>, <https://data.example.gov.cn/dataset/bad> .",
        "dct:description \"空\"@zh ."), "未列出任何 dcat:dataset"),
])
def test_a_feed_for_another_area_or_unreadable_or_empty_is_refused_and_keeps_the_entries(
        tmp_path: Path, feed: str, says: str) -> None:
    city = build_world(tmp_path / "city", rows=20, **CITY)
    with static({"catalog.ttl": OTHER_FEED}) as url:
        harvest("lower", _harvesting(city, endpoint=f"{url}/catalog.ttl", area="500112", format="dcat-ap"))
    with static({"catalog.ttl": feed}) as url, pytest.raises(SourceError) as exc:
        harvest("lower", _harvesting(city, endpoint=f"{url}/catalog.ttl", area="500112", format="dcat-ap"))
    assert says in str(exc.value) and "kept its 1 entries, flagged stale" in str(exc.value)
    kept = _entries(city)["303001/50011200007"]
    assert kept["汇聚状态"]["过期"] is True  # type: ignore[index]


def test_upstream_resources_travel_as_dct_source_and_come_back(settings: Settings) -> None:
    """上游资源 in the DCAT-AP export: ``dct:source`` to the datasets of the same catalogue it derives from (DCAT-AP
    wants a dcat:Dataset there, so a code not listed is left out), read back into 上游资源 by a DCAT harvest."""
    from cityshare.directory.exporters import dcat_document
    from cityshare.federation.dcat_feed import feed_body
    from cityshare.instance import HarvestSource

    base = {"信息资源摘要": "…", "信息资源提供方": "重庆市城市管理局", "提供方代码": "11500000MB1C00011U",
            "信息资源分类": "2/10/002", "分类": {"名称": "城市管理"},
            "信息资源格式": {"格式分类": "数据库", "格式类型": "duckdb"},
            "共享属性": {"共享类型": "无条件共享", "共享方式": "共享平台/接口"}, "开放属性": {"开放类型": "不予开放"},
            "更新周期": "每日", "关键词": []}
    day = {**base, "信息资源代码": "210002/50000000004", "信息资源名称": "区县城市管理案件街道日统计"}
    month = {**base, "信息资源代码": "210002/50000000005", "信息资源名称": "区县城市管理案件街道月度指标",
             "上游资源": {"格式版本": 1, "资源": [{"信息资源代码": c, "名称": c}
                                                for c in ("210002/50000000004", "210002/50010800001")]}}
    doc = dcat_document([day, month], "http://c.example", areas={}, settings=settings)
    graph = Graph().parse(data=json.dumps(doc, ensure_ascii=False), format="json-ld")
    assert _violations(graph, Graph().parse(SHAPES, format="turtle")) == []
    assert [str(o) for o in graph.objects(None, DCTERMS.source)] == ["http://c.example/directory/210002/50000000004"]
    body = feed_body(graph, HarvestSource("chongqing", "http://c.example/catalog.ttl", "市", "500000", "重庆"))
    got = {i["entry"]["信息资源代码"]: i["entry"].get("上游资源") for i in body["entries"]}
    assert got == {"210002/50000000004": None, "210002/50000000005": {"格式版本": 1, "资源": [
        {"信息资源代码": "210002/50000000004", "名称": "区县城市管理案件街道日统计"}]}}
