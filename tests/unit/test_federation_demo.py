"""`cityshare demo --federation`: four instances on loopback, each with its own data dir and keys, wired both ways —
harvests up, code lists down, the districts' cases to the city by data exchange and published there combined, the
city's evaluation to the national platform (上报指标). One federation for the module (≈ 30 s: the gate's first Great
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
    national = federation.settings["national"]
    receipt, batch = _kept_receipt(national, "cyzx/chongqing_city_evaluation")
    assert (batch["status"], batch["rows_accepted"]) == ("accepted", 40)
    assert receipt["table"] == "shared.collab_city_evaluation__street_month" and receipt["rows"] == 40
    con = duckdb.connect(str(national.warehouse_path), read_only=True)
    try:
        indicators = con.execute("SELECT count(*), count(DISTINCT stat_month), min(grade) "
                                 "FROM raw.cyzx__chongqing_city_evaluation").fetchone()
    finally:
        con.close()
    assert indicators == (40, 4, "A")
    found = httpx.get(f"{federation.servers['national'].url}/", params={"q": "综合评价"}, timeout=10).text
    assert "重庆市数字城管街道月度综合评价（市级平台上报）" in found  # visible on the national portal


def test_the_demo_contracts_lint_clean_in_their_homes(federation: Federation) -> None:
    from cityshare.lint import lint_file

    files = sorted(DEMO_FILES.glob("*/contracts/**/*.odcs.yaml"))
    assert len(files) == 4
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
    assert "上报指标 national ← chongqing: shared.collab_city_evaluation__street_month v1" in text


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
