"""Helpers (no tests) for the reliability tests: a small pipeline world, a subprocess pipeline run
that can be SIGKILLed at a crash point (cityshare/faults.py), and a fingerprint of everything a
reader can see (committed lake batches, batch decisions, raw views, shared tables, snapshots).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from test_directory_support import DAYS, copy_home, registry_as_daily_csv

from cityshare.settings import Settings

SOURCES = ("cgj/city_cases", "scjgj/business_registry")
_TEMPLATE: dict[str, Path] = {}

PIPELINE = """
import datetime as dt, sys
from cityshare.ingest import ingest
from cityshare.errors import CityShareError
steps, days = sys.argv[1], [dt.date.fromisoformat(d) for d in sys.argv[2].split(",")]
if "ingest" in steps:
    for day in days:
        for key in {sources!r}:
            ingest(key, day)
if "build" in steps:
    from cityshare.publish import audit, publish
    from cityshare.transform import build
    build()
    publish(audit())
if "export" in steps:
    from fastapi.testclient import TestClient
    from cityshare.share.app import create_app
    from cityshare.share.tokens import issue
    _, token = issue(__import__("cityshare.settings").settings.get_settings(), "zjw", "crash", "consumer")
    client = TestClient(create_app())
    with client.stream("GET", "/api/tables/base_legal_entity/export", params={{"format": "csv"}},
                       headers={{"Authorization": "Bearer " + token}}) as r:
        for _ in r.iter_bytes():
            pass
"""


def world(base: Path) -> Settings:
    """A fresh copy of the simulated core world (contracts, dbt project, department deliveries)."""
    if "home" not in _TEMPLATE:
        from cityshare.simulate import simulate

        tpl = base.parent / "reliability-template"
        settings = copy_home(tpl)
        simulate(settings, days=len(DAYS), start=DAYS[0], scale=0.3, defect_rate=0.0, seed=11)
        registry_as_daily_csv(settings)
        _TEMPLATE["home"] = tpl
    shutil.copytree(_TEMPLATE["home"], base)
    return settings_for(base)


def settings_for(home: Path) -> Settings:
    from cityshare.settings import get_settings

    return dataclasses.replace(get_settings(), project_root=home, data_dir=home / "data")


def run(settings: Settings, steps: str, crash_at: str | None = None, timeout: float = 300,
        days: tuple = tuple(DAYS)) -> int:
    """Run pipeline steps (ingest,build,export) in a child process; its return code (-9 = SIGKILL)."""
    env = {**os.environ, "CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir)}
    env.pop("CITYSHARE_CRASH_AT", None)
    if crash_at:
        env["CITYSHARE_CRASH_AT"] = crash_at
    proc = subprocess.run(
        [sys.executable, "-c", PIPELINE.format(sources=SOURCES), steps, ",".join(map(str, days))],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    if proc.returncode not in (0, -9):
        raise AssertionError(f"pipeline {steps} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.returncode


def half_written(settings: Settings) -> list[str]:
    """Temp or partial files where readers look: inside committed batch folders and snapshot folders."""
    found = [str(p) for p in settings.lake_dir.glob("*/*/*/load_date=*/batch=*/*") if p.name != "part-0.parquet"]
    shared = settings.exports_dir / "shared"
    found += [str(p) for p in shared.rglob("*") if p.name.startswith(".tmp-")] if shared.exists() else []
    return found


def orphans(settings: Settings) -> list[str]:
    """Temp folders a killed writer left beside the batches (not read by anyone, never committed)."""
    return [str(p) for p in settings.lake_dir.rglob(".tmp-*")] if settings.lake_dir.exists() else []


def state(settings: Settings) -> dict[str, object]:
    """Everything a reader can see, with load timestamps left out (they differ between runs)."""
    import duckdb

    lake: dict[str, str] = {}
    for zone in ("raw", "accepted", "quarantine"):
        for part in sorted((settings.lake_dir / zone).glob("*/*/load_date=*/batch=*/part-0.parquet")):
            hashes = duckdb.connect().execute(f"SELECT list(_row_hash ORDER BY _source_row)::VARCHAR, count(*) "
                                f"FROM read_parquet('{part}')").fetchone()
            lake[str(part.relative_to(settings.lake_dir))] = hashlib.sha256(str(hashes).encode()).hexdigest()
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        out: dict[str, object] = {"lake": lake}
        out["batches"] = con.execute(
            "SELECT dataset, load_id, load_date, rows_landed, rows_accepted, rows_quarantined, status FROM meta.batches "
            "ORDER BY ALL").fetchall()
        out["raw"] = {k: con.execute(f"SELECT count(*), count(DISTINCT _row_hash) FROM raw.{k.replace('/', '__')}")
                      .fetchone() for k in SOURCES}
        shared = {}
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'shared' ORDER BY 1"
                                   ).fetchall():
            shared[name] = con.execute(
                f'SELECT count(*), md5(string_agg(md5(CAST(t AS VARCHAR)), \'\' ORDER BY md5(CAST(t AS VARCHAR)))) '
                f'FROM shared."{name}" t').fetchone()
        out["shared"] = shared
        pubs = con.execute("SELECT table_name, version, rows, content_hash, snapshot_path FROM meta.publications "
                           "ORDER BY ALL").fetchall()
    finally:
        con.close()
    out["publications"] = [p[:4] for p in pubs]
    files = {p[0]: settings.data_dir / p[4] for p in pubs}  # kept relative to the data dir (movable)
    out["snapshots"] = {t: (f.exists() and duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{f}')")
                            .fetchone()[0]) for t, f in files.items()}
    return out
