"""Onboarding a department dataset = one contract file (plus its data): no code change.

A 水利局 river-level feed that no code has ever seen is dropped into a copy of the project; the DAG
factory picks it up, and both the package function and a real Airflow run (with a past logical date,
i.e. a backfill) land and gate it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from cityshare.dag_specs import ANY_RAW_BATCH

ROOT = Path(__file__).resolve().parents[2]
DAYS = (dt.date(2026, 3, 2), dt.date(2026, 3, 3))

CONTRACT = """\
# 河道水位 — 水利局水文站每日导出（CSV，GBK 编码）。
apiVersion: v3.1.0
kind: DataContract
id: urn:cityshare:contract:slj:river_levels
name: 河道水位监测
version: 1.0.0
status: active
domain: slj
dataProduct: river_levels
description:
  purpose: 水利局水文站每小时水位，支撑城市防汛。
  usage: 无条件共享。
  limitations: 水位为人工校核前数据。
tags: [水位, 防汛]
team:
  name: slj
  description: 重庆市水利局
  members:
    - username: slj-data
      name: 水利局数据管理员
      role: owner
servers:
  - server: hydrology-inbox
    type: local
    environment: prod
    path: "${CITYSHARE_DATA_DIR}/inbox/slj/river_levels/river_levels_{date}.csv"
    format: csv
    customProperties:
      - {property: encoding, value: auto}
slaProperties:
  - property: frequency
    value: 1
    unit: d
schema:
  - name: river_levels
    businessName: 河道水位
    physicalType: table
    description: 一行一个水文站的一次观测
    properties:
      - {name: station_id, businessName: 测站编码, logicalType: string, physicalType: VARCHAR(8), logicalTypeOptions: {maxLength: 8}, primaryKey: true, primaryKeyPosition: 1, required: true}
      - {name: observed_at, businessName: 观测时间, logicalType: timestamp, physicalType: TIMESTAMP, primaryKey: true, primaryKeyPosition: 2, required: true}
      - {name: level_m, businessName: 水位（米）, logicalType: number, physicalType: DOUBLE, required: true,
         logicalTypeOptions: {minimum: 150, maximum: 200}}
    quality:
      - {type: library, metric: rowCount, mustBeGreaterThan: 0, dimension: completeness, name: batch_not_empty, description: 批次不得为空}
customProperties:
  - {property: sharingType, value: 无条件共享}
  - {property: sharingMethod, value: 共享平台/接口}
  - {property: openType, value: 无条件开放}
  - {property: updateCycle, value: 每日}
  - {property: classification, value: "3/05/001"}
  - {property: classificationNames, value: 水利/河道水位}
  - {property: resourceFormat, value: 电子表格/csv}
  - {property: quarantineThreshold, value: 0.2}
"""  # noqa: E501 (flow-style YAML, as in contracts/)


@pytest.fixture
def project(tmp_path, monkeypatch):
    home = tmp_path / "home"
    for part in ("contracts", "catalog", "dbt_project", "dags"):
        shutil.copytree(ROOT / part, home / part, ignore=shutil.ignore_patterns("target", "logs", "__pycache__"))
    assert not (home / "contracts" / "slj").exists()  # a department the code has never seen a dataset of
    (home / "contracts" / "slj").mkdir()
    (home / "contracts" / "slj" / "river_levels.odcs.yaml").write_text(CONTRACT, encoding="utf-8")
    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    from cityshare.settings import get_settings

    settings = get_settings()
    for day in DAYS:
        path = settings.inbox_dir / "slj" / "river_levels" / f"river_levels_{day}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["测站编码,观测时间,水位（米）"] + [f"60105400,{day} {h:02d}:00:00,{172 + h / 10:.2f}" for h in range(24)]
        lines.append(f"60105500,{day} 08:00:00,999")  # a broken gauge: quarantined, the batch still passes
        path.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    return settings


def test_new_contract_lints_and_its_dag_appears(project, tmp_path):
    from cityshare.lint import lint_file

    assert lint_file(project.contracts_dir / "slj" / "river_levels.odcs.yaml", project) == []
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path / "airflow"))
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(project.project_root / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["ingest__slj__river_levels"]
    assert dag.max_active_runs == 1 and {"land", "gate"} <= {t.task_id for t in dag.tasks}
    assert all(t.retries >= 1 and t.owner == "slj" for t in dag.tasks)
    assert {o.uri for o in dag.get_task("gate").outlets} == {"cityshare://raw/slj/river_levels", ANY_RAW_BATCH}


def test_new_contract_lands_and_gates_three_times_one_batch(project):
    from cityshare.ingest import ingest

    results = [ingest("slj/river_levels", DAYS[0], project) for _ in range(3)]
    assert {r["load_id"] for r in results} == {results[0]["load_id"]}
    assert (results[0]["status"], results[0]["accepted"], results[0]["quarantined"]) == ("accepted", 24, 1)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    stats = con.execute("SELECT count(*), min(level_m), max(level_m) FROM raw.slj__river_levels").fetchone()
    assert stats == (24, "172.00", "174.30")
    assert con.execute("SELECT count(*) FROM meta.batches WHERE dataset = 'slj/river_levels'").fetchone() == (1,)
    con.close()


def test_a_dataset_that_may_be_empty_lands_a_header_only_day_as_an_empty_batch(project):
    """Without a row-count rule a day with nothing to report is a valid delivery: accepted, 0 rows, no crash."""
    from cityshare.ingest import ingest

    path = project.contracts_dir / "slj" / "river_levels.odcs.yaml"
    path.write_text("\n".join(line for line in CONTRACT.splitlines() if "batch_not_empty" not in line), encoding="utf-8")
    delivery = project.inbox_dir / "slj" / "river_levels" / f"river_levels_{DAYS[0]}.csv"
    delivery.write_bytes("测站编码,观测时间,水位（米）\n".encode("gb18030"))
    result = ingest("slj/river_levels", DAYS[0], project)
    assert (result["status"], result["rows"], result["accepted"], result["quarantined"]) == ("accepted", 0, 0, 0)


def test_airflow_runs_the_new_dag_for_a_past_date(project):
    """``airflow dags test`` with a past logical date: a backfill of one load date through Airflow."""
    from cityshare.orchestrate import init_airflow, run_dag

    init_airflow(project)
    run = run_dag("ingest__slj__river_levels", DAYS[1], project)
    assert run.ok, run.output[-2000:]
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    rows = con.execute("SELECT load_date, status, rows_accepted, rows_quarantined FROM meta.batches").fetchall()
    con.close()
    assert rows == [(DAYS[1], "accepted", 24, 1)]
