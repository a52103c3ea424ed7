"""End to end through Airflow: simulated departments → ingestion DAGs → build_and_publish → directory.

Expected values are recomputed by hand (plain Python) from the files the departments delivered.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import socket

import duckdb
import pytest

from cityshare.contracts.model import load_contracts
from cityshare.demo import run_pipeline
from cityshare.orchestrate import run_dag
from cityshare.settings import get_settings
from cityshare.simulate import simulate

# Slow tier: the onboarding e2e (default run) drives the same demo path through Airflow day by day; this
# module adds hand counts, the broken batch and the rerun on three full days (≈ 4.5 min).
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DAYS = [dt.date(2026, 11, 23) + dt.timedelta(days=i) for i in range(3)]
NANPING = "500108003"  # 南岸区南坪街道


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    old = os.environ.get("CITYSHARE_DATA_DIR")
    os.environ["CITYSHARE_DATA_DIR"] = str(tmp_path_factory.mktemp("e2e") / "data")
    settings = get_settings()
    simulate(settings, days=3, start=DAYS[0], scale=0.5, defect_rate=0.0, seed=11)
    with socket.socket() as taken:  # the API contracts' declared port is busy: the demo's loads must not need it
        with contextlib.suppress(OSError):  # already taken by someone else: just as good
            taken.bind(("127.0.0.1", 8765))
            taken.listen()
        runs = run_pipeline(DAYS, settings)
    yield settings, runs
    if old is None:
        os.environ.pop("CITYSHARE_DATA_DIR", None)
    else:
        os.environ["CITYSHARE_DATA_DIR"] = old


def _cases(settings):
    rows = []
    for day in DAYS:
        path = settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{day}.csv"
        with path.open(encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def _registry(settings):
    latest = {}
    path = settings.departments_dir / "scjgj" / "business_registry.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        newer = rec["uscc"] not in latest or rec["updated_at"] >= latest[rec["uscc"]]["updated_at"]
        if rec["updated_at"][:10] <= DAYS[-1].isoformat() and newer:
            latest[rec["uscc"]] = rec
    return latest


def _published(settings, sql, params=()):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_every_dag_run_succeeds_through_airflow(run):
    _, runs = run
    assert [r.dag_id for r in runs].count("build_and_publish") == 1
    assert all(r.ok for r in runs), [(r.dag_id, r.logical_date, r.output[-800:]) for r in runs if not r.ok]
    assert all("DagRun Finished" in r.output for r in runs)


def test_collaboration_table_matches_a_hand_count(run):
    settings, _ = run
    cases, registry = _cases(settings), _registry(settings)
    storefront = [c for c in cases if c["事件小类代码"] == "0502"]
    shops = [r for r in registry.values() if r["status"] == "存续" and r["industry"] in ("餐饮", "零售")]
    streets = {s["street_code"] for s in shops} | {c["街道代码"] for c in storefront}
    case_days = {c["上报时间"][:10] for c in cases}
    (count,) = _published(settings, "SELECT count(*) FROM shared.collab_storefront_order__street_day")[0]
    assert count == len(streets) * len(case_days)

    for day in DAYS:
        mine = [c for c in storefront if c["街道代码"] == NANPING and c["上报时间"][:10] == day.isoformat()]
        expected = (
            sum(1 for s in shops if s["street_code"] == NANPING and s["registered_on"] <= day.isoformat()),
            len(mine),
            sum(1 for c in mine if c["涉事商户统一社会信用代码"] in registry),
            sum(1 for c in mine if c["案件状态"] == "结案"),
        )
        got = _published(
            settings,
            """SELECT registered_shops, storefront_cases, cases_with_registered_shop, closed_cases, street_name
               FROM shared.collab_storefront_order__street_day WHERE street_code = ? AND stat_date = ?""",
            [NANPING, day],
        )
        assert got and got[0][:4] == expected and got[0][4] == "南坪街道", (day, got, expected)
    assert expected[1] > 0  # the busiest street really has storefront cases


def test_no_raw_phone_or_id_number_in_standard_or_shared_layers(run):
    settings, _ = run
    secrets = {c["上报人电话"] for c in _cases(settings)}
    path = settings.departments_dir / "scjgj" / "business_registry.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        secrets |= {rec["legal_person_id"], rec["legal_person_name"]}
    secrets.discard("")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    con.execute("CREATE TEMP TABLE secrets AS SELECT unnest(?) AS v", [sorted(secrets)])
    columns = con.execute(
        """SELECT table_schema, table_name, column_name FROM information_schema.columns
           WHERE table_schema IN ('standard', 'base', 'theme', 'collab', 'shared') AND data_type = 'VARCHAR'"""
    ).fetchall()
    assert len(columns) > 20
    leaks = []
    for schema, table, column in columns:
        (n,) = con.execute(
            f'SELECT count(*) FROM {schema}."{table}" t JOIN secrets s ON t."{column}" = s.v'
        ).fetchone()
        if n:
            leaks.append((schema, table, column, n))
    (masked,) = con.execute(
        "SELECT count(*) FROM shared.theme_city_cases__case WHERE regexp_full_match(reporter_phone, '1[3-9][0-9]\\*{4}[0-9]{4}')"
    ).fetchone()
    con.close()
    assert leaks == []
    assert masked > 0


def test_directory_has_an_entry_per_published_table_with_sharing_type_and_items(run):
    settings, _ = run
    doc = json.loads((settings.directory_dir / "directory.json").read_text(encoding="utf-8"))
    published = {e["table"]: e for e in doc["共享数据资源目录"] if e["kind"] == "shared"}
    names = _published(settings, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shared'")
    tables = {f"shared.{t}" for (t,) in names}
    assert set(published) == tables
    assert len(tables) == len(load_contracts(settings, kind="shared")) >= 3
    collab = published["shared.collab_storefront_order__street_day"]
    assert collab["共享属性"]["共享类型"] == "无条件共享"
    assert published["shared.theme_city_cases__case"]["共享属性"]["共享类型"] == "有条件共享"
    items = {i["name"]: i for i in collab["信息项信息"]}
    assert items["stat_date"]["数据类型"] == "D" and items["registered_shops"]["数据类型"] == "I"
    assert collab["信息资源提供方"] == "重庆市城市运行和治理中心"
    assert len(collab["关联资源代码"]) == 2


def test_broken_batch_is_blocked_and_published_tables_are_unchanged(run):
    settings, _ = run
    before = _published(settings, "SELECT table_name, max(version) FROM meta.publications GROUP BY 1 ORDER BY 1")
    raw_before = _published(settings, "SELECT count(*) FROM raw.cgj__city_cases")
    day = DAYS[-1] + dt.timedelta(days=1)
    src = settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{DAYS[-1]}.csv"
    with src.open(encoding="utf-8") as fh:
        rows = [{k: v for k, v in r.items() if k != "上报人电话"} for r in csv.DictReader(fh)]
    broken = settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{day}.csv"
    with broken.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    result = run_dag("ingest__cgj__city_cases", day, settings)
    assert not result.ok
    assert "缺少字段 reporter_phone" in result.output and "column_present:reporter_phone" in result.output
    status = _published(settings, "SELECT status, reason FROM meta.batches WHERE load_date = ?", [day])
    assert status and status[0][0] == "blocked" and "reporter_phone" in status[0][1]
    assert _published(settings, "SELECT count(*) FROM raw.cgj__city_cases") == raw_before
    assert _published(settings, "SELECT count(*) FROM raw.cgj__city_cases WHERE _load_date = ?", [day]) == [(0,)]

    assert run_dag("build_and_publish", day, settings).ok
    after = _published(settings, "SELECT table_name, max(version) FROM meta.publications GROUP BY 1 ORDER BY 1")
    assert after == before


def test_rerunning_a_day_lands_the_same_batch_and_publishes_nothing_new(run):
    settings, _ = run
    before = _published(settings, "SELECT table_name, version, content_hash FROM meta.publications ORDER BY 1, 2")
    batches = _published(settings, "SELECT count(*) FROM meta.batches")
    with __import__("cityshare.simulate.api", fromlist=["x"]).start_api_server(settings):
        assert run_dag("ingest__scjgj__business_registry", DAYS[0], settings).ok
    assert _published(settings, "SELECT count(*) FROM meta.batches") == batches
    assert run_dag("build_and_publish", DAYS[-1], settings).ok
    assert _published(settings, "SELECT table_name, version, content_hash FROM meta.publications ORDER BY 1, 2") == before
