"""`cityshare demo --federation`: four instances on loopback, each with its own data dir and keys, wired both ways —
harvests up, code lists down, the districts' cases to the city by data exchange and published there combined, the
city's street × month indicators, computed from the districts' cases, to the national platform (上报指标), whose
lineage reaches the districts' source datasets. One federation for the module (≈ 30 s: the gate's first Great
Expectations run and the city's dbt build); the test of the printed summary runs last and stops it, as the CLI does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from rich.console import Console

from cityshare.demo_federation import DEMO_FILES, INSTANCES, Federation, exchange, show, start
from cityshare.errors import CityShareError
from cityshare.lineage import load_lineage
from cityshare.settings import Settings
from cityshare.share import audit
from cityshare.share.sample_world import build_world
from cityshare.sources.cityshare_peer import receipts_dir

COMBINED = "collab_district_cases__street_day"
EXCHANGED = {"nanan": "cyzx/nanan_city_cases", "yubei": "cyzx/yubei_city_cases"}  # the city's sources per district
INDICATORS = "collab_district_cases__street_month"  # the city's upward report, built from COMBINED
REPORT = "cyzx/chongqing_street_indicators"  # the national platform's contract landing it


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    fed = start(tmp_path_factory.mktemp("federation") / "demo")
    try:
        yield fed
    finally:
        fed.stop()


def test_four_instances_harvest_upward_and_pass_code_lists_down(federation: Federation) -> None:
    settings, servers = federation.settings, federation.servers
    idents = {n: httpx.get(f"{s.url}/api/federation/identity", timeout=10).json() for n, s in servers.items()}
    lists = httpx.get(f"{servers['nanan'].url}/api/federation/reference", timeout=10).json()["code_lists"]
    assert {n: (i["level"], i["area"]) for n, i in idents.items()} == {i.name: (i.level, i.area) for i in INSTANCES}
    assert len({i["key_id"] for i in idents.values()}) == 4  # separate receipt keys
    assert len({s.data_dir for s in settings.values()}) == 4
    # the district serves the lists it received from the city, which received them from the national platform
    assert {cl["origin"]["area"] for cl in lists} == {"000000"}
    areas = {e["来源平台"]["行政区划代码"] for e in _directory(settings["national"]) if e.get("kind") == "harvested"}
    assert areas == {"500000", "500108", "500112"}  # the districts' entries reach the top through the city


def test_the_city_publishes_both_districts_cases_combined(federation: Federation) -> None:
    city = federation.settings["chongqing"]
    snapshot = sorted((city.exports_dir / "shared" / COMBINED).glob("version=*/*.parquet"))[-1]  # what the city serves
    con = duckdb.connect()
    try:
        per_area = con.execute("SELECT area_code, sum(cases), bool_and(starts_with(street_code, area_code)) "
                               "FROM read_parquet(?, hive_partitioning = false) GROUP BY ALL ORDER BY 1",
                               [str(snapshot)]).fetchall()
    finally:
        con.close()
    assert per_area == [("500108", 40, True), ("500112", 40, True)]  # each district's 40 cases, its own streets

    # listed in the city's directory and portal, related to the two exchanged sources
    entries = {e.get("table"): e for e in _directory(city)}
    entry = entries[f"shared.{COMBINED}"]
    assert entry["发布状态"]["状态"] == "已发布" and entry["version"] == 1
    assert entry["关联资源代码"] == sorted(entries[f"raw.cyzx__{n}_city_cases"]["信息资源代码"] for n in EXCHANGED)
    url = federation.servers["chongqing"].url
    assert "区县城市管理案件街道日统计" in httpx.get(f"{url}/", params={"q": "区县城市管理案件"}, timeout=10).text

    # lineage: the table goes back to each district's shared table, named by its platform, with its harvested code
    graph = load_lineage(city)
    assert graph is not None
    peers = {graph.nodes[n]["label"]: graph.nodes[n]["resource_code"] for n in graph.ancestors(f"shared.{COMBINED}")
             if graph.nodes[n]["kind"] == "peer"}
    harvested = {e["来源平台"]["平台名称"]: e["信息资源代码"] for e in _directory(city)
                 if e.get("kind") == "harvested" and e["table"] == "shared.theme_city_cases__case"}
    assert peers == {f"{name} · theme_city_cases__case": code for name, code in harvested.items()}
    assert set(harvested) == {"南岸区城市运行和治理中心", "渝北区城市运行和治理中心"}
    page = httpx.get(f"{url}/directory/{entry['信息资源代码']}/lineage", timeout=10).text  # the portal's lineage page
    assert all(label in page for label in peers)


def test_each_district_delivery_was_granted_signed_and_verified(federation: Federation) -> None:
    city = federation.settings["chongqing"]
    idents = {n: httpx.get(f"{federation.servers[n].url}/api/federation/identity", timeout=10).json()
              for n in EXCHANGED}
    received = {r["target"]: r for r in audit.entries(city, 50, action="federation.receive")}
    for district, dataset in EXCHANGED.items():
        receipt, batch = _kept_receipt(city, dataset)
        assert (batch["status"], batch["rows_accepted"]) == ("accepted", 40)
        assert receipt["key_id"] == idents[district]["key_id"] and receipt["table"] == "shared.theme_city_cases__case"
        assert receipt["grant_id"]  # 有条件共享: read under the grant the district's approver gave the city
        exported = [r for r in audit.entries(federation.settings[district], 50)
                    if r["action"] == "export" and r["department"] == "cyzx"]
        assert [(r["status"], r["grant_id"]) for r in exported] == [(200, receipt["grant_id"])]
        assert (received[dataset]["status"], received[dataset]["grant_id"]) == (200, receipt["grant_id"])


def test_the_national_platform_holds_the_city_indicators(federation: Federation) -> None:
    national, city = federation.settings["national"], federation.settings["chongqing"]
    receipt, batch = _kept_receipt(national, REPORT)
    assert (batch["status"], batch["rows_accepted"]) == ("accepted", 24)
    assert receipt["table"] == f"shared.{INDICATORS}" and receipt["rows"] == 24 and not receipt.get("grant_id")
    con = duckdb.connect(str(national.warehouse_path), read_only=True)
    try:
        landed = con.execute(  # raw tables keep what arrived as text
            "SELECT area_code, sum(n::BIGINT), sum(closed::BIGINT), count(*), "
            "bool_and(rate::DOUBLE = round(100.0 * closed::BIGINT / n::BIGINT, 2)) FROM (SELECT area_code, "
            "cases AS n, closed_cases AS closed, closure_rate AS rate FROM raw.cyzx__chongqing_street_indicators) "
            "GROUP BY ALL ORDER BY 1").fetchall()
    finally:
        con.close()
    # computed from the districts' rows as exchanged: per district the cases and closed cases the city received
    con = duckdb.connect(str(city.warehouse_path), read_only=True)
    try:
        received = con.execute(
            "SELECT area_code, count(*), count(*) FILTER (WHERE status = '已结案'), count(DISTINCT street_code) "
            "FROM (SELECT area_code, street_code, status FROM raw.cyzx__nanan_city_cases UNION ALL "
            "SELECT area_code, street_code, status FROM raw.cyzx__yubei_city_cases) GROUP BY ALL ORDER BY 1").fetchall()
    finally:
        con.close()
    assert [(a, n, c) for a, n, c, _, _ in landed] == [(a, n, c) for a, n, c, _ in received]
    assert [r[3] for r in landed] == [r[3] for r in received] and all(r[4] for r in landed)  # a row per street
    assert [(a, n) for a, n, *_ in landed] == [("500108", 40), ("500112", 40)]
    found = httpx.get(f"{federation.servers['national'].url}/", params={"q": "街道月度指标"}, timeout=10).text
    assert "重庆市城市管理案件街道月度指标（市级平台上报）" in found  # visible on the national portal


def test_the_national_lineage_reaches_the_districts_source_datasets(federation: Federation) -> None:
    """national dataset → the city's published indicators → the city's collaboration table → the tables the city
    landed → each district's shared table, by the districts' own resource codes (跨平台血缘)."""
    national = federation.settings["national"]
    entries = _directory(national)
    entry = next(e for e in entries if e.get("table") == "raw.cyzx__chongqing_street_indicators")
    url = federation.servers["national"].url
    graph = httpx.get(f"{url}/api/directory/{entry['信息资源代码']}/lineage", timeout=10).json()  # the lineage API
    nodes = {n["id"]: n for n in graph["nodes"]}
    parents = {n: sorted(e["source"] for e in graph["edges"] if e["target"] == n) for n in nodes}
    harvested = {e["信息资源代码"]: e for e in entries if e.get("kind") == "harvested"}

    def walk(node: str) -> list[list[str]]:  # every path up to a node without parents, as labels
        return [[nodes[node]["label"], *up] for p in parents[node] for up in walk(p)] or [[nodes[node]["label"]]]

    city = "重庆市城市运行和治理中心"
    assert sorted(walk("raw.cyzx__chongqing_street_indicators")) == [
        [nodes["raw.cyzx__chongqing_street_indicators"]["label"], f"{city} · {INDICATORS}", f"{city} · {COMBINED}",
         f"{city} · raw.cyzx__{name}_city_cases", f"{district}城市运行和治理中心 · theme_city_cases__case"]
        for name, district in (("nanan", "南岸区"), ("yubei", "渝北区"))]
    tops = [n for n in nodes if not parents[n]]
    origins = {(harvested[nodes[n]["resource_code"]]["来源平台"]["行政区划代码"],
                harvested[nodes[n]["resource_code"]]["来源平台"]["原信息资源代码"]) for n in tops}
    districts = {d: _directory(federation.settings[d]) for d in EXCHANGED}
    assert origins == {(area, next(e["信息资源代码"] for e in districts[d] if e["table"] == "shared.theme_city_cases__case"))
                       for d, area in (("nanan", "500108"), ("yubei", "500112"))}  # the districts' original codes
    page = httpx.get(f"{url}/directory/{entry['信息资源代码']}/lineage", timeout=10).text  # the portal's view
    assert all(nodes[n]["label"] in page for n in tops)
    # and from a district's entry at the national platform, the path down to the national dataset
    down = httpx.get(f"{url}/api/directory/{nodes[tops[0]]['resource_code']}/lineage", timeout=10).json()
    assert "raw.cyzx__chongqing_street_indicators" in {n["id"] for n in down["nodes"]}


def test_the_demo_contracts_lint_clean_in_their_homes(federation: Federation) -> None:
    from cityshare.lint import lint_file

    files = sorted(DEMO_FILES.glob("*/contracts/**/*.odcs.yaml"))
    assert len(files) == 5
    for path in files:
        name = path.relative_to(DEMO_FILES).parts[0]  # the instance whose home the demo copies it into
        rel = path.relative_to(DEMO_FILES / name)
        assert lint_file(federation.settings[name].project_root / rel, federation.settings[name]) == [], rel


def test_a_contract_naming_no_demo_instance_is_refused(tmp_path: Path) -> None:
    from cityshare.contracts.model import load_contract

    doc = (DEMO_FILES / "chongqing" / "contracts" / "cyzx" / "nanan_city_cases.odcs.yaml").read_text(encoding="utf-8")
    path = tmp_path / "shapingba_city_cases.odcs.yaml"
    path.write_text(doc.replace("CITYSHARE_PEER_NANAN_URL", "CITYSHARE_PEER_SHAPINGBA_URL"), encoding="utf-8")
    fed = Federation({}, {"nanan": None, "chongqing": None})  # type: ignore[dict-item]  # only the names are read
    with pytest.raises(CityShareError, match=r"CITYSHARE_PEER_<NAME>_URL\} with NAME one of NANAN"):
        exchange(fed, "chongqing", load_contract(path))
    with pytest.raises(ValueError, match="no sample rows for district 500103"):
        build_world(tmp_path / "yuzhong", instance_level="区县", instance_area="500103")


def test_the_demo_prints_every_url_and_what_flowed(federation: Federation) -> None:
    """Last in the module: ``show`` stops the federation, as ``cityshare demo --federation --no-serve`` does."""
    console = Console(record=True, width=300)
    urls = show(federation, console, serve=False)
    text = console.export_text()
    assert len(set(urls.values())) == 4 and all(f"{url}/" in text for url in urls.values())
    assert "目录汇聚 national ← chongqing" in text and "下发参考数据 nanan ← chongqing" in text
    assert "数据交换 chongqing ← nanan: shared.theme_city_cases__case v1 → cyzx/nanan_city_cases, 40 rows" in text
    assert "数据交换 chongqing ← yubei" in text and "receipt verified" in text
    assert f"发布 chongqing: shared.{COMBINED} v1, 24 rows" in text
    assert f"发布 chongqing: shared.{INDICATORS} v1, 24 rows (无条件共享)" in text
    assert f"上报指标 national ← chongqing: shared.{INDICATORS} v1 → {REPORT}, 24 rows accepted" in text


def _directory(settings: Settings) -> list[dict[str, Any]]:
    return json.loads((settings.directory_dir / "directory.json").read_text(encoding="utf-8"))["共享数据资源目录"]


def _kept_receipt(settings: Settings, dataset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one batch of ``dataset`` and the receipt kept beside it (``<load_id>.receipt.json``)."""
    from cityshare.contracts.model import get_contract

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        cur = con.execute("SELECT load_id, status, rows_accepted FROM meta.batches WHERE dataset = ?", [dataset])
        batches = [dict(zip([d[0] for d in cur.description], r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    assert len(batches) == 1
    kept = sorted(receipts_dir(settings, get_contract(dataset, settings)).glob("*.receipt.json"))
    assert [p.name for p in kept] == [f"{batches[0]['load_id']}.receipt.json"]
    return json.loads(kept[0].read_text(encoding="utf-8"))["receipt"], batches[0]
