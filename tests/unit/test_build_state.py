"""Selective builds (cityshare/build_state.py): a build runs only what new non-empty batches reach, and
falls back to building everything whenever what it recorded can no longer be trusted."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import shutil
import sys
from pathlib import Path

import duckdb

from cityshare import build_state
from cityshare.ingest import gate_batch, land_batch
from cityshare.lake import content_hash_sql
from cityshare.meta.batches import next_batch_seq
from cityshare.meta.schema import DDL
from cityshare.settings import PROJECT_ROOT
from cityshare.simulate import simulate
from cityshare.transform import build

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.run import make_home

RAW = {"jtj/parking_occupancy": "jtj__parking_occupancy", "zjw/bridge_sensor_readings": "zjw__bridge_sensor_readings"}


def _batch(con, dataset: str, day: str, load_id: str, rows: int, status: str = "accepted",
           content: str | None = None) -> None:
    con.execute("INSERT INTO meta.batches (dataset, load_id, load_date, accepted_path, rows_accepted, status, gated_at, "
                "seq) VALUES (?, ?, ?, ?, ?, ?, now(), ?)",
                [dataset, load_id, day, f"/lake/{load_id}.parquet", rows, status, next_batch_seq(con)])
    if content:
        con.execute("INSERT INTO meta.batch_contents VALUES (?, ?, ?)", [dataset, load_id, content])


def _recorded(con, settings, tables=("standard.stg_jtj__parking_occupancy",)) -> None:
    """A warehouse after a successful build holding ``tables``."""
    for table in tables:
        schema, name = table.split(".")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE IF NOT EXISTS {schema}.{name} (x INT)")
    target = settings.dbt_target_dir
    target.mkdir(parents=True, exist_ok=True)
    nodes = {t: {"resource_type": "model", "schema": t.split(".")[0], "alias": t.split(".")[1]} for t in tables}
    (target / "manifest.json").write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
    build_state.record(con, settings, build_state.plan(con, settings, RAW))


def _settings_with_own_project(settings, tmp_path):
    shutil.copytree(PROJECT_ROOT / "dbt_project", tmp_path / "home" / "dbt_project",
                    ignore=shutil.ignore_patterns("target", "logs", "_generated"))
    return dataclasses.replace(settings, project_root=tmp_path / "home")


def test_plan_selects_sources_with_new_non_empty_batches(settings, tmp_path):
    settings = _settings_with_own_project(settings, tmp_path)
    with duckdb.connect(":memory:") as con:
        con.execute(DDL)
        assert build_state.plan(con, settings, RAW).reason == "first build of this warehouse"
        _batch(con, "jtj/parking_occupancy", "2026-11-01", "a1", 10)
        _batch(con, "zjw/bridge_sensor_readings", "2026-11-01", "b1", 10)
        _recorded(con, settings)
        assert build_state.plan(con, settings, RAW).nothing_to_do

        _batch(con, "zjw/bridge_sensor_readings", "2026-11-02", "b2", 0)  # an empty day: nothing to rebuild
        _batch(con, "jtj/parking_occupancy", "2026-11-02", "a2", 5, status="blocked")  # never reaches dbt
        assert build_state.plan(con, settings, RAW).nothing_to_do

        _batch(con, "jtj/parking_occupancy", "2026-11-02", "a3", 7)
        plan = build_state.plan(con, settings, RAW)
        assert (plan.full, plan.changed_sources) == (False, ("jtj__parking_occupancy",))
        assert plan.select == ["source:raw.jtj__parking_occupancy+"]
        build_state.record(con, settings, plan)
        assert build_state.plan(con, settings, RAW).nothing_to_do

        # a load date gated again with an empty batch removes that day's rows: its source changed
        _batch(con, "zjw/bridge_sensor_readings", "2026-11-01", "b3", 0)
        assert build_state.plan(con, settings, RAW).changed_sources == ("zjw__bridge_sensor_readings",)


def test_a_snapshot_repeating_the_previous_batch_builds_nothing(settings, tmp_path):
    settings = _settings_with_own_project(settings, tmp_path)
    with duckdb.connect(":memory:") as con:
        con.execute(DDL)
        _batch(con, "jtj/parking_occupancy", "2026-11-01", "a1", 10, content="rows-1")
        _recorded(con, settings)
        _batch(con, "jtj/parking_occupancy", "2026-11-02", "a2", 10, content="rows-1")  # the same rows again
        assert build_state.plan(con, settings, RAW).nothing_to_do
        _batch(con, "jtj/parking_occupancy", "2026-11-03", "a3", 10, content="rows-2")  # one row changed
        assert build_state.plan(con, settings, RAW).changed_sources == ("jtj__parking_occupancy",)
        _recorded(con, settings)
        _batch(con, "jtj/parking_occupancy", "2026-11-04", "a4", 10, content="rows-1")  # back to day 1's rows
        assert build_state.plan(con, settings, RAW).changed_sources == ("jtj__parking_occupancy",)
        _recorded(con, settings)
        _batch(con, "jtj/parking_occupancy", "2026-11-05", "a5", 10)  # gated before contents were recorded
        _batch(con, "jtj/parking_occupancy", "2026-11-06", "a6", 10)
        assert build_state.plan(con, settings, RAW).changed_sources == ("jtj__parking_occupancy",)


def test_content_hash_names_the_rows_whatever_their_order():
    with duckdb.connect(":memory:") as con:
        def content(*rows: str) -> str:
            values = ", ".join(f"(md5('{r}'))" for r in rows)
            return con.execute(content_hash_sql(f"(VALUES {values}) AS t(_row_hash)")).fetchone()[0]

        assert content("a", "b", "c") == content("c", "a", "b")
        assert content("a", "b", "c") != content("a", "b", "d")  # a changed row
        assert content("a", "b", "c") != content("a", "b", "c", "c")  # a repeated row
        assert content("a", "b") != content("a", "b", "c")


def test_plan_builds_everything_when_the_record_cannot_be_trusted(settings, tmp_path):
    settings = _settings_with_own_project(settings, tmp_path)
    with duckdb.connect(":memory:") as con:
        con.execute(DDL)
        _batch(con, "jtj/parking_occupancy", "2026-11-01", "a1", 10)
        _recorded(con, settings)
        assert build_state.plan(con, settings, RAW).nothing_to_do
        assert build_state.plan(con, settings, RAW, full_refresh=True).refresh

        model = next((settings.dbt_project_dir / "models" / "theme").rglob("*.sql"))
        model.write_text(model.read_text(encoding="utf-8") + "\n-- reviewed\n", encoding="utf-8")
        plan = build_state.plan(con, settings, RAW)
        assert plan.full and plan.refresh and "project" in plan.reason  # incremental models too: old SQL made them
        build_state.record(con, settings, plan)

        other_key = dataclasses.replace(settings, token_key="another-city-key")
        assert build_state.plan(con, other_key, RAW).full

        con.execute("DROP TABLE standard.stg_jtj__parking_occupancy")
        plan = build_state.plan(con, settings, RAW)
        assert plan.full and not plan.refresh and "standard.stg_jtj__parking_occupancy" in plan.reason


def test_a_day_of_one_feed_rebuilds_only_its_downstream_models_and_tests(tmp_path):
    home = tmp_path / "home"
    make_home(home, port=9)
    from reliability_support import settings_for

    settings = settings_for(home)
    days = [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
    simulate(settings, days=2, start=days[0], scale=0.05, defect_rate=0.0, seed=11)
    for key in RAW:
        gate_batch(key, days[0], land_batch(key, days[0], settings)["load_id"], settings)
    assert build(settings)["selected"] == "all"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:  # each accepted batch's content
        contents = con.execute("SELECT dataset, content_hash FROM meta.batch_contents "
                               "JOIN meta.batches USING (dataset, load_id)").fetchall()
    assert sorted(c[0] for c in contents) == sorted(RAW) and all(re.fullmatch("[0-9a-f]{32}", c[1]) for c in contents)
    assert build(settings) == {"nodes": 0, "models": 0, "failed": {}, "selected": [],
                               "reason": "no new batches since the last build", "raw_views_refreshed": 0,
                               "nothing_built": True}

    gate_batch("jtj/parking_occupancy", days[1], land_batch("jtj/parking_occupancy", days[1], settings)["load_id"], settings)
    out = build(settings)
    assert out["selected"] == ["jtj__parking_occupancy"]

    target = settings.dbt_target_dir
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    downstream, todo = set(), ["source.cityshare.raw.jtj__parking_occupancy"]
    while todo:
        for child in manifest["child_map"][todo.pop()]:
            if child not in downstream:
                downstream.add(child)
                todo.append(child)
    ran = {r["unique_id"] for r in json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
           if not r["unique_id"].startswith("operation.")}  # the project's on-run-start hook
    assert ran == {n for n in downstream if n.split(".")[0] in ("model", "test")}
    assert "model.cityshare.stg_zjw__bridge_sensor_readings" not in ran and out["models"] == len(
        [n for n in ran if n.startswith("model.")])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        dates = {r[0] for r in con.execute("SELECT DISTINCT observed_date FROM theme.theme_parking__lot_day").fetchall()}
    assert days[1] in dates


def test_only_raw_views_not_reading_their_latest_accepted_batches_are_refreshed(settings):
    """Each gate refreshes its view; a build refreshes the rest: missing, behind meta.batches, an empty view
    whose contract's columns changed, or reading the batches at another place (a moved data dir). An empty
    view that is current is left alone (a no-op build of thousands of sources without a batch creates no view)."""
    from types import SimpleNamespace

    from cityshare.raw_views import raw_view_stamp, stale_raw_views

    occupancy, readings, alerts = (SimpleNamespace(key=k, raw_table=k.replace("/", "__"), column_names=["x"])
                                   for k in ("jtj/parking_occupancy", "zjw/bridge_sensor_readings", "mzj/elderly_sensor_alerts"))
    contracts = [occupancy, readings, alerts]

    def view_reads(contract, *load_ids):  # what refresh_raw_view leaves: the view, its stamp and its batch rows
        con.execute(f"CREATE OR REPLACE VIEW raw.{contract.raw_table} AS SELECT 1 AS x")
        seqs = dict(con.execute("SELECT load_id, seq FROM meta.batches").fetchall())
        stamp = raw_view_stamp(contract, [(i, f"/lake/{i}.parquet", seqs[i]) for i in load_ids])
        con.execute(f"COMMENT ON VIEW raw.{contract.raw_table} IS '{stamp}'")
        con.execute("DELETE FROM meta.raw_view_batches WHERE raw_table = ?", [contract.raw_table])
        for load_id in load_ids:
            con.execute("INSERT INTO meta.raw_view_batches VALUES (?, ?)", [contract.raw_table, load_id])

    with duckdb.connect(":memory:") as con:
        con.execute(DDL)
        _batch(con, occupancy.key, "2026-11-01", "a1", 10)
        _batch(con, readings.key, "2026-11-01", "b1", 10)
        view_reads(occupancy, "a1")
        con.execute("INSERT INTO meta.raw_view_batches VALUES (?, 'b1')", [readings.raw_table])  # rows, but no view
        # current: left alone; no view: refreshed (alerts has no accepted batch, and no empty view yet)
        assert stale_raw_views(con, contracts, settings) == [readings, alerts]

        view_reads(alerts)  # its empty typed view
        assert stale_raw_views(con, contracts, settings) == [readings]
        view_reads(readings, "b1")
        _batch(con, occupancy.key, "2026-11-02", "a2", 5)  # a new day accepted, its view not refreshed yet
        assert stale_raw_views(con, contracts, settings) == [occupancy]

        view_reads(occupancy, "a1", "a2")
        con.execute("UPDATE meta.batches SET gated_at = now() - INTERVAL 1 DAY WHERE load_id = 'b1'")
        _batch(con, readings.key, "2026-11-01", "b1-again", 8)  # the same load date gated again replaces b1
        assert stale_raw_views(con, contracts, settings) == [readings]

        view_reads(readings, "b1-again")
        assert stale_raw_views(con, contracts, settings) == []
        # the data dir moved: the same batches, now read from elsewhere — the views reading the old place are stale
        con.execute("UPDATE meta.batches SET accepted_path = 'lake/' || load_id || '.parquet'")
        assert stale_raw_views(con, contracts, settings) == [occupancy, readings]
        con.execute("UPDATE meta.batches SET accepted_path = '/lake/' || load_id || '.parquet'")

        alerts.column_names = ["x", "y"]  # its contract gained a column: the empty view lacks it
        assert stale_raw_views(con, contracts, settings) == [alerts]
        con.execute(f"CREATE OR REPLACE VIEW raw.{occupancy.raw_table} AS SELECT 1 AS x")  # replaced by hand: no stamp
        assert stale_raw_views(con, contracts, settings) == [occupancy, alerts]
