"""The next-day build alone, timed many times: a quick A/B harness for changes to the incremental path.

    .venv/bin/python bench/incremental_bench.py [--rows 1e7] [--days 30] [--samples 7] [--dir /tmp/cs-incr]

``make bench`` (``bench/run.py``) gives the official figures but takes ≈ 50 min at 10 M rows, and a 2-3 s build
varies ±20 % from run to run, so a change to the daily path cannot be judged from it. This harness pays for the
simulation and the gates once (``--dir`` keeps them; delete it to start over) and then, on every call, with the
working tree's dbt project and code:

1. restores the warehouse as the history's gates left it and times the full build (the ratio's denominator);
2. reveals the next day's gated batches (~1 % new rows) and refreshes their raw views, as each gate would;
3. times ``transform.build`` ``--samples`` times, each from that same state (restored and synced to disk first).

No publish or directory step runs in between, unlike ``bench/run.py``; the figures track it within its noise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.run import (
    START,
    _keys,
    add_next_day,
    make_home,
    more_build_samples,
    restore_build_inputs,
    simulate_scale,
    snapshot_build_inputs,
)
from cityshare.ports import free_port


def _prepare(work: Path, rows: int, days: int) -> dict[str, Any]:
    """Simulate, land and gate the history and the next day once; hide the next day's batches."""
    from cityshare.errors import CityShareError
    from cityshare.ingest import gate_batch, land_batch
    from cityshare.settings import get_settings
    from cityshare.simulate.api import start_api_server
    from cityshare.warehouse import connect, transaction

    sim = simulate_scale(work, rows, days)
    os.environ["CITYSHARE_DATA_DIR"] = str(work / "full")
    settings = get_settings()
    next_day = dt.date.fromisoformat(sim["next_day"])
    def land_and_gate(day: dt.date) -> None:
        for key in _keys():
            with suppress(CityShareError):  # a blocked batch is part of the workload, as in bench/run.py
                landed = land_batch(key, day, settings)
                gate_batch(key, day, landed["load_id"], settings)

    with start_api_server(settings):
        for day in [START + dt.timedelta(days=i) for i in range(days)]:
            land_and_gate(day)
        add_next_day(work / "next", work / "full", next_day)
        land_and_gate(next_day)
    with connect(settings) as con, transaction(con):  # the next day waits, gated, until step 2
        con.execute("CREATE TABLE meta.bench_next_day AS SELECT * FROM meta.batches WHERE load_date = ?", [next_day])
        con.execute("DELETE FROM meta.batches WHERE load_date = ?", [next_day])
    (work / "prepared.json").write_text(json.dumps(sim), encoding="utf-8")
    return sim


def measure(work: Path, samples: int) -> dict[str, Any]:
    from cityshare.settings import get_settings
    from cityshare.transform import _refresh_raw_views, build
    from cityshare.warehouse import connect, transaction

    settings = get_settings()
    gated = work / "gated"
    if not gated.exists():  # the state the history's gates left, kept for every later call
        shutil.move(snapshot_build_inputs(settings), gated)
    restore_build_inputs(settings, gated)
    os.sync()
    started = time.perf_counter()
    full = build(settings)
    full_s = time.perf_counter() - started
    with connect(settings) as con:
        with transaction(con):
            con.execute("INSERT INTO meta.batches SELECT * FROM meta.bench_next_day")
            con.execute("DROP TABLE meta.bench_next_day")
        _refresh_raw_views(settings, con)  # as each gate does for its own batch
    times = more_build_samples(settings, snapshot_build_inputs(settings), samples)
    return {"full_build_s": round(full_s, 2), "full_models": full["models"], "next_day_build_s": times,
            "median_s": round(statistics.median(times), 3),
            "share_of_full_build": round(statistics.median(times) / full_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--samples", type=int, default=7)
    parser.add_argument("--dir", default="/tmp/cs-incremental-bench", help="kept between calls; delete to start over")
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)
    work = Path(args.dir)
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    port = free_port()
    make_home(home, port)  # the working tree's contracts and dbt project, every call
    os.environ.update(CITYSHARE_HOME=str(home), CITYSHARE_SIM_API_PORT=str(port),
                      CITYSHARE_DATA_DIR=str(work / "full"))
    if not (work / "prepared.json").exists():
        started = time.perf_counter()
        sim = _prepare(work, int(args.rows), args.days)
        print(f"prepared {sim['source_rows']:,} source rows in {time.perf_counter() - started:.0f} s", flush=True)
    result = measure(work, args.samples)
    print(json.dumps(result))
    print(f"next-day build: median {result['median_s']:.2f} s = {100 * result['share_of_full_build']:.1f} % of the "
          f"full build ({result['full_build_s']:.1f} s, {result['full_models']} models); "
          f"samples {', '.join(f'{x:.2f}' for x in result['next_day_build_s'])} s")


if __name__ == "__main__":
    main()
