"""Rows and exports: typed filters, sorting, paging, hostile parameters, formats equal the table, receipts."""

from __future__ import annotations

import datetime as dt
import io
import json
from urllib.parse import quote

import duckdb
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue
from cityshare.workcal import is_workday, next_workday, workdays_between

OPEN, COND = "base_legal_entity", "theme_city_cases__case"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = build_world(tmp_path_factory.mktemp("rows"), rows=300)
    client = TestClient(create_app(settings))
    _, token = issue(settings, "zjw", "reader", "consumer")
    return settings, client, {"Authorization": f"Bearer {token}"}


def _shared(settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_typed_filters_sort_and_paging_match_sql(world):
    settings, client, h = world
    params = [("columns", "uscc,registered_on,entity_type"), ("filter", "registered_on:ge:2015-03-01"),
              ("filter", "entity_type:eq:个体工商户"), ("sort", "-registered_on,uscc"), ("limit", "7"), ("offset", "3")]
    r = client.get(f"/api/tables/{OPEN}/rows", headers=h, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = _shared(settings, "SELECT uscc, registered_on, entity_type FROM shared.base_legal_entity "
                                 "WHERE registered_on >= DATE '2015-03-01' AND entity_type = '个体工商户' "
                                 "ORDER BY registered_on DESC, uscc LIMIT 7 OFFSET 3")
    assert [(x["uscc"], dt.date.fromisoformat(x["registered_on"]), x["entity_type"]) for x in body["rows"]] == expected
    total = _shared(settings, "SELECT count(*) FROM shared.base_legal_entity WHERE registered_on >= DATE '2015-03-01' "
                              "AND entity_type = '个体工商户'")[0][0]
    assert body["total"] == total and body["columns"] == ["uscc", "registered_on", "entity_type"]
    r = client.get(f"/api/tables/{OPEN}/rows", headers=h, params={"filter": "street_code:in:500108001|500108002"})
    assert {x["street_code"] for x in r.json()["rows"]} == {"500108001", "500108002"}


HOSTILE = ["x'; DROP TABLE shared.base_legal_entity; --", '"; SELECT 1; --', "../../etc/passwd", "..%2F..%2Fwarehouse.duckdb",
           "uscc) OR 1=1 --", "\x00", "uscc:eq:1' OR '1'='1", "registered_on:ge:not-a-date", "uscc:regexp:.*",
           "A" * 3000, "uscc:in:" + "|".join(["a"] * 500), "read_parquet('/etc/passwd')"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("param", ["name", "columns", "filter", "sort", "limit", "offset", "format"])
def test_hostile_parameters_are_refused_without_server_error(world, param, value):
    settings, client, h = world
    name, params = OPEN, {}
    if param == "name":
        name = quote(value, safe="")
    else:
        params[param] = value
    path = "export" if param == "format" else "rows"
    r = client.get(f"/api/tables/{name}/{path}", headers=h, params=params)
    if param == "filter" and value == "uscc:eq:1' OR '1'='1":  # well-formed: the quote is just part of the value
        assert r.status_code == 200 and r.json()["total"] == 0
    else:
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:200])
    assert _shared(settings, "SELECT count(*) FROM shared.base_legal_entity")[0][0] == 300


def test_entry_search_and_detail_refuse_traversal(world):
    _, client, h = world
    assert client.get("/api/directory/../../etc/passwd").status_code == 404
    assert client.get("/api/tables/../../warehouse/rows", headers=h).status_code == 404
    assert client.get("/api/tables/%2e%2e%2f%2e%2e%2fwarehouse/rows", headers=h).status_code == 404
    assert client.get("/entry", params={"code": "../../etc/passwd"}).status_code == 404
    assert client.get("/api/entry/quality", params={"code": "' OR 1=1 --"}).status_code == 404
    hits = client.get("/api/directory", params={"q": "案件"}).json()["共享数据资源目录"]
    assert [e["信息资源名称"] for e in hits] == ["城市管理案件主题库"]
    assert client.get("/api/directory", params={"q": "'; DROP TABLE x; --"}).json()["total"] == 0


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_a_filtered_projected_export_holds_exactly_the_selected_rows_and_columns(world, fmt):
    """A whole-table Parquet export sends the snapshot file itself; a narrowed one is re-encoded — both must be exact."""
    settings, client, h = world
    params = [("format", fmt), ("columns", "uscc,registered_on"), ("filter", "registered_on:ge:2015-03-01"),
              ("sort", "-uscc")]
    r = client.get(f"/api/tables/{OPEN}/export", headers=h, params=params)
    assert r.status_code == 200, r.text
    got = pq.read_table(io.BytesIO(r.content)) if fmt == "parquet" else ipc.open_stream(pa.BufferReader(r.content)).read_all()
    expected = _shared(settings, "SELECT uscc, registered_on FROM shared.base_legal_entity "
                                 "WHERE registered_on >= DATE '2015-03-01' ORDER BY uscc DESC")
    assert 0 < len(expected) < 300
    assert got.column_names == ["uscc", "registered_on"]
    assert [tuple(row.values()) for row in got.to_pylist()] == expected
    receipt = client.get(f"/api/receipts/{r.headers['X-CityShare-Delivery']}", headers=h).json()["receipt"]
    assert receipt["rows"] == len(expected)


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv", "jsonl"])
def test_exports_equal_the_shared_table_and_carry_a_verifiable_receipt(world, fmt, tmp_path):
    settings, client, h = world
    r = client.get(f"/api/tables/{OPEN}/export", headers=h, params={"format": fmt})
    assert r.status_code == 200, r.text
    data = tmp_path / f"export.{fmt}"
    data.write_bytes(r.content)
    names = [c for c, *_ in _shared(settings, "DESCRIBE shared.base_legal_entity")]
    expected = pa.Table.from_pylist([dict(zip(names, row, strict=True))
                                     for row in _shared(settings, "SELECT * FROM shared.base_legal_entity")])
    if fmt == "parquet":
        got = pq.read_table(data)
    elif fmt == "arrow":
        got = ipc.open_stream(pa.BufferReader(r.content)).read_all()
    else:
        got = None
    if got is not None:
        assert got.num_rows == 300 and got.column_names == expected.column_names
        assert got.to_pylist() == expected.to_pylist()
        con = duckdb.connect()
        snapshot = f"{settings.exports_dir}/shared/{OPEN}/version=1/{OPEN}.parquet"
        if fmt == "parquet":
            diff = con.execute(f"SELECT count(*) FROM (SELECT * FROM read_parquet('{data}') EXCEPT ALL "
                               f"SELECT * FROM read_parquet('{snapshot}', hive_partitioning = false))").fetchone()[0]
        else:
            arrow_table = got  # noqa: F841  (DuckDB scans the Arrow table by its Python name)
            diff = con.execute(f"SELECT count(*) FROM (SELECT * FROM arrow_table EXCEPT ALL "
                               f"SELECT * FROM read_parquet('{snapshot}', hive_partitioning = false))").fetchone()[0]
        assert diff == 0
    elif fmt == "csv":
        import pyarrow.csv as pcsv

        got = pcsv.read_csv(io.BytesIO(r.content), convert_options=pcsv.ConvertOptions(
            column_types={c: pa.string() for c in expected.column_names}))
        assert got.num_rows == 300 and got.column("uscc").to_pylist() == expected.column("uscc").to_pylist()
    else:
        rows = [json.loads(line) for line in r.content.decode().splitlines()]
        assert [x["entity_name"] for x in rows] == expected.column("entity_name").to_pylist()
    # the receipt: signed, matches the file, and the CLI says so; a changed byte is caught
    delivery = r.headers["X-CityShare-Delivery"]
    receipt = client.get(f"/api/receipts/{delivery}", headers=h)
    assert receipt.status_code == 200 and receipt.json()["receipt"]["rows"] == 300
    rfile = tmp_path / "receipt.json"
    rfile.write_text(receipt.text, encoding="utf-8")
    from cityshare.cli import app

    env = {"CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir)}
    ok = CliRunner().invoke(app, ["receipt", "verify", str(data), str(rfile)], env=env)
    assert ok.exit_code == 0, ok.output
    data.write_bytes(r.content[:-1] + bytes([r.content[-1] ^ 1]))
    bad = CliRunner().invoke(app, ["receipt", "verify", str(data), str(rfile)], env=env)
    assert bad.exit_code == 1
    # someone else's receipt is not served
    _, other = issue(settings, "jtj", "other", "consumer")
    assert client.get(f"/api/receipts/{delivery}", headers={"Authorization": f"Bearer {other}"}).status_code == 404


def test_export_of_granted_table_applies_grant_columns(world):
    _, client, h = world
    assert client.get(f"/api/tables/{COND}/export", headers=h, params={"format": "csv"}).status_code == 403


def test_working_day_deadline_crosses_national_day_and_makeup_saturday():
    assert not is_workday(dt.date(2026, 10, 1))  # 国庆节
    assert is_workday(dt.date(2026, 10, 10))  # 调休上班的星期六
    assert not is_workday(dt.date(2026, 10, 11))
    # received Mon 28 Sep: 29, 30 Sep, (1–7 Oct holiday), 8, 9, 10 (Sat, make-up), 12, 13, 14, 15, 16 Oct
    assert next_workday(dt.date(2026, 9, 28), 10) == dt.date(2026, 10, 16)
    assert workdays_between(dt.date(2026, 9, 28), dt.date(2026, 10, 16)) == 10
    # an ordinary fortnight: two calendar weeks
    assert next_workday(dt.date(2026, 11, 2), 10) == dt.date(2026, 11, 16)
