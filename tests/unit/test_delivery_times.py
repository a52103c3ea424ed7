"""When a department delivered, by the source's own evidence, is what timeliness (及时率) counts.

The simulator stamps every delivery with an arrival drawn from its department's punctuality (file
modification times, the simulated APIs' Last-Modified); the connectors read that evidence back (a
database source: its window's latest watermark), the gate records it in ``meta.batches.delivered_at``, and
a delivery gated weeks later still counts as on time when the department delivered on time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

import duckdb
import httpx
import pytest
from reliability_support import settings_for

from cityshare.ingest import ingest
from cityshare.ports import free_port
from cityshare.quality import timeliness
from cityshare.quality.history import Period
from cityshare.simulate import simulate
from cityshare.simulate.api import start_api_server
from cityshare.simulate.arrivals import arrivals_path
from cityshare.workcal import next_workday, to_beijing

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.run import make_home

START = dt.date(2026, 11, 2)  # a Monday, weeks before any run of this test: every gate is "late"
DAYS = 10


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("delivery") / "home"
    port = free_port()
    make_home(home, port=port)
    settings = settings_for(home)
    simulate(settings, days=DAYS, start=START, scale=0.1, defect_rate=0.0, seed=5)
    arrivals = json.loads(arrivals_path(settings).read_text(encoding="utf-8"))
    return settings, port, arrivals


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_every_simulated_delivery_is_stamped_and_departments_differ_in_punctuality(world):
    settings, port, arrivals = world
    stamped = 0
    for dataset, days in arrivals.items():
        for path in (settings.inbox_dir / dataset).glob("*_????-??-??.*"):
            day = path.stem.rsplit("_", 1)[1]
            mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).replace(tzinfo=None)
            assert mtime == _when(days[day]), path  # the file carries the time it was delivered
            stamped += 1
    assert stamped >= 10 * DAYS

    on_time: dict[str, list[bool]] = {}
    for dataset, days in arrivals.items():
        for day, when in days.items():
            due = next_workday(dt.date.fromisoformat(day))
            on_time.setdefault(dataset.split("/")[0], []).append(to_beijing(_when(when)).date() <= due)
    shares = {dept: sum(flags) / len(flags) for dept, flags in on_time.items()}
    assert len(set(shares.values())) > 3  # punctuality is the department's own, not one artefact for all
    assert 0.5 < sum(map(sum, on_time.values())) / sum(map(len, on_time.values())) < 1  # mostly on time, not all

    with start_api_server(settings, port) as api:
        response = httpx.get(f"{api.url}/api/v1/kitchen_alerts", params={"date": str(START), "limit": 1},
                             headers={"Authorization": f"Bearer {os.environ['CITYSHARE_SCJGJ_API_TOKEN']}"})
    from email.utils import parsedate_to_datetime

    published = parsedate_to_datetime(response.headers["Last-Modified"]).astimezone(dt.UTC).replace(tzinfo=None)
    assert published == _when(arrivals["scjgj/kitchen_alerts"][str(START)])


def test_the_gate_records_the_delivery_time_and_timeliness_counts_it(world):
    settings, port, arrivals = world
    sources = ("cgj/city_cases", "jtj/parking_lots", "ghzrj/planning_permits")  # a file, an API, a database
    days = [START + dt.timedelta(days=i) for i in range(5)]
    with start_api_server(settings, port):
        for day in days:
            for key in sources:
                assert ingest(key, day, settings)["status"] == "accepted"
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("SELECT dataset, load_date, delivered_at, gated_at FROM meta.batches").fetchall()
    recorded = {(dataset, str(day)): (delivered, gated) for dataset, day, delivered, gated in rows}
    for day in days:
        for key in ("cgj/city_cases", "jtj/parking_lots"):  # file time, Last-Modified
            assert recorded[(key, str(day))][0] == _when(arrivals[key][str(day)]), (key, day)
        # a database window's latest watermark: written by the end of the day (the first window reads all history);
        # a window with no new rows has no evidence, and its gate time counts
        delivered, gated = recorded[("ghzrj/planning_permits", str(day))]
        day_end_utc = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) - dt.timedelta(hours=8)
        assert delivered is None or delivered < day_end_utc < gated
    assert any(recorded[("ghzrj/planning_permits", str(day))][0] for day in days)

    rows = timeliness.deliveries(settings, Period(days[0], days[-1]), to_beijing(dt.datetime.now(dt.UTC)))
    status = {(r["dataset"], r["slot"]): r["status"] for r in rows if r["dataset"] in sources}
    for key in ("cgj/city_cases", "jtj/parking_lots"):
        for day in days:
            if (key, str(day)) not in status:
                continue  # a weekend day of a 每日 source: nothing was due
            arrived = to_beijing(_when(arrivals[key][str(day)])).date()
            assert status[(key, str(day))] == ("按时" if arrived <= next_workday(day) else "迟到"), (key, day)
    for day in days:
        if ("ghzrj/planning_permits", str(day)) in status and recorded[("ghzrj/planning_permits", str(day))][0]:
            assert status[("ghzrj/planning_permits", str(day))] == "按时", day
