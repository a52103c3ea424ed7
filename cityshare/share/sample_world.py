"""A small self-contained share world (contracts, warehouse, snapshots, directory) for tests and bench.

Builds in well under a second without dbt: three published tables, one per sharing type —
法人单位 (无条件共享, 市场监管局), 城市管理案件 (有条件共享, 城管局, masked phone) and 高龄独居老人
(不予共享, 民政局) — with their Parquet snapshots, meta.publications and meta.quality_results rows.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import yaml

from cityshare.settings import PROJECT_ROOT, Settings

ELDERLY_CONTRACT = {
    "apiVersion": "v3.1.0", "kind": "DataContract", "id": "urn:cityshare:contract:shared:elderly_alone",
    "name": "高龄独居老人关爱名册", "version": "1.0.0", "status": "active", "domain": "shared",
    "description": {"purpose": "街道高龄独居老人名册与智能设备告警统计，含敏感个人信息。", "usage": "民政部门关爱服务。"},
    "team": {"name": "mzj", "description": "重庆市民政局"},
    "schema": [{"name": "elderly_alone", "physicalName": "theme_elderly_alone__person", "physicalType": "table",
                "properties": [
                    {"name": "person_token", "businessName": "人员令牌", "logicalType": "string", "physicalType": "VARCHAR",
                     "primaryKey": True, "primaryKeyPosition": 1, "classification": "pii-token"},
                    {"name": "person_name", "businessName": "姓名（脱敏）", "logicalType": "string",
                     "physicalType": "VARCHAR", "classification": "pii-masked",
                     "customProperties": [{"property": "masking", "value": "person_name"}]},
                    {"name": "street_code", "businessName": "街道代码", "logicalType": "string", "physicalType": "VARCHAR"},
                    {"name": "age", "businessName": "年龄", "logicalType": "integer", "physicalType": "INTEGER"},
                    {"name": "alerts_30d", "businessName": "近30日告警次数", "logicalType": "integer",
                     "physicalType": "BIGINT"}]}],
    "customProperties": [
        {"property": "sharingType", "value": "不予共享"},
        {"property": "legalBasis", "value": "《中华人民共和国个人信息保护法》第二十八条（敏感个人信息）"},
        {"property": "sharingMethod", "value": "共享平台/接口"}, {"property": "openType", "value": "不予开放"},
        {"property": "updateCycle", "value": "每月"}, {"property": "classification", "value": "2/03/901"}],
}

# The district whose rows a world holds: a 区县 instance's own (so two districts' data differ when a city combines
# them), else 南岸区. Area code → (district, the street named in the rows).
SAMPLE_DISTRICTS = {"500108": ("南岸区", "南坪街道"), "500112": ("渝北区", "双龙湖街道")}
DEFAULT_SAMPLE_DISTRICT = "500108"

TABLE_SQL = {
    "base_legal_entity": """
        SELECT printf('91{area}MA%08d', i) AS uscc,
               '重庆市{area_name}' || (['鸿福','顺意','嘉禾','山城'])[1 + i % 4] || '商贸有限公司' || i AS entity_name,
               (['有限责任公司','个体工商户'])[1 + i % 2] AS entity_type,
               (['批发和零售业','住宿和餐饮业'])[1 + i % 2] AS industry,
               '张*' || i % 10 AS legal_person_name, '{area}********' || printf('%03d', i % 1000) || 'X' AS legal_person_id,
               md5('p' || i) AS legal_person_token, '{area}' AS area_code, '{area_name}' AS area_name,
               printf('{area}%03d', 1 + i % 12) AS street_code, '{street_name}' AS street_name, '{street_name}' AS address,
               DATE '2015-01-01' + CAST(i % 3000 AS INTEGER) AS registered_on, '存续' AS status,
               TIMESTAMP '2026-11-25 08:00:00' + INTERVAL (i % 600) MINUTE AS updated_at
        FROM range({n}) t(i)""",
    "theme_city_cases__case": """
        SELECT printf('CASE%08d', i) AS case_id, '01' AS event_major_code, '市容环境' AS event_major_name,
               printf('01%02d', 1 + i % 9) AS event_class_code,
               (['店外经营','占道经营','乱堆物料'])[1 + i % 3] AS event_class_name,
               '{area}' AS area_code, '{area_name}' AS area_name, printf('{area}%03d', 1 + i % 12) AS street_code,
               '{street_name}' AS street_name, '{street_name}' || i || '号' AS address,
               printf('91{area}MA%08d', i % 97) AS shop_uscc,
               '商户' || i % 97 AS shop_name, TIMESTAMP '2026-11-25 08:00:00' + INTERVAL (i) MINUTE AS reported_at,
               CASE WHEN i % 3 = 0 THEN NULL ELSE TIMESTAMP '2026-11-25 12:00:00' + INTERVAL (i) MINUTE END AS closed_at,
               CASE WHEN i % 3 = 0 THEN '处置中' ELSE '已结案' END AS status, i % 3 <> 0 AS is_closed,
               CASE WHEN i % 3 = 0 THEN NULL ELSE 4.0 + (i % 50) / 10.0 END AS handling_hours,
               (['监督员上报','市民热线'])[1 + i % 2] AS report_channel,
               '138****' || printf('%04d', i % 10000) AS reporter_phone, md5('r' || i) AS reporter_token
        FROM range({n}) t(i)""",
    "theme_elderly_alone__person": """
        SELECT md5('e' || i) AS person_token, '李*' AS person_name, printf('{area}%03d', 1 + i % 12) AS street_code,
               CAST(80 + i % 20 AS INTEGER) AS age, CAST(i % 7 AS BIGINT) AS alerts_30d
        FROM range({n}) t(i)""",
}


# 数字城管街道月度综合评价 (the city's upward report, 上报指标): street × month; one district's streets, grades A–E.
EVALUATION_SQL = """
    SELECT printf('{area}%03d', 1 + i % 12) AS street_code,
           CAST(DATE '2026-06-01' + INTERVAL (i // 12) MONTH AS DATE) AS stat_month,
           '{street_name}' AS street_name, '{area}' AS area_code, '{area_name}' AS area_name, CAST(10 + i % 7 AS BIGINT) AS cases,
           CAST(8 AS BIGINT) AS should_dispose, CAST(8 AS BIGINT) AS disposed, CAST(i % 9 AS BIGINT) AS disposed_on_time,
           CAST(8 AS BIGINT) AS should_close, CAST(8 AS BIGINT) AS closed, CAST(i % 9 AS BIGINT) AS closed_on_time,
           CAST(0 AS BIGINT) AS reworked, 100.0 AS disposal_rate, 12.5 * (i % 9) AS on_time_disposal_rate,
           100.0 AS closure_rate, 12.5 * (i % 9) AS on_time_closure_rate, 0.0 AS rework_rate,
           40.0 + 7.5 * (i % 9) AS composite_score,
           CASE WHEN 40.0 + 7.5 * (i % 9) >= 90 THEN 'A' WHEN 40.0 + 7.5 * (i % 9) >= 75 THEN 'B'
                WHEN 40.0 + 7.5 * (i % 9) >= 60 THEN 'C' ELSE 'D' END AS grade
    FROM range({n}) t(i)"""


def build_world(root: Path, rows: int = 40, token_key: str | None = None, evaluation: bool = False,
                layers: bool = False, **identity: Any) -> Settings:
    """Create ``root/home`` (catalog + contracts) and ``root/data`` (warehouse, snapshots, directory);
    the token key is random unless given; ``evaluation`` adds the published city-management evaluation
    (``collab_city_evaluation__street_month``, the table a city reports upward); ``layers`` keeps each table in its
    layer schema too (``base``/``theme``/``collab``), as a build leaves it, so that a ``cityshare build`` of models
    added to this home audits them and finds them unchanged instead of "not built"; ``identity``:
    ``instance_level/_area/_name`` settings (a 区县 instance's rows are of its own district, SAMPLE_DISTRICTS)."""
    import secrets

    import duckdb

    from cityshare.contracts.model import load_contract
    from cityshare.directory.builder import build_directory
    from cityshare.meta.publications import record_publication
    from cityshare.meta.quality import insert_results
    from cityshare.meta.schema import DDL
    from cityshare.publish import content_digest

    area = identity.get("instance_area", DEFAULT_SAMPLE_DISTRICT) if identity.get("instance_level") == "区县" \
        else DEFAULT_SAMPLE_DISTRICT
    if area not in SAMPLE_DISTRICTS:
        raise ValueError(f"no sample rows for district {area}: a sample 区县 world is one of {', '.join(SAMPLE_DISTRICTS)}")
    names = {"area": area, "area_name": SAMPLE_DISTRICTS[area][0], "street_name": SAMPLE_DISTRICTS[area][1]}
    home, data = root / "home", root / "data"
    (home / "contracts" / "shared").mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "catalog", home / "catalog", dirs_exist_ok=True)
    scheme_path = home / "catalog" / "classification.yml"
    scheme = yaml.safe_load(scheme_path.read_text(encoding="utf-8"))
    scheme.setdefault("subjects", {})["2/03/901"] = "高龄独居老人关爱（示例）"
    scheme_path.write_text(yaml.safe_dump(scheme, allow_unicode=True), encoding="utf-8")
    shared = ["legal_entity", "city_cases", *(["city_evaluation_street_month"] if evaluation else [])]
    for name in shared:
        shutil.copy(PROJECT_ROOT / "contracts" / "shared" / f"{name}.odcs.yaml", home / "contracts" / "shared")
    (home / "contracts" / "shared" / "elderly_alone.odcs.yaml").write_text(
        yaml.safe_dump(ELDERLY_CONTRACT, allow_unicode=True, sort_keys=False), encoding="utf-8")
    settings = Settings(project_root=home, data_dir=data, token_key=token_key or secrets.token_urlsafe(32),
                        sim_api_token="unused", sim_api_port=0, **identity)
    data.mkdir(parents=True, exist_ok=True)
    now = dt.datetime(2026, 11, 27, 6, 0, 0)
    contracts = {c.model_name: c for c in map(load_contract, sorted((home / "contracts" / "shared").glob("*.yaml")))}
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(DDL)
        tables = {**TABLE_SQL, **({"collab_city_evaluation__street_month": EVALUATION_SQL} if evaluation else {})}
        for table, sql in tables.items():
            con.execute(f'CREATE OR REPLACE TABLE shared."{table}" AS {sql.format(n=rows, **names)}')
            snapshot = settings.exports_dir / "shared" / table / "version=1" / f"{table}.parquet"
            staged = settings.exports_dir / ".staging" / f"{table}.parquet"  # outside version=1: no hive column
            for folder in (snapshot.parent, staged.parent):
                folder.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY shared.\"{table}\" TO '{staged}' (FORMAT parquet)")
            _, digest = content_digest(con, staged, contracts[table])  # what an audit of the same rows computes
            staged.replace(snapshot)
            record_publication(con, table, 1, rows=rows, content_hash=digest, snapshot_path=str(snapshot),
                               published_at=now)
            if layers:
                layer = table.split("_")[0]  # base_…, theme_…, collab_…: the schema dbt builds the model in
                con.execute(f'CREATE SCHEMA IF NOT EXISTS {layer}; '
                            f'CREATE TABLE {layer}."{table}" AS SELECT * FROM shared."{table}"')
        for key in [*(f"shared/{name}" for name in shared), "shared/elderly_alone"]:
            insert_results(con, [[key, "h", "audit", "table_not_empty", "batch", None, "completeness", "完整性",
                                  "发布表不得为空", rows, 0, True, None, now]])
    finally:
        con.close()
    build_directory(settings)
    return settings
