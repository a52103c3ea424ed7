"""List, status and report commands speak JSON for scripts (``--json``), and their tables never cut an id
at an 80-column terminal."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cityshare.cli import app
from cityshare.share import audit
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = build_world(tmp_path_factory.mktemp("cli"), token_key="k" * 43)
    ids = [issue(settings, dept, f"user_{dept}", role)[0] for dept, role in
           (("jd_nanping", "consumer"), ("cgj", "approver"), ("cyzx", "governance"))]
    audit.record(settings, None, "login", None)
    return ids, {"CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir),
                 "CITYSHARE_TOKEN_KEY": "k" * 43, "COLUMNS": "80"}


def _run(env, *args: str):
    result = CliRunner().invoke(app, list(args), env=env[1])
    assert result.exit_code == 0, result.output
    return result.output


def test_token_list_json_names_every_token_and_the_table_keeps_ids_whole(env):
    ids, _ = env
    rows = json.loads(_run(env, "token", "list", "--json"))
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert {r["department"] for r in rows} == {"jd_nanping", "cgj", "cyzx"}
    table = _run(env, "token", "list")
    assert all(i in table for i in ids) and "…" not in table


def test_audit_and_overdue_speak_json(env):
    records = json.loads(_run(env, "audit", "show", "--json", "--limit", "5"))
    assert records and records[0]["action"] == "login" and {"seq", "at", "status"} <= set(records[0])
    status = json.loads(_run(env, "audit", "verify", "--json"))
    assert status["ok"] is True and status["records"] >= 1
    assert json.loads(_run(env, "access", "overdue", "--json")) == []


def test_batch_actions_federation_status_and_lint_speak_json(env):
    assert json.loads(_run(env, "batches", "actions", "--json")) == []
    assert json.loads(_run(env, "federation", "status", "--json")) == []
    # the sample world has contracts but no dbt project: the published ones fail lint, exit 2, and say why in JSON
    done = CliRunner().invoke(app, ["contracts", "lint", "--json"], env=env[1])
    lint = json.loads(done.stdout)
    assert done.exit_code == 2 and all(r["contract"].endswith(".odcs.yaml") for r in lint)
    failing = {r["contract"].rsplit("/contracts/", 1)[1]: r["errors"] for r in lint if r["errors"]}
    assert "shared/city_cases.odcs.yaml" in failing
    assert failing["shared/city_cases.odcs.yaml"][0]["field"] == "schema[0].physicalName"


def test_contracts_diff_speaks_json_and_keeps_its_exit_code(tmp_path):
    """A script (or CI) reads the classified changes; a breaking change without a major bump still exits 1."""
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "contracts" / "cgj" / "city_cases.odcs.yaml"
    text = source.read_text(encoding="utf-8")
    narrowed = tmp_path / "new.odcs.yaml"
    narrowed.write_text(text.replace(", 作废]", "]", 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["contracts", "diff", str(source), str(narrowed), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["version_ok"] is False and report["changes"] == [
        {"where": "column status rule.status_valid", "change": "allowed values narrowed (removed 作废)", "breaking": True}]
