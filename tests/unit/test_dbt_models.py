"""Builds the real dbt project (dbtRunner, in-process) on a tmp warehouse with hand-made raw rows.

The project is copied to tmp_path first (nothing is written into the repo); the generated sources and
published-contract yml that `cityshare contracts compile` would render are written into the copy.
One `dbt build` for the whole module; every expected number below is computed by hand from RAWS.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import secrets
import shutil
from pathlib import Path

import pytest

from cityshare.contracts.model import load_contracts
from cityshare.identifiers import complete_uscc, id_check_digit
from cityshare.privacy import keyed_token
from cityshare.raw_views import refresh_raw_view
from cityshare.settings import get_settings
from cityshare.transform import render_dbt_files
from cityshare.warehouse import connect

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
TOKEN_KEY = secrets.token_urlsafe(32)  # a key of this run only (known defaults are refused)

CASE_COLUMNS = [
    "case_id", "event_class_code", "event_class_name", "area_code", "street_code", "address",
    "description", "shop_uscc", "reported_at", "closed_at", "status", "report_channel", "reporter_phone",
]  # fmt: skip
REGISTRY_COLUMNS = [
    "uscc", "entity_name", "entity_type", "industry", "legal_person_name", "legal_person_id",
    "area_code", "street_code", "address", "registered_on", "status", "updated_at",
]  # fmt: skip

def uscc(body: str) -> str:
    """A valid 统一社会信用代码 (GB 32100) from a 17-character body: authority, category and region
    (characters 1-8), then the last 8 as the organization code, completed with both check characters."""
    return complete_uscc(body[:8] + body[9:])


def id_number(body: str) -> str:
    """A valid 居民身份证号 (GB 11643) from its first 17 digits."""
    return body + id_check_digit(body)


NANPING, JIEFANGBEI, LIANGSHAN = "500108003", "500103003", "500155001"  # 南坪街道, 解放碑街道, 梁山街道
B1 = uscc("91500108MA5U10001")  # 餐饮 南坪, two versions (name changed)
B2 = uscc("92500108MA5U10002")  # 餐饮 南坪, latest version (by updated_at, loaded earlier) is 注销
B3 = uscc("92500108MA5U10003")  # 零售 南坪, registered 2026-11-25 (counts from that day only)
B4 = uscc("92500108MA5U10004")  # 住宿 南坪 (not a storefront industry)
B5 = uscc("92500228MA5U10005")  # 餐饮, legacy 梁平县 codes 500228 / 500228001
B6 = uscc("92500103MA5U10006")  # 餐饮 解放碑, 吊销
UNKNOWN_SHOP = uscc("92500108MA5U19999")  # named on a case, not in the registry

ID1 = id_number("50010819800101123")
ID2 = id_number("50010819751231002")
ID3 = id_number("50022819900615456")
PHONE1, PHONE2, PHONE3 = "13812345678", "13900001111", "15023456789"

LOAD_META = [("_load_id", "VARCHAR"), ("_loaded_at", "TIMESTAMP"), ("_source", "VARCHAR"),
             ("_row_hash", "VARCHAR"), ("_load_date", "DATE"), ("_batch_seq", "BIGINT")]  # fmt: skip
LOAD1 = ("2026-11-24 02:00:00", "2026-11-24")
LOAD2 = ("2026-11-25 02:00:00", "2026-11-25")


def _reg(code, name, industry, person, pid, area, street, address, registered, status, updated):
    values = [code, name, "个体工商户", industry, person, pid, area, street, address, registered, status,
              updated]  # fmt: skip
    return dict(zip(REGISTRY_COLUMNS, values, strict=True))


def _case(case_id, klass, area, street, shop, reported, closed, status, phone):
    names = {"0502": "店外经营", "502": "店外经营", "0503": "机动车乱停放"}
    values = [case_id, klass, names[klass], area, street, "南坪步行街门前", "占道经营", shop,
              reported, closed, status, "监督员", phone]  # fmt: skip
    return dict(zip(CASE_COLUMNS, values, strict=True))


REGISTRY_ROWS = [  # (load, row)
    (LOAD1, _reg(B1, "南坪老火锅店", "餐饮", "张三丰", ID1, "500108", NANPING,
                 "重庆市南岸区南坪街道南坪西路23号", "2020-05-01", "存续", "2026-11-20 10:00:00")),
    (LOAD2, _reg(B1, "南坪老火锅（南坪店）", "餐饮", "张三丰", ID1, "500108", NANPING,
                 "重庆市南岸区南坪街道南坪西路23号", "2020-05-01", "存续", "2026-11-24 09:00:00")),
    (LOAD1, _reg(B2, "李记小面", "餐饮", "李四", ID2, "500108", NANPING,
                 "南岸区南坪街道万寿路8号", "2018-03-15", "注销", "2026-11-23 08:00:00")),
    (LOAD2, _reg(B2, "李记小面", "餐饮", "李四", ID2, "500108", NANPING,
                 "南岸区南坪街道万寿路8号", "2018-03-15", "存续", "2026-11-10 08:00:00")),
    (LOAD2, _reg(B3, "南坪便利店", "零售", "欧阳娜娜", ID3, "500108", NANPING,
                 "南岸区南坪街道江南大道5号", "2026-11-25", "存续", "2026-11-25 01:00:00")),
    (LOAD1, _reg(B4, "南坪宾馆", "住宿", "王五", ID1, "500108", NANPING,
                 "南岸区南坪街道南城大道1号", "2015-01-01", "存续", "2026-11-01 08:00:00")),
    (LOAD1, _reg(B5, "梁山豆花饭", "餐饮", "赵六", ID3, "500228", "500228001",
                 "梁平县梁山街道人民路2号", "2019-07-07", "存续", "2026-11-02 08:00:00")),
    (LOAD1, _reg(B6, "解放碑串串", "餐饮", "孙七", ID2, "500103", JIEFANGBEI,
                 "八一路9号", "2017-02-02", "吊销", "2026-11-03 08:00:00")),
]  # fmt: skip

CASE_ROWS = [  # (load, row)
    # C1 reported twice: the copy from the later load (结案) wins
    (LOAD1, _case("CG20261124000001", "0502", "500108", NANPING, B1,
                  "2026-11-24 09:00:00", "", "派遣", PHONE1)),
    (LOAD2, _case("CG20261124000001", "0502", "500108", NANPING, B1,
                  "2026-11-24 09:00:00", "2026-11-24 11:30:00", "结案", PHONE1)),
    (LOAD1, _case("CG20261124000002", "0502", "500108", NANPING, UNKNOWN_SHOP,
                  "2026-11-24 14:00:00", None, "处置", "+86 139 0000 1111")),
    # C6: class code without its leading zero, legacy 梁平县 codes
    (LOAD1, _case("CG20261124000006", "502", "500228", "500228001", B5,
                  "2026-11-24 16:00:00", "2026-11-24 17:00:00", "结案", PHONE3)),
    (LOAD2, _case("CG20261125000003", "0502", "500108", NANPING, B3,
                  "2026-11-25 10:00:00", "2026-11-25 12:00:00", "结案", PHONE2)),
    (LOAD2, _case("CG20261125000004", "0503", "500108", NANPING, "",
                  "2026-11-25 11:00:00", "", "立案", None)),
    # C5: a phone number typed into the free-text description
    (LOAD2, {**_case("CG20261125000005", "0502", "500103", JIEFANGBEI, None,
                     "2026-11-25 08:00:00", "", "立案", PHONE1), "description": "店主电话13800001234"}),
]  # fmt: skip

# raw values that must not survive anywhere past raw (names, ID numbers, phones, house numbers)
RAW_PII = [ID1, ID2, ID3, PHONE1, PHONE2, PHONE3, "张三丰", "欧阳娜娜", "南坪西路23号", "万寿路8号",
           "八一路9号", "13800001234"]  # fmt: skip

PUBLISHED = {
    "base_legal_entity": [
        ("uscc", "VARCHAR"), ("entity_name", "VARCHAR"), ("entity_type", "VARCHAR"),
        ("industry", "VARCHAR"), ("legal_person_name", "VARCHAR"), ("legal_person_id", "VARCHAR"),
        ("legal_person_token", "VARCHAR"), ("area_code", "VARCHAR"), ("area_name", "VARCHAR"),
        ("street_code", "VARCHAR"), ("street_name", "VARCHAR"), ("address", "VARCHAR"),
        ("registered_on", "DATE"), ("status", "VARCHAR"), ("updated_at", "TIMESTAMP"),
    ],
    "theme_city_cases__case": [
        ("case_id", "VARCHAR"), ("event_major_code", "VARCHAR"), ("event_major_name", "VARCHAR"),
        ("event_class_code", "VARCHAR"), ("event_class_name", "VARCHAR"), ("area_code", "VARCHAR"),
        ("area_name", "VARCHAR"), ("street_code", "VARCHAR"), ("street_name", "VARCHAR"),
        ("address", "VARCHAR"), ("shop_uscc", "VARCHAR"), ("shop_name", "VARCHAR"),
        ("reported_at", "TIMESTAMP"), ("closed_at", "TIMESTAMP"), ("status", "VARCHAR"),
        ("is_closed", "BOOLEAN"), ("handling_hours", "DOUBLE"), ("report_channel", "VARCHAR"),
        ("reporter_phone", "VARCHAR"), ("reporter_token", "VARCHAR"),
    ],
    "collab_storefront_order__street_day": [
        ("street_code", "VARCHAR"), ("stat_date", "DATE"), ("street_name", "VARCHAR"),
        ("area_code", "VARCHAR"), ("area_name", "VARCHAR"), ("registered_shops", "BIGINT"),
        ("storefront_cases", "BIGINT"), ("cases_with_registered_shop", "BIGINT"),
        ("closed_cases", "BIGINT"), ("cases_per_100_shops", "DOUBLE"),
    ],
}  # fmt: skip


def write_raw_tables(warehouse: Path) -> None:
    """The two raw views as tables in schema raw: business columns VARCHAR + load metadata."""
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA raw")
        for table, columns, rows in (
            ("cgj__city_cases", CASE_COLUMNS, CASE_ROWS),
            ("scjgj__business_registry", REGISTRY_COLUMNS, REGISTRY_ROWS),
        ):
            business = ", ".join(f"{c} VARCHAR" for c in columns)
            meta = ", ".join(f"{name} {dtype}" for name, dtype in LOAD_META)
            con.execute(f"CREATE TABLE raw.{table} ({business}, {meta})")
            for (loaded_at, load_date), row in rows:
                values = [row[c] for c in columns]
                row_hash = hashlib.sha256("\x1f".join(str(v) for v in values).encode()).hexdigest()
                load_id = f"{table}-{load_date.replace('-', '')}"
                seq = 1 if load_date == LOAD1[1] else 2  # the warehouse's commit sequence of the batch
                con.execute(
                    f"INSERT INTO raw.{table} VALUES ({', '.join('?' * (len(columns) + len(LOAD_META)))})",
                    [*values, load_id, loaded_at, f"test:{table}", row_hash, load_date, seq],
                )


def dbt_args(command: str, project: Path, work: Path) -> list[str]:
    return [
        command,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def dbt_work(tmp_path_factory) -> Path:
    """The module's build directory: the project copy, the warehouse and dbt's artifacts (target/)."""
    return tmp_path_factory.mktemp("dbt")


@pytest.fixture(scope="module")
def warehouse(dbt_work):
    """Build the project once: yields a DuckDB connection to the built warehouse."""
    import duckdb
    from dbt.cli.main import dbtRunner

    work = dbt_work
    project = work / "dbt_project"
    shutil.copytree(PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "_generated"))
    path = work / "warehouse.duckdb"
    write_raw_tables(path)
    # Every other source contract gets its empty, typed raw view, exactly as a fresh warehouse has;
    # sources.yml and published.yml are rendered from the real contracts into the copy.
    settings = dataclasses.replace(get_settings(), data_dir=work)
    with connect(settings) as con:
        for contract in load_contracts(settings, kind="source"):
            if contract.raw_table not in ("cgj__city_cases", "scjgj__business_registry"):
                refresh_raw_view(con, contract, settings)
    render_dbt_files(settings, out=project / "models" / "_generated")

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CITYSHARE_WAREHOUSE", str(path))
        mp.setenv("CITYSHARE_TOKEN_KEY", TOKEN_KEY)
        result = dbtRunner().invoke(dbt_args("build", project, work))
    failed = [
        f"{r.node.unique_id}: {r.status} {r.message}"
        for r in (result.result or [])
        if str(r.status) not in ("success", "pass")
    ]
    assert result.success, f"dbt build failed: {result.exception or failed}"
    assert not failed

    # read_only: proves dbt released the file (profiles.yml keep_open: false)
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def rows(con, sql: str, params=None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_all_layers_built_in_their_schemas(warehouse):
    tables = {
        (r["table_schema"], r["table_name"])
        for r in rows(warehouse, "SELECT table_schema, table_name FROM information_schema.tables")
    }
    expected = {
        ("standard", "stg_cgj__city_cases"),
        ("standard", "stg_scjgj__business_registry"),
        ("base", "base_areas"),
        ("base", "base_streets"),
        ("base", "base_legal_entity"),
        ("theme", "theme_city_cases__case"),
        ("collab", "collab_storefront_order__street_day"),
        ("ref", "chongqing_areas"),
        ("ref", "event_classes"),
    }
    assert expected <= tables


def test_published_columns_match_contracts(warehouse):
    schema_of = {"base_legal_entity": "base", "theme_city_cases__case": "theme"}
    for model, columns in PUBLISHED.items():
        got = rows(
            warehouse,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema_of.get(model, "collab"), model],
        )
        assert [(r["column_name"], r["data_type"]) for r in got] == columns


def test_seed_codes_keep_leading_zeros(warehouse):
    (row,) = rows(warehouse, "SELECT code, major_code FROM ref.event_classes WHERE name = '店外经营'")
    assert row == {"code": "0502", "major_code": "05"}
    (street,) = rows(warehouse, "SELECT * FROM base.base_streets WHERE street_code = ?", [NANPING])
    assert street == {
        "street_code": NANPING,
        "street_name": "南坪街道",
        "area_code": "500108",
        "area_name": "南岸区",
        "street_type": "街道",
    }


def test_registry_latest_version_wins(warehouse):
    entities = {r["uscc"]: r for r in rows(warehouse, "SELECT * FROM base.base_legal_entity")}
    assert sorted(entities) == sorted([B1, B2, B3, B4, B5, B6])
    assert entities[B1]["entity_name"] == "南坪老火锅（南坪店）"
    # the later updated_at wins even though it arrived in the earlier load
    assert entities[B2]["status"] == "注销"
    assert str(entities[B1]["registered_on"]) == "2020-05-01"
    assert entities[B1]["street_name"] == "南坪街道"
    assert entities[B1]["area_name"] == "南岸区"


def test_registry_personal_data_masked(warehouse):
    (b1,) = rows(warehouse, "SELECT * FROM base.base_legal_entity WHERE uscc = ?", [B1])
    (b3,) = rows(warehouse, "SELECT * FROM base.base_legal_entity WHERE uscc = ?", [B3])
    assert b1["legal_person_name"] == "张**"
    assert b3["legal_person_name"] == "欧阳**"
    assert b1["legal_person_id"] == ID1[:6] + "********" + ID1[-4:]
    assert b1["legal_person_token"] == keyed_token(ID1, TOKEN_KEY)
    assert b1["address"] == "重庆市南岸区南坪街道"
    # an address with no street/county part keeps nothing
    (b6,) = rows(warehouse, "SELECT address FROM base.base_legal_entity WHERE uscc = ?", [B6])
    assert b6["address"] is None
    # the same person (ID1, also B4's legal person) gets the same token: joinable without the raw ID
    (b4,) = rows(warehouse, "SELECT legal_person_token FROM base.base_legal_entity WHERE uscc = ?", [B4])
    assert b4["legal_person_token"] == b1["legal_person_token"]


def test_legacy_area_codes_mapped(warehouse):
    (b5,) = rows(warehouse, "SELECT * FROM base.base_legal_entity WHERE uscc = ?", [B5])
    assert (b5["area_code"], b5["area_name"]) == ("500155", "梁平区")
    assert (b5["street_code"], b5["street_name"]) == (LIANGSHAN, "梁山街道")
    (c6,) = rows(warehouse, "SELECT * FROM theme.theme_city_cases__case WHERE case_id = 'CG20261124000006'")
    assert (c6["area_code"], c6["street_code"], c6["area_name"]) == ("500155", LIANGSHAN, "梁平区")
    assert c6["event_class_code"] == "0502"  # delivered as 502
    assert (c6["event_major_code"], c6["event_class_name"]) == ("05", "店外经营")
    assert c6["shop_name"] == "梁山豆花饭"


def test_cases_deduplicated_and_enriched(warehouse):
    cases = {r["case_id"]: r for r in rows(warehouse, "SELECT * FROM theme.theme_city_cases__case")}
    assert len(cases) == 6
    c1 = cases["CG20261124000001"]
    assert (c1["status"], c1["is_closed"], c1["handling_hours"]) == ("结案", True, 2.5)
    assert c1["shop_name"] == "南坪老火锅（南坪店）"
    assert c1["event_major_name"] == "街面秩序"
    assert c1["reporter_phone"] == "138****5678"
    assert c1["reporter_token"] == keyed_token(PHONE1, TOKEN_KEY)
    c2 = cases["CG20261124000002"]
    assert (c2["is_closed"], c2["handling_hours"], c2["closed_at"]) == (False, None, None)
    assert c2["shop_uscc"] == UNKNOWN_SHOP and c2["shop_name"] is None
    # "+86 139 0000 1111" normalized before masking and tokenizing
    assert c2["reporter_phone"] == "139****1111"
    assert c2["reporter_token"] == keyed_token(PHONE2, TOKEN_KEY)
    (c5,) = rows(warehouse, "SELECT description FROM standard.stg_cgj__city_cases WHERE case_id = ?",
                 ["CG20261125000005"])  # fmt: skip
    assert c5["description"] == "店主电话138****1234"
    c4 = cases["CG20261125000004"]
    assert c4["shop_uscc"] is None and c4["reporter_phone"] is None and c4["reporter_token"] is None


def test_no_raw_personal_data_downstream(warehouse):
    """Scan every VARCHAR column of every model schema for mobiles, ID numbers and raw values."""
    columns = rows(
        warehouse,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('standard', 'base', 'theme', 'collab') AND data_type = 'VARCHAR'",
    )
    assert len(columns) > 40
    mobile = r"(^|[^0-9])1[3-9][0-9]{9}([^0-9]|$)"
    id_no = r"(^|[^0-9])[0-9]{17}[0-9Xx]([^0-9]|$)"
    leaks = []
    for c in columns:
        col = f'"{c["column_name"]}"'
        table = f'"{c["table_schema"]}"."{c["table_name"]}"'
        checks = [f"contains({col}, ?)" for _ in RAW_PII]
        if not c["column_name"].endswith("_token"):  # 64 hex chars may contain digit runs by chance
            checks += [f"regexp_matches({col}, '{mobile}')", f"regexp_matches({col}, '{id_no}')"]
        hits = rows(warehouse, f"SELECT {col} AS v FROM {table} WHERE {' OR '.join(checks)}", RAW_PII)
        leaks += [(table, col, h["v"]) for h in hits]
    assert leaks == []
    tokens = rows(warehouse, "SELECT reporter_token AS t FROM theme.theme_city_cases__case")
    tokens = [t["t"] for t in tokens if t["t"] is not None]
    assert tokens and all(re.fullmatch("[0-9a-f]{64}", t) for t in tokens)


def test_storefront_street_day_counts(warehouse):
    got = {
        (r["street_code"], str(r["stat_date"])): r
        for r in rows(warehouse, "SELECT * FROM collab.collab_storefront_order__street_day")
    }
    # streets with a registered shop (南坪 B1/B3, 梁山 B5) or a storefront case (解放碑 C5) x case dates
    assert sorted(got) == sorted(
        (street, day) for street in (NANPING, JIEFANGBEI, LIANGSHAN) for day in ("2026-11-24", "2026-11-25")
    )

    def counts(street, day):
        r = got[(street, day)]
        keys = ("registered_shops", "storefront_cases", "cases_with_registered_shop", "closed_cases",
                "cases_per_100_shops")  # fmt: skip
        return tuple(r[k] for k in keys)

    # 南坪 11-24: shops B1 (B2 注销, B3 not yet registered, B4 住宿);
    # cases C1 (shop B1, 结案), C2 (unknown shop, open)
    assert counts(NANPING, "2026-11-24") == (1, 2, 1, 1, 200.0)
    # 南坪 11-25: shops B1 + B3; cases C3 (shop B3, 结案); C4 is 0503, not 店外经营
    assert counts(NANPING, "2026-11-25") == (2, 1, 1, 1, 50.0)
    # 解放碑: its only shop is 吊销 -> no shops, rate NULL
    assert counts(JIEFANGBEI, "2026-11-25") == (0, 1, 0, 0, None)
    assert counts(JIEFANGBEI, "2026-11-24") == (0, 0, 0, 0, None)
    # 梁山 (legacy codes mapped): shop B5, case C6 (code 502 -> 0502)
    assert counts(LIANGSHAN, "2026-11-24") == (1, 1, 1, 1, 100.0)
    assert counts(LIANGSHAN, "2026-11-25") == (1, 0, 0, 0, 0.0)
    r = got[(NANPING, "2026-11-24")]
    assert (r["street_name"], r["area_code"], r["area_name"]) == ("南坪街道", "500108", "南岸区")


def test_every_model_and_built_column_documented(warehouse, dbt_work):
    """Every model under models/ (hand-written or generated from contracts) has a description, and every column
    it was built with is documented with a non-empty description; no documented column is missing from the build.
    Reads the manifest of the module's build (no build of its own)."""
    manifest = json.loads((dbt_work / "target" / "manifest.json").read_text(encoding="utf-8"))
    built: dict[tuple[str, str], list[str]] = {}
    for r in rows(warehouse, "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                             "ORDER BY table_schema, table_name, ordinal_position"):  # fmt: skip
        built.setdefault((r["table_schema"], r["table_name"]), []).append(r["column_name"])
    models = [n for n in manifest["nodes"].values()
              if n["resource_type"] == "model" and n["original_file_path"].startswith("models/")]  # fmt: skip
    assert len(models) > 40
    problems = []
    for node in models:
        name, columns = node["name"], built.get((node["schema"], node["alias"]))
        if not (node.get("description") or "").strip():
            problems.append(f"{name}: no description")
        if columns is None:
            problems.append(f"{name}: not built as {node['schema']}.{node['alias']}")
            continue
        documented = {c: (doc.get("description") or "").strip() for c, doc in node["columns"].items()}
        problems += [f"{name}.{c}: undocumented" for c in columns if not documented.get(c)]
        problems += [f"{name}.{c}: documented but not built" for c in documented if c not in columns]
    assert problems == []
