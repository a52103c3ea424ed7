"""The scenarios' task list (业务协同模型) rendered from catalog/scenarios.yml as a dbt SQL model for either engine:
the rows of the YAML, a loud error naming the file, scenario and task for a task missing a required key, and
literals each engine reads back as written (the DuckDB table itself: tests/unit/test_scenarios.py; Spark's equals
it: tests/spark)."""

from __future__ import annotations

import dataclasses
import re
import shutil

import duckdb
import pytest
import yaml

from cityshare.errors import BuildFailed
from cityshare.scenarios import COLUMNS, MODEL, render_tasks_model, scenario_tasks, scenarios_path, sql_literal
from cityshare.settings import PROJECT_ROOT, get_settings
from cityshare.transform import _DBT_TYPES, render_dbt_files


@pytest.fixture
def home(tmp_path):
    """Settings whose catalog and contracts are copies of the project's (the test edits scenarios.yml)."""
    shutil.copytree(PROJECT_ROOT / "catalog", tmp_path / "catalog", ignore=shutil.ignore_patterns("site", "exports"))
    shutil.copytree(PROJECT_ROOT / "contracts", tmp_path / "contracts")
    return dataclasses.replace(get_settings(), project_root=tmp_path)


def test_one_row_per_task_in_the_yaml_order(home):
    doc = yaml.safe_load(scenarios_path(home).read_text(encoding="utf-8"))
    rows = scenario_tasks(home)
    assert [(r["scenario_id"], r["task_id"]) for r in rows] == [
        (s["id"], t["id"]) for s in doc["scenarios"] for t in s["tasks"]]
    assert all(list(r) == list(COLUMNS) for r in rows)
    first = doc["scenarios"][0]
    assert [r["task_order"] for r in rows[:len(first["tasks"])]] == list(range(1, len(first["tasks"]) + 1))
    assert rows[1]["indicators"] == "、".join(first["tasks"][1]["indicators"])


@pytest.mark.parametrize("key", ["id", "name", "department", "responsibility"])
def test_a_task_missing_a_required_key_fails_naming_file_scenario_and_task(home, key):
    path = scenarios_path(home)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    del doc["scenarios"][1]["tasks"][2][key]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    message = f"{path}: scenario {doc['scenarios'][1]['id']!r} task 3: missing {key}"
    with pytest.raises(BuildFailed, match=re.escape(message)):
        scenario_tasks(home)
    with pytest.raises(BuildFailed, match=re.escape(message)):  # and so the build's rendering step
        render_dbt_files(home, out=home.project_root / "rendered")


def test_the_model_is_rendered_with_the_project_files(home):
    out = home.project_root / "rendered"
    files = render_dbt_files(home, out=out, engine="spark")
    model = out / "collaboration" / f"{MODEL}.sql"
    assert model in files and "cast(task_order as bigint)" in model.read_text(encoding="utf-8")
    assert "cast(scenario_id as string)" in model.read_text(encoding="utf-8")


def test_duckdb_reads_the_rendered_rows_back_typed():
    settings = get_settings()
    sql = render_tasks_model(settings, _DBT_TYPES, "duckdb")
    body = sql.split("\n", 2)[2].replace("{% raw %}", "").replace("{% endraw %}", "")
    con = duckdb.connect()
    con.execute(f"CREATE TABLE tasks AS {body}")
    assert con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'tasks' "
                       "ORDER BY ordinal_position").fetchall() == [
        (c, "BIGINT" if t == "integer" else "VARCHAR") for c, t in COLUMNS.items()]
    rows = con.execute("SELECT * FROM tasks").fetchall()
    assert [dict(zip(COLUMNS, r, strict=True)) for r in rows] == scenario_tasks(settings)


@pytest.mark.parametrize("value", ["it's", "a\\b", "\\'", "{{ x }}", "多行\n文本"])
def test_literals_escape_each_engines_quote_and_backslash(value):
    assert duckdb.connect().execute(f"select {sql_literal(value, 'duckdb')}").fetchone()[0] == value
    spark = sql_literal(value, "spark")
    # Spark's lexer: a backslash escapes the next character; no unescaped quote inside the literal
    assert spark[0] == spark[-1] == "'" and re.fullmatch(r"(?:[^'\\]|\\.)*", spark[1:-1], re.S)
    assert re.sub(r"\\(.)", r"\1", spark[1:-1], flags=re.S) == value
    assert sql_literal(None, "spark") == "null" and sql_literal(3, "duckdb") == "3"
