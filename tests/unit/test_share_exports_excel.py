"""Exports a clerk opens in Excel, and downloads a script can resume or pin: CSV with a UTF-8 BOM and
Chinese item names as headers, XLSX, ETag / If-None-Match, Range, ``?version=N``."""

from __future__ import annotations

import hashlib
import io
import json

import duckdb
import pytest
from fastapi.testclient import TestClient

from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue

OPEN = "base_legal_entity"
URL = f"/api/tables/{OPEN}/export"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = build_world(tmp_path_factory.mktemp("excel"), rows=40)
    client = TestClient(create_app(settings))
    _, token = issue(settings, "jd_nanping", "clerk", "consumer")
    return settings, client, {"Authorization": f"Bearer {token}"}


def _items(settings) -> dict[str, str]:
    from cityshare.share.tables import shared_tables

    return shared_tables(settings)[OPEN].business_names


def test_csv_starts_with_a_bom_and_carries_chinese_item_names_on_request(world):
    import pandas as pd

    settings, client, h = world
    zh = client.get(URL, headers=h, params={"format": "csv", "header": "zh", "columns": "uscc,entity_name,status"})
    assert zh.status_code == 200, zh.text
    assert zh.content.startswith(b"\xef\xbb\xbf")  # Excel on a zh-CN PC reads UTF-8 only with it
    frame = pd.read_csv(io.BytesIO(zh.content), encoding="utf-8-sig", dtype=str)
    names = _items(settings)
    assert list(frame.columns) == [names["uscc"], names["entity_name"], names["status"]]
    assert all("\u4e00" <= ch <= "\u9fff" for ch in names["entity_name"][:2])  # the names are Chinese
    assert len(frame) == 40 and frame.iloc[0, 1].startswith("重庆市南岸区")
    plain = client.get(URL, headers=h, params={"format": "csv", "columns": "uscc,entity_name"})
    assert plain.content.startswith(b"\xef\xbb\xbf")
    assert list(pd.read_csv(io.BytesIO(plain.content), encoding="utf-8-sig").columns) == ["uscc", "entity_name"]
    bad = client.get(URL, headers=h, params={"format": "csv", "header": "english"})
    assert bad.status_code == 400 and "header" in bad.json()["detail"]


def test_xlsx_opens_in_openpyxl_with_chinese_headers_and_every_row(world):
    import openpyxl

    settings, client, h = world
    r = client.get(URL, headers=h, params={"format": "xlsx", "header": "zh"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert f"{OPEN}-v1.xlsx" in r.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(r.content), read_only=True)["数据"]
    rows = list(sheet.iter_rows(values_only=True))
    names = _items(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    columns = [c for c, *_ in con.execute(f"DESCRIBE shared.{OPEN}").fetchall()]
    first = con.execute(f"SELECT uscc, registered_on FROM shared.{OPEN} LIMIT 1").fetchone()
    con.close()
    assert list(rows[0]) == [names.get(c) or c for c in columns]
    assert len(rows) == 41
    assert rows[1][columns.index("uscc")] == first[0]
    assert rows[1][columns.index("registered_on")].date() == first[1]  # a real date cell, not text
    receipt = client.get(f"/api/receipts/{r.headers['X-CityShare-Delivery']}", headers=h).json()["receipt"]
    assert receipt["sha256"] == hashlib.sha256(r.content).hexdigest() and receipt["rows"] == 40
    assert receipt["format"] == "xlsx" and receipt["header"] == "zh"


def test_xlsx_cells_are_defused_and_typed():
    import datetime as dt

    from cityshare.share.exports import xlsx_cell

    assert xlsx_cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert xlsx_cell("a\x00b\x07c") == "abc"
    aware = dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.UTC)
    assert xlsx_cell(aware) == dt.datetime(2026, 11, 25, 8, 30)  # Beijing wall time, as the clerk reads it
    assert xlsx_cell(["-1", 2]) == '["-1", 2]' and xlsx_cell({"k": "=1"}) == '{"k": "=1"}'


def test_etag_if_none_match_answers_304_and_a_changed_query_a_new_tag(world):
    _, client, h = world
    params = {"format": "csv", "columns": "uscc"}
    first = client.get(URL, headers=h, params=params)
    etag = first.headers["etag"]
    assert etag.startswith('"') and client.get(URL, headers=h, params=params).headers["etag"] == etag
    again = client.get(URL, headers={**h, "If-None-Match": etag}, params=params)
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = client.get(URL, headers={**h, "If-None-Match": etag}, params={"format": "csv", "columns": "uscc,status"})
    assert other.status_code == 200 and other.headers["etag"] != etag
    assert client.get(URL, headers=h, params={"format": "xlsx"}).headers["etag"].startswith('W/"')
    # the tag never stands in for authorization: without a token the same tag is refused
    assert client.get(URL, headers={"If-None-Match": etag}, params=params).status_code == 401


def test_range_resumes_a_download_and_the_receipt_covers_the_whole_file(world):
    _, client, h = world
    params = {"format": "jsonl"}
    whole = client.get(URL, headers=h, params=params)
    size, etag = len(whole.content), whole.headers["etag"]
    assert whole.headers["accept-ranges"] == "bytes"
    tail = client.get(URL, headers={**h, "Range": "bytes=1000-", "If-Range": etag}, params=params)
    assert tail.status_code == 206, tail.text
    assert tail.headers["content-range"] == f"bytes 1000-{size - 1}/{size}"
    assert whole.content[:1000] + tail.content == whole.content
    receipt = client.get(f"/api/receipts/{tail.headers['X-CityShare-Delivery']}", headers=h).json()["receipt"]
    assert receipt["sha256"] == hashlib.sha256(whole.content).hexdigest() and receipt["bytes"] == size
    assert receipt["range"] == {"start": 1000, "end": size - 1}
    last = client.get(URL, headers={**h, "Range": "bytes=-10"}, params=params)
    assert last.status_code == 206 and last.content == whole.content[-10:]
    stale = client.get(URL, headers={**h, "Range": "bytes=1000-", "If-Range": '"old"'}, params=params)
    assert stale.status_code == 200 and stale.content == whole.content  # changed since: the whole file
    past = client.get(URL, headers={**h, "Range": f"bytes={size}-"}, params=params)
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"


def test_version_pins_an_earlier_publication_in_the_url_file_name_and_receipt(world):
    settings, client, h = world
    v2 = settings.exports_dir / "shared" / OPEN / "version=2" / f"{OPEN}.parquet"
    v2.parent.mkdir(parents=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    con.execute(f"COPY (SELECT * FROM shared.{OPEN} LIMIT 7) TO '{v2}' (FORMAT parquet)")
    con.close()
    try:
        latest = client.get(URL, headers=h, params={"format": "jsonl"})
        assert len(latest.content.splitlines()) == 7 and latest.headers["X-CityShare-Version"] == "2"
        old = client.get(URL, headers=h, params={"format": "jsonl", "version": 1})
        assert old.status_code == 200 and len(old.content.splitlines()) == 40
        assert f'filename="{OPEN}-v1.jsonl"' in old.headers["content-disposition"]
        assert old.headers["etag"] != latest.headers["etag"]
        receipt = client.get(f"/api/receipts/{old.headers['X-CityShare-Delivery']}", headers=h).json()["receipt"]
        assert receipt["version"] == 1 and receipt["filename"] == f"{OPEN}-v1.jsonl"
        rows = client.get(f"/api/tables/{OPEN}/rows", headers=h, params={"version": 1, "limit": 1}).json()
        assert rows["version"] == 1 and rows["total"] == 40
        missing = client.get(URL, headers=h, params={"format": "csv", "version": 9})
        assert missing.status_code == 404 and "第 9 版" in missing.json()["detail"] and "1、2" in missing.json()["detail"]
        assert json.loads(old.content.splitlines()[0])["uscc"]
    finally:
        v2.unlink()
        v2.parent.rmdir()
