"""Contracts: the real files validate; broken ones are rejected with the file and field named."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from cityshare.contracts.model import ContractError, load_contract, load_contracts
from cityshare.contracts.rules import compile_rules, id_number_valid_sql, uscc_valid_sql
from cityshare.identifiers import id_check_digit, is_valid_id_number, is_valid_uscc, uscc_check_char
from cityshare.lint import (
    fast_validator,
    lint_all,
    lint_file,
    odcs_schema_files,
    odcs_validator,
    schema_errors,
)


def test_every_contract_is_valid_odcs_and_follows_sharing_rules(settings):
    results = lint_all(settings)
    assert len(results) >= 5
    assert {p.parent.name for p in results} >= {"cgj", "scjgj", "shared"}
    assert all(errors == [] for errors in results.values()), results


def _broken_copy(settings, tmp_path, edit):
    src = settings.contracts_dir / "shared" / "city_cases.odcs.yaml"
    target = tmp_path / "shared" / "city_cases.odcs.yaml"
    target.parent.mkdir(parents=True)
    shutil.copy(src, target)
    doc = yaml.safe_load(target.read_text(encoding="utf-8"))
    edit(doc)
    target.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return target


def test_conditional_sharing_without_condition_is_rejected(settings, tmp_path):
    def drop_condition(doc):
        doc["customProperties"] = [p for p in doc["customProperties"] if p["property"] != "sharingCondition"]

    errors = lint_file(_broken_copy(settings, tmp_path, drop_condition), settings)
    assert [e.field_path for e in errors] == ["customProperties.sharingCondition"]
    assert "有条件共享" in errors[0].message and "city_cases.odcs.yaml" in str(errors[0])


def test_two_contracts_with_one_id_are_a_lint_error_naming_both(tmp_path, monkeypatch):
    root = Path(__file__).resolve().parents[2]
    for part in ("contracts", "catalog", "dbt_project"):
        shutil.copytree(root / part, tmp_path / part, ignore=shutil.ignore_patterns("target", "logs", "_generated"))
    original = tmp_path / "contracts" / "ghzrj" / "planning_permits.odcs.yaml"
    twin = original.with_name("planning_permits_copy.odcs.yaml")
    twin.write_text(original.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("CITYSHARE_HOME", str(tmp_path))
    from cityshare.settings import get_settings

    problems = {p: e for p, e in lint_all(get_settings()).items() if e}
    assert list(problems) == [twin]  # the directory would otherwise give both one 信息资源代码
    assert problems[twin][0].field_path == "id" and str(original) in problems[twin][0].message


def test_unknown_odcs_field_fails_the_official_schema(settings, tmp_path):
    def add_unknown(doc):
        doc["schema"][0]["properties"][0]["colour"] = "red"

    errors = lint_file(_broken_copy(settings, tmp_path, add_unknown), settings)
    assert any(e.field_path.startswith("$.schema[0]") for e in errors), errors


ROOT = Path(__file__).resolve().parents[2]
ALL_CONTRACTS = sorted([*ROOT.glob("contracts/*/*.odcs.yaml"), *ROOT.glob("tests/e2e/onboarding/contracts/**/*.odcs.yaml")])


def test_every_contract_validates_against_its_declared_odcs_version():
    """The project's and the onboarding guide's contracts pass the official schema of the apiVersion they declare."""
    assert len(ALL_CONTRACTS) >= 30
    fast_validator.cache_clear()
    failures = {str(p.relative_to(ROOT)): [str(e) for e in schema_errors(p, load_contract(p).raw)] for p in ALL_CONTRACTS}
    assert {p: e for p, e in failures.items() if e} == {}
    # the lint's fast check (jsonschema-rs) and the reference implementation (jsonschema) agree on every contract
    assert all(not list(odcs_validator(load_contract(p).raw["apiVersion"]).iter_errors(load_contract(p).raw))
               for p in ALL_CONTRACTS)
    declared = {load_contract(p).raw["apiVersion"] for p in ALL_CONTRACTS}
    assert declared <= set(odcs_schema_files())
    # one compiled validator per declared version, not one per file
    assert fast_validator.cache_info().misses == len(declared)


def _source_copy(tmp_path, edit):
    doc = yaml.safe_load((ROOT / "contracts" / "cgj" / "city_cases.odcs.yaml").read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "cgj" / "city_cases.odcs.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path, doc


def test_server_options_outside_customproperties_fail_odcs_v310(tmp_path):
    path, doc = _source_copy(tmp_path, lambda d: d["servers"][0].update(encoding="UTF-8"))
    errors = schema_errors(path, doc)
    assert [e.field_path for e in errors] == ["$.servers[0]"]
    assert "ODCS v3.1.0" in errors[0].message and "'encoding' was unexpected" in errors[0].message
    assert "city_cases.odcs.yaml" in str(errors[0])


def test_each_contract_is_checked_against_its_own_version(tmp_path):
    """A v3.1.0 contract relabelled v3.0.2 meets the older rules: there ``team`` is a list of members."""
    path, doc = _source_copy(tmp_path, lambda d: d.update(apiVersion="v3.0.2"))
    team_errors = [e.message for e in schema_errors(path, doc) if e.field_path == "$.team"]
    assert len(team_errors) == 1 and team_errors[0].startswith("ODCS v3.0.2") and "not of type 'array'" in team_errors[0]
    path, doc = _source_copy(tmp_path, lambda d: d.update(apiVersion="v3.1.0"))
    assert schema_errors(path, doc) == []


def test_unknown_odcs_version_is_rejected(tmp_path):
    path, doc = _source_copy(tmp_path, lambda d: d.update(apiVersion="v3.9.0"))
    errors = schema_errors(path, doc)
    assert [e.field_path for e in errors] == ["apiVersion"]
    assert "'v3.9.0'" in errors[0].message and "v3.1.0" in errors[0].message


def test_contract_file_edited_or_not_utf8(settings, tmp_path):
    """Contracts are cached per process by their text: an edit is seen at once; a GBK-saved file is named."""
    path = tmp_path / "city_cases.odcs.yaml"
    text = (settings.contracts_dir / "cgj" / "city_cases.odcs.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    assert load_contract(path).raw["version"] != "9.9.9"
    path.write_text(text.replace(f"version: {load_contract(path).raw['version']}", "version: 9.9.9", 1), encoding="utf-8")
    assert load_contract(path).raw["version"] == "9.9.9"
    path.write_bytes(text.encode("gbk", errors="replace"))
    with pytest.raises(ContractError, match=r"city_cases\.odcs\.yaml: byte \d+: not UTF-8"):
        load_contract(path)


def test_source_contract_compiles_to_batch_and_row_rules(settings):
    contract = next(c for c in load_contracts(settings) if c.key == "cgj/city_cases")
    rules = {r.name: r for r in compile_rules(contract)}
    assert rules["column_present:reporter_phone"].level == "batch"
    assert rules["batch_not_empty"].level == "batch"
    assert rules["case_id_unique"].dimension_zh == "准确性"
    assert rules["closed_after_reported"].dimension_zh == "一致性"
    assert rules["status_valid"].kind == "in_set"
    assert type(rules["street_code_valid"].expectation()).__name__ == "UnexpectedRowsExpectation"


def test_check_digit_sql_agrees_with_python():
    rng = random.Random(3)
    ids, usccs = [], []
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for _ in range(200):
        birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body = "500108" + birth + f"{rng.randint(0, 999):03d}"
        good = body + id_check_digit(body)
        ids += [good, body + rng.choice([d for d in "0123456789X" if d != good[-1]])]
        ubody = "91500108" + "".join(rng.choice(alphabet) for _ in range(9))
        ugood = ubody + uscc_check_char(ubody)
        usccs += [ugood, ubody + rng.choice([d for d in alphabet if d != ugood[-1]])]
    con = duckdb.connect()
    for values, sql, py in ((ids, id_number_valid_sql, is_valid_id_number), (usccs, uscc_valid_sql, is_valid_uscc)):
        got = con.execute(f"SELECT v, {sql('v')} FROM unnest(?) t(v)", [values]).fetchall()
        assert {v: bool(ok) for v, ok in got} == {v: py(v) for v in values}


def test_an_installation_points_a_contract_server_elsewhere_without_editing_it(settings, monkeypatch):
    """The contract keeps the department's endpoint; CITYSHARE_SERVER_<SERVER>_LOCATION redirects it here."""
    from cityshare.contracts.model import load_contracts

    lots = next(c for c in load_contracts(settings, kind="source") if c.key == "jtj/parking_lots")
    declared = "http://127.0.0.1:8765/api/v1/parking_lots"
    assert (lots.server["server"], lots.server_value("location", settings)) == ("parking-api", declared)
    monkeypatch.setenv("CITYSHARE_SERVER_PARKING_API_LOCATION", "http://127.0.0.1:9/api/v1/parking_lots")
    assert lots.server_value("location", settings) == "http://127.0.0.1:9/api/v1/parking_lots"
    assert lots.server["location"] == declared  # the contract itself is unchanged
    cases = next(c for c in load_contracts(settings, kind="source") if c.key == "cgj/city_cases")
    assert cases.server_value("path", settings).startswith(str(settings.data_dir))  # ${CITYSHARE_DATA_DIR} expanded


def _city_cases_with(tmp_path, edit):
    """cgj/city_cases with one edit, for the standard-form checks (no catalog needed)."""
    doc = yaml.safe_load((ROOT / "contracts" / "cgj" / "city_cases.odcs.yaml").read_text(encoding="utf-8"))
    edit({p["name"]: p for p in doc["schema"][0]["properties"]}, doc["schema"][0])
    target = tmp_path / "contracts" / "cgj" / "city_cases.odcs.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (tmp_path / "dbt_project").exists():  # the code-list seeds its rules read
        (tmp_path / "dbt_project").symlink_to(ROOT / "dbt_project")
    target.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return load_contract(target)


def _rows_form(props, table):
    props["closed_at"]["quality"][0]["query"] = props["closed_at"]["quality"][0]["query"].replace("COUNT(*)", "*")


def _fixed_range_argument(props, table):
    props["reported_at"]["quality"][1]["arguments"] = {"minimum": "2020-01-01", "maximum": "loadDate+1"}


def _length_only_physical(props, table):
    del props["address"]["logicalTypeOptions"]


def _relative_bound_option(props, table):
    props["reported_at"]["logicalTypeOptions"] = {"maximum": "loadDate+1"}


def _anomaly_as_row_count(props, table):
    anomaly = table["quality"][1]
    settings = {k: v for k, v in anomaly["implementation"].items() if k != "metric"}
    table["quality"][1] = {"type": "library", "metric": "rowCount", "mustBeGreaterThan": 0, "name": anomaly["name"],
                           "arguments": {"anomaly": True, **settings}}


@pytest.mark.parametrize(("edit", "field", "says"), [
    (_rows_form, "properties[9].quality[0].query", "SELECT COUNT(*) FROM ${table} WHERE"),
    (_fixed_range_argument, "properties[8].quality[1].arguments", "logicalTypeOptions"),
    (_length_only_physical, "properties[5].logicalTypeOptions.maxLength", "maxLength: 200"),
    (_relative_bound_option, "properties[8].logicalTypeOptions", "put it in a quality rule's arguments"),
    (_anomaly_as_row_count, "schema[0].quality[1].arguments.anomaly", "type: custom, engine: cityshare"),
], ids=["sql-rows", "fixed-range-argument", "varchar-only", "relative-bound-option", "anomaly-row-count"])
def test_the_lint_refuses_a_non_standard_form_where_odcs_has_one(tmp_path, edit, field, says):
    from cityshare.lint import portability_errors

    assert portability_errors(_city_cases_with(tmp_path, lambda props, table: None)) == []
    errors = portability_errors(_city_cases_with(tmp_path, edit))
    assert len(errors) == 1 and errors[0].field_path.endswith(field) and says in errors[0].message, errors


def test_the_gate_refuses_a_sql_rule_that_returns_rows(tmp_path):
    """ODCS compares a sql rule's number with mustBe: a row-returning query would misfire in other tools, so the
    gate does not guess what it means either."""
    with pytest.raises(ContractError, match=r"counts the rows that break it: SELECT COUNT\(\*\)"):
        compile_rules(_city_cases_with(tmp_path, _rows_form))
    mustbe_one = _city_cases_with(tmp_path, lambda props, table: props["closed_at"]["quality"][0].update(mustBe=1))
    with pytest.raises(ContractError, match="with mustBe: 0"):
        compile_rules(mustbe_one)
