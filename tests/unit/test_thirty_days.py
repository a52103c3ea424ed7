"""Thirty simulated days of the 城管局 and 市场监管局 sources, two scenarios checked against figures
recomputed here from the landed raw data, and a failed audit that leaves the served version alone.

Runs the package functions the DAG tasks call (the Airflow path is covered by tests/e2e).
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections import Counter

import duckdb
import pytest
import yaml
from fastapi.testclient import TestClient

from cityshare.errors import AuditFailed
from cityshare.ingest import ingest
from cityshare.publish import audit, publish
from cityshare.settings import PROJECT_ROOT
from cityshare.share.app import create_app
from cityshare.share.tokens import issue
from cityshare.simulate import simulate
from cityshare.transform import build
from tests.unit.test_directory_support import copy_home, registry_as_daily_csv

DAYS = [dt.date(2026, 9, 20) + dt.timedelta(days=i) for i in range(30)]  # spans National Day
NANPING = "500108003"
EXTRA = ["contracts/shared/city_evaluation_street_month.odcs.yaml",
         "dbt_project/models/staging/cgj/stg_cgj__city_case_status_history.sql",
         "dbt_project/models/collaboration/city_evaluation"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("thirty")
    settings = copy_home(root / "home")
    for rel in EXTRA:  # the city evaluation scenario joins the storefront one
        src, dst = PROJECT_ROOT / rel, settings.project_root / rel
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy(src, dst)
    simulate(settings, days=len(DAYS), start=DAYS[0], scale=0.15, defect_rate=0.0, seed=30, departments=[])
    registry_as_daily_csv(settings, DAYS)
    for day in DAYS:
        ingest("cgj/city_cases", day, settings)
        ingest("scjgj/business_registry", day, settings)
    build(settings)
    publish(audit(settings), settings)
    return settings


def _query(settings, sql, params=()):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _raw_cases(settings):
    cols = ["case_id", "event_class_code", "street_code", "reported_at", "closed_at", "status"]
    rows = _query(settings, f"SELECT {', '.join(cols)} FROM raw.cgj__city_cases")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def test_thirty_days_landed(home):
    days = _query(home, "SELECT count(DISTINCT _load_date) FROM raw.cgj__city_cases")[0][0]
    assert days == 30


def test_storefront_cases_per_day_in_nanping_match_the_raw_data(home):
    expected = Counter(c["reported_at"][:10] for c in _raw_cases(home)
                       if c["event_class_code"] == "0502" and c["street_code"] == NANPING)
    got = dict(_query(home, """SELECT strftime(stat_date, '%Y-%m-%d'), storefront_cases
                               FROM shared.collab_storefront_order__street_day WHERE street_code = ?""", [NANPING]))
    assert len(got) == 30
    assert {d: n for d, n in got.items() if n} == dict(expected)
    assert sum(expected.values()) > 20


def test_city_evaluation_per_street_month_matches_the_raw_data(home):
    with (PROJECT_ROOT / "dbt_project" / "seeds" / "event_classes.csv").open(encoding="utf-8") as fh:
        limits = {r["code"]: float(r["disposal_hours"]) for r in csv.DictReader(fh)}
    expected: dict[tuple[str, str], Counter] = {}
    for c in _raw_cases(home):
        key = (c["street_code"], c["reported_at"][:7] + "-01")
        tally = expected.setdefault(key, Counter())
        tally["cases"] += 1
        active = c["status"] not in ("上报", "作废")
        tally["should_dispose"] += active
        tally["disposed"] += active and c["status"] in ("处置", "核查", "结案")
        tally["closed"] += active and c["status"] == "结案"
        if active and c["status"] == "结案" and c["closed_at"]:
            hours = (dt.datetime.fromisoformat(c["closed_at"]) - dt.datetime.fromisoformat(c["reported_at"]))
            tally["disposed_on_time"] += 0 <= hours.total_seconds() <= limits[c["event_class_code"]] * 3600
    rows = _query(home, """SELECT street_code, strftime(stat_month, '%Y-%m-%d'), cases, should_dispose, disposed,
                                  closed, disposed_on_time, closure_rate, grade
                           FROM shared.collab_city_evaluation__street_month""")
    assert {(r[0], r[1]) for r in rows} == set(expected)
    for street, month, cases, should, disposed, closed, on_time, closure_rate, grade in rows:
        want = expected[(street, month)]
        assert (cases, should, disposed, closed, on_time) == (
            want["cases"], want["should_dispose"], want["disposed"], want["closed"], want["disposed_on_time"]
        ), (street, month)
        if should:
            assert closure_rate == round(100.0 * closed / should, 2)
        assert grade in ("A", "B", "C", "D", "E")


def test_a_failed_audit_keeps_serving_the_previous_version(home):
    table = "collab_storefront_order__street_day"
    before = _query(home, "SELECT version, content_hash FROM meta.publications WHERE table_name = ?", [table])
    _, token = issue(home, "jd_nanping", "wang", "consumer")
    client = TestClient(create_app(home))
    headers = {"Authorization": f"Bearer {token}"}
    served = client.get(f"/api/tables/{table}/rows", params={"limit": 10_000}, headers=headers)
    assert served.status_code == 200

    # New data arrives and the published contract now demands something the build cannot meet.
    path = home.contracts_dir / "shared" / "storefront_order_street_day.odcs.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["schema"][0]["quality"].append({"type": "library", "metric": "rowCount", "mustBeGreaterThan": 10**9,
                                        "dimension": "completeness", "name": "impossible_volume",
                                        "description": "行数须超过十亿"})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    build(home)
    with pytest.raises(AuditFailed, match="impossible_volume"):
        audit(home)

    assert _query(home, "SELECT version, content_hash FROM meta.publications WHERE table_name = ?", [table]) == before
    again = client.get(f"/api/tables/{table}/rows", params={"limit": 10_000}, headers=headers)
    assert again.status_code == 200 and again.json() == served.json()
