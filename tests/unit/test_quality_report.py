"""The quality report file (offline, every department), the portal routes, the masked quarantine
browser and the GB/T 30428.4 city-management evaluation recomputed by hand."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pytest
from test_quality_scorecards import AS_OF, CGJ, PERIOD, load_id, seed_history, write_project
from typer.testing import CliRunner

from cityshare.quality import evaluation
from cityshare.quality.history import Period, departments
from cityshare.quality.report import write_report
from cityshare.warehouse import connect

PHONE = "13812345678"


@pytest.fixture
def history(tmp_path, monkeypatch):
    from cityshare.settings import get_settings

    write_project(tmp_path / "project", monkeypatch)
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    seed_history(settings)
    return settings


def _quarantine(settings) -> str:
    """Give the cgj 09-28 batch two quarantined rows with a raw mobile number."""
    path = settings.lake_dir / "quarantine" / "cgj" / "city_cases" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT * FROM (VALUES
            ('CG1', '{PHONE}', 3, 'case_id_unique', '主键 case_id 不得重复'),
            ('CG1', '13900001111', 4, 'case_id_unique,reporter_phone_format', '主键 case_id 不得重复；手机号格式'))
            AS t(case_id, reporter_phone, _source_row, _failed_rules, _failed_reasons)) TO '{path}' (FORMAT parquet)""")
    con.close()
    lid = load_id(CGJ, "2026-09-28")
    with connect(settings) as wh:
        wh.execute("UPDATE meta.batches SET quarantine_path = ?, rows_quarantined = 2 WHERE load_id = ?", [str(path), lid])
    return lid


def test_report_is_self_contained_and_names_every_department(history, tmp_path):
    out = write_report(tmp_path / "r.html", PERIOD.start, PERIOD.end, settings=history, as_of=AS_OF)
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)            # not even the sources' API URLs
    assert not re.search(r"<(script|link|img|iframe)\b", html, re.I)
    assert "@import" not in html
    assert set(re.findall(r"url\((.)", html)) <= {"#"}   # only in-page references (the legend gradient)
    for info in departments(history).values():
        assert info["short_name"] in html, info
    assert html.count("<svg") >= 4                      # scores, radar, heatmap, trend
    assert re.search(r'class="mark-rect role-mark', html)  # the heatmap has cells
    assert "92.91" in html and "78.06" in html           # the hand-computed scores of test_quality_scorecards


def test_cli_report_and_bad_period(history, tmp_path):
    from cityshare.cli import app

    runner = CliRunner()
    out = tmp_path / "cli.html"
    ok = runner.invoke(app, ["report", "quality", "--out", str(out), "--start", "2026-09-28", "--end", "2026-10-11"])
    assert ok.exit_code == 0, ok.output
    assert out.exists() and "城管局" in out.read_text(encoding="utf-8")
    bad = runner.invoke(app, ["report", "quality", "--start", "2026-10-11", "--end", "2026-09-28"])
    assert bad.exit_code == 2 and "after its end" in bad.output
    bad = runner.invoke(app, ["report", "quality", "--end", "11/10/2026"])
    assert bad.exit_code == 2 and "--end" in bad.output


def test_weekly_report_covers_previous_iso_week(history):
    from cityshare.quality.report import weekly_report

    path = weekly_report("2026-10-12T00:00:00+00:00", settings=history)
    assert path.endswith("quality_2026-10-05_2026-10-11.html")


def test_quarantine_browser_masks_pii(history):
    from fastapi.testclient import TestClient

    from cityshare.share.app import create_app
    from cityshare.share.tokens import issue

    lid = _quarantine(history)
    client = TestClient(create_app(history))
    assert client.get(f"/api/quality/quarantine/{CGJ}/{lid}").status_code == 401  # rows need an entitled caller
    client.headers["Authorization"] = f"Bearer {issue(history, 'cgj', 'qa', 'consumer')[1]}"
    data = client.get(f"/api/quality/quarantine/{CGJ}/{lid}").json()
    assert data["total"] == 2 and data["masked"] is True
    assert [r["values"]["reporter_phone"] for r in data["rows"]] == ["138****5678", "139****1111"]
    assert data["rows"][1]["failed_rules"] == ["case_id_unique", "reporter_phone_format"]
    page = client.get(f"/quality/quarantine/{CGJ}/{lid}")
    assert page.status_code == 200 and PHONE not in page.text and "138****5678" in page.text
    assert "手机号格式" in page.text and "已接收" in page.text  # the batch status in Chinese (cityshare.vocabulary)
    assert client.get(f"/api/quality/quarantine/{CGJ}/nope").status_code == 404
    dash = client.get("/quality", params={"start": "2026-09-28", "end": "2026-10-11"})
    assert dash.status_code == 200 and f"/quality/quarantine/{CGJ}/{lid}" in dash.text
    assert client.get("/api/quality/report", params={"start": "2026-10-11", "end": "2026-09-28"}).status_code == 400
    loads = client.get("/api/quality/loads", params={"start": "2026-09-28", "end": "2026-10-11"}).json()
    assert loads["totals"] == {"blocked_batches": 1, "quarantined_batches": 1, "rows_quarantined": 2}


def _cases(settings) -> None:
    with connect(settings) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS ref")
        con.execute("CREATE TABLE ref.event_classes (code VARCHAR, name VARCHAR, major_code VARCHAR, "
                    "major_name VARCHAR, disposal_hours INTEGER)")
        con.execute("INSERT INTO ref.event_classes VALUES ('0101', '私搭乱建', '01', '市容环境', 72), "
                    "('0102', '暴露垃圾', '01', '市容环境', 4), ('0599', '其他', '05', '街面秩序', 24)")
        con.execute("CREATE TABLE shared.theme_city_cases__case (case_id VARCHAR, event_major_code VARCHAR, "
                    "event_major_name VARCHAR, event_class_code VARCHAR, street_code VARCHAR, street_name VARCHAR, "
                    "area_name VARCHAR, reported_at TIMESTAMP, closed_at TIMESTAMP, status VARCHAR, is_closed BOOLEAN)")
        rows = [  # id, class, street, reported, closed
            ("c1", "01", "市容环境", "0102", "S1", "南坪街道", "2026-10-08 08:00", "2026-10-08 10:00"),  # on time
            ("c2", "01", "市容环境", "0102", "S1", "南坪街道", "2026-10-08 09:00", "2026-10-08 15:00"),  # 2 h late
            ("c3", "01", "市容环境", "0101", "S1", "南坪街道", "2026-10-09 10:00", None),  # open, limit 10-12
            ("c4", "01", "市容环境", "0101", "S2", "海棠溪街道", "2026-10-08 08:00", "2026-10-09 08:00"),  # on time
            ("c5", "05", "街面秩序", "0555", "S2", "海棠溪街道", "2026-10-08 12:00", None),  # 0599's 24 h passed
            ("c6", "05", "街面秩序", "0599", "S2", "海棠溪街道", "2026-10-07 12:00", None),  # before the period
        ]
        con.executemany("INSERT INTO shared.theme_city_cases__case VALUES (?, ?, ?, ?, ?, ?, '南岸区', ?, ?, "
                        "CASE WHEN ? IS NULL THEN '处置' ELSE '结案' END, ? IS NOT NULL)",
                        [(*r, r[7], r[7]) for r in rows])


def test_city_evaluation_by_hand(history):
    _cases(history)
    ev = evaluation.evaluation(history, Period(dt.date(2026, 10, 8), dt.date(2026, 10, 9)), AS_OF)
    assert ev["as_of"] == dt.datetime(2026, 10, 10)  # end of the period, not "now"
    major = {g["code"]: g for g in ev["by_major_class"]}
    m01 = major["01"]
    # c1..c4: c3 not yet due and open → 应处置 3 (c1, c2, c4), all closed, on time c1 and c4; 应结案 = 4 cases
    assert m01["counts"] == {"案件数": 4, "应处置": 3, "处置": 3, "按期处置": 2, "应结案": 4, "结案": 3, "按期结案": 2}
    assert m01["rates"] == {"处置率": 100.0, "按期处置率": 66.67, "结案率": 75.0, "按期结案率": 50.0, "返工率": None}
    assert m01["grades"] == {"处置率": "A", "按期处置率": "C", "结案率": "B", "按期结案率": "D", "返工率": None}
    assert m01["综合评价值"] == round((20 * 100 + 30 * 200 / 3 + 20 * 75 + 30 * 50) / 100, 2) == 70.0
    assert m01["grade"] == "C"
    assert major["05"]["counts"]["应处置"] == 1 and major["05"]["rates"]["处置率"] == 0.0 and major["05"]["grade"] == "E"
    streets = {g["code"]: g["counts"]["案件数"] for g in ev["by_street"]}
    assert streets == {"S1": 3, "S2": 2}
    o = ev["overall"]["rates"]
    assert (o["处置率"], o["按期处置率"], o["结案率"], o["按期结案率"]) == (75.0, 50.0, 60.0, 40.0)
