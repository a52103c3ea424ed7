"""Incremental event models (issue #5): building the history day by day — with a late row for an old day,
a corrected duplicate key in a later batch, a batch accepted out of order and a load date delivered
again — gives exactly the tables a ``--full-refresh`` build over the same accepted batches gives, while
reading only the new batches."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
from pathlib import Path

import duckdb
import openpyxl
import pytest
from reliability_support import settings_for

from cityshare.errors import BuildFailed
from cityshare.ingest import gate_batch, land_batch
from cityshare.simulate import simulate
from cityshare.simulate.api import start_api_server
from cityshare.transform import build, run_dbt

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.run import make_home
from cityshare.ports import free_port

DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(4)]
SOURCES = ("jtj/parking_occupancy", "cgj/muck_truck_gps", "zjw/bridge_sensor_readings", "mzj/elderly_sensor_alerts",
           "cgj/street_lamp_faults", "ghzrj/illegal_construction_reports", "jd_nanping/street_cases",
           "jd_lijia/street_cases",
           "jtj/parking_lots", "mzj/elderly_living_alone", "sdqx/installation_applications")  # + registries (latest wins)
INCREMENTAL = ("stg_jtj__parking_occupancy", "stg_cgj__muck_truck_gps", "stg_zjw__bridge_sensor_readings",
               "stg_mzj__elderly_sensor_alerts", "stg_cgj__street_lamp_faults", "stg_ghzrj__illegal_construction_reports",
               "stg_jd_nanping__street_cases", "stg_jd_lijia__street_cases",
               "stg_jtj__parking_lots", "stg_mzj__elderly_living_alone", "stg_sdqx__installation_applications")
# theme/collaboration models recomputing only the days new rows fall on (macros/incremental_days.sql)
BY_DAY = ("theme_parking__lot_day", "collab_muck_truck__truck_day")
LAYERS = ("standard", "base", "theme", "collab")


def _ingest(settings, day: dt.date, keys=SOURCES) -> None:
    for key in keys:
        landed = land_batch(key, day, settings)
        gate_batch(key, day, landed["load_id"], settings)


def _inbox(settings, key: str, day: dt.date, suffix: str = ".jsonl") -> Path:
    dept, dataset = key.split("/")
    return settings.inbox_dir / dept / dataset / f"{dataset}_{day:%Y-%m-%d}{suffix}"


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _compiled(settings, model: str) -> str:
    return next((settings.dbt_target_dir / "compiled").rglob(f"{model}.sql")).read_text(encoding="utf-8")


def _days_read(settings, model: str) -> set[str]:
    return set(re.findall(r"date '(\d{4}-\d\d-\d\d)'", _compiled(settings, model)))


def _query(settings, sql: str, params: list) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_day_by_day_incremental_build_equals_full_refresh(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    make_home(home, port=port)  # the parking-lot registry comes from the simulated 交通局 API on this port
    settings = settings_for(home)
    simulate(settings, days=2, start=DAYS[0], scale=0.2, defect_rate=0.0, seed=11)

    for day in DAYS[:2]:
        with start_api_server(settings, port):
            _ingest(settings, day)
        second = build(settings)
    # the second day read only its own batch of each feed and registry — but the lot and elderly registries sent
    # the same snapshot again, which changes nothing, so their models did not run (read with their next change)
    assert second["selected"] != "all" and {"jtj__parking_lots", "mzj__elderly_living_alone"}.isdisjoint(
        second["selected"])
    for model in INCREMENTAL:
        repeated = model in ("stg_jtj__parking_lots", "stg_mzj__elderly_living_alone")
        assert _compiled(settings, model).count("_load_id in ('20261102-") == (not repeated), model
    for model in BY_DAY:  # day 2 (and day 1 for late rows), not the whole history
        assert "2026-11-02" in _days_read(settings, model) <= {"2026-11-01", "2026-11-02"}, model

    # a GPS point of day 2 delivered again over the speed limit on day 3, then corrected on day 4: its violation
    # must appear, then go — the day is recomputed, no stale row is left behind
    point = _lines(_inbox(settings, "cgj/muck_truck_gps", DAYS[1]))[0]
    speeding = {**point, "gps": {**point["gps"], "speed_kmh": 99.0}}
    _write(_inbox(settings, "cgj/muck_truck_gps", DAYS[2]), [speeding])
    _write(_inbox(settings, "cgj/muck_truck_gps", DAYS[3]), [{**speeding, "gps": {**point["gps"], "speed_kmh": 5.0}}])
    over_speed = ("SELECT count(*) FROM collab.collab_muck_truck__violations WHERE device_id = ? "
                  "AND gps_time = ?::TIMESTAMP AND over_speed")
    max_speed = ("SELECT max_speed_kmh FROM collab.collab_muck_truck__truck_day WHERE device_id = ? "
                 "AND stat_date = ?::DATE")
    key = [point["device_id"], point["gps"]["time"]]
    with start_api_server(settings, port):
        _ingest(settings, DAYS[2], ("cgj/muck_truck_gps",))
    build(settings)
    assert _days_read(settings, "collab_muck_truck__truck_day") == {"2026-11-02"}
    assert _query(settings, over_speed, key) == [(1,)]
    assert _query(settings, max_speed, [point["device_id"], str(DAYS[1])]) == [(99.0,)]

    # day 3 lands a late reading for day 1 (the contract accepts 2 days late) and a correction of a day-2
    # reading, but is accepted only after day 4 — landed later, so its correction of the same reading wins
    day1, day2 = (_lines(_inbox(settings, "jtj/parking_occupancy", day)) for day in DAYS[:2])
    late = {**day1[0], "ts": day1[0]["ts"][:17] + "59"}
    corrected = {**day2[0], "occupancy": {**day2[0]["occupancy"], "occupied": 0}}
    _write(_inbox(settings, "jtj/parking_occupancy", DAYS[2]), [late, corrected])
    held_back = land_batch("jtj/parking_occupancy", DAYS[2], settings)
    time.sleep(1.1)  # _loaded_at has whole seconds
    recorrected = {**corrected, "occupancy": {**corrected["occupancy"], "occupied": 1}}
    _write(_inbox(settings, "jtj/parking_occupancy", DAYS[3]), [recorrected])
    bridge = _lines(_inbox(settings, "zjw/bridge_sensor_readings", DAYS[1]))
    _write(_inbox(settings, "zjw/bridge_sensor_readings", DAYS[3]), [{**bridge[0], "value": bridge[0]["value"] + 1.5}])
    # the same for a registry, whose rule is "latest load date wins": day 4's state of an application must
    # survive day 3's, accepted after it
    apps = _inbox(settings, "sdqx/installation_applications", DAYS[1], ".tsv").read_text(encoding="utf-8-sig").splitlines()
    header, app = apps[0], apps[1].split("\t")
    for day, suffix in ((DAYS[2], "（第三日）"), (DAYS[3], "（第四日）")):
        row = "\t".join([*app[:7], app[7] + suffix, *app[8:]])
        _inbox(settings, "sdqx/installation_applications", day, ".tsv").write_text(f"{header}\n{row}\n", encoding="utf-8")
    held_app = land_batch("sdqx/installation_applications", DAYS[2], settings)
    # the elderly registry is a daily snapshot: day 2's superseded every row of day 1's, yet day 1's batch was
    # processed and must not be read again; day 4 sends day 2's snapshot with one elder's care level changed
    # (an unchanged snapshot would build nothing, as the lot registry's day 2 showed)
    book = openpyxl.load_workbook(_inbox(settings, "mzj/elderly_living_alone", DAYS[1], ".xlsx"))
    care_level = book.worksheets[0].cell(row=3, column=11)
    care_level.value = "一级" if care_level.value != "一级" else "二级"
    book.save(_inbox(settings, "mzj/elderly_living_alone", DAYS[3], ".xlsx"))
    # a smart lot renamed and enlarged in 交通局's registry: every day of it in lot_day changes, not only new days
    lots_file = settings.departments_dir / "jtj" / "parking_lots.jsonl"
    lots = _lines(lots_file)
    renamed = next(lot for lot in lots if lot["lot_id"] == day1[0]["lot_id"])
    renamed.update(lot_name=renamed["lot_name"] + "（更名）", total_spaces=renamed["total_spaces"] + 10)
    _write(lots_file, lots)
    with start_api_server(settings, port):
        _ingest(settings, DAYS[3], ("jtj/parking_occupancy", "zjw/bridge_sensor_readings",
                                    "sdqx/installation_applications", "mzj/elderly_living_alone", "cgj/muck_truck_gps",
                                    "jtj/parking_lots"))
    build(settings)
    assert _query(settings, over_speed, key) == [(0,)]
    assert _query(settings, max_speed, [point["device_id"], str(DAYS[1])])[0][0] < 99.0
    names = _query(settings, "SELECT observed_date, lot_name, lot_total_spaces FROM theme.theme_parking__lot_day "
                             "WHERE lot_id = ? ORDER BY 1", [renamed["lot_id"]])
    assert [str(d) for d, _, _ in names] == [str(day) for day in DAYS[:2]]
    assert {(n, t) for _, n, t in names} == {(renamed["lot_name"], renamed["total_spaces"])}
    elderly = _compiled(settings, "stg_mzj__elderly_living_alone")
    # day 4's batch read with day 2's, skipped as a repeat but not yet read; day 1's not again
    assert re.search(r"_load_id in \('20261102-\w+', '20261104-\w+'\)", elderly) and "'20261101-" not in elderly
    gate_batch("jtj/parking_occupancy", DAYS[2], held_back["load_id"], settings)
    gate_batch("sdqx/installation_applications", DAYS[2], held_app["load_id"], settings)
    # day 1 of the GPS feed delivered again without its first point: the new batch replaces the old one
    gps = _inbox(settings, "cgj/muck_truck_gps", DAYS[0])
    dropped = _lines(gps)[0]
    _write(gps, _lines(gps)[1:])
    _ingest(settings, DAYS[0], ("cgj/muck_truck_gps",))
    build(settings)
    assert "where true" in _compiled(settings, "stg_cgj__muck_truck_gps")  # every batch read again

    db = str(settings.warehouse_path)
    with duckdb.connect(db) as con:
        tables = [r[0] + "." + r[1] for r in con.execute(
            f"SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN {LAYERS} ORDER BY ALL").fetchall()]
        con.execute("CREATE SCHEMA incr")
        for table in tables:
            con.execute(f"CREATE TABLE incr.\"{table}\" AS SELECT * FROM {table}")
        occupancy = dict(con.execute(
            "SELECT strftime(observed_at, '%Y-%m-%d %H:%M:%S'), occupied FROM standard.stg_jtj__parking_occupancy "
            "WHERE lot_id IN (?, ?)", [late["lot_id"], corrected["lot_id"]]).fetchall())
        address = con.execute("SELECT project_address FROM standard.stg_sdqx__installation_applications "
                              "WHERE application_id = ?", [app[0]]).fetchone()[0]
        gps_points = con.execute("SELECT count(*) FROM standard.stg_cgj__muck_truck_gps WHERE device_id = ? AND "
                                 "gps_time = ?::TIMESTAMP", [dropped["device_id"], dropped["gps"]["time"]]).fetchone()[0]
        # the batches the models compare with theirs are the raw view's own (the re-gated day 1 replaced)
        recorded = con.execute("SELECT load_id FROM meta.raw_view_batches WHERE raw_table = 'cgj__muck_truck_gps' "
                               "AND load_id IN (SELECT load_id FROM meta.batches WHERE rows_accepted > 0)").fetchall()
        in_view = con.execute("SELECT DISTINCT _load_id FROM raw.cgj__muck_truck_gps").fetchall()
    assert occupancy[late["ts"]] == late["occupancy"]["occupied"]
    assert occupancy[corrected["ts"]] == 1
    assert gps_points == 0
    assert sorted(recorded) == sorted(in_view) and len(in_view) == len(DAYS)
    assert address.endswith("（第四日）")

    run_dbt(["run", "--full-refresh"], settings)
    with duckdb.connect(db) as con:
        for table in tables:
            counts = con.execute(
                f"SELECT (SELECT count(*) FROM {table}), "
                f"(SELECT count(*) FROM (SELECT * FROM incr.\"{table}\" EXCEPT ALL SELECT * FROM {table})), "
                f"(SELECT count(*) FROM (SELECT * FROM {table} EXCEPT ALL SELECT * FROM incr.\"{table}\"))").fetchone()
            assert counts[1:] == (0, 0), f"{table}: {counts[1]} rows only incremental, {counts[2]} only full refresh"
        sizes = dict(con.execute("SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = 'standard'")
                     .fetchall())
    assert min(sizes[m] for m in INCREMENTAL) > 0

    # an incremental model whose SQL gains a column, run by hand without --full-refresh, fails and names the column
    # (on_schema_change='fail', checked with one query by macros/adapter_overrides.sql) instead of dropping it
    lots_sql = settings.dbt_project_dir / "models" / "staging" / "jtj" / "stg_jtj__parking_lots.sql"
    lots_sql.write_text(lots_sql.read_text(encoding="utf-8").replace(
        "select * from typed", "select *, 1 as added_column from typed"), encoding="utf-8")
    with pytest.raises(BuildFailed, match=r"(?s)out of sync.*added_column"):
        run_dbt(["run", "--select", "stg_jtj__parking_lots"], settings)
