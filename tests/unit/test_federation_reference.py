"""下发参考数据: a city instance serves its code lists over HTTP, a district pulls them (signed, checked, versioned)
and its next build uses them in place of its seeds."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml
from federation_support import serving

from cityshare import code_lists
from cityshare.errors import CityShareError, GateBlocked, SourceError
from cityshare.federation import reference
from cityshare.instance import reference_sources
from cityshare.settings import PROJECT_ROOT, Settings, get_settings
from cityshare.share import audit
from cityshare.share.federation import code_list_doc

SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"
NEW_STREET = "500108099,测试新设街道,500108,50,5001"


def _city(tmp_path: Path) -> Settings:
    """The 重庆市 instance with its own seeds: one new 南岸区 street, 南坪街道 renamed, one event class renamed."""
    home = tmp_path / "city" / "home"
    shutil.copytree(PROJECT_ROOT / "catalog", home / "catalog")
    seeds = home / "dbt_project" / "seeds"
    shutil.copytree(SEEDS, seeds)
    streets = (seeds / "chongqing_streets.csv").read_text(encoding="utf-8").replace('"南坪街道"', '"南坪新区街道"')
    (seeds / "chongqing_streets.csv").write_text(streets + NEW_STREET + "\n", encoding="utf-8")
    classes = (seeds / "event_classes.csv").read_text(encoding="utf-8").replace("0104,道路不洁", "0104,道路不洁净")
    (seeds / "event_classes.csv").write_text(classes, encoding="utf-8")
    return dataclasses.replace(get_settings(), project_root=home, data_dir=tmp_path / "city" / "data")


def _district(tmp_path: Path, endpoint: str, with_dbt: bool = False, **entry: object) -> Settings:
    """The 南岸区 instance receiving the city's code lists (``reference`` entry ``chongqing``)."""
    home = tmp_path / "nanan" / "home"
    shutil.copytree(PROJECT_ROOT / "catalog", home / "catalog")
    if with_dbt:  # a full project to build
        shutil.copytree(PROJECT_ROOT / "contracts", home / "contracts")
        shutil.copytree(PROJECT_ROOT / "dbt_project", home / "dbt_project",
                        ignore=shutil.ignore_patterns("_generated", "target", "logs", "dbt_packages", ".user.yml"))
    (home / "catalog" / "federation.yml").write_text(yaml.safe_dump({"reference": [
        {"name": "chongqing", "endpoint": endpoint, "level": "市", "area": "500000", **entry}]}, allow_unicode=True),
        encoding="utf-8")
    return dataclasses.replace(get_settings(), project_root=home, data_dir=tmp_path / "nanan" / "data",
                               instance_level="区县", instance_area="500108", instance_name="南岸区城市运行和治理中心")


def _by_list(result: dict[str, object]) -> dict[str, dict[str, object]]:
    return {r["code_list"]: r for r in result["lists"]}  # type: ignore[attr-defined, index]


def test_a_district_receives_the_city_code_lists_once(tmp_path: Path) -> None:
    city = _city(tmp_path)
    with serving(city) as url:
        district = _district(tmp_path, url)
        first = _by_list(reference.pull("chongqing", district))
        again = _by_list(reference.pull("chongqing", district))
    streets = first["chongqing_streets"]
    assert (streets["status"], streets["local_version"], streets["added"], streets["removed"], streets["changed"]) == (
        "new", 1, 1, 0, 1)
    assert (first["event_classes"]["added"], first["event_classes"]["changed"]) == (0, 1)
    assert first["chongqing_areas"]["added"] == first["chongqing_areas"]["changed"] == 0  # same list, now received
    assert {r["status"] for r in again.values()} == {"unchanged"}  # nothing new: no version, nothing rewritten
    in_use = code_lists.code_list_path(district, "chongqing_streets").read_text(encoding="utf-8")
    assert NEW_STREET in in_use and '"南坪街道"' not in in_use and "南坪新区街道" in in_use
    state = {r["code_list"]: r for r in code_lists.status(district)}
    assert state["chongqing_streets"]["in_use"] == "received" and state["chongqing_streets"]["local_version"] == 1
    assert state["chongqing_streets"]["origin"] == city.instance_name and state["chongqing_streets"]["source"] == "chongqing"
    assert state["chongqing_streets"]["version"] == streets["version"]
    assert code_lists.received_lists(district)["chongqing_streets"].endswith("federation/reference/chongqing_streets.csv")
    received = [r for r in audit.entries(district, 20) if r["action"] == "federation.reference"]
    assert len(received) == len(code_lists.CODE_LISTS) and {r["status"] for r in received} == {200}
    # cascading further down, the list keeps its first origin (the city), served by the district
    passed_on = code_list_doc(district, "chongqing_streets")["receipt"]
    assert passed_on["origin"]["area"] == "500000" and passed_on["sha256"] == \
        code_list_doc(city, "chongqing_streets")["receipt"]["sha256"]


def test_the_portal_shows_each_code_list_in_use_and_where_it_came_from(tmp_path: Path) -> None:
    import re

    import httpx

    city = _city(tmp_path)
    with serving(city) as url:
        district = _district(tmp_path, url, lists=["chongqing_streets"])
        reference.pull("chongqing", district)
        with serving(district) as mine:
            listing = httpx.get(f"{mine}/reference")
            streets = httpx.get(f"{mine}/reference", params={"name": "chongqing_streets"})
            unknown = httpx.get(f"{mine}/reference", params={"name": "no_such_list"})
    rows = {re.sub(r"<[^>]+>", "", r.split("</td>")[0]): r for r in listing.text.split("<tr><td>")[1:]}
    assert listing.status_code == 200 and set(rows) == set(code_lists.CODE_LISTS.values())
    received = rows["街道乡镇代码（统计用区划代码）"]
    assert "上级平台下发（本地第 1 版）" in received and city.instance_name in received
    assert re.search(r"<td>20\d\d-\d\d-\d\d \d\d:\d\d:\d\d</td>", received)  # Beijing time, to the second
    assert "本平台自带" in rows["区县代码（GB/T 2260）"]  # not pulled: the district's own seed
    assert "received" not in listing.text and "seed" not in listing.text  # no English states on the page
    assert streets.status_code == 200 and "<th>代码</th><th>名称</th><th>区县代码</th>" in streets.text
    assert "测试新设街道" in streets.text and "南坪新区街道" in streets.text  # the city's list, not the seed
    assert unknown.status_code == 404 and "没有名为「no_such_list」的代码表" in unknown.text


def test_a_second_change_is_the_next_version_and_a_foreign_key_replaces_nothing(tmp_path: Path) -> None:
    city = _city(tmp_path)
    with serving(city) as url:
        district = _district(tmp_path, url, lists=["chongqing_streets"])
        reference.pull("chongqing", district)
        seed = city.dbt_project_dir / "seeds" / "chongqing_streets.csv"
        seed.write_text(seed.read_text(encoding="utf-8").replace(NEW_STREET + "\n", ""), encoding="utf-8")
        (second,) = reference.pull("chongqing", district)["lists"]  # type: ignore[misc]
        assert (second["local_version"], second["added"], second["removed"]) == (2, 0, 1)
        pinned = _district(tmp_path / "other", url, receiptKeyId="0000000000000000")
        with pytest.raises(SourceError, match=r"reference chongqing\.receiptKeyId: 提供方公钥 .* 与锁定的 0000000000000000 "
                                              r"不符；nothing replaced"):
            reference.pull("chongqing", pinned)
    assert code_lists.current(pinned, "chongqing_streets") is None


def test_every_bad_list_is_refused_naming_why(tmp_path: Path) -> None:
    from cityshare.share.receipts import public_key_pem, sign

    city = _city(tmp_path)
    district = _district(tmp_path, "http://127.0.0.1:9")
    pem = public_key_pem(city)
    doc = code_list_doc(city, "event_classes")
    assert reference.list_problems(doc, "event_classes", pem, district) == []
    changed = {**doc, "csv": doc["csv"].replace("道路不洁净", "道路不洁")}
    assert reference.list_problems(changed, "event_classes", pem, district) == ["文件哈希或大小与签名内容不符"]
    other = public_key_pem(dataclasses.replace(city, data_dir=tmp_path / "mallory"))
    assert reference.list_problems(doc, "event_classes", other, district)[0].startswith("签名无效")
    assert "代码表不符" in reference.list_problems(doc, "chongqing_areas", pem, district)[0]

    def signed(text: str) -> dict[str, object]:
        import hashlib

        data = text.encode()
        return {**sign(city, {"code_list": "event_classes", "sha256": hashlib.sha256(data).hexdigest(),
                              "bytes": len(data), "origin": {}}), "csv": text}

    header = "code,name,major_code,major_name,disposal_hours\n"
    assert reference.list_problems(signed(header + "0101,a,01,b,4\n0101,c,01,b,4\n"), "event_classes", pem, district) \
        == ["代码重复：0101"]
    assert reference.list_problems(signed(header), "event_classes", pem, district)[0].startswith("代码为空")
    assert reference.list_problems(signed("code,name\n0101,a\n"), "event_classes", pem, district)[0].startswith(
        "列不符：收到 code,name，本平台 event_classes 为 code,name,major_code,major_name,disposal_hours")
    refused = {"source": "chongqing", "endpoint": "http://x", "lists": [
        {"code_list": "event_classes", "status": "refused", "problems": ["代码重复：0101"]}]}
    with pytest.raises(GateBlocked, match="event_classes: 代码重复：0101"):
        reference.raise_if_refused(refused)


@pytest.mark.parametrize(("entry", "says"), [
    ({"level": "区县", "area": "500112"}, "must be a level above"),
    ({"lists": ["service_limits"]}, "lists: a list of code lists out of"),
    ({"area": "500199"}, "not a GB/T 2260 code"),
])
def test_reference_entries_are_checked(tmp_path: Path, entry: dict[str, object], says: str) -> None:
    home = tmp_path / "home"
    shutil.copytree(PROJECT_ROOT / "catalog", home / "catalog")
    (home / "catalog" / "federation.yml").write_text(yaml.safe_dump({"reference": [
        {"name": "chongqing", "endpoint": "http://x", "level": "市", "area": "500000", **entry}]}), encoding="utf-8")
    district = dataclasses.replace(get_settings(), project_root=home, instance_level="区县", instance_area="500108")
    with pytest.raises(CityShareError, match=says) as exc:
        reference_sources(district)
    assert "federation.yml: reference[0]" in str(exc.value)


@pytest.mark.slow
def test_a_code_changed_at_the_city_reaches_the_district_build(tmp_path: Path) -> None:
    """One pull and one build: the city's new street and renamed street and event class are in the district's
    layers (seed table, 基础库), and the next build without a new list builds nothing."""
    import duckdb

    from cityshare.transform import build

    city = _city(tmp_path)
    with serving(city) as url:
        district = _district(tmp_path, url, with_dbt=True)
        reference.pull("chongqing", district)
    summary = build(district)
    assert not summary["failed"], summary["failed"]
    con = duckdb.connect(str(district.warehouse_path), read_only=True)
    try:
        streets = dict(con.execute("SELECT street_code, street_name FROM base.base_streets "
                                   "WHERE street_code IN ('500108003', '500108099')").fetchall())
        event = con.execute("SELECT name, disposal_hours FROM ref.event_classes WHERE code = '0104'").fetchone()
    finally:
        con.close()
    assert streets == {"500108003": "南坪新区街道", "500108099": "测试新设街道"}
    assert event == ("道路不洁净", 4)  # the seed's column types stay
    assert build(district)["nothing_built"]


def test_the_gate_checks_street_codes_against_the_received_list(tmp_path: Path) -> None:
    """A street the city created is a valid code at the district's gate once its list is received (before: not)."""
    import datetime as dt

    import duckdb

    from cityshare.contracts.model import load_contract
    from cityshare.contracts.rules import GateContext, compile_rules

    received = tmp_path / "chongqing_streets.csv"
    received.write_text((SEEDS / "chongqing_streets.csv").read_text(encoding="utf-8") + NEW_STREET + "\n",
                        encoding="utf-8")
    contract = load_contract(PROJECT_ROOT / "contracts" / "cgj" / "city_cases.odcs.yaml")

    def bad(ctx: GateContext) -> int:
        (rule,) = [r for r in compile_rules(contract, ctx=ctx) if r.name == "street_code_valid"]
        with duckdb.connect() as con:
            row = con.execute(f"SELECT count(*) FROM (SELECT '500108099' AS street_code) WHERE {rule.predicate}")
            return int(row.fetchone()[0])  # type: ignore[index]

    day = dt.date(2026, 12, 1)
    assert bad(GateContext(day)) == 1
    assert bad(GateContext(day, code_lists={"chongqing_streets": str(received)})) == 0


def test_an_unreachable_higher_instance_replaces_nothing(tmp_path: Path) -> None:
    district = _district(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:9/api/federation/identity: 提供方平台不可达.*; nothing replaced"):
        reference.pull("chongqing", district)
    assert code_lists.received_lists(district) == {} and not (district.data_dir / "federation" / "reference").exists()
