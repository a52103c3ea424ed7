"""Directory entries: classification, validation, stable unique codes, entry versions with changelog.

No dbt build needed: entries come from the contracts of a temp CITYSHARE_HOME copy and an empty
warehouse (counts 0, no publication yet).
"""

from __future__ import annotations

import json

import pytest
from test_directory_support import copy_home

from cityshare.directory.builder import build_directory
from cityshare.directory.document import load_entries
from cityshare.directory.validate import DirectoryInvalid, entry_problems
from cityshare.warehouse import connect


@pytest.fixture
def home(tmp_path):
    return copy_home(tmp_path / "home")


def _codes(entries):
    return {e["contract_id"]: e["信息资源代码"] for e in entries}


def _add_contract(settings, name="街道网格", dataset="street_grid", classification="2/10/001", cid=None):
    """A new published contract in the same classification as an existing one."""
    src = (settings.contracts_dir / "shared" / "storefront_order_street_day.odcs.yaml").read_text(encoding="utf-8")
    text = (src.replace("urn:cityshare:contract:shared:storefront_order_street_day",
                        cid or f"urn:cityshare:contract:shared:{dataset}")
            .replace("name: 门前三包店外经营街道日统计", f"name: {name}")
            .replace('value: "2/10/001"', f'value: "{classification}"'))
    (settings.contracts_dir / "shared" / f"{dataset}.odcs.yaml").write_text(text, encoding="utf-8")


def test_every_repository_contract_yields_a_valid_entry(settings):
    """The real contracts/ and catalog/ (empty warehouse): a build validates every entry or raises."""
    entries = build_directory(settings)
    assert len(entries) == len(list(settings.contracts_dir.glob("*/*.odcs.yaml")))
    assert len({e["信息资源代码"] for e in entries}) == len(entries)
    assert all(entry_problems(e, e["contract_key"]) == [] for e in entries)


def test_every_entry_validates_with_classification_names_and_provider(home):
    entries = build_directory(home)
    assert len(entries) == 5
    for e in entries:
        assert entry_problems(e, e["contract_key"]) == []
        assert e["信息资源代码"].startswith(e["分类"]["code_prefix"] + "/")
    by_key = {e["contract_key"]: e for e in entries}
    storefront = by_key["shared/storefront_order_street_day"]
    assert storefront["目录视图"] == "主题信息资源"
    assert storefront["分类"]["项"] == "社区治理" and storefront["分类"]["目"] == "门前三包"
    assert by_key["shared/legal_entity"]["目录视图"] == "基础信息资源"
    assert by_key["cgj/city_cases"]["目录视图"] == "部门信息资源"
    assert by_key["cgj/city_cases"]["提供方代码"] == "11500000MB1C00011U"


def test_codes_are_stable_across_rebuilds_and_unique_with_a_new_contract(home):
    first = _codes(build_directory(home))
    second = _codes(build_directory(home))
    assert first == second
    _add_contract(home)
    third = _codes(build_directory(home))
    assert {k: third[k] for k in first} == first
    new = third["urn:cityshare:contract:shared:street_grid"]
    assert len(set(third.values())) == len(third) == 6
    # same classification as the storefront table → same prefix, next sequence
    assert new.split("/")[0] == first["urn:cityshare:contract:shared:storefront_order_street_day"].split("/")[0]
    assert new.endswith("/00002")


def test_a_removed_resource_code_is_not_reused(home):
    _add_contract(home)
    retired = _codes(build_directory(home))["urn:cityshare:contract:shared:street_grid"]
    (home.contracts_dir / "shared" / "street_grid.odcs.yaml").unlink()
    _add_contract(home, name="另一张表", dataset="another_table")
    codes = _codes(build_directory(home))
    assert codes["urn:cityshare:contract:shared:another_table"] != retired


def test_detail_level_extends_the_code(home):
    path = home.contracts_dir / "shared" / "storefront_order_street_day.odcs.yaml"
    text = path.read_text(encoding="utf-8").replace(
        '  - {property: classification, value: "2/10/001"}\n',
        '  - {property: classification, value: "2/10/001"}\n  - {property: classificationDetail, value: "01"}\n')
    path.write_text(text, encoding="utf-8")
    entry = next(e for e in build_directory(home) if e["contract_key"] == "shared/storefront_order_street_day")
    assert entry["信息资源代码"].startswith("21000101/")
    assert entry["分类"]["细目"] == "店外经营"


@pytest.mark.parametrize(("old", "new", "field"), [
    ("  - {property: sharingCondition, value: 限城市管理协同处置用途，经城管局审批}\n", "", "sharingCondition"),
    ('value: "2/10/002"', 'value: "2/99/002"', "classification"),
    ("  - {property: sharingMethod, value: 共享平台/接口}\n", "  - {property: sharingMethod, value: 传真}\n",
     "sharingMethod"),
])  # fmt: skip
def test_invalid_entry_names_the_contract_and_field_and_writes_nothing(home, old, new, field):
    build_directory(home)
    before = (home.directory_dir / "directory.json").read_text(encoding="utf-8")
    path = home.contracts_dir / "shared" / "city_cases.odcs.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(DirectoryInvalid) as info:
        build_directory(home)
    assert "contracts/shared/city_cases.odcs.yaml" in str(info.value)
    assert field in str(info.value)
    assert (home.directory_dir / "directory.json").read_text(encoding="utf-8") == before


def test_a_changed_contract_creates_a_new_version_with_a_changelog_line(home):
    build_directory(home)
    build_directory(home)  # unchanged → no new version
    path = home.contracts_dir / "shared" / "city_cases.odcs.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("version: 1.0.0", "version: 1.1.0", 1).replace(
        "限城市管理协同处置用途，经城管局审批", "限城市管理与应急协同处置用途，经城管局审批")
    path.write_text(text, encoding="utf-8")
    entry = next(e for e in build_directory(home) if e["contract_key"] == "shared/city_cases")
    assert entry["条目版本"] == 2
    assert "共享属性.共享条件" in entry["变更记录"] and "契约版本 1.0.0 → 1.1.0" in entry["变更记录"]
    with connect(home, read_only=True) as con:
        rows = con.execute(
            "SELECT entry_version, changes, reason FROM directory.entry_versions WHERE resource_code = ? "
            "ORDER BY entry_version", [entry["信息资源代码"]]).fetchall()
        others = con.execute("SELECT max(entry_version) FROM directory.entry_versions "
                             "WHERE resource_code <> ?", [entry["信息资源代码"]]).fetchone()[0]
    assert [r[0] for r in rows] == [1, 2] and others == 1
    changes = {c["field"]: c for c in json.loads(rows[1][1])}
    assert changes["共享属性.共享条件"]["new"] == "限城市管理与应急协同处置用途，经城管局审批"
    assert changes["契约版本"] == {"field": "契约版本", "old": "1.0.0", "new": "1.1.0"}
    assert "契约版本" in rows[1][2]
    assert load_entries(home)[0]["条目版本"] == 1  # load_entries keeps working with the version keys
