"""Onboarding a department nobody has seen, by contracts alone, end to end through Airflow.

A copy of the project gets 应急管理局 (``yjglj``, not among the ten simulated departments): one source
contract (CSV in GBK with Chinese headers, an ID and a phone column, 有条件共享) and one published contract
publishing its standard table — no SQL, no Python, no edit to any other file (tests/e2e/onboarding/). Then:

1. the demo's path runs unchanged on the copy (it says the new source has no simulated data);
2. the department's deliveries go through its generated DAG → gate → build_and_publish → directory, and a
   consumer reads the table through the API with a grant (masked ID/phone, tokens that join with another
   department's dataset) and sees it in the portal;
3. the next day one department (水电气讯, sdqx) delivers nothing: every table that does not depend on it
   gets its new version, the one that does keeps its version and is flagged late (滞后) in the directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "onboarding"
DAYS = [dt.date(2026, 11, 23) + dt.timedelta(days=i) for i in range(3)]
LATE = "sdqx/installation_applications"
TABLE = "pub_yjglj__shelter_volunteers"


def _versions(settings) -> dict[str, int]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return dict(con.execute("SELECT table_name, max(version) FROM meta.publications GROUP BY 1").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """The copy with the new department, run through the demo's path and then the department's own loads."""
    tmp = tmp_path_factory.mktemp("onboarding")
    home = tmp / "home"
    for part in ("contracts", "catalog", "dbt_project", "dags"):
        shutil.copytree(ROOT / part, home / part, ignore=shutil.ignore_patterns("target", "logs", "__pycache__", "_generated"))
    before = {p.relative_to(home) for p in home.rglob("*") if p.is_file()}
    shutil.copytree(FIXTURES / "contracts", home / "contracts", dirs_exist_ok=True)
    added = {p.relative_to(home) for p in home.rglob("*") if p.is_file()} - before
    old = {k: os.environ.get(k) for k in ("CITYSHARE_HOME", "CITYSHARE_DATA_DIR", "CITYSHARE_SERVER_REGISTRY_API_LOCATION",
                                          "CITYSHARE_SERVER_KITCHEN_API_LOCATION", "CITYSHARE_SERVER_PARKING_API_LOCATION")}
    os.environ["CITYSHARE_HOME"] = str(home)
    os.environ["CITYSHARE_DATA_DIR"] = str(tmp / "data")
    from cityshare.demo import run_pipeline, unsimulated_sources
    from cityshare.orchestrate import run_dags
    from cityshare.settings import get_settings
    from cityshare.simulate import simulate

    settings = get_settings()
    simulate(settings, days=3, start=DAYS[0], scale=0.3, defect_rate=0.0, seed=5)
    demo_runs = run_pipeline(DAYS[:2], settings)  # the demo's path: simulated sources only
    demo_versions = _versions(settings)
    inbox = settings.inbox_dir / "yjglj" / "shelter_volunteers"
    inbox.mkdir(parents=True)
    for i, day in enumerate(DAYS[:2], 1):  # the department's two deliveries, as it sent them
        shutil.copy(FIXTURES / "inbox" / f"shelter_volunteers_day{i}.csv", inbox / f"shelter_volunteers_{day}.csv")
    dag = "ingest__yjglj__shelter_volunteers"
    onboard_runs = run_dags([(dag, DAYS[0]), (dag, DAYS[1]), ("build_and_publish", DAYS[1]), ("directory", DAYS[1])],
                            settings)
    day2_versions = _versions(settings)
    from cityshare.dag_specs import source_specs

    shutil.copy(FIXTURES / "inbox" / "shelter_volunteers_day2.csv", inbox / f"shelter_volunteers_{DAYS[2]}.csv")
    from cityshare.demo import simulator_endpoints
    from cityshare.simulate.api import start_api_server

    late_plan = [(s.dag_id, DAYS[2]) for s in source_specs() if s.key != LATE]
    with start_api_server(settings, port=0) as api:  # the departments' HTTP APIs on a free port, as in the demo
        os.environ.update(simulator_endpoints(settings, api.url))
        late_runs = run_dags([*late_plan, ("build_and_publish", DAYS[2]), ("directory", DAYS[2])], settings)
    yield {"settings": settings, "added": added, "demo_runs": demo_runs, "demo_versions": demo_versions,
           "unsimulated": unsimulated_sources(), "onboard_runs": onboard_runs, "day2_versions": day2_versions,
           "late_runs": late_runs}
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_onboarding_is_two_contract_files(city):
    assert city["added"] == {Path("contracts/yjglj/shelter_volunteers.odcs.yaml"),
                             Path("contracts/shared/emergency_volunteers.odcs.yaml")}
    from cityshare.lint import lint_all

    assert {str(p): e for p, e in lint_all(city["settings"]).items() if e} == {}


def test_the_demo_path_runs_unchanged_and_names_the_source_without_data(city):
    failed = [(r.dag_id, str(r.logical_date), r.output[-800:]) for r in city["demo_runs"] if not r.ok]
    assert failed == []
    assert city["unsimulated"] == ["yjglj/shelter_volunteers"]
    assert {"base_legal_entity", "collab_joint_utility__provider_day"} <= set(city["demo_versions"])
    assert TABLE not in city["demo_versions"]  # waiting for the department's first delivery, not a failure


def test_the_new_department_reaches_the_shared_layer_through_airflow(city):
    assert [(r.dag_id, r.ok) for r in city["onboard_runs"]] == [
        ("ingest__yjglj__shelter_volunteers", True), ("ingest__yjglj__shelter_volunteers", True),
        ("build_and_publish", True), ("directory", True)]
    settings = city["settings"]
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    batches = con.execute("SELECT load_date, rows_accepted, rows_quarantined FROM meta.batches "
                          "WHERE dataset = 'yjglj/shelter_volunteers' ORDER BY 1").fetchall()
    # day 1: one row with a wrong GB 11643 check digit; day 2 (delivered again on day 3): a landline as mobile
    assert batches == [(DAYS[0], 16, 1), (DAYS[1], 19, 1), (DAYS[2], 19, 1)]
    rows = con.execute(f"SELECT volunteer_id, name, id_number, phone, service_hours FROM shared.{TABLE} "
                       "ORDER BY volunteer_id").fetchall()
    standard_cols = [r[0] for r in con.execute("DESCRIBE standard.stg_yjglj__shelter_volunteers").fetchall()]
    con.close()
    assert len(rows) == 19  # one row per volunteer: 16 + 3 new on day 2 (the quarantined ones never arrive)
    assert "id_number_token" in standard_cols and "phone_token" in standard_cols
    delivered = [line.split(",") for line in
                 (FIXTURES / "inbox" / "shelter_volunteers_day2.csv").read_bytes().decode("gbk").splitlines()[1:]]
    first = next(r for r in rows if r[0] == delivered[0][0])
    raw = delivered[0]
    assert first[1] == raw[1][0] + "*" * (len(raw[1]) - 1)  # 姓名 keeps the surname
    assert first[2] == raw[2][:6] + "********" + raw[2][-4:]
    assert first[3] == raw[3][:3] + "****" + raw[3][-4:]
    assert first[4] == float(raw[6])  # the latest delivery wins (day 2's hours)


def test_a_consumer_reads_it_with_a_grant_and_tokens_join_across_departments(city):
    from fastapi.testclient import TestClient

    from cityshare.privacy import keyed_token
    from cityshare.share.app import create_app
    from cityshare.share.tokens import issue

    settings = city["settings"]
    client = TestClient(create_app(settings))
    consumer = {"Authorization": f"Bearer {issue(settings, 'jd_nanping', 'nanping_clerk', 'consumer')[1]}"}
    provider = {"Authorization": f"Bearer {issue(settings, 'yjglj', 'yjglj_approver', 'approver')[1]}"}
    assert client.get(f"/api/tables/{TABLE}/rows", headers=consumer).status_code == 403  # 有条件共享: no grant yet
    r = client.post("/api/requests", headers=consumer, json={
        "table": TABLE, "purpose": "汛期转移安置调度志愿者", "columns": [], "period_days": 30})
    assert r.status_code == 201, r.text
    d = client.post(f"/api/requests/{r.json()['id']}/decision", headers=provider, json={"decision": "approve"})
    assert d.status_code == 200, d.text
    rows = client.get(f"/api/tables/{TABLE}/rows", headers=consumer, params={"limit": 100})
    assert rows.status_code == 200, rows.text
    got = rows.json()["rows"]
    assert len(got) == 19
    delivered = {line.split(",")[0]: line.split(",") for line in
                 (FIXTURES / "inbox" / "shelter_volunteers_day2.csv").read_bytes().decode("gbk").splitlines()[1:]}
    for row in got:
        raw = delivered[row["volunteer_id"]]
        assert raw[2] not in json.dumps(row) and raw[3] not in json.dumps(row)  # no raw ID or phone leaves
        # the city-wide token: the same HMAC every department's standard model computes for this ID / phone
        assert row["id_number_token"] == keyed_token(raw[2], settings.token_key)
        assert row["phone_token"] == keyed_token(raw[3], settings.token_key)
    # a join with another department's data: the token of a 市场监管局 legal representative's ID is the
    # same function of the same normalized value (base_legal_entity.legal_person_token)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    legal = con.execute("SELECT legal_person_token FROM shared.base_legal_entity WHERE legal_person_token IS NOT NULL "
                        "LIMIT 1").fetchone()[0]
    con.close()
    registry = [json.loads(line) for line in (settings.departments_dir / "scjgj" / "business_registry.jsonl")
                .read_text(encoding="utf-8").splitlines()]
    assert legal in {keyed_token(r["legal_person_id"].strip().upper(), settings.token_key) for r in registry}
    page = client.get("/", headers=consumer)
    assert page.status_code == 200
    items = client.get("/api/directory", params={"q": "应急志愿者"}).json()["共享数据资源目录"]
    assert any(e.get("信息资源名称") == "应急志愿者（共享）" for e in items)
    code = next(e["信息资源代码"] for e in items if e.get("信息资源名称") == "应急志愿者（共享）")
    portal = client.get("/entry", params={"code": code}, headers=consumer)
    assert portal.status_code == 200 and "应急志愿者" in portal.text and "重庆市应急管理局" in portal.text


def test_a_late_department_holds_back_only_its_own_tables(city):
    failed = [(r.dag_id, r.output[-800:]) for r in city["late_runs"] if not r.ok]
    assert failed == []
    settings = city["settings"]
    before, after = city["day2_versions"], _versions(settings)
    from cityshare.contracts.model import get_contract, load_contracts
    from cityshare.directory.document import load_entries

    entries = {e["contract_key"]: e for e in load_entries(settings)}
    late_name = get_contract(LATE, settings).name
    dependent = {c.model_name for c in load_contracts(settings, kind="shared")
                 if any(s["数据集"] == late_name for s in entries[c.key]["数据时效"]["滞后来源"])}
    assert dependent == {"collab_joint_utility__provider_day"}
    assert after["collab_joint_utility__provider_day"] == before["collab_joint_utility__provider_day"]
    assert entries["shared/joint_utility_provider_day"]["数据时效"]["状态"] == "滞后"
    assert entries[LATE]["数据时效"]["状态"] == "滞后"
    # tables that do not depend on sdqx and whose inputs changed published a new version the same day
    moved = {t for t in after if after[t] > before.get(t, 0)}
    assert {"collab_bridge_safety__bridge_day", "collab_smart_parking__street_day"} <= moved
    assert entries["shared/emergency_volunteers"]["数据时效"]["状态"] == "正常"  # delivered (a repeat: no new version)
    for t in moved:
        key = next(c.key for c in load_contracts(settings, kind="shared") if c.model_name == t)
        assert entries[key]["数据时效"]["状态"] == "正常", key


def test_the_quality_report_names_the_late_table_and_its_late_source(city):
    from cityshare.contracts.model import get_contract
    from cityshare.quality.history import default_period
    from cityshare.quality.report import render_html, table_status

    settings = city["settings"]
    late_name = get_contract(LATE, settings).name
    rows = {t["name"]: t for t in table_status(settings)}
    joint = get_contract("shared/joint_utility_provider_day", settings).name
    assert list(rows) == [joint]  # the only table that needs attention
    assert rows[joint]["status"] == "已发布" and rows[joint]["late"][0].startswith(late_name)
    html = render_html(settings, default_period(settings, DAYS[0], DAYS[2]), offline=True)
    assert "需关注的共享表" in html and joint in html
