"""The standard model (标准库) is derived from a source contract; lint keeps the contract's PII honest.

What the derived SQL *computes* is tested by building it: the derived sources in the dbt tests
(test_incremental_build: full vs incremental equality for stg_sdqx__installation_applications) and the
onboarding test through Airflow (masked values and tokens of a department no code knows).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cityshare.contracts.model import get_contract, load_contract
from cityshare.lint import lint_file, lint_warnings
from cityshare.settings import get_settings
from cityshare.standard_model import render_standard_model, standardizations
from cityshare.transform import derived_models, hand_written_models

ROOT = Path(__file__).resolve().parents[2]
VOLUNTEERS = ROOT / "tests" / "e2e" / "onboarding" / "contracts" / "yjglj" / "shelter_volunteers.odcs.yaml"


@pytest.fixture
def home(tmp_path, monkeypatch):
    for part in ("contracts", "catalog", "dbt_project"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("target", "logs", "_generated"))
    monkeypatch.setenv("CITYSHARE_HOME", str(tmp_path))
    return get_settings()


def test_every_source_has_exactly_one_standard_model(home):
    own = hand_written_models(home)
    derived = {p.stem for p in derived_models(home, home.dbt_project_dir / "models" / "_generated") if p.suffix == ".sql"}
    sources = {f"stg_{c.raw_table}" for c in map(load_contract, home.contracts_dir.glob("*/*.odcs.yaml"))
               if c.kind == "source"}
    assert sources <= own | derived and not own & derived
    assert {"stg_ghzrj__planning_permits", "stg_zjw__construction_permits", "stg_sdqx__installation_applications"} <= derived


def test_a_hand_written_model_overrides_the_derived_one(home):
    out = home.dbt_project_dir / "models" / "_generated"
    assert any(p.stem == "stg_ghzrj__planning_permits" for p in derived_models(home, out))
    custom = home.dbt_project_dir / "models" / "staging" / "ghzrj" / "stg_ghzrj__planning_permits.sql"
    custom.write_text("select 1 as permit_no", encoding="utf-8")
    assert not any(p.stem == "stg_ghzrj__planning_permits" for p in derived_models(home, out))


def test_pii_columns_are_masked_and_tokenized_never_passed_through():
    sql = render_standard_model(load_contract(VOLUNTEERS))
    final = sql.split("final as (", 1)[1]
    assert "cs_mask_id_number(id_number) as id_number" in final and "cs_token(id_number) as id_number_token" in final
    assert "cs_mask_mobile(phone) as phone" in final and "cs_token(phone) as phone_token" in final
    assert "cs_mask_person_name(name) as name" in final
    raw_selected = [line.strip().rstrip(",") for line in final.split("select", 1)[1].splitlines()]
    assert not {"id_number", "phone", "name"} & set(raw_selected)  # no bare PII column in the output


def test_types_codes_and_latest_wins_follow_the_contract():
    permits = render_standard_model(get_contract("ghzrj/planning_permits"))
    assert "{{ cs_parse_double('land_area_m2') }}" in permits and "{{ cs_parse_date('issued_on') }}" in permits
    assert "{{ cs_std_street_code('street_code') }}" in permits and "{{ cs_std_area_code('area_code') }}" in permits
    assert "upper({{ cs_clean('builder_uscc') }})" in permits  # a check-digit code: case-insensitive
    # a database source: the latest version is the one with the highest watermark (UPDATE_TIME → updated_at)
    assert "cs_latest_per('permit_no', 'updated_at')" in permits
    assert "cs_merge_latest('final', 'permit_no', 'updated_at')" in permits
    applications = get_contract("sdqx/installation_applications")
    assert standardizations(next(p for p in applications.properties if p.name == "application_id")) == ["upper"]


def test_lint_rejects_an_unknown_pii_kind_and_warns_about_unclassified_pii(tmp_path):
    settings = get_settings()
    text = VOLUNTEERS.read_text(encoding="utf-8")
    bad = tmp_path / "contracts" / "yjglj" / "shelter_volunteers.odcs.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text(text.replace("{property: pii, value: mobile}", "{property: pii, value: cellphone}"), encoding="utf-8")
    errors = [e for e in lint_file(bad, settings) if "pii" in e.field_path]
    assert len(errors) == 1 and "unknown PII kind 'cellphone'" in errors[0].message and str(bad) in str(errors[0])
    bad.write_text(text.replace("classification: pii,\n         customProperties: [{property: pii, value: mobile}],\n", ""),
                   encoding="utf-8")
    warnings = lint_warnings(load_contract(bad))
    assert [w.message.split(" (")[0] for w in warnings] == ["column phone"]
    assert "pii, value: mobile" in warnings[0].message


def test_a_new_department_declares_itself_with_a_valid_provider_code(tmp_path):
    settings = get_settings()
    path = tmp_path / "contracts" / "yjglj" / "shelter_volunteers.odcs.yaml"
    path.parent.mkdir(parents=True)
    text = VOLUNTEERS.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    assert [e for e in lint_file(path, settings) if "provider" in e.field_path or "team" in e.field_path] == []
    code = next(line for line in text.splitlines() if "providerCode" in line).split("value: ")[1].rstrip("}")
    path.write_text(text.replace(code, code[:-1] + ("0" if code[-1] != "0" else "1")), encoding="utf-8")
    errors = lint_file(path, settings)
    assert any(e.field_path == "customProperties.providerCode" for e in errors)
    path.write_text(text.replace("  - {property: providerCode", "  - {property: unusedCode"), encoding="utf-8")
    assert any(e.field_path == "team.name" and "providerCode" in e.message for e in lint_file(path, settings))
