"""The metadata schema upgrades a warehouse of an earlier release in place, once, and records its version."""

from __future__ import annotations

import duckdb

from cityshare.meta.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from cityshare.warehouse import connect

OLD = """CREATE SCHEMA meta;
CREATE TABLE meta.batches (
    dataset VARCHAR, load_id VARCHAR, load_date DATE, source VARCHAR, raw_path VARCHAR,
    accepted_path VARCHAR, quarantine_path VARCHAR, rows_landed BIGINT, rows_accepted BIGINT,
    rows_quarantined BIGINT, status VARCHAR, reason VARCHAR, gated_at TIMESTAMP,
    PRIMARY KEY (dataset, load_id));
CREATE TABLE meta.quality_history (dataset VARCHAR, load_id VARCHAR, stage VARCHAR, rule VARCHAR)"""
# before the commit sequence, the delivery time, Data Docs links in the history and relative paths


def test_a_new_warehouse_holds_the_latest_version(settings):
    with connect(settings) as con:
        assert schema_version(con) == SCHEMA_VERSION == len(MIGRATIONS)
        assert con.execute("SELECT list(version ORDER BY version) FROM meta.schema_version").fetchone()[0] == [
            version for version, _ in MIGRATIONS]


def test_an_old_warehouse_is_upgraded_in_place_once(settings):
    settings.warehouse_path.parent.mkdir(parents=True)
    accepted = f"{settings.data_dir}/lake/accepted/d__x/20261101-a.parquet"
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(OLD)
        con.execute("INSERT INTO meta.batches (dataset, load_id, load_date, accepted_path, status, gated_at) "
                    "VALUES ('d/x', '20261101-a', '2026-11-01', ?, 'accepted', '2026-11-01 09:00')", [accepted])
    for _ in range(2):
        with connect(settings) as con:
            row = con.execute("SELECT accepted_path, seq, delivered_at FROM meta.batches").fetchone()
            applied = con.execute("SELECT count(*) FROM meta.schema_version").fetchone()[0]
            history = {c for (c,) in con.execute("SELECT column_name FROM duckdb_columns() "
                                                 "WHERE table_name = 'quality_history'").fetchall()}
        assert row == ("lake/accepted/d__x/20261101-a.parquet", 1, None)
        assert "data_docs_url" in history
        assert applied == len(MIGRATIONS)  # the second connection found the version and ran nothing again
