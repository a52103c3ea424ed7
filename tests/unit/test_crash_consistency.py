"""Crash consistency: SIGKILL the pipeline at each crash point (cityshare/faults.py), rerun it, and
compare with a clean run on the same deliveries — 0 rows lost, 0 duplicated, no half-written file
where readers look, DuckDB transactions rolled back, published snapshots present for every version.
"""

from __future__ import annotations

import functools
import shutil

import pytest
from reliability_support import half_written, orphans, settings_for, state, world
from reliability_support import run as run_all
from test_directory_support import DAYS

pytestmark = pytest.mark.faults

run = functools.partial(run_all, days=(DAYS[0],))  # one load day keeps every kill-and-rerun short

INGEST_POINTS = ["land.mid_extract", "land.before_commit", "gate.mid_gate", "gate.mid_commit"]
# The default run kills the build once, mid swap; the other build points (≈ 25 s each) run in the slow and faults tiers.
SLOW_BUILD_POINTS = ("dbt.mid_build@2", "publish.before_commit", "publish.before_pointers")
BUILD_POINTS = [pytest.param(p, marks=pytest.mark.slow) for p in SLOW_BUILD_POINTS]
BUILD_POINTS.insert(0, "publish.mid_swap")
SURVIVED: list[str] = []
ATTEMPTED: list[str] = []
ORPHANS: dict[str, int] = {}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Clean runs: the state after ingestion, and after ingestion + build + publish."""
    base = tmp_path_factory.mktemp("crash")
    settings = world(base / "clean")
    assert run(settings, "ingest") == 0
    ingested = state(settings)
    shutil.copytree(settings.project_root, base / "ingested")
    assert run(settings, "build") == 0
    built = state(settings)
    assert built["shared"] and ingested["batches"]
    shutil.copytree(settings.project_root, base / "built")
    return {"base": base, "ingested": ingested, "built": built}


def _copy(clean, name: str, target):
    shutil.copytree(clean["base"] / name, target)
    return settings_for(target)


@pytest.mark.parametrize("point", INGEST_POINTS)
def test_kill_during_ingestion_then_rerun_equals_a_clean_run(point, clean, tmp_path):
    ATTEMPTED.append(point)
    settings = world(tmp_path / "home")
    assert run(settings, "ingest", crash_at=point) == -9, f"{point} was never reached"
    assert half_written(settings) == []
    assert run(settings, "ingest") == 0
    assert half_written(settings) == []
    assert state(settings) == clean["ingested"]
    assert orphans(settings) == []  # the rerun swept what the killed attempt left beside the batches
    SURVIVED.append(point)
    ORPHANS[point] = len(orphans(settings))


@pytest.mark.parametrize("point", BUILD_POINTS)
def test_kill_during_build_or_publish_then_rerun_equals_a_clean_run(point, clean, tmp_path):
    ATTEMPTED.append(point)
    settings = _copy(clean, "ingested", tmp_path / "home")
    assert run(settings, "build", crash_at=point) == -9, f"{point} was never reached"
    assert half_written(settings) == []
    after_crash = state(settings)
    # a swap is all or nothing: either no table was published yet, or every one (with its version row)
    assert after_crash["shared"] in ({}, clean["built"]["shared"])
    assert run(settings, "build") == 0
    assert half_written(settings) == []
    assert state(settings) == clean["built"]
    SURVIVED.append(point)


def test_kill_during_an_export_leaves_no_delivery_and_an_intact_audit_chain(clean, tmp_path):
    import sqlite3

    ATTEMPTED.append("export.mid_stream")
    from cityshare.share.audit import verify

    settings = _copy(clean, "built", tmp_path / "home")
    assert run(settings, "export", crash_at="export.mid_stream") == -9
    assert half_written(settings) == []
    db = settings.data_dir / "access" / "access.sqlite3"
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0  # no receipt for half a file
    finally:
        con.close()
    assert verify(settings)["ok"]
    assert state(settings) == clean["built"]
    assert run(settings, "export") == 0
    con = sqlite3.connect(db)
    try:
        assert con.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1
    finally:
        con.close()
    assert verify(settings)["ok"]
    SURVIVED.append("export.mid_stream")


def test_summary_of_kill_points_survived():
    """Printed for the README: how many kill points were survived (run with -s to see it)."""
    print(f"\ncrash consistency: {len(SURVIVED)} kill points survived: {', '.join(SURVIVED)}; "
          f"orphaned .tmp- batch folders left beside the lake batches: {ORPHANS}")
    expected = len(INGEST_POINTS) + len(BUILD_POINTS) + 1
    if len(ATTEMPTED) < expected:
        pytest.skip("only part of the kill points ran (-k, or the default run, whose other points are in the slow tier)")
    assert len(SURVIVED) == expected
