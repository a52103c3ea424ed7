"""A blocked batch leaves every downstream table byte-for-byte unchanged, even after a rebuild.

Real pipeline on a tmp data folder: the 市场监管局 registry (landed from Arrow batches, no HTTP) and
the 城管局 cases CSV pass the gate; dbt builds every layer, audit + publish fill ``shared``. Then a
blocked batch (missing column) arrives, dbt builds again and publish runs again: every table in
standard/base/theme/collab/shared, the raw views and the publication log hash the same.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from cityshare.contracts.model import get_contract, load_contracts
from cityshare.errors import GateBlocked
from cityshare.ingest import gate_batch, ingest
from cityshare.lake import land
from cityshare.publish import audit, publish
from cityshare.raw_views import refresh_raw_view
from cityshare.sources import Extract
from cityshare.transform import build
from cityshare.warehouse import connect
from tests.unit.test_dbt_models import id_number, uscc
from tests.unit.test_gate import DAY, HEADER, _row, _write

SHOP = uscc("92500108MA5U10002")


def _registry(settings) -> None:
    contract = get_contract("scjgj/business_registry", settings)
    rows = [{"uscc": SHOP, "entity_name": "南坪小面馆", "entity_type": "个体工商户", "industry": "餐饮业",
             "legal_person_name": "张三", "legal_person_id": id_number("50010819800101123"),
             "area_code": "500108", "street_code": "500108003", "address": "南岸区南坪街道南坪西路2号",
             "registered_on": "2020-05-01", "status": "存续", "updated_at": f"{DAY} 09:00:00"}]
    names = [p.name for p in contract.properties]
    batch = pa.record_batch([pa.array([r[n] for r in rows], pa.string()) for n in names], names=names)
    extract = Extract(source_uri="test://registry", batches=iter([batch]), fingerprint_parts=["registry-1"])
    landed = land(contract, DAY, extract, settings)
    gate_batch(contract.key, DAY, landed.load_id, settings)


def _fingerprint(settings) -> dict[str, str]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        tables = con.execute(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_schema IN ('standard', 'base', 'theme', 'collab', 'shared', 'raw')
               ORDER BY ALL""").fetchall()
        out = {}
        for schema, name in tables:
            out[f"{schema}.{name}"] = con.execute(
                f'SELECT count(*) || \':\' || coalesce(md5(string_agg(CAST(t AS VARCHAR), chr(30) '
                f'ORDER BY CAST(t AS VARCHAR))), \'\') FROM {schema}."{name}" t').fetchone()[0]
        out["meta.publications"] = str(con.execute(
            "SELECT list(table_name || version || content_hash ORDER BY table_name, version) FROM meta.publications"
        ).fetchone()[0])
        return out
    finally:
        con.close()


PUBLISHED = {"theme_city_cases__case", "base_legal_entity", "collab_storefront_order__street_day"}


def test_blocked_batch_changes_nothing_downstream(settings, monkeypatch):
    # publish the tables these two sources feed (other scenarios' tables would be empty and fail audit)
    import cityshare.publish as publish_module

    real = publish_module.load_contracts
    monkeypatch.setattr(publish_module, "load_contracts", lambda *a, **k: [
        c for c in real(*a, **k) if c.model_name in PUBLISHED])
    with connect(settings) as con:  # sources without a delivery yet: empty, typed raw views
        for contract in load_contracts(settings, kind="source"):
            refresh_raw_view(con, contract, settings)
    _registry(settings)
    _write(settings, [_row(i, **({"涉事商户统一社会信用代码": SHOP} if i == 1 else {})) for i in range(1, 11)])
    assert ingest("cgj/city_cases", DAY)["status"] == "accepted"
    build(settings)
    publish(audit(settings), settings)
    before = _fingerprint(settings)
    assert {f"shared.{t}" for t in PUBLISHED} | {"raw.cgj__city_cases", "standard.stg_cgj__city_cases"} <= set(before)
    assert before["shared.theme_city_cases__case"].startswith("10:")

    next_day = DAY + dt.timedelta(days=1)
    path = settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{next_day}.csv"
    path.write_text(",".join(HEADER[:-1]) + "\n" + ",".join(_row(99)[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(GateBlocked, match="column_present:reporter_phone"):
        ingest("cgj/city_cases", next_day)
    build(settings)
    publish(audit(settings), settings)
    assert _fingerprint(settings) == before
