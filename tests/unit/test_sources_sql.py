"""Database connectors, incremental by watermark: a department SQLite file and a real PostgreSQL 15
(started here on 127.0.0.1 from Debian's package, as the ``postgres`` user, in a temp folder)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from cityshare.errors import GateBlocked, SourceError
from cityshare.ingest import ingest
from cityshare.ports import free_port
from cityshare.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
D1, D2 = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
COLUMNS = ("BH", "MC", "JDDM", "GXSJ")


def _project(tmp_path: Path, monkeypatch, server: dict) -> object:
    home = tmp_path / "home"
    shutil.copytree(ROOT / "catalog", home / "catalog")
    shutil.copytree(ROOT / "dbt_project" / "seeds", home / "dbt_project" / "seeds")
    doc = {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "urn:cityshare:contract:zjw:test_permits", "name": "测试许可",
        "version": "1.0.0", "status": "active", "team": {"name": "zjw"}, "servers": [server],
        "schema": [{"name": "test_permits", "properties": [
            {"name": "permit_no", "businessName": "编号", "logicalType": "string", "primaryKey": True, "primaryKeyPosition": 1,
             "required": True, "customProperties": [{"property": "sourceField", "value": "BH"}]},
            {"name": "project_name", "businessName": "名称", "logicalType": "string",
             "customProperties": [{"property": "sourceField", "value": "MC"}]},
            {"name": "street_code", "businessName": "街道代码", "logicalType": "string", "required": True,
             "customProperties": [{"property": "sourceField", "value": "JDDM"}],
             "quality": [{"type": "library", "metric": "invalidValues", "mustBe": 0, "name": "street_code_valid",
                          "arguments": {"referenceSeed": "chongqing_streets", "referenceColumn": "code"}}]},
            {"name": "updated_at", "businessName": "更新时间", "logicalType": "timestamp", "required": True,
             "customProperties": [{"property": "sourceField", "value": "GXSJ"}]}]}],
        "customProperties": [{"property": "quarantineThreshold", "value": 0.3}],
    }
    path = home / "contracts" / "zjw" / "test_permits.odcs.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    return get_settings()


def _read(settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _rows(settings) -> list[tuple]:
    return _read(settings, "SELECT permit_no, updated_at, _load_date FROM raw.zjw__test_permits ORDER BY 2, 1")


def _batches(settings) -> int:
    return _read(settings, "SELECT count(*) FROM meta.batches")[0][0]


def _sqlite(path: Path, rows: list[tuple], fresh: bool = False) -> None:
    con = sqlite3.connect(path)
    if fresh:
        con.execute(f"CREATE TABLE SGXK ({', '.join(c + ' TEXT' for c in COLUMNS)})")
    con.executemany("INSERT INTO SGXK VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()


def _incremental_story(settings, add_rows) -> None:
    """Day 1 reads history; day 2 only what changed since; re-runs reuse; a blocked day does not advance."""
    add_rows([("P1", "一期", "500108003", "2026-11-20 10:00:00"), ("P2", "二期", "500108003", "2026-11-24 09:00:00"),
              ("P3", "三期", "500108003", "2026-11-25 11:00:00"), ("P4", "四期", "500108003", "2026-11-26 08:00:00")])
    first = ingest("zjw/test_permits", D1, settings)
    assert (first["status"], first["rows"]) == ("accepted", 2)  # nothing after the load date is read
    runs = [ingest("zjw/test_permits", D2, settings) for _ in range(3)]
    assert {r["load_id"] for r in runs} == {runs[0]["load_id"]} and runs[0]["rows"] == 1  # only P3
    assert _batches(settings) == 2
    assert [r[0] for r in _rows(settings)] == ["P1", "P2", "P3"]

    # A day whose batch is blocked keeps the watermark where it was: its rows are read again later.
    d3, d4 = D2 + dt.timedelta(days=1), D2 + dt.timedelta(days=2)
    add_rows([("P5", "五期", "500108999", "2026-11-26 09:00:00")])  # P4 + P5(bad street) → 50 % bad > 30 %
    with pytest.raises(GateBlocked):
        ingest("zjw/test_permits", d3, settings)
    add_rows([("P6", "六期", "500108003", "2026-11-27 09:00:00"), ("P7", "七期", "500108003", "2026-11-27 10:00:00"),
              ("P8", "八期", "500108003", "2026-11-27 11:00:00")])
    fourth = ingest("zjw/test_permits", d4, settings)
    assert (fourth["status"], fourth["rows"], fourth["quarantined"]) == ("accepted", 5, 1)  # P4..P8 again, P5 quarantined
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    marks = con.execute("""SELECT w.load_date, w.high_value, b.status
                           FROM meta.watermarks w JOIN meta.batches b USING (dataset, load_id)
                           ORDER BY 1""").fetchall()
    con.close()
    assert [(str(d), h, s) for d, h, s in marks] == [
        ("2026-11-24", "2026-11-24 09:00:00", "accepted"), ("2026-11-25", "2026-11-25 11:00:00", "accepted"),
        ("2026-11-26", "2026-11-26 09:00:00", "blocked"), ("2026-11-27", "2026-11-27 11:00:00", "accepted")]


def test_sqlite_watermark_incremental_idempotent_and_only_committed(tmp_path, monkeypatch):
    db = tmp_path / "zjw.sqlite"
    _sqlite(db, [], fresh=True)
    settings = _project(tmp_path, monkeypatch, {
        "server": "db", "type": "local", "format": "sqlite", "path": str(db),
        "customProperties": [{"property": "table", "value": "SGXK"}, {"property": "watermarkColumn", "value": "GXSJ"}]})
    _incremental_story(settings, lambda rows: _sqlite(db, rows))


def test_missing_watermark_column_and_table_are_named(tmp_path, monkeypatch):
    db = tmp_path / "zjw.sqlite"
    _sqlite(db, [("P1", "一期", "500108003", "2026-11-20 10:00:00")], fresh=True)
    settings = _project(tmp_path, monkeypatch, {
        "server": "db", "type": "local", "format": "sqlite", "path": str(db),
        "customProperties": [{"property": "table", "value": "SGXK"}, {"property": "watermarkColumn", "value": "UPDATE_TIME"}]})
    with pytest.raises(SourceError) as err:
        ingest("zjw/test_permits", D1, settings)
    assert "watermark column 'UPDATE_TIME' is missing" in str(err.value) and "GXSJ" in str(err.value)
    assert not (settings.lake_dir / "raw" / "zjw").exists() or not list((settings.lake_dir / "raw" / "zjw").rglob("*.parquet"))


@pytest.fixture(scope="module")
def postgres():
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql)")
    import tempfile

    # Not under pytest's tmp root: that is private to root (0700) and the postgres user could not enter it.
    root = Path(tempfile.mkdtemp(prefix="cityshare-sources-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(sock, "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
                   check=True, capture_output=True)
    port = free_port()
    subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "start", "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                    f"-h 127.0.0.1 -p {port} -k {sock} -F"], check=True, capture_output=True)
    try:
        import psycopg

        for _ in range(50):
            try:
                con = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
                break
            except psycopg.OperationalError:
                time.sleep(0.1)
        con.execute("CREATE DATABASE zjw")
        con.close()
        yield port
    finally:
        subprocess.run([*as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_watermark_incremental_idempotent_and_only_committed(postgres, tmp_path, monkeypatch):
    import psycopg

    monkeypatch.setenv("ZJW_PG_USER", "postgres")
    con = psycopg.connect(host="127.0.0.1", port=postgres, user="postgres", dbname="zjw", autocommit=True)
    con.execute("DROP SCHEMA IF EXISTS approval CASCADE")
    con.execute('CREATE SCHEMA approval')
    con.execute('CREATE TABLE approval."SGXK" ("BH" text, "MC" text, "JDDM" text, "GXSJ" timestamp)')

    def add(rows):
        with con.cursor() as cur:
            cur.executemany('INSERT INTO approval."SGXK" VALUES (%s, %s, %s, %s)', rows)

    settings = _project(tmp_path, monkeypatch, {
        "server": "pg", "type": "postgresql", "host": "127.0.0.1", "port": postgres, "database": "zjw", "schema": "approval",
        "customProperties": [{"property": "table", "value": "SGXK"}, {"property": "watermarkColumn", "value": "GXSJ"},
                             {"property": "userEnv", "value": "ZJW_PG_USER"}, {"property": "fetchSize", "value": 2}]})
    try:
        _incremental_story(settings, add)
    finally:
        con.close()


def test_postgres_unreachable_is_a_clear_error(tmp_path, monkeypatch):
    settings = _project(tmp_path, monkeypatch, {
        "server": "pg", "type": "postgresql", "host": "127.0.0.1", "port": free_port(), "database": "zjw", "schema": "public",
        "customProperties": [{"property": "table", "value": "SGXK"}, {"property": "watermarkColumn", "value": "GXSJ"},
                             {"property": "timeoutSeconds", "value": 2}]})
    with pytest.raises(SourceError, match=r"postgresql://127\.0\.0\.1:\d+/zjw: cannot connect"):
        ingest("zjw/test_permits", D1, settings)
    assert os.environ.get("CITYSHARE_HOME", "").startswith(str(tmp_path))


def test_the_window_travels_with_the_batch_and_is_recorded_with_the_gate_decision(tmp_path, monkeypatch):
    """Extract and land write nothing to the warehouse: the window rides in the landed Parquet's metadata to the
    gate task (a separate process under Airflow), which records it in the transaction of its decision."""
    from cityshare.ingest import gate_batch, land_batch

    db = tmp_path / "zjw.sqlite"
    _sqlite(db, [("P1", "一期", "500108003", "2026-11-20 10:00:00")], fresh=True)
    settings = _project(tmp_path, monkeypatch, {
        "server": "db", "type": "local", "format": "sqlite", "path": str(db),
        "customProperties": [{"property": "table", "value": "SGXK"}, {"property": "watermarkColumn", "value": "GXSJ"}]})
    landed = land_batch("zjw/test_permits", D1, settings)
    assert not settings.warehouse_path.exists() or _windows(settings) == []
    gate_batch("zjw/test_permits", D1, landed["load_id"], settings)
    assert _windows(settings) == [(landed["load_id"], "GXSJ", None, "2026-11-20 10:00:00", 1)]


def _windows(settings) -> list[tuple]:
    return _read(settings, "SELECT load_id, watermark_column, low_value, high_value, rows FROM meta.watermarks")
