"""Federation pieces without servers: receipt and version checks, harvest entries, the harvest DAG, lint."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from cityshare.errors import CityShareError
from cityshare.federation.harvest import global_code, harvested_entry
from cityshare.instance import HarvestSource, harvest_sources
from cityshare.settings import PROJECT_ROOT, get_settings
from cityshare.share import receipts
from cityshare.sources.cityshare_peer import delivery_problems, version_problem

PEER_CONTRACT = PROJECT_ROOT / "tests" / "e2e" / "federation" / "nanan_city_cases.odcs.yaml"
TABLE = "theme_city_cases__case"


@pytest.fixture
def signed(tmp_path):  # type: ignore[no-untyped-def]
    """A delivered file, its receipt signed by a provider key, and that provider's public key."""
    provider = dataclasses.replace(get_settings(), data_dir=tmp_path / "provider")
    data = tmp_path / "cases.parquet"
    data.write_bytes(b"PAR1 some rows PAR1")
    digest, size = receipts.file_digest(data)
    doc = receipts.sign(provider, {"table": f"shared.{TABLE}", "version": 3, "rows": 2, "sha256": digest, "bytes": size})
    return data, doc, receipts.public_key_pem(provider)


def test_a_genuine_delivery_passes(signed) -> None:  # type: ignore[no-untyped-def]
    data, doc, pem = signed
    assert delivery_problems(doc, data, pem, TABLE) == []


def test_every_tampering_is_named(signed, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data, doc, pem = signed
    changed = json.loads(json.dumps(doc))
    changed["receipt"]["rows"] = 3
    assert delivery_problems(changed, data, pem, TABLE) == ["签名无效：回执不是提供方平台签发，或内容被改动"]
    other = receipts.public_key_pem(dataclasses.replace(get_settings(), data_dir=tmp_path / "mallory"))
    assert delivery_problems(doc, data, other, TABLE)[0].startswith("签名无效")
    data.write_bytes(b"PAR1 evil rows PAR1")  # same size, other bytes
    assert [p[:5] for p in delivery_problems(doc, data, pem, TABLE)] == ["文件哈希不"]
    assert any(p.startswith("表不符") for p in delivery_problems(doc, data, pem, "base_legal_entity"))


@pytest.mark.parametrize(("received", "pin", "last", "gap", "says"), [
    (3, "latest", None, "block", None),  # first landing: any version
    (3, "latest", 2, "block", None),
    (3, "latest", 3, "block", None),  # the same version again (the batch is reused)
    (5, "latest", 3, "block", "版本不连续：上次入库 v3，本次交付 v5，缺 v4…v4"),
    (5, "latest", 3, "allow", None),
    (2, "latest", 3, "block", "版本回退：上次入库 v3，本次交付 v2"),
    (4, "3", None, "block", "版本不符：契约锁定 v3，提供方交付 v4"),
])
def test_version_rules(received: int, pin: str, last: int | None, gap: str, says: str | None) -> None:
    assert version_problem(received, pin, last, gap) == says


def test_global_codes_carry_the_origin_area() -> None:
    assert global_code("210002/50010800001", "500108") == "210002/50010800001"
    assert global_code("210002/00007", "500000") == "210002/50000000007"
    assert global_code("210002/50010800001", "500000") == "210002/50010800001"  # cascaded: its origin's area


def test_harvested_entry_keeps_its_origin_and_points_requests_there() -> None:


    source = HarvestSource("nanan", "http://d.example", "区县", "500108", "南岸区城市运行和治理中心")
    entry = {"信息资源代码": "210002/50010800001", "信息资源名称": "城市管理案件主题库", "信息资源提供方": "重庆市城市管理局",
             "提供方代码": "11500000MB1C00011U", "条目版本": 4, "变更记录": "…", "kind": "shared"}
    out = harvested_entry(entry, source, {"level": "区县", "area": "500108", "area_name": "南岸区", "name": "南岸区平台"})
    assert out["kind"] == "harvested" and out["汇聚方式"] == "下级平台汇聚" and "条目版本" not in out
    assert out["来源平台"]["原提供方"] == "重庆市城市管理局" and out["来源平台"]["行政区划"] == "南岸区"
    assert out["申请方式"]["申请地址"] == "http://d.example/entry?code=210002/50010800001"
    higher = harvested_entry(out, HarvestSource("chongqing", "http://c.example", "市", "500000", "重庆"), {"level": "市"})
    assert higher["来源平台"] == out["来源平台"]  # cascaded further up, the first origin stays


def _catalog(tmp_path: Path, harvest: list[dict[str, str]], level: str = "市"):  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    shutil.copytree(PROJECT_ROOT / "catalog", home / "catalog")
    (home / "catalog" / "federation.yml").write_text(yaml.safe_dump({"harvest": harvest}, allow_unicode=True),
                                                     encoding="utf-8")
    return dataclasses.replace(get_settings(), project_root=home, instance_level=level)


@pytest.mark.parametrize(("item", "says"), [
    ({"name": "nanan", "endpoint": "http://x", "level": "区县", "area": "500199"}, "not a GB/T 2260 code"),
    ({"name": "nanan", "endpoint": "http://x", "level": "国家", "area": "000000"}, "must be a level below"),
    ({"name": "Nan-an", "endpoint": "http://x", "level": "区县", "area": "500108"}, "lower-case letters"),
    ({"name": "nanan", "level": "区县", "area": "500108"}, "endpoint"),
    ({"name": "nanan", "endpoint": "http://x", "level": "区县", "area": "500108", "format": "ckan"},
     "format: one of cityshare, dcat-ap, got 'ckan'"),
])
def test_harvest_entries_are_checked(tmp_path, item, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CityShareError, match=says) as exc:
        harvest_sources(_catalog(tmp_path, [item]))
    assert "federation.yml: harvest[0]" in str(exc.value)


def test_harvest_and_reference_entries_and_peer_contract_become_dags(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cityshare.lint import lint_file

    home = tmp_path / "home"
    for part in ("contracts", "catalog", "dags"):
        shutil.copytree(PROJECT_ROOT / part, home / part, ignore=shutil.ignore_patterns("__pycache__"))
    (home / "catalog" / "federation.yml").write_text(yaml.safe_dump({"harvest": [
        {"name": "nanan", "endpoint": "http://127.0.0.1:8101", "level": "区县", "area": "500108",
         "schedule": "@hourly"}], "reference": [
        {"name": "national", "endpoint": "http://127.0.0.1:8100", "level": "国家", "area": "000000",
         "lists": ["event_classes"]}]}, allow_unicode=True), encoding="utf-8")
    (home / "contracts" / "cyzx").mkdir()
    shutil.copy(PEER_CONTRACT, home / "contracts" / "cyzx")
    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    assert lint_file(home / "contracts" / "cyzx" / "nanan_city_cases.odcs.yaml", settings) == []
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path / "airflow"))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(home / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["harvest__nanan"]
    assert [t.task_id for t in dag.tasks] == ["harvest"] and "下级平台汇聚" in dag.tags
    assert "ingest__cyzx__nanan_city_cases" in bag.dags
    down = bag.dags["reference__national"]  # 下发参考数据: its task's asset triggers the build like a raw batch
    assert [t.task_id for t in down.tasks] == ["pull_reference"] and "下发参考数据" in down.tags
    assert [a.uri for a in down.tasks[0].outlets] == ["cityshare://raw/_any_batch"]


def test_unreachable_harvest_keeps_nothing_it_never_had(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cityshare.errors import SourceError
    from cityshare.federation.harvest import harvest, status

    settings = dataclasses.replace(_catalog(tmp_path, [{"name": "nanan", "endpoint": "http://127.0.0.1:9",
                                                        "level": "区县", "area": "500108"}]), data_dir=tmp_path / "d")
    with pytest.raises(SourceError, match=r"harvest nanan: .*下级平台不可达.*kept its 0 entries, flagged stale"):
        harvest("nanan", settings)
    (row,) = status(settings)
    assert row["last_success"] is None and "不可达" in row["last_error"] and isinstance(row["last_attempt"], dt.datetime)


@pytest.mark.parametrize(("code", "origin", "says"), [
    ("210002/50010800001", None, None),
    ("210002/00001", None, None),  # a default-form code: gets the source's area
    ("210002/50011200001", None, "不在 nanan 的 500108 范围内"),  # 渝北区's code sent by 南岸区
    ("2100/x", None, "格式不符"),
    ("210002/50010800001", {"平台地址": "javascript:alert(1)", "行政区划代码": "500108"}, "来源平台 不可信"),
])
def test_a_lower_instance_speaks_only_for_its_area(code: str, origin, says) -> None:  # type: ignore[no-untyped-def]
    from cityshare.federation.harvest import entry_problem

    source = HarvestSource("nanan", "http://d.example", "区县", "500108", "南岸区")
    entry = {"信息资源代码": code, **({"来源平台": origin} if origin else {})}
    problem = entry_problem(entry, source)
    assert (problem is None) if says is None else (says in problem)
    city = HarvestSource("chongqing", "http://c.example", "市", "500000", "重庆")
    assert entry_problem({"信息资源代码": "210002/50011200001"}, city) is None  # a district inside the city


def test_a_malformed_feed_is_an_error_and_flags_stale(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An endpoint that answers JSON without the feed's shape: the harvest fails naming it, nothing is stored."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cityshare.errors import SourceError
    from cityshare.federation.harvest import harvest, status

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"instance": {"level": "区县", "area": "500108"}, "entries": "all"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = dataclasses.replace(_catalog(tmp_path, [{"name": "nanan", "level": "区县", "area": "500108",
                                                            "endpoint": f"http://127.0.0.1:{server.server_port}"}]),
                                       data_dir=tmp_path / "d")
        with pytest.raises(SourceError, match="不是 CityShare 目录增量"):
            harvest("nanan", settings)
    finally:
        server.shutdown()
    assert status(settings)[0]["entries"] == 0


def test_lineage_of_an_exchanged_table_starts_at_the_providing_platform():
    """跨平台血缘: a table landed from another instance begins at that platform's shared table, which carries the
    code of its entry as harvested into this directory (so the city's lineage reaches the district's data)."""
    from pathlib import Path

    from cityshare.contracts.model import load_contract
    from cityshare.lineage import compute_lineage, peer_table

    contract = load_contract(Path(__file__).resolve().parents[1] / "e2e" / "federation" / "nanan_city_cases.odcs.yaml")
    assert peer_table(contract) == ("${CITYSHARE_PEER_NANAN_URL}", "theme_city_cases__case")
    raw, model = f"source.cityshare.raw.{contract.raw_table}", "model.cityshare.collab_city__street_day"
    manifest = {"sources": {raw: {"resource_type": "source", "schema": "raw", "name": contract.raw_table,
                                  "relation_name": f'"warehouse"."raw"."{contract.raw_table}"'}},
                "nodes": {model: {"resource_type": "model", "schema": "collab", "name": "collab_city__street_day",
                                  "depends_on": {"nodes": [raw]}}}}
    peers = {contract.id: ("南岸区城市运行和治理中心", "210002/50010800001")}
    graph = compute_lineage(manifest, [contract], {}, {}, None, peers)
    peer = "peer.nanan-platform.theme_city_cases__case"
    assert graph.nodes[peer]["label"] == "南岸区城市运行和治理中心 · theme_city_cases__case"
    assert graph.nodes[peer]["resource_code"] == "210002/50010800001" and graph.nodes[peer]["kind"] == "peer"
    assert graph.path(peer, "collab.collab_city__street_day") == [
        peer, f"raw.{contract.raw_table}", "collab.collab_city__street_day"]
    assert ("case_id", "case_id") in graph.edges[(peer, f"raw.{contract.raw_table}")]
    # not harvested (yet): the node still names where the data comes from, without a code here
    alone = compute_lineage(manifest, [contract], {}, {}, None)
    assert alone.nodes[peer]["resource_code"] is None and alone.nodes[peer]["label"].startswith("nanan-platform")


def test_the_directory_finds_the_harvested_entry_an_exchange_contract_reads(settings, monkeypatch):
    import json
    from pathlib import Path

    import duckdb

    from cityshare.contracts.model import load_contract
    from cityshare.directory.builder import _peer_origins
    from cityshare.directory.harvested import DDL

    contract = load_contract(Path(__file__).resolve().parents[1] / "e2e" / "federation" / "nanan_city_cases.odcs.yaml")
    monkeypatch.setenv("CITYSHARE_PEER_NANAN_URL", "http://127.0.0.1:9801/")
    con = duckdb.connect()
    con.execute(DDL)
    entry = {"信息资源代码": "210002/50010800001", "table": "shared.theme_city_cases__case", "kind": "harvested",
             "来源平台": {"平台名称": "南岸区城市运行和治理中心", "平台地址": "http://127.0.0.1:9801"}}
    other = {**entry, "信息资源代码": "102001/50010800001", "table": "shared.base_legal_entity"}
    for e in (entry, other):
        con.execute("INSERT INTO directory.harvested VALUES (?, 'nanan', ?, now(), false, ?, now())",
                    [e["信息资源代码"], e["信息资源代码"], json.dumps(e, ensure_ascii=False)])
    assert _peer_origins(con, settings, [contract]) == {contract.id: ("南岸区城市运行和治理中心", "210002/50010800001")}
    monkeypatch.setenv("CITYSHARE_PEER_NANAN_URL", "http://127.0.0.1:9999")  # another platform: nothing harvested
    assert _peer_origins(con, settings, [contract]) == {contract.id: ("nanan-platform", None)}


def test_an_entry_names_its_nearest_upstream_resources_and_a_higher_lineage_continues_from_them():
    """上游资源: walking up from a table, the first nodes that are directory resources (a model published as one
    counts as its shared table; another platform's table by its harvested code). A higher instance that harvested the
    entries follows those codes from its peer node upward, so its lineage reaches the district's data."""
    from cityshare.lineage import Lineage, add_harvested_upstream, upstream_resources

    def node(node_id: str, kind: str, code: str | None = None) -> dict[str, object]:
        return {"id": node_id, "label": node_id, "kind": kind, "resource_code": code, "layer": "", "dbt_unique_id": None}

    city = Lineage({n: node(n, k, c) for n, k, c in [
        ("peer.nanan.case", "peer", "210002/50010800001"), ("raw.nanan_cases", "source", "210002/00002"),
        ("staging.stg", "model", None), ("collab.day", "model", None), ("shared.day", "shared", "210002/00004"),
        ("collab.month", "model", None), ("shared.month", "shared", "210002/00005")]},
        {e: [] for e in [("peer.nanan.case", "raw.nanan_cases"), ("raw.nanan_cases", "staging.stg"),
                         ("staging.stg", "collab.day"), ("collab.day", "shared.day"), ("collab.day", "collab.month"),
                         ("collab.month", "shared.month")]})
    assert upstream_resources(city, "shared.month") == [{"信息资源代码": "210002/00004", "名称": "shared.day"}]
    assert [r["信息资源代码"] for r in upstream_resources(city, "shared.day")] == ["210002/00002"]
    assert [r["信息资源代码"] for r in upstream_resources(city, "raw.nanan_cases")] == ["210002/50010800001"]
    assert upstream_resources(city, "peer.nanan.case") == []

    # the national instance: its landed table starts at the city's month table; the entries it harvested name the rest
    def harvested(code: str, table: str, platform: str, *up: str) -> dict[str, object]:
        return {"信息资源代码": code, "table": table, "来源平台": {"平台名称": platform},
                **({"上游资源": {"格式版本": 1, "资源": [{"信息资源代码": u, "名称": u} for u in up]}} if up else {})}

    entries = {e["信息资源代码"]: e for e in [
        harvested("210002/50000000005", "shared.month", "重庆", "210002/50000000004"),
        harvested("210002/50000000004", "shared.day", "重庆", "210002/50000000002"),
        harvested("210002/50000000002", "raw.nanan_cases", "重庆", "210002/50010800001"),
        harvested("210002/50010800001", "shared.theme_city_cases__case", "南岸区")]}
    national = Lineage({"peer.chongqing.month": node("peer.chongqing.month", "peer", "210002/50000000005"),
                        "raw.report": node("raw.report", "source", "301001/00000000001")},
                       {("peer.chongqing.month", "raw.report"): []})
    add_harvested_upstream(national, entries)
    top = "peer.entry.210002/50010800001"
    assert national.path(top, "raw.report") == [top, "peer.entry.210002/50000000002", "peer.entry.210002/50000000004",
                                                 "peer.chongqing.month", "raw.report"]
    assert national.nodes[top]["label"] == "南岸区 · theme_city_cases__case" and national.nodes[top]["kind"] == "peer"


@pytest.mark.parametrize(("upstream", "says"), [
    (None, None),
    ({"格式版本": 1, "资源": [{"信息资源代码": "210002/00004", "名称": "区县城市管理案件街道日统计"}]}, None),
    ({"格式版本": 2, "资源": []}, "上游资源 格式不符"),  # a version this instance does not know
    ({"格式版本": 1, "资源": [{"信息资源代码": "x/1", "名称": "?"}]}, "上游资源 格式不符"),
    (["210002/00004"], "上游资源 格式不符"),
])
def test_upstream_resources_are_checked_and_made_global_at_harvest(upstream, says) -> None:  # type: ignore[no-untyped-def]
    from cityshare.federation.harvest import entry_problem, harvested_entry

    city = HarvestSource("chongqing", "http://c.example", "市", "500000", "重庆")
    entry = {"信息资源代码": "210002/00005", "关联资源代码": ["210002/00002"],
             **({"上游资源": upstream} if upstream is not None else {})}
    problem = entry_problem(entry, city)
    assert (problem is None) if says is None else (says in str(problem))
    if says is None:
        out = harvested_entry(entry, city, {"level": "市", "area": "500000"})
        assert out["关联资源代码"] == ["210002/50000000002"]  # the city's codes as they are listed up here
        assert out.get("上游资源", {}).get("资源", []) == [
            {**r, "信息资源代码": "210002/50000000004"} for r in (upstream or {}).get("资源", [])]
