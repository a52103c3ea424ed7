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


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "row-path"])
def test_postgres_watermark_incremental_idempotent_and_only_committed(postgres, tmp_path, monkeypatch, bulk):
    """The incremental story on either reader: same windows, re-runs reuse the batch, blocked days do not advance;
    the ingest result says which reader ran."""
    import psycopg

    monkeypatch.setenv("ZJW_PG_USER", "postgres")
    con = psycopg.connect(host="127.0.0.1", port=postgres, user="postgres", dbname="zjw", autocommit=True)
    con.execute("DROP SCHEMA IF EXISTS approval CASCADE")
    con.execute('CREATE SCHEMA approval')
    con.execute('CREATE TABLE approval."SGXK" ("BH" text, "MC" varchar(20), "JDDM" text, "GXSJ" timestamp)')

    def add(rows):
        with con.cursor() as cur:
            cur.executemany('INSERT INTO approval."SGXK" VALUES (%s, %s, %s, %s)', rows)

    settings = _project(tmp_path, monkeypatch, {
        "server": "pg", "type": "postgresql", "host": "127.0.0.1", "port": postgres, "database": "zjw", "schema": "approval",
        "customProperties": [{"property": "table", "value": "SGXK"}, {"property": "watermarkColumn", "value": "GXSJ"},
                             {"property": "userEnv", "value": "ZJW_PG_USER"}, {"property": "fetchSize", "value": 2},
                             {"property": "bulkRead", "value": bulk}]})
    try:
        _incremental_story(settings, add)
        result = ingest("zjw/test_permits", D2, settings)
        assert (result["reader"], result["reader_reason"], result["reused"]) == (
            ("bulk", "", True) if bulk else ("tolerant", "row path: bulkRead: false in the contract", True))
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


# --- PostgreSQL's bulk reader (COPY into Arrow) against the row path -------------------------------------------------

# Every type departments use, with the values where a text rendering could go wrong. Column → (SQL type, logical type,
# values); a row takes the i-th value of each column (NULL past the end), the watermark GXSJ is one second apart.
TYPED = {
    "t_text": ("text", "string", ["plain", "", " ", "\t\n", "\u3000", "全角ＡＢＣ１２３", "😀🏙️ emoji", "a,b", 'say "hi"',
                                  "line1\nline2", "back\\slash", "tab\there", "\r\n", " lead", "trail ", "\\N", "#hash",
                                  ",", '"', "\\.", "x\x1cy", "\x85", "NULL", None]),
    "t_varchar": ("varchar(40)", "string", ["南坪西路1号", "", "  ", "a\"b,c\nd"]),
    "t_char": ("char(5)", "string", ["ab", "", "全角", "abcde"]),
    "t_int2": ("int2", "integer", [-32768, 0, 32767]),
    "t_int4": ("int4", "integer", [-2147483648, 0, 2147483647, 500108003]),
    "t_int8": ("int8", "integer", [-9223372036854775808, 9223372036854775807, 0]),
    "t_numeric": ("numeric", "number", ["12.00", "1e20", "0.1", "12.50", "-0.5", "0", "0.00", "-12.000",
                                         "123456789012345678901234567890", "1234567890123456789012345678.00",
                                         "99999999999999999999999999999.5", "0.0000001", "0.000001", "-0.00000123",
                                         "1e-20", "NaN", "Infinity", "-Infinity", "100", "3.14159265358979323846"]),
    "t_money": ("numeric(10,2)", "number", ["12.00", "3.10", "-0.01", "99999999.99"]),
    "t_float8": ("float8", "number", [3.0, 1e15, 1e16, 0.1, float("nan"), float("inf"), float("-inf"), -0.0, 1.5e15,
                                      999999999999999.9, 1e-5, 0.0001, 1.7976931348623157e308, 5e-324, 123456.789,
                                      -2.5, 1e14, 12345678901234567890.0, 0.1 + 0.2, 1e100, -1e-300, 2.0**53]),
    "t_float4": ("real", "number", [3.0, 0.1, 1e6, 1234567.9, 1e-5, 16777216.0, 1e16, 3.4e38, -0.0, float("nan"),
                                    123456.7, 123456789.0, 0.0001, 1e-45, float("-inf")]),
    "t_bool": ("bool", "boolean", [True, False, None]),
    "t_date": ("date", "date", ["2026-11-25", "0005-01-01", "9999-12-31", "2024-02-29"]),
    "t_ts": ("timestamp", "timestamp", ["2026-11-25 10:00:00", "2026-11-25 10:00:00.5", "2026-11-25 10:00:00.000001",
                                        "0999-12-31 23:59:59", "1000-01-01 00:00:00", "9999-12-31 23:59:59.999999"]),
    "t_tstz": ("timestamptz", "timestamp", ["2026-11-25 10:00:00+08", "2026-11-25 10:00:00.25+00", "1900-06-01 12:00:00+08",
                                            "0999-06-01 12:00:00+00", "2026-03-29 02:30:00+02"]),
    "t_json": ("json", "string", ['{"b": 1, "a": [1.0, "x"], "c": "全角"}', '"text"', "3", "3.0", "null", "[]",
                                  '{"a": 1, "a": 2}', "1e400", '"  "', '{"k": "line\\nbreak", "e": "😀"}']),
    "t_jsonb": ("jsonb", "string", ['{"b": 1, "a": [1.0, "x"], "c": "全角"}', '"text"', "3", "3.0", "null", "[]",
                                    '{"aa": 1, "b": 2}', '" "', "12345678901234567890.5"]),
    "t_uuid": ("uuid", "string", ["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "00000000-0000-0000-0000-000000000000"]),
    "t_interval": ("interval", "string", ["1 day 02:00:00", "-3 mons", "00:00:00.5"]),
}


def _typed_project(tmp_path: Path, monkeypatch, port: int, database: str, table: str, columns: dict, wm: str = "GXSJ",
                   **server_options) -> object:
    """A home with one contract reading ``table`` in bulk and one reading it row by row (bulkRead: false)."""
    home = tmp_path / "home"
    shutil.copytree(ROOT / "catalog", home / "catalog")
    shutil.copytree(ROOT / "dbt_project" / "seeds", home / "dbt_project" / "seeds")
    for name, bulk in (("typed_bulk", True), ("typed_rows", False)):
        options = {"table": table, "watermarkColumn": wm, "userEnv": "ZJW_PG_USER", "bulkRead": bulk, **server_options}
        props = [{"name": c.lower(), "businessName": c, "logicalType": logical,
                  "customProperties": [{"property": "sourceField", "value": source}]}
                 for c, (source, logical) in columns.items()]
        doc = {"apiVersion": "v3.1.0", "kind": "DataContract", "id": f"urn:cityshare:contract:zjw:{name}", "name": name,
               "version": "1.0.0", "status": "active", "team": {"name": "zjw"},
               "servers": [{"server": "pg", "type": "postgresql", "host": "127.0.0.1", "port": port, "database": database,
                            "schema": "public",
                            "customProperties": [{"property": k, "value": v} for k, v in options.items()]}],
               "schema": [{"name": name, "properties": props}]}
        path = home / "contracts" / "zjw" / f"{name}.odcs.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ZJW_PG_USER", "postgres")
    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    return get_settings()


def _typed_table(port: int, database: str, table: str, spec: dict) -> None:
    import psycopg

    admin = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
        admin.execute(f'CREATE DATABASE "{database}"')
    admin.close()
    con = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname=database, autocommit=True)
    con.execute(f'DROP TABLE IF EXISTS "{table}"')
    con.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c} {t}" for c, (t, _, _) in spec.items())}, "GXSJ" timestamp)')
    rows = max(len(values) for _, _, values in spec.values())
    with con.cursor() as cur:
        for i in range(rows):
            values = [vs[i] if i < len(vs) else None for _, _, vs in spec.values()]
            cur.execute(f'INSERT INTO "{table}" VALUES ({", ".join(f"%s::{t}" for t, _, _ in spec.values())}, %s)',
                        [*values, dt.datetime(2026, 11, 20) + dt.timedelta(seconds=i)])
    con.close()


def _read_both(settings) -> tuple[dict, dict]:
    """Each contract's extract of D1: its rows (every column's text), fingerprint, window and reader."""
    from cityshare.contracts.model import get_contract
    from cityshare.sources import extract

    out = {}
    for key in ("zjw/typed_bulk", "zjw/typed_rows"):
        ex = extract(get_contract(key, settings), D1, settings)
        rows = [row for batch in ex.batches for row in zip(*(c.to_pylist() for c in batch.columns), strict=True)]
        out[key] = {"rows": rows, "fingerprint": ex.fingerprint, "watermark": ex.watermark,
                    "delivered_at": ex.delivered_at, "reader": (ex.reader, ex.native_reason)}
    return out["zjw/typed_bulk"], out["zjw/typed_rows"]


def test_postgres_bulk_reader_lands_every_type_exactly_as_the_row_path(postgres, tmp_path, monkeypatch):
    import psycopg

    _typed_table(postgres, "types", "typed", TYPED)
    con = psycopg.connect(host="127.0.0.1", port=postgres, user="postgres", dbname="types", autocommit=True)
    con.execute("ALTER DATABASE types SET timezone TO 'Asia/Shanghai'")  # the departments' zone, not the server's UTC
    con.close()
    columns = {c: (c, logical) for c, (_, logical, _) in TYPED.items()}
    columns["t_ts_day"] = ("t_ts", "date")  # a timestamp column the contract reads as a date
    columns["t_tstz_day"] = ("t_tstz", "date")
    settings = _typed_project(tmp_path, monkeypatch, postgres, "types", "typed", columns, fetchSize=7)
    bulk, rows = _read_both(settings)

    assert bulk["reader"] == ("bulk", "column(s) t_json (json), t_jsonb (jsonb), t_interval (interval) converted value "
                                      "by value as on the row path")
    assert rows["reader"] == ("tolerant", "row path: bulkRead: false in the contract")
    assert len(rows["rows"]) == 24
    names = list(columns)
    for i, (got, want) in enumerate(zip(bulk["rows"], rows["rows"], strict=True)):
        assert got == want, [(names[j], g, w) for j, (g, w) in enumerate(zip(got, want, strict=True)) if g != w] + [i]
    assert bulk["fingerprint"] == rows["fingerprint"]
    assert (bulk["watermark"], bulk["delivered_at"]) == (rows["watermark"], rows["delivered_at"])
    assert bulk["watermark"].rows == 24 and bulk["watermark"].high == "2026-11-20 00:00:23"

    # What a user checks in the landed batch: blanks are null, numbers lose no digit, times are local wall-clock text.
    by_name = {name: [r[names.index(name)] for r in bulk["rows"]] for name in names}
    assert by_name["t_text"][:6] == ["plain", None, None, None, None, "全角ＡＢＣ１２３"]
    assert by_name["t_char"][:3] == ["ab   ", None, "全角   "]
    assert by_name["t_numeric"][:4] == ["12", "100000000000000000000", "0.1", "12.50"]
    assert by_name["t_numeric"][8] == "123456789012345678901234567900"  # Decimal.normalize's 28 digits, as before
    assert by_name["t_float8"][:8] == ["3", "1000000000000000.0", "1e+16", "0.1", "nan", "inf", "-inf", "0"]
    assert by_name["t_float4"][:4] == ["3", "0.1", "1000000", "1234567.9"]
    assert by_name["t_bool"][:3] == ["true", "false", None]
    assert by_name["t_ts"][:4] == ["2026-11-25 10:00:00", "2026-11-25 10:00:00.500000", "2026-11-25 10:00:00.000001",
                                   "999-12-31 23:59:59"]
    assert by_name["t_tstz"][:2] == ["2026-11-25 10:00:00", "2026-11-25 18:00:00.250000"]  # Asia/Shanghai (UTC+8)
    assert by_name["t_tstz_day"][:2] == ["2026-11-25", "2026-11-25"]
    assert by_name["t_json"][:3] == ['{"a": [1.0, "x"], "b": 1, "c": "全角"}', "text", "3"]
    assert by_name["t_uuid"][0] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def test_postgres_bulk_reader_matches_the_row_path_on_random_numbers(postgres, tmp_path, monkeypatch):
    """Random doubles over the whole range (by their bits), floats rounded to real, and numerics of every scale."""
    import random
    import struct

    rng = random.Random(24)
    doubles = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    doubles += [rng.choice([1, -1]) * rng.random() * 10 ** rng.randint(-8, 20) for _ in range(3000)]
    doubles += [float(rng.randint(-10**17, 10**17)) * 10 ** rng.randint(0, 25) for _ in range(1000)]
    numerics = [f"{rng.randint(-10**12, 10**12)}.{rng.randint(0, 10**rng.randint(0, 9))}"[:rng.randint(3, 30)].rstrip(".")
                for _ in range(3000)] + [f"{rng.randint(0, 10**40)}e{rng.randint(-45, 5)}" for _ in range(1000)]
    spec = {"f8": ("float8", "number", doubles), "f4": ("real", "number", [d if 1e-37 < abs(d) < 3e38 else 1.0 for d in doubles]),
            "n": ("numeric", "number", numerics)}
    _typed_table(postgres, "types", "numbers", spec)
    settings = _typed_project(tmp_path, monkeypatch, postgres, "types", "numbers",
                              {c: (c, logical) for c, (_, logical, _) in spec.items()}, fetchSize=2500)
    bulk, rows = _read_both(settings)
    assert bulk["reader"] == ("bulk", "") and len(rows["rows"]) == 7000
    assert bulk["rows"] == rows["rows"] and bulk["fingerprint"] == rows["fingerprint"]


def test_postgres_bulk_and_row_path_give_one_batch_for_one_window(postgres, tmp_path, monkeypatch):
    """A re-run of a load date lands the same batch whichever reader runs (the fingerprint is the reader's
    batches' content, not how they were read); the land record says which reader ran and why."""
    from cityshare.ingest import land_batch

    spec = {k: TYPED[k] for k in ("t_text", "t_numeric", "t_float8", "t_ts", "t_tstz", "t_jsonb")}
    _typed_table(postgres, "types", "rerun", spec)
    settings = _typed_project(tmp_path, monkeypatch, postgres, "types", "rerun", {c: (c, lg) for c, (_, lg, _) in spec.items()})
    # Both contracts read the same table (each lands in its dataset's folder): one load id, and a re-run reuses it.
    bulk = land_batch("zjw/typed_bulk", D1, settings)
    rows = land_batch("zjw/typed_rows", D1, settings)
    again = land_batch("zjw/typed_bulk", D1, settings)
    assert (bulk["reader"], bulk["reader_reason"]) == ("bulk", "column(s) t_jsonb (jsonb) converted value by value as on "
                                                                "the row path")
    assert (rows["reader"], rows["reader_reason"]) == ("tolerant", "row path: bulkRead: false in the contract")
    assert bulk["load_id"] == rows["load_id"] == again["load_id"] and again["reused"]
    assert bulk["rows"] == rows["rows"] == 24


def test_postgres_session_in_gbk_is_read_by_the_row_path_and_says_why(postgres, tmp_path, monkeypatch):
    """A department database whose sessions speak GBK (a legacy client_encoding): the bulk reader reads UTF-8
    only, so the window lands through the row path, with the same rows, and the record says why."""
    import psycopg

    spec = {"t_text": ("text", "string", ["南坪西路1号", "  ", "全角ＡＢＣ"]), "t_n": ("numeric", "number", ["12.00", "0.5"])}
    _typed_table(postgres, "legacy", "gbk", spec)
    con = psycopg.connect(host="127.0.0.1", port=postgres, user="postgres", dbname="legacy", autocommit=True)
    con.execute("ALTER DATABASE legacy SET client_encoding TO 'GBK'")
    con.close()
    settings = _typed_project(tmp_path, monkeypatch, postgres, "legacy", "gbk", {c: (c, lg) for c, (_, lg, _) in spec.items()})
    bulk, rows = _read_both(settings)
    assert bulk["reader"] == ("tolerant", "row path: the client encoding is gbk, the bulk reader reads UTF-8")
    assert bulk["rows"] == rows["rows"] == [("南坪西路1号", "12"), (None, "0.5"), ("全角ＡＢＣ", None)]
    assert bulk["fingerprint"] == rows["fingerprint"]


def test_the_fingerprint_is_the_rows_not_how_they_were_batched():
    import pyarrow as pa

    from cityshare.sources.base import BatchDigest

    def batch(rows: list) -> pa.RecordBatch:
        return pa.RecordBatch.from_pylist([{"a": a, "b": b} for a, b in rows],
                                          schema=pa.schema([("a", pa.string()), ("b", pa.string())]))

    def digest(*batches: pa.RecordBatch) -> str:
        d = BatchDigest("t|GXSJ|None|2026-11-25 00:00:00|a,b", 2)
        for b in batches:
            d.update(b)
        return d.hexdigest()

    rows = [("ab", "1"), ("c", None), ("", "全角"), (None, "x")]
    assert digest(batch(rows)) == digest(batch(rows[:1]), batch(rows[1:3]), batch(rows[3:])) \
        == digest(batch(rows[:3]), batch([]), batch(rows[3:]))
    assert digest(batch(rows).slice(1, 2)) == digest(batch(rows[1:3]))  # a slice hashes its own rows only
    assert digest(batch(rows)) != digest(batch([("a", "1"), ("bc", None), ("", "全角"), (None, "x")]))  # boundaries
    assert digest(batch(rows)) != digest(batch([("ab", "1"), ("c", ""), ("", "全角"), (None, "x")]))  # null ≠ empty
    assert digest(batch(rows)) != digest(batch(rows[::-1]))  # order counts: _source_row follows it


def test_postgres_floats_printed_short_by_extra_float_digits_are_converted_as_on_the_row_path(postgres, tmp_path,
                                                                                             monkeypatch):
    """A database that sets extra_float_digits below 1 prints floats rounded (%.12g here): the bulk reader cannot
    render them as repr would, so that column goes value by value, as the row path reads it."""
    import psycopg

    spec = {"f8": ("float8", "number", [1e13, 0.1 + 0.2, 123456789.123, 1e15, -0.0, 2.5e-7])}
    _typed_table(postgres, "rounded", "floats", spec)
    con = psycopg.connect(host="127.0.0.1", port=postgres, user="postgres", dbname="rounded", autocommit=True)
    con.execute("ALTER DATABASE rounded SET extra_float_digits TO -3")
    con.close()
    settings = _typed_project(tmp_path, monkeypatch, postgres, "rounded", "floats", {"f8": ("f8", "number")})
    bulk, rows = _read_both(settings)
    assert bulk["reader"] == ("bulk", "column(s) f8 (float8) converted value by value as on the row path")
    assert bulk["rows"] == rows["rows"] == [("10000000000000",), ("0.3",), ("123456789.123",), ("1000000000000000.0",), ("0",),
                                            ("2.5e-07",)]


def test_a_server_that_refuses_the_copy_is_read_by_the_row_path(postgres, tmp_path, monkeypatch):
    """A PostgreSQL-compatible server without ``COPY (SELECT …) TO STDOUT`` (simulated: the COPY raises before any
    row): the window lands through the row path with the same rows, and the record says why."""
    import psycopg

    from cityshare.ingest import land_batch
    from cityshare.sources import pg_bulk

    def refused(*args, **kwargs):
        raise psycopg.errors.FeatureNotSupported("COPY is not supported")
        yield

    spec = {k: TYPED[k] for k in ("t_text", "t_numeric")}
    _typed_table(postgres, "types", "refused", spec)
    settings = _typed_project(tmp_path, monkeypatch, postgres, "types", "refused", {c: (c, lg) for c, (_, lg, _) in spec.items()})
    rows = land_batch("zjw/typed_rows", D1, settings)
    monkeypatch.setattr(pg_bulk, "copy_blocks", refused)
    landed = land_batch("zjw/typed_bulk", D1, settings)
    assert (landed["reader"], landed["reader_reason"]) == ("tolerant", "row path: the bulk reader's COPY failed (SQLSTATE 0A000)")
    assert (landed["load_id"], landed["rows"]) == (rows["load_id"], 24)  # the batch the row path lands
