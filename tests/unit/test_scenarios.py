"""The collaboration scenarios (协同专题库) end to end, without Airflow: simulate → ingest every source → dbt build →
audit → publish, once for the module, on a temp CITYSHARE_HOME copy.

Every expected figure is recomputed in plain Python from the files the simulated departments delivered (the inbox
files, the department databases/API data), with the time limits and thresholds read from the dbt seeds.
The department APIs run on a free loopback port; CITYSHARE_SERVER_<SERVER>_LOCATION points the API contracts at it,
as the demo does.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from cityshare.settings import PROJECT_ROOT, get_settings

DAYS = [dt.date(2026, 11, 23), dt.date(2026, 11, 24)]
SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"
NANPING = "500108003"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(settings, duckdb connection) of a home where every source was ingested, built and published."""
    import duckdb

    from cityshare.contracts.model import load_contracts
    from cityshare.demo import simulator_endpoints
    from cityshare.ingest import ingest
    from cityshare.publish import audit, publish
    from cityshare.simulate import simulate
    from cityshare.simulate.api import start_api_server
    from cityshare.transform import build

    home = tmp_path_factory.mktemp("scenarios") / "home"
    for name in ("contracts", "catalog", "dbt_project"):
        shutil.copytree(PROJECT_ROOT / name, home / name, ignore=shutil.ignore_patterns("target", "logs", "_generated"))
    settings = dataclasses.replace(get_settings(), project_root=home, data_dir=home / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CITYSHARE_HOME", str(home))
        mp.setenv("CITYSHARE_DATA_DIR", str(settings.data_dir))
        simulate(settings, days=len(DAYS), start=DAYS[0], scale=0.3, defect_rate=0.0, seed=11)
        with start_api_server(settings, port=0) as api:
            for name, location in simulator_endpoints(settings, api.url).items():
                mp.setenv(name, location)
            for contract in load_contracts(settings, kind="source"):
                for day in DAYS:
                    result = ingest(contract.key, day, settings)
                    assert result["status"] == "accepted", result
        build(settings)
        report = publish(audit(settings), settings)
    assert {r["table"] for r in report} >= {f"shared.{c.model_name}" for c in load_contracts(settings, kind="shared")}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield settings, con
    con.close()


def q(con, sql: str, params=()) -> list[dict]:
    cur = con.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def ts(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def minutes(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 60


def seed(name: str) -> list[dict]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def limit(scenario: str, item: str) -> int:
    return next(int(r["limit_minutes"]) for r in seed("service_limits") if r["scenario"] == scenario and r["item"] == item)


def inbox(settings, dataset: str, suffix: str) -> list[Path]:
    return [settings.inbox_dir / dataset / f"{dataset.split('/')[1]}_{day}.{suffix}" for day in DAYS]


def read_csv(path: Path, delimiter: str = ",") -> list[dict]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter))


def read_jsonl(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for p in paths for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_xlsx(path: Path) -> list[list]:
    """Data rows of a department workbook: below the title and header rows, without the sign-off line."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    rows = []
    for ws in wb.worksheets:
        if ws.title == "填表说明":
            continue
        for row in ws.iter_rows(min_row=3, values_only=True):
            if row and row[0] is not None and not str(row[0]).startswith("填报单位"):
                rows.append(list(row))
    return rows


# ---------------------------------------------------------------- scenarios


def test_street_lighting_on_time_repairs_per_street_day(built):
    settings, con = built
    faults = {}
    for path in inbox(settings, "cgj/street_lamp_faults", "xlsx"):
        for r in read_xlsx(path):
            faults[r[0]] = r  # 故障单号 … 处理状态
    expected: dict = defaultdict(Counter)
    for _fid, _lamp, street, _road, kind, reported, repaired, status in faults.values():
        key = (street, ts(reported).date())
        expected[key]["faults"] += 1
        done = status == "已修复" and bool(repaired)
        expected[key]["repaired"] += done
        expected[key]["on_time"] += done and minutes(ts(reported), ts(repaired)) <= limit("street_lighting", kind)
    got = {(r["street_code"], r["stat_date"]): r for r in q(con, "SELECT * FROM shared.collab_street_lighting__street_day")}
    assert set(got) == set(expected)
    assert sum(c["on_time"] for c in expected.values()) > 0
    for key, c in expected.items():
        row = got[key]
        assert (row["faults"], row["repaired"], row["repaired_on_time"]) == (c["faults"], c["repaired"], c["on_time"]), key
        assert row["on_time_rate"] == round(100 * c["on_time"] / c["faults"], 2)


def test_bridge_safety_completeness_and_exceedances_per_bridge_day(built):
    settings, con = built
    thresholds = {r["sensor_type"]: r for r in seed("bridge_sensor_thresholds")}
    readings = {}
    for r in read_jsonl(inbox(settings, "zjw/bridge_sensor_readings", "jsonl")):
        readings[(r["sensor"]["id"], r["ts"])] = r
    valid, warning, sensors = Counter(), Counter(), defaultdict(set)
    for r in readings.values():
        key = (r["bridge"]["id"], ts(r["ts"]).date())
        sensors[key].add(r["sensor"]["id"])
        if r["value"] is not None:
            valid[key] += 1
            warning[key] += r["value"] > float(thresholds[r["sensor"]["type"]]["warning_threshold"])
    got = {(r["bridge_id"], r["stat_date"]): r for r in q(con, "SELECT * FROM shared.collab_bridge_safety__bridge_day")}
    assert set(got) == set(sensors)
    for key in sensors:
        row = got[key]
        assert row["valid_readings"] == valid[key] and row["warning_readings"] == warning[key], key
        assert row["completeness_rate"] == round(100 * valid[key] / (48 * len(sensors[key])), 2)
        assert re.fullmatch(r"500\d{3}0206\d{6}", row["component_id"]) and row["component_id"][:6] == key[0][2:8]


def test_muck_truck_compliance_per_truck_day(built):
    settings, con = built
    points = {}
    for p in read_jsonl(inbox(settings, "cgj/muck_truck_gps", "jsonl")):
        points[(p["device_id"], p["gps"]["time"])] = p
    speed = limit("muck_truck", "speed_limit_kmh")
    start, end = limit("muck_truck", "night_window_start"), limit("muck_truck", "night_window_end")
    expected: dict = defaultdict(Counter)
    for (device, when), p in points.items():
        t = ts(when)
        c = expected[(device, t.date())]
        c["points"] += 1
        c["speed"] += p["gps"]["speed_kmh"] > speed
        c["window"] += not (t.hour * 60 + t.minute >= start or t.hour * 60 + t.minute < end)
    got = {(r["device_id"], r["stat_date"]): r for r in q(con, "SELECT * FROM shared.collab_muck_truck__truck_day")}
    assert set(got) == set(expected)
    assert sum(c["speed"] for c in expected.values()) > 0
    for key, c in expected.items():
        row = got[key]
        assert (row["gps_points"], row["over_speed_points"], row["outside_window_points"]) == (
            c["points"], c["speed"], c["window"]), key


def test_street_whistle_report_times_per_department_day(built):
    settings, con = built
    cases = {}
    for dept in ("jd_nanping", "jd_lijia"):
        for path in inbox(settings, f"{dept}/street_cases", "csv"):
            for r in read_csv(path):
                cases[r["吹哨编号"]] = r
    report_limit = limit("street_whistle", "报到")
    expected: dict = defaultdict(Counter)
    for r in cases.values():
        raised, reported = ts(r["吹哨时间"]), ts(r["报到时间"])
        c = expected[(r["网格编码"][:9], r["报到部门"], raised.date())]
        c["cases"] += 1
        c["on_time"] += bool(reported) and 0 <= minutes(raised, reported) <= report_limit
        c["closed"] += r["办理状态"] == "已办结"
    got = {(r["street_code"], r["department"], r["stat_date"]): r
           for r in q(con, "SELECT * FROM shared.collab_street_whistle__department_day")}
    assert set(got) == set(expected)
    assert {k[0] for k in got} == {NANPING, "500112019"}
    for key, c in expected.items():
        row = got[key]
        assert (row["cases"], row["reported_on_time"], row["closed"]) == (c["cases"], c["on_time"], c["closed"]), key


def _grade(score: float) -> str:
    return "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D" if score >= 40 else "E"


def test_city_evaluation_indicators_and_grade_per_street(built):
    settings, con = built
    hours = {r["code"]: int(r["disposal_hours"]) for r in seed("event_classes")}
    cases = {}
    for path in inbox(settings, "cgj/city_cases", "csv"):
        for r in read_csv(path):
            cases[r["案件编号"]] = r
    per_street: dict = defaultdict(Counter)
    for r in cases.values():
        c = per_street[r["街道代码"]]
        if r["案件状态"] in ("上报", "作废"):
            continue
        c["should"] += 1
        c["disposed"] += r["案件状态"] in ("处置", "核查", "结案")
        closed = r["案件状态"] == "结案"
        c["closed"] += closed
        if closed:
            took = (ts(r["结案时间"]) - ts(r["上报时间"])).total_seconds() / 3600
            c["disposed_on_time"] += 0 <= took <= hours[r["事件小类代码"]]
            c["closed_on_time"] += 0 <= took <= hours[r["事件小类代码"]] + 24
    got = {r["street_code"]: r for r in q(con, "SELECT * FROM shared.collab_city_evaluation__street_month")}
    assert {s for s, c in per_street.items() if c["should"]} <= set(got)
    for street, c in per_street.items():
        if not c["should"]:
            continue
        row = got[street]
        assert (row["should_dispose"], row["disposed"], row["closed"], row["disposed_on_time"], row["closed_on_time"]) == (
            c["should"], c["disposed"], c["closed"], c["disposed_on_time"], c["closed_on_time"]), street
        rates = [round(100 * c[k] / c["should"], 2) for k in ("disposed_on_time", "closed_on_time", "disposed", "closed")]
        score = round(0.3 * rates[0] + 0.3 * rates[1] + 0.15 * rates[2] + 0.15 * rates[3] + 0.1 * 100, 2)
        assert row["composite_score"] == pytest.approx(score, abs=0.011)
        assert row["grade"] == _grade(row["composite_score"])
    assert len({r["grade"] for r in got.values()}) > 1  # the grades discriminate between streets


def test_elderly_care_responses_per_community_day(built):
    settings, con = built
    alerts = {a["alert_id"]: a for a in read_jsonl(inbox(settings, "mzj/elderly_sensor_alerts", "jsonl"))}
    expected: dict = defaultdict(Counter)
    for a in alerts.values():
        t, answered = ts(a["alert_time"]), ts(a["response"]["at"])
        c = expected[(a["street_code"], a["community"], t.date())]
        c["alerts"] += 1
        c["on_time"] += answered is not None and 0 <= minutes(t, answered) <= limit("elderly_care", a["device"]["type"])
    elders = Counter((r[4], r[5]) for r in read_xlsx(inbox(settings, "mzj/elderly_living_alone", "xlsx")[-1]))
    rows = q(con, "SELECT * FROM shared.collab_elderly_care__community_day")
    got = {(r["street_code"], r["community_name"], r["stat_date"]): r for r in rows}
    for key, c in expected.items():
        assert (got[key]["alerts"], got[key]["responded_on_time"]) == (c["alerts"], c["on_time"]), key
    assert sum(r["alerts"] for r in rows) == len(alerts)
    for r in rows:
        assert r["elders"] == elders[(r["street_code"], r["community_name"])]
        assert re.fullmatch(r"\d{12}", r["community_code"]) and r["community_code"].startswith(r["street_code"])


def test_joint_utility_progress_per_provider_day(built):
    settings, con = built
    latest = {}
    for path in inbox(settings, "sdqx/installation_applications", "tsv"):
        for r in read_csv(path, delimiter="\t"):
            latest[r["申请编号"]] = r  # a later day's row is the application's newer state
    expected: dict = defaultdict(Counter)
    for r in latest.values():
        c = expected[(r["报装类型"], r["供应单位"], ts(r["申请时间"]).date())]
        c["applications"] += 1
        c["accepted"] += bool(r["受理时间"])
    got = {(r["utility_type"], r["provider"], r["stat_date"]): r
           for r in q(con, "SELECT * FROM shared.collab_joint_utility__provider_day")}
    assert set(got) == set(expected)
    assert {k[0] for k in got} == {"供水", "供电", "供气", "通信"}
    for key, c in expected.items():
        assert (got[key]["applications"], got[key]["accepted"]) == (c["applications"], c["accepted"]), key


def test_smart_parking_supply_and_cases_in_nanping(built):
    settings, con = built
    lots = read_jsonl([settings.departments_dir / "jtj" / "parking_lots.jsonl"])
    cases = {}
    for path in inbox(settings, "cgj/city_cases", "csv"):
        for r in read_csv(path):
            cases[r["案件编号"]] = r
    rows = {r["stat_date"]: r for r in q(con, "SELECT * FROM shared.collab_smart_parking__street_day WHERE street_code = ?",
                                          [NANPING])}
    assert rows
    for day, row in rows.items():
        open_lots = [lot for lot in lots if lot["street_code"] == NANPING and lot["opened_on"] <= str(day)]
        assert row["lots"] == len(open_lots)
        assert row["total_spaces"] == sum(lot["total_spaces"] for lot in open_lots)
        parking = [c for c in cases.values() if c["街道代码"] == NANPING and c["事件小类代码"] == "0503"
                   and c["上报时间"][:10] == str(day)]
        assert row["city_parking_cases"] == len(parking)


def test_illegal_construction_leads_per_street_day(built):
    settings, con = built
    leads = {}
    for path in inbox(settings, "ghzrj/illegal_construction_reports", "csv"):
        for r in read_csv(path):
            leads[r["线索编号"]] = r
    expected: dict = defaultdict(Counter)
    for r in leads.values():
        c = expected[(r["街道代码"], dt.date.fromisoformat(r["发现日期"]))]
        c["leads"] += 1
        c["demolished"] += r["处置状态"] == "已拆除"
        c["satellite"] += r["线索来源"] == "卫片执法"
    got = {(r["street_code"], r["stat_date"]): r
           for r in q(con, "SELECT * FROM shared.collab_illegal_construction__street_day")}
    assert set(got) == set(expected)
    for key, c in expected.items():
        assert (got[key]["leads"], got[key]["demolished"], got[key]["satellite_leads"]) == (
            c["leads"], c["demolished"], c["satellite"]), key


# ---------------------------------------------------------------- base layer codes, collaboration model, PII


def test_unit_grids_and_facilities_carry_gbt_30428_codes(built):
    settings, con = built
    grids = q(con, "SELECT * FROM base.base_unit_grids")
    roster = [r for path in inbox(settings, "jd_nanping/grid_workers", "xlsx")[-1:] for r in read_xlsx(path)]
    nanping = {r[0] for r in roster}  # the street's own 15-digit grid numbers
    assert len(nanping) == 156 + 12  # the article's 156 community grids and 12 dedicated grids of 南坪街道
    assert {g["source_grid_code"] for g in grids if g["street_code"] == NANPING} == nanping
    for g in grids:
        assert re.fullmatch(r"\d{14}", g["unit_grid_code"]), g
        assert g["unit_grid_code"][:9] == g["street_code"] and g["unit_grid_code"][:12] == g["community_code"]
    facilities = q(con, "SELECT * FROM base.base_facilities")
    ids = [f["component_id"] for f in facilities]
    assert len(ids) == len(set(ids))
    for f in facilities:
        assert re.fullmatch(r"\d{16}", f["component_id"]) and f["component_id"][:6] == f["area_code"]
        assert f["component_id"][6:10] == f["component_class_code"]
    lamps = {r[1] for path in inbox(settings, "cgj/street_lamp_faults", "xlsx") for r in read_xlsx(path)}
    assert {f["source_id"] for f in facilities if f["component_class_code"] == "0110"} == lamps
    # serials count 1, 2, ... per county and class, in order of first appearance then source id; parking lots are
    # numbered apart from the other facilities (base_parking_lots) and lot-day carries the same ids
    by_class: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for f in facilities:
        by_class[f["area_code"], f["component_class_code"]].append(f)
    for key, group in by_class.items():
        group.sort(key=lambda f: (f["first_seen_on"] is None, f["first_seen_on"] or dt.date.min, f["source_id"]))
        assert [int(f["component_id"][10:]) for f in group] == list(range(1, len(group) + 1)), key
    lot_ids = {f["source_id"]: f["component_id"] for f in facilities if f["component_class_code"] == "0201"}
    lot_day_ids = dict(con.execute("SELECT DISTINCT lot_id, component_id FROM theme.theme_parking__lot_day").fetchall())
    assert lot_ids and lot_day_ids and all(lot_ids.get(lot) == cid for lot, cid in lot_day_ids.items())


def test_business_collaboration_model_names_existing_datasets(built):
    import yaml

    _, con = built
    doc = yaml.safe_load((PROJECT_ROOT / "catalog" / "scenarios.yml").read_text(encoding="utf-8"))
    rows = q(con, "SELECT * FROM collab.collab_scenarios__tasks")
    assert len(rows) == sum(len(s["tasks"]) for s in doc["scenarios"])
    assert len(doc["scenarios"]) >= 8
    tables = {r["table_name"] for r in q(con, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'collab'")}
    shared = {r["table_name"] for r in q(con, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shared'")}
    departments = yaml.safe_load((PROJECT_ROOT / "catalog" / "departments.yml").read_text(encoding="utf-8"))["departments"]
    for r in rows:
        assert r["business_dataset"] in shared, r
        assert set(r["task_datasets"].split(",")) <= tables, r
        assert r["department"] in departments and r["lead_department"] in departments
        folder = PROJECT_ROOT / "dbt_project" / "models" / "collaboration" / r["scenario_id"]
        assert (folder / f"{r['business_dataset']}.sql").exists()
        assert (PROJECT_ROOT / "contracts" / f"{r['published_contract']}.odcs.yaml").exists()


def test_no_raw_personal_data_in_any_layer(built):
    settings, con = built
    ids, phones, names = set(), set(), set()
    for dept in ("jd_nanping", "jd_lijia"):
        for r in read_xlsx(inbox(settings, f"{dept}/grid_workers", "xlsx")[-1]):
            names.add(r[5]), ids.add(r[6]), phones.add(r[7])
    for r in read_xlsx(inbox(settings, "mzj/elderly_living_alone", "xlsx")[-1]):
        names.add(r[1]), ids.add(r[2]), phones.update((r[8], r[9]))
    for path in inbox(settings, "cgj/city_cases", "csv"):
        phones.update(r["上报人电话"] for r in read_csv(path))
    phones = {re.sub(r"^86(?=\d{11}$)", "", re.sub(r"\D", "", p)) for p in phones if p}
    ids = {i for i in ids if i and re.fullmatch(r"[0-9X]+", i)}
    names.discard(None)
    assert len(ids) > 300 and len(phones) > 300
    pattern = "|".join(sorted(ids | phones))
    columns = q(con, """SELECT table_schema, table_name, column_name FROM information_schema.columns
                        WHERE table_schema IN ('standard', 'base', 'theme', 'collab', 'shared') AND data_type = 'VARCHAR'""")
    assert len(columns) > 300
    leaks = []
    for c in columns:
        ref = f'{c["table_schema"]}."{c["table_name"]}"."{c["column_name"]}"'
        found = con.execute(
            f'SELECT count(*) FILTER (WHERE regexp_matches("{c["column_name"]}", ?)), '
            f'count(*) FILTER (WHERE "{c["column_name"]}" IN (SELECT unnest(?::VARCHAR[]))) '
            f'FROM {c["table_schema"]}."{c["table_name"]}"', [pattern, sorted(names)]).fetchone()
        if any(found):
            leaks.append((ref, found))
    assert not leaks
