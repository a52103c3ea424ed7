"""No work for what did not change: a no-op build creates no raw view and renders nothing; an incremental
directory build rebuilds only the entries whose inputs changed and gives what a full build gives."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from test_directory_support import built_home, clone_built

from cityshare.directory.builder import update_directory
from cityshare.publish import audit_and_publish
from cityshare.transform import build, render_dbt_files
from cityshare.warehouse import connect


@pytest.fixture
def home(tmp_path_factory, tmp_path):
    return clone_built(built_home(tmp_path_factory.getbasetemp() / "built"), tmp_path / "home")


def _views(settings):
    with connect(settings, read_only=True) as con:
        return con.execute("SELECT view_name, sql, comment FROM duckdb_views() WHERE schema_name = 'raw' "
                           "ORDER BY view_name").fetchall()


def _publications(settings):
    with connect(settings, read_only=True) as con:
        return con.execute("SELECT * FROM meta.publications ORDER BY ALL").fetchall()


def _generated(settings):
    out = settings.dbt_project_dir / "models" / "_generated"
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def test_a_no_op_build_creates_no_view_and_renders_nothing(home):
    # ``home`` is a copy of a built data dir elsewhere: its first build repoints the raw views at its own lake
    assert build(home)["raw_views_refreshed"] >= 2
    views, files = _views(home), _generated(home)
    assert len(views) >= 2 and files
    done = build(home)
    assert done["reason"] == "no new batches since the last build" and done["nodes"] == 0
    assert done["raw_views_refreshed"] == 0
    assert _views(home) == views and _generated(home) == files

    # an edit that changes no generated file (a comment) is still a no-op, not a rebuild of everything
    path = home.contracts_dir / "cgj" / "city_cases.odcs.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# 注释 a comment\n", encoding="utf-8")
    assert build(home)["reason"] == "no new batches since the last build"

    # the audit after a no-op build: once more the first time (no audit of these inputs on record yet), then its
    # outcome stands — nothing staged or swapped again, and a table that was blocked stays reported as blocked
    audited = audit_and_publish(home, nothing_built=True)
    assert "unchanged" not in audited and audited["published"]
    with connect(home) as con:
        con.execute("UPDATE meta.publish_status SET status = 'blocked', reason = 'r' WHERE table_name = ?",
                    [audited["published"][0]["table"]])
    published = _publications(home)
    again = audit_and_publish(home, nothing_built=True)
    assert again["unchanged"] is True and again["blocked"] == {audited["published"][0]["table"]: ["r"]}
    assert _publications(home) == published
    assert "unchanged" not in audit_and_publish(home, nothing_built=False)  # not after a build that built something

    # the dbt files are rendered again when a contract changes (and only then)
    path = home.contracts_dir / "cgj" / "city_cases.odcs.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\nname: 数字城管案件\n" in text
    path.write_text(text.replace("\nname: 数字城管案件\n", "\nname: 数字城管案件（含街道）\n"), encoding="utf-8")
    render_dbt_files(home)
    sources = home.dbt_project_dir / "models" / "_generated" / "sources.yml"
    assert "数字城管案件（含街道） — urn:cityshare:contract:cgj:city_cases" in sources.read_text(encoding="utf-8")
    assert {p for p, t in _generated(home).items() if files.get(p) != t} >= {sources}


def _normal(entries):
    return json.loads(json.dumps(entries, ensure_ascii=False, sort_keys=True, default=str))


def _stored(settings):
    with connect(settings, read_only=True) as con:
        rows = con.execute("SELECT resource_code, entry FROM directory.entries ORDER BY 1").fetchall()
    return [(code, json.loads(entry)) for code, entry in rows]


def test_an_incremental_directory_build_equals_a_full_one_and_rebuilds_only_what_changed(home):
    first = update_directory(home)  # the built home's directory was built by this code: nothing to rebuild
    assert first.rebuilt == 0 and first.changed == []
    full = update_directory(home, incremental=False)
    assert full.rebuilt == len(full.entries) and full.changed == []
    assert _normal(first.entries) == _normal(full.entries)

    # a contract changes (its sharing condition), and a source gets a new quality check
    path = home.contracts_dir / "shared" / "city_cases.odcs.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("version: 1.0.0", "version: 1.1.0", 1).replace(
        "限城市管理协同处置用途，经城管局审批", "限城市管理与应急协同处置用途，经城管局审批"), encoding="utf-8")
    with connect(home) as con:
        con.execute("INSERT INTO meta.quality_results (dataset, load_id, stage, rule, success, checked_at) "
                    "VALUES ('scjgj/business_registry', 'x', 'gate', 'r', false, ?)", [dt.datetime(2030, 1, 1)])
    incremental = update_directory(home)
    by_key = {e["contract_key"]: e for e in incremental.entries}
    assert incremental.rebuilt == 2
    assert sorted(incremental.changed) == sorted([by_key["shared/city_cases"]["信息资源代码"],
                                                   by_key["scjgj/business_registry"]["信息资源代码"]])
    assert by_key["shared/city_cases"]["条目版本"] == 2
    assert by_key["scjgj/business_registry"]["质量"]["最近检查"].startswith("2030-01-01")
    stored = _stored(home)
    exported = (home.directory_dir / "directory.json").read_text(encoding="utf-8")

    again = update_directory(home, incremental=False)  # a full build now finds nothing else to change
    assert again.changed == [] and _normal(again.entries) == _normal(incremental.entries)
    assert _stored(home) == stored
    assert (home.directory_dir / "directory.json").read_text(encoding="utf-8") == exported


def test_a_build_reports_every_node_to_its_progress_display(home):
    """What the CLI's bar shows (cityshare.cli._node_progress): each model, seed and test once, against one total."""
    seen: list[tuple[int, int, str]] = []
    build(home, full_refresh=True, on_node=lambda index, total, name: seen.append((index, total, name)))
    assert seen and {total for _, total, _ in seen} == {len(seen)}
    assert sorted(index for index, _, _ in seen) == list(range(1, len(seen) + 1))
    assert "stg_cgj__city_cases" in {name for _, _, name in seen}
