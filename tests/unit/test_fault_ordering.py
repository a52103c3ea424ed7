"""Fault #2 (issue 32): which batch of a load date is current must not depend on a worker's wall clock.

A corrected re-delivery gated on a worker whose clock runs an hour slow must become current; the
warehouse orders batches by a sequence it assigns at commit. Warehouses written before the sequence
existed are migrated in place (the column added, backfilled in their old ``gated_at`` order).
"""

from __future__ import annotations

import datetime as dt
import types

import duckdb
import pytest
from reliability_support import world
from test_directory_support import DAYS

import cityshare.ingest
import cityshare.lake
from cityshare.ingest import ingest
from cityshare.meta.batches import LATEST_ACCEPTED
from cityshare.warehouse import connect

pytestmark = pytest.mark.faults

KEY, RAW = "scjgj/business_registry", "scjgj__business_registry"


class _SlowClock(dt.datetime):
    """The clock of a worker that runs one hour slow."""

    @classmethod
    def now(cls, tz=None):
        return dt.datetime.now(tz) - dt.timedelta(hours=1)


def _slow_worker(monkeypatch) -> None:
    skewed = types.SimpleNamespace(**{**vars(dt), "datetime": _SlowClock})
    for module in (cityshare.ingest, cityshare.lake):  # every wall-clock read on the ingest path
        monkeypatch.setattr(module, "dt", skewed)


def _raw(settings, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_a_correction_gated_on_a_slow_clock_becomes_current(tmp_path, monkeypatch):
    settings = world(tmp_path / "home")
    day = DAYS[0]
    first = ingest(KEY, day, settings)
    inbox = settings.inbox_dir / "scjgj" / "business_registry" / f"business_registry_{day}.csv"
    header, row, *rest = inbox.read_text(encoding="utf-8").splitlines()
    uscc = row.split(",")[0]
    fields = row.split(",")
    fields[8] += "（更正）"  # the department corrects one address and delivers the day again
    inbox.write_text("\n".join([header, ",".join(fields), *rest]) + "\n", encoding="utf-8")

    _slow_worker(monkeypatch)
    second = ingest(KEY, day, settings)
    assert second["status"] == "accepted" and second["load_id"] != first["load_id"]
    gated = dict(_raw(settings, "SELECT load_id, gated_at FROM meta.batches WHERE dataset = ?", [KEY]))
    assert gated[second["load_id"]] < gated[first["load_id"]]  # the skew is real: the correction looks older
    assert _raw(settings, f'SELECT DISTINCT _load_id FROM raw."{RAW}"') == [(second["load_id"],)]
    assert _raw(settings, f'SELECT address FROM raw."{RAW}" WHERE uscc = ?', [uscc]) == [(fields[8],)]


OLD_BATCHES = """CREATE TABLE meta.batches (
    dataset VARCHAR, load_id VARCHAR, load_date DATE, source VARCHAR, raw_path VARCHAR,
    accepted_path VARCHAR, quarantine_path VARCHAR, rows_landed BIGINT, rows_accepted BIGINT,
    rows_quarantined BIGINT, status VARCHAR, reason VARCHAR, gated_at TIMESTAMP,
    PRIMARY KEY (dataset, load_id))"""  # the table as warehouses before the sequence hold it


def test_an_existing_warehouse_gets_the_sequence_in_its_old_gated_at_order(settings):
    settings.warehouse_path.parent.mkdir(parents=True)
    old = [("d/x", "20261101-old", "2026-11-01", "2026-11-01 09:00:00"),
           ("d/x", "20261101-new", "2026-11-01", "2026-11-02 09:00:00"),
           ("d/x", "20261102-a", "2026-11-02", "2026-11-01 12:00:00"),
           ("d/y", "20261101-y", "2026-11-01", "2026-11-01 10:00:00")]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE SCHEMA meta")
        con.execute(OLD_BATCHES)
        for dataset, load_id, day, at in old:
            con.execute("INSERT INTO meta.batches (dataset, load_id, load_date, accepted_path, rows_accepted, status, "
                        "gated_at) VALUES (?, ?, ?, ?, 1, 'accepted', ?)", [dataset, load_id, day, f"/{load_id}", at])
        before = sorted(con.execute(f"SELECT dataset, load_id FROM ({LATEST_ACCEPTED.replace('seq', 'gated_at')})"
                                    ).fetchall())
    for _ in range(2):  # migrating twice changes nothing
        with connect(settings) as con:
            seqs = dict(con.execute("SELECT load_id, seq FROM meta.batches").fetchall())
            after = sorted(con.execute(f"SELECT dataset, load_id FROM ({LATEST_ACCEPTED})").fetchall())
        assert sorted(seqs, key=seqs.get) == ["20261101-old", "20261101-y", "20261102-a", "20261101-new"]
        assert after == before == [("d/x", "20261101-new"), ("d/x", "20261102-a"), ("d/y", "20261101-y")]
