"""Secrets fail closed: no default key, `cityshare keys init`, refused start-ups, no borrowed source tokens,
and tokens that nobody holding the code or the docs can recompute."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import stat

import pytest
from typer.testing import CliRunner

from cityshare import keys, privacy
from cityshare.cli import app
from cityshare.settings import PROJECT_ROOT, get_settings


@pytest.fixture
def no_key(settings, monkeypatch):
    """A fresh install: no CITYSHARE_TOKEN_KEY and no key file."""
    monkeypatch.delenv("CITYSHARE_TOKEN_KEY")
    return get_settings()


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("args", [["serve", "--port", "0"], ["build"], ["ingest", "cgj/city_cases", "--date", "2026-11-26"]])
@pytest.mark.parametrize("value", [None, "cityshare-demo-key-change-me", "change-me-token-key"])
def test_commands_refuse_to_start_without_a_real_key(no_key, monkeypatch, args, value):
    if value:
        monkeypatch.setenv("CITYSHARE_TOKEN_KEY", value)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "CITYSHARE_TOKEN_KEY" in message and "cityshare keys init" in message and "token_urlsafe" in message
    assert ("is not set" if value is None else "publicly known default") in message


def test_app_and_dag_runs_refuse_a_missing_key(no_key):
    from cityshare.orchestrate import run_dags
    from cityshare.share.app import create_app

    with pytest.raises(keys.MissingSecret, match="CITYSHARE_TOKEN_KEY"):
        create_app(no_key)
    with pytest.raises(keys.MissingSecret, match="CITYSHARE_TOKEN_KEY"):
        run_dags([("build_and_publish", dt.date(2026, 11, 26))], no_key)
    with pytest.raises(keys.MissingSecret):
        privacy.token_key()  # the dbt UDFs' key: build tasks fail closed too


def test_keys_init_writes_an_owner_only_key_that_settings_read(no_key, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "init"])
    assert result.exit_code == 0, result.output
    path = no_key.data_dir / "keys" / "token.key"
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    key = get_settings().token_key
    assert len(key) >= 40 and key == path.read_text().strip() and keys.require_token_key(get_settings()) == key
    again = runner.invoke(app, ["keys", "init"])
    assert again.exit_code == 2 and "--force" in again.output and path.read_text().strip() == key
    assert runner.invoke(app, ["keys", "init", "--force"]).exit_code == 0 and get_settings().token_key != key
    monkeypatch.setenv("CITYSHARE_TOKEN_KEY", "k" * 40)  # the environment wins over the file
    assert get_settings().token_key == "k" * 40


def test_demo_makes_its_own_key_and_simulator_tokens(no_key, monkeypatch):
    monkeypatch.delenv("CITYSHARE_JTJ_API_TOKEN")
    with pytest.raises(keys.MissingSecret, match=r"\$CITYSHARE_JTJ_API_TOKEN"):
        keys.source_token(no_key, "CITYSHARE_JTJ_API_TOKEN")  # no fallback outside the demo
    marked = keys.mark_demo(no_key)
    assert keys.require_token_key(get_settings()) not in keys.KNOWN_DEFAULTS
    # the settings read before the key existed now hold it (the demo's Airflow runs refuse a run without one)
    assert keys.require_token_key(marked) == keys.require_token_key(get_settings())
    jtj = keys.source_token(no_key, "CITYSHARE_JTJ_API_TOKEN")
    scjgj = os.environ["CITYSHARE_SCJGJ_API_TOKEN"]
    assert jtj == keys.source_token(no_key, "CITYSHARE_JTJ_API_TOKEN") and jtj != scjgj and len(jtj) > 20
    assert _mode(no_key.data_dir / "keys" / "cityshare_jtj_api_token.token") == 0o600
    other = dataclasses.replace(no_key, data_dir=no_key.data_dir.parent / "other")
    keys.mark_demo(other)
    assert keys.source_token(other, "CITYSHARE_JTJ_API_TOKEN") != jtj  # random per demo, not a constant


def test_a_source_never_borrows_another_token(settings, monkeypatch):
    monkeypatch.setenv("CITYSHARE_JTJ_API_TOKEN", "sim-jtj-token")
    with pytest.raises(keys.MissingSecret, match="publicly known"):
        keys.source_token(settings, "CITYSHARE_JTJ_API_TOKEN")


def _candidate_keys() -> set[str]:
    """Every string a reader of the code and the docs could try as the key."""
    texts = []
    for pattern in ("cityshare/**/*.py", "dags/*.py", "bench/**/*.py", "tests/**/*.py", "docs/**/*.md", "*.md",
                    "deploy/**/*", ".env.example", "docker-compose.yml", "Dockerfile", "Makefile", "catalog/*.yml"):
        texts += [p.read_text(encoding="utf-8", errors="ignore") for p in PROJECT_ROOT.glob(pattern) if p.is_file()]
    found = {""}
    for text in texts:
        found.update(re.findall(r"""["'`]([^"'`\n]{1,200})["'`]""", text))
        found.update(w.strip("\"'`,;()") for w in re.split(r"[\s=:]+", text))
    return found


def test_masked_tokens_cannot_be_recomputed_with_any_key_in_the_code_or_docs(tmp_path):
    """The keyed tokens of the shared layer (dbt's cs_token UDF, under the configured key this test never
    reads) against every candidate key string found in the repository."""
    import duckdb

    from cityshare.transform_udfs import Plugin

    ids = [f"5001081940010{i:04d}X"[:18] for i in range(50)] + [f"1381234{i:04d}" for i in range(50)]
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    Plugin(name="transform_udfs", plugin_config={}).configure_connection(con)
    con.execute("CREATE TABLE people AS SELECT unnest(?) AS id", [ids])
    shared = {row[0] for row in con.execute("SELECT cs_token(id) FROM people").fetchall()}
    con.close()
    assert len(shared) == len(ids)
    candidates = _candidate_keys()
    assert {"cityshare-demo-key-change-me", "sim-jtj-token", "test-token-key"} <= candidates  # the grep works
    assert len(candidates) > 5_000

    def matches(key: str) -> int:
        return sum(privacy.keyed_token(v, key) in shared for v in ids[:3])

    assert matches(privacy.token_key()) == 3  # control only: had the key been in the repository, it would match
    hits = [k for k in candidates if matches(k)]
    assert hits == []
