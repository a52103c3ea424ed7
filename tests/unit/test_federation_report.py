"""上报指标: the national platform receives the city's city-management evaluation (street × month) through the
cityshare data exchange — signed receipt, gate, audit on both sides — and its lineage starts at the city's shared
table, carrying the code of that table's entry as harvested from the city's directory."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from federation_support import serving

from cityshare.contracts.model import load_contract
from cityshare.share import audit
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue

REPORT_CONTRACT = Path(__file__).parents[1] / "e2e" / "federation" / "chongqing_city_evaluation.odcs.yaml"
TABLE = "collab_city_evaluation__street_month"
CITY = "重庆市城市运行和治理中心"


def test_the_report_contract_lints_clean(settings) -> None:  # type: ignore[no-untyped-def]
    from cityshare.lint import lint_file

    assert lint_file(REPORT_CONTRACT, settings) == []


def test_the_national_platform_receives_the_city_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityshare.directory.builder import _peer_origins
    from cityshare.federation.harvest import harvest
    from cityshare.ingest import ingest
    from cityshare.lineage import compute_lineage

    city = build_world(tmp_path / "city", rows=40, evaluation=True, instance_level="市", instance_area="500000",
                       instance_name=CITY)
    national = build_world(tmp_path / "national", rows=40, instance_level="国家", instance_area="000000",
                           instance_name="国家城市运行管理服务平台")
    (national.contracts_dir / "cyzx").mkdir()
    shutil.copy(REPORT_CONTRACT, national.contracts_dir / "cyzx")
    (national.catalog_dir / "federation.yml").write_text(yaml.safe_dump({"harvest": [
        {"name": "chongqing", "endpoint": "${CITYSHARE_PEER_CHONGQING_URL}", "level": "市", "area": "500000"}]},
        allow_unicode=True), encoding="utf-8")
    _, token = issue(city, "cyzx", "national-platform", "consumer")  # issued by the city to the national reader
    with serving(city) as url:
        monkeypatch.setenv("CITYSHARE_PEER_CHONGQING_URL", url)
        monkeypatch.setenv("CITYSHARE_PEER_CHONGQING_TOKEN", token)
        landed = ingest("cyzx/chongqing_city_evaluation", dt.date(2026, 12, 1), national)
        harvest("chongqing", national)

    assert (landed["status"], landed["accepted"], landed["quarantined"]) == ("accepted", 40, 0)
    contract = load_contract(national.contracts_dir / "cyzx" / "chongqing_city_evaluation.odcs.yaml")
    con = duckdb.connect(str(national.warehouse_path))
    try:
        months = con.execute("SELECT count(DISTINCT stat_month), count(*), min(grade), max(grade) "
                             f'FROM raw."{contract.raw_table}"').fetchone()
        peers = _peer_origins(con, national, [contract])
    finally:
        con.close()
    assert months == (4, 40, "A", "D")  # 12 streets × 4 months (40 rows), as the city published them
    kept = list((national.data_dir / "federation" / "receipts" / "cyzx" / "chongqing_city_evaluation").glob("*.json"))
    assert [p.name for p in kept] == [f"{landed['load_id']}.receipt.json"]
    provided = [r for r in audit.entries(city, 50) if r["action"] == "export" and r["department"] == "cyzx"]
    assert [r["status"] for r in provided] == [200]  # the city's audit: the national platform's read
    received = [r for r in audit.entries(national, 50) if r["action"] == "federation.receive"]
    assert [(r["status"], r["rows"]) for r in received] == [(200, 40)]

    # lineage: the landed table starts at the city's shared table, whose harvested entry is listed here
    entry = next(e for e in _directory(national) if e.get("table") == f"shared.{TABLE}" and e.get("kind") == "harvested")
    assert peers == {contract.id: (CITY, entry["信息资源代码"])}
    assert entry["来源平台"]["层级"] == "市" and entry["申请方式"]["申请地址"].startswith(url)
    raw = f"source.cityshare.raw.{contract.raw_table}"
    manifest = {"sources": {raw: {"resource_type": "source", "schema": "raw", "name": contract.raw_table,
                                  "relation_name": f'"warehouse"."raw"."{contract.raw_table}"'}}, "nodes": {}}
    graph = compute_lineage(manifest, [contract], {}, {}, None, peers)
    node = graph.nodes[f"peer.chongqing-platform.{TABLE}"]
    assert (node["kind"], node["label"], node["resource_code"]) == ("peer", f"{CITY} · {TABLE}", entry["信息资源代码"])


def _directory(settings) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    import json

    return json.loads((settings.directory_dir / "directory.json").read_text(encoding="utf-8"))["共享数据资源目录"]
