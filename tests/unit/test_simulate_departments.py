"""The eight-department simulator: every source contract gets its data, in its format, with real codes,
valid check digits, the 南坪街道 calibration, rhythms, and counted defects."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import openpyxl
import pytest

from cityshare.contracts.model import load_contracts
from cityshare.identifiers import is_valid_id_number, is_valid_uscc
from cityshare.settings import get_settings
from cityshare.simulate import simulate
from cityshare.simulate.api import start_api_server

ROOT = Path(__file__).resolve().parents[2]
START = dt.date(2026, 11, 23)  # Monday
STREETS = {r["code"] for r in csv.DictReader((ROOT / "dbt_project/seeds/chongqing_streets.csv").open(encoding="utf-8"))}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    import os

    old = os.environ.get("CITYSHARE_DATA_DIR")
    os.environ["CITYSHARE_DATA_DIR"] = str(tmp_path_factory.mktemp("sim") / "data")
    settings = get_settings()
    summary = simulate(settings, days=7, start=START, scale=0.5, defect_rate=0.0, seed=3)
    yield settings, summary
    if old is None:
        os.environ.pop("CITYSHARE_DATA_DIR")
    else:
        os.environ["CITYSHARE_DATA_DIR"] = old


def _xlsx_rows(path: Path) -> list[dict]:
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = []
    for ws in wb.worksheets:
        values = list(ws.iter_rows(values_only=True))
        if len(values) > 1 and values[1][0] is not None and ws.title != "填表说明":
            header = values[1]
            rows += [dict(zip(header, v, strict=False)) | {"_sheet": ws.title} for v in values[2:]
                     if any(v) and not str(v[0] or "").startswith("填报单位")]
    return rows


def test_every_source_contract_has_simulated_data_in_its_format(clean):
    settings, summary = clean
    sources = {c.key: c for c in load_contracts(settings, kind="source")}
    assert set(summary["rows"]) == set(sources)
    assert len({k.split("/")[0] for k in sources}) >= 8
    for key, fmt in summary["formats"].items():
        server = sources[key].server
        assert fmt == (server.get("format") if server["type"] == "local" else "api"), key
        assert sum(summary["rows"][key].values()) > 0, key


def test_nanping_calibration_and_grid_structure(clean):
    settings, _ = clean
    rows = _xlsx_rows(settings.inbox_dir / "jd_nanping/grid_workers" / f"grid_workers_{START}.xlsx")
    # merged 网格编码 cells read back as blanks below the first row of each grid
    filled, grids = None, Counter()
    for r in rows:
        filled = r["网格编码"] or filled
        grids[(filled, r["网格类型"])] += 1
    kinds = Counter(kind for _, kind in grids)
    assert kinds == {"社区网格": 156, "专属网格": 12}
    assert len({r["网格员编号"] for r in rows}) == 312
    assert all(is_valid_id_number(r["身份证号"]) for r in rows)
    wb = openpyxl.load_workbook(settings.inbox_dir / "jd_nanping/grid_workers" / f"grid_workers_{START}.xlsx")
    ws = wb.worksheets[0]
    assert "A1" in str(ws.merged_cells) and any(rng.min_col == 1 and rng.min_row > 2 for rng in ws.merged_cells.ranges)


def test_codes_and_check_digits_are_valid_in_a_clean_run(clean):
    settings, _ = clean
    db = sqlite3.connect(settings.departments_dir / "zjw" / "zjw_approval.sqlite")
    permits = db.execute("SELECT JSDW_TYDM, JDDM, GXSJ FROM SGXK").fetchall()
    assert permits and all(is_valid_uscc(u) and s in STREETS for u, s, _ in permits)
    kitchens = [json.loads(line) for line in (settings.departments_dir / "scjgj" / "kitchen_alerts.jsonl").open(encoding="utf-8")]
    assert all(is_valid_uscc(k["kitchen"]["uscc"]) for k in kitchens)
    assert sum(1 for k in {a["kitchen"]["id"] for a in kitchens} if k.startswith("ZHCF500108003")) <= 108
    elders = _xlsx_rows(settings.inbox_dir / "mzj/elderly_living_alone" / f"elderly_living_alone_{START}.xlsx")
    assert elders and all(is_valid_id_number(e["身份证号"]) and int(e["身份证号"][6:10]) <= 1946 for e in elders)  # 80+


def test_rhythms_permits_only_on_working_days_and_night_muck_trucks(clean):
    settings, summary = clean
    permits = summary["rows"]["zjw/construction_permits"]
    assert permits["2026-11-28"] == permits["2026-11-29"] == 0  # Saturday, Sunday
    points = [json.loads(line) for line in (settings.inbox_dir / "cgj/muck_truck_gps" / f"muck_truck_gps_{START}.jsonl").open()]
    hours = Counter(int(p["gps"]["time"][11:13]) for p in points)
    assert sum(hours[h] for h in range(9, 18)) == 0 and sum(hours[h] for h in (0, 1, 2, 21, 22)) > 0


def test_sensor_feeds_carry_late_rows_out_of_order(clean):
    settings, summary = clean
    second = START + dt.timedelta(days=1)
    feed = settings.inbox_dir / "zjw/bridge_sensor_readings" / f"bridge_sensor_readings_{second}.jsonl"
    readings = [json.loads(line) for line in feed.open()]
    late = [r for r in readings if r["ts"][:10] < second.isoformat()]
    assert 0 < len(late) < 0.1 * len(readings)
    times = [r["ts"] for r in readings]
    assert times != sorted(times)
    assert summary["defects"]["zjw/bridge_sensor_readings"]["late_rows"] > 0


def test_lijia_cases_are_gbk_and_the_utility_export_is_tab_separated(clean):
    settings, _ = clean
    raw = (settings.inbox_dir / "jd_lijia/street_cases" / f"street_cases_{START}.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gb18030").startswith("吹哨编号,")
    tsv = (settings.inbox_dir / "sdqx/installation_applications" / f"installation_applications_{START}.tsv").read_bytes()
    assert tsv.startswith(b"\xef\xbb\xbf") and "\t" in tsv.decode("utf-8-sig").splitlines()[0]
    rows = list(csv.DictReader(io.StringIO(tsv.decode("utf-8-sig")), delimiter="\t"))
    assert all(r["报装类型"] in ("供水", "供电", "供气", "通信") for r in rows)


def test_simulated_apis_paginate_by_cursor_and_offset(clean):
    settings, summary = clean
    with start_api_server(settings, port=0) as api:
        headers = {"Authorization": f"Bearer {os.environ['CITYSHARE_SCJGJ_API_TOKEN']}"}
        seen, cursor = 0, None
        while True:
            params = {"date": str(START), "limit": 40} | ({"cursor": cursor} if cursor else {})
            body = httpx.get(f"{api.url}/api/v1/kitchen_alerts", params=params, headers=headers).json()
            seen += len(body["items"])
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert seen == summary["rows"]["scjgj/kitchen_alerts"][str(START)]
        lots = httpx.get(f"{api.url}/api/v1/parking_lots", params={"as_of": str(START), "offset": 0, "limit": 1000},
                         headers={"Authorization": f"Bearer {os.environ['CITYSHARE_JTJ_API_TOKEN']}"}).json()
        assert lots["result"]["total"] == summary["rows"]["jtj/parking_lots"][str(START)] == len(lots["result"]["lots"])
        assert httpx.get(f"{api.url}/api/v1/parking_lots", params={"as_of": str(START)}, headers=headers).status_code == 401


def test_defects_are_injected_counted_and_deterministic(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "a"))
    a = simulate(get_settings(), days=2, start=START, scale=0.3, defect_rate=0.1, seed=5, departments=["jd_nanping", "jtj"],
                 file_defects=True)
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "b"))
    b = simulate(get_settings(), days=2, start=START, scale=0.3, defect_rate=0.1, seed=5, departments=["jd_nanping", "jtj"],
                 file_defects=True)
    assert a["rows"] == b["rows"] and a["defects"] == b["defects"]
    assert set(a["rows"]) == {"cgj/city_cases", "scjgj/business_registry", "jd_nanping/grid_workers", "jd_nanping/street_cases",
                              "jtj/parking_lots", "jtj/parking_occupancy"}
    occupancy = [json.loads(line) for d in (START, START + dt.timedelta(days=1))
                 for line in (tmp_path / "a/inbox/jtj/parking_occupancy" / f"parking_occupancy_{d}.jsonl").open()]
    over = sum(1 for r in occupancy if r["occupancy"]["occupied"] > r["occupancy"]["total"])
    injected = a["defects"]["jtj/parking_occupancy"]["occupied_above_total"]
    assert 0.85 * injected <= over <= injected  # the last day's late rows are held back for a day not simulated
    for name in ("parking_occupancy",):
        for d in (START, START + dt.timedelta(days=1)):
            assert (tmp_path / "a/inbox/jtj" / name / f"{name}_{d}.jsonl").read_bytes() == \
                (tmp_path / "b/inbox/jtj" / name / f"{name}_{d}.jsonl").read_bytes()
