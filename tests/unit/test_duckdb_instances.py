"""Warehouse connections are cursors on a process-wide DuckDB instance (cityshare.duckdb_instances): they must
behave as the direct connections they replace — the file released to other processes once closed, each
connection's transaction and temp objects its own, the catalog named as DuckDB names a directly opened file."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from cityshare import duckdb_instances
from cityshare.duckdb_instances import attached, scratch
from cityshare.settings import get_settings
from cityshare.warehouse import connect


def _other_process(path: Path, sql: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(f"""
        import duckdb
        con = duckdb.connect({str(path)!r})
        print(con.execute({sql!r}).fetchall())
        con.close()
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_the_file_is_released_to_other_processes_when_the_last_connection_closes(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with attached(path) as con:
        con.execute("CREATE TABLE t AS SELECT 42 AS answer")
        with attached(path) as nested:  # a nested connection shares the attachment
            assert nested.execute("SELECT answer FROM t").fetchone() == (42,)
        held = _other_process(path, "SELECT 1")
        assert held.returncode != 0 and "lock" in held.stderr.lower()  # still held by the outer connection
    free = _other_process(path, "SELECT answer FROM t")
    assert free.returncode == 0, free.stderr
    assert free.stdout.strip() == "[(42,)]"  # committed and checkpointed: another process reads it


def test_each_connection_has_its_own_transaction_and_temp_objects(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with attached(path) as a, attached(path) as b:
        a.execute("CREATE TABLE t (x INTEGER)")
        a.execute("BEGIN TRANSACTION")
        a.execute("INSERT INTO t VALUES (1)")
        assert b.execute("SELECT count(*) FROM t").fetchone() == (0,)  # not committed yet
        a.execute("COMMIT")
        assert b.execute("SELECT count(*) FROM t").fetchone() == (1,)
        a.execute("CREATE TEMP VIEW mine AS SELECT 1")
        with pytest.raises(duckdb.CatalogException):
            b.execute("SELECT * FROM mine")
    with attached(path) as c, pytest.raises(duckdb.CatalogException):  # a temp object dies with its connection
        c.execute("SELECT * FROM mine")


def test_an_uncommitted_transaction_is_rolled_back_when_its_connection_closes(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with attached(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(RuntimeError), attached(path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO t VALUES (1)")
        raise RuntimeError("the step failed")
    with attached(path) as con:
        assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_the_warehouse_catalog_is_named_as_a_direct_connection_names_it(tmp_path, monkeypatch):
    """dbt names relations ``"warehouse"."raw"."x"`` and column lineage matches on that name."""
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path))
    settings = get_settings()
    with connect(settings) as con:
        assert con.execute("SELECT current_database()").fetchone() == ("warehouse",)
        catalogs = {r[0] for r in con.execute("SELECT DISTINCT table_catalog FROM information_schema.tables "
                                              "WHERE table_schema = 'meta'").fetchall()}
    assert catalogs == {"warehouse"}


def test_read_only_connections_cannot_write_and_a_writer_waits_for_them(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with attached(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
    with attached(path, read_only=True) as reader:
        with pytest.raises(duckdb.Error):
            reader.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(duckdb.ConnectionException, match="read-only"), attached(path):
            pass
    with attached(path) as writer:  # the reader closed: writing works again
        writer.execute("INSERT INTO t VALUES (1)")


def test_two_warehouses_open_at_once_keep_their_own_catalogs(tmp_path):
    (tmp_path / "city").mkdir()
    (tmp_path / "district").mkdir()
    with attached(tmp_path / "city" / "warehouse.duckdb") as city, \
            attached(tmp_path / "district" / "warehouse.duckdb") as district:
        city.execute("CREATE TABLE level AS SELECT 'city' AS name")
        district.execute("CREATE TABLE level AS SELECT 'district' AS name")
        assert city.execute("SELECT name FROM level").fetchone() == ("city",)
        assert district.execute("SELECT name FROM level").fetchone() == ("district",)


def _child_writes(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        with attached(Path(path)) as con:
            con.execute("INSERT INTO t VALUES (2)")
        queue.put("ok")
    except Exception as exc:  # reported to the parent, which asserts on it
        queue.put(repr(exc))


def test_a_forked_child_opens_the_warehouse_itself(tmp_path):
    """The parent's instance is closed before the fork (it was idle), so the child's connection is its own."""
    path = tmp_path / "warehouse.duckdb"
    with attached(path) as con:
        con.execute("CREATE TABLE t (x INTEGER)")
        con.execute("INSERT INTO t VALUES (1)")
    queue: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("fork").Process(target=_child_writes, args=(str(path), queue))
    child.start()
    child.join(60)
    assert queue.get(timeout=5) == "ok"
    with attached(path) as con:
        assert con.execute("SELECT list(x ORDER BY x) FROM t").fetchone() == ([1, 2],)


def test_scratch_connections_share_one_instance_but_not_their_temp_objects(tmp_path):
    with scratch("256MB", tmp_path) as a:
        a.execute("CREATE TEMP TABLE staged AS SELECT 1 AS x")
        limit = a.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    with scratch("256MB", tmp_path) as b, pytest.raises(duckdb.CatalogException):
        b.execute("SELECT * FROM staged")
    assert limit.replace(" ", "").upper().startswith(("244", "256"))  # DuckDB reports 256 MB as 244.1 MiB
    assert len([k for k in duckdb_instances._scratch if k[1] == str(tmp_path)]) == 1
