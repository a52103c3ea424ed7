"""Fault #6 (issue 32), the classification: infrastructure faults as DuckDB, SQLite and the OS word them become one
exit-3 line saying what to do; anything else is left alone (the CLI tests in test_fault_recovery.py run them)."""

from __future__ import annotations

import errno
import sqlite3

import duckdb
import pytest

from cityshare.errors import infrastructure_error

pytestmark = pytest.mark.faults


def _wrapped(inner: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(("exc", "words"), [
    (OSError(errno.ENOSPC, "No space left on device", "/data/lake/x.parquet"), "disk full"),
    (duckdb.IOException('IO Error: Could not write file "/data/warehouse.duckdb": No space left on device'), "disk full"),
    (sqlite3.OperationalError("database or disk is full"), "disk full"),
    (OSError(errno.EROFS, "Read-only file system", "/data/exports"), "read-only file system"),
    (duckdb.IOException('IO Error: Cannot open file "/data/x": Read-only file system'), "read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied", "/data/access"), "permission denied"),
    (MemoryError(), "out of memory"),
    (duckdb.IOException('IO Error: Could not set lock on file "/data/warehouse.duckdb": Conflicting lock is held in '
                        '/root/.pyenv/bin/python3.11 (PID 4242). See also https://duckdb.org/docs/concurrency'),
     "locked by another process 仓库被占用 (/root/.pyenv/bin/python3.11 (PID 4242))"),
    (_wrapped(OSError(errno.ENOSPC, "No space left on device"), RuntimeError("dbt failed")), "disk full"),
])
def test_infrastructure_faults_become_one_line_with_exit_3(exc, words):
    found = infrastructure_error(exc, "/data")
    assert found is not None and found.exit_code == 3
    text = str(found)
    assert words in text and "\n" not in text
    assert "rerun" in text


@pytest.mark.parametrize("exc", [ValueError("bad date"), OSError(errno.ENOENT, "No such file", "x.csv"),
                                 duckdb.CatalogException("Table with name x does not exist")])
def test_other_errors_are_not_called_infrastructure(exc):
    assert infrastructure_error(exc) is None
