"""The compiled catalogue: contracts parsed once, kept in the data dir, re-parsed only when their file changed."""

from __future__ import annotations

import json
import os

import pytest
from test_directory_support import copy_home

import cityshare.contracts.compiled as compiled
from cityshare.contracts.compiled import cache_file, catalogue
from cityshare.contracts.model import ContractError, load_contracts


@pytest.fixture
def home(tmp_path):
    return copy_home(tmp_path / "home")


def _new_process() -> None:
    """What a new process starts with: nothing in memory, only the cache file."""
    compiled._MEMORY.clear()


def _age(settings, seconds: int = 10) -> None:
    """Every contract file older than the racy window (as after a checkout some time ago)."""
    for path in settings.contracts_dir.glob("*/*.odcs.yaml"):
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


def test_a_second_process_parses_nothing_and_gets_the_same_contracts(home):
    _age(home)
    first = catalogue(home)
    assert first.parsed == len(first.paths) == len(list(home.contracts_dir.glob("*/*.odcs.yaml"))) > 0
    assert cache_file(home).exists()
    _new_process()
    second = catalogue(home)
    assert second.parsed == 0
    assert second.content_hash == first.content_hash
    assert [(c.key, c.raw, c.properties) for c in second.contracts] == [(c.key, c.raw, c.properties) for c in first.contracts]


def test_a_contract_edited_in_the_same_clock_tick_is_parsed_again(home):
    """The cache trusts a file whose size and mtime it recorded, except one modified too close to when the cache
    was verified for its mtime to tell (as git does for its index): an edit in the same tick that keeps the size
    is still seen, in this process and the next."""
    path = home.contracts_dir / "shared" / "city_cases.odcs.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")  # modified just now
    assert next(c for c in load_contracts(home) if c.path == path).version == "1.0.0"
    st = path.stat()
    changed = text.replace("version: 1.0.0", "version: 1.0.9", 1)
    assert len(changed) == len(text) and changed != text
    path.write_text(changed, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same size and mtime as what the cache recorded
    assert next(c for c in load_contracts(home) if c.path == path).version == "1.0.9"
    _new_process()
    after = catalogue(home)
    assert after.parsed == 0  # the cache was updated by the call above
    assert next(c for c in after.contracts if c.path == path).version == "1.0.9"


def test_an_added_broken_or_removed_contract_changes_the_catalogue(home):
    first = catalogue(home)
    path = home.contracts_dir / "shared" / "city_cases.odcs.yaml"
    copy = home.contracts_dir / "shared" / "city_cases_copy.odcs.yaml"
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    added = catalogue(home)
    assert added.parsed == 1 and len(added.contracts) == len(first.contracts) + 1
    assert added.content_hash != first.content_hash

    copy.write_text("id: [unclosed\n", encoding="utf-8")
    _new_process()
    broken = catalogue(home)
    assert list(broken.errors) == [copy] and "line" in broken.errors[copy].field_path
    with pytest.raises(ContractError, match=r"city_cases_copy\.odcs\.yaml"):
        load_contracts(home)

    copy.unlink()
    _new_process()
    removed = catalogue(home)
    assert not removed.errors and removed.content_hash == first.content_hash
    assert [c.key for c in removed.contracts] == [c.key for c in first.contracts]


def test_a_damaged_cache_file_is_only_a_slower_run(home):
    first = catalogue(home)
    cache_file(home).write_text("{not json", encoding="utf-8")
    _new_process()
    again = catalogue(home)
    assert again.parsed == len(first.paths) and again.content_hash == first.content_hash
    assert json.loads(cache_file(home).read_text(encoding="utf-8"))["format"] == compiled.FORMAT


def test_contracts_compile_rebuilds_the_cache(home, monkeypatch):
    from typer.testing import CliRunner

    from cityshare.cli import app

    monkeypatch.setenv("CITYSHARE_HOME", str(home.project_root))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(home.data_dir))
    catalogue(home)
    result = CliRunner().invoke(app, ["contracts", "compile"])
    assert result.exit_code == 0, result.output
    assert f"compiled {len(catalogue(home).contracts)} contracts ({catalogue(home).content_hash[:12]})" in result.output
