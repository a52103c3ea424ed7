"""Contracts: the real files validate; broken ones are rejected with the file and field named."""

from __future__ import annotations

import random
import shutil

import duckdb
import pytest
import yaml

from cityshare.contracts.lint import lint_all, lint_file
from cityshare.contracts.model import ContractError, load_contract, load_contracts
from cityshare.contracts.rules import compile_rules, id_number_valid_sql, uscc_valid_sql
from cityshare.identifiers import id_check_digit, is_valid_id_number, is_valid_uscc, uscc_check_char


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


def test_unknown_odcs_field_fails_the_official_schema(settings, tmp_path):
    def add_unknown(doc):
        doc["schema"][0]["properties"][0]["colour"] = "red"

    errors = lint_file(_broken_copy(settings, tmp_path, add_unknown), settings)
    assert any(e.field_path.startswith("$.schema[0]") for e in errors), errors


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
