"""Faults #2–#6 (issue 32), as an operator meets them: each fault injected, then the one documented command
(docs/recovery.md) — retracting a batch, moving the data dir, losing the warehouse, backing up and restoring,
a publish stopped half-way, a full disk, a read-only volume, a held lock, no memory, SIGTERM during a build.
The full disk and the read-only volume are also real ones (a small tmpfs, a read-only bind mount), and a
correction is delivered by a process whose clock runs an hour slow (libfaketime, Debian's ``faketime``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from reliability_support import half_written, run, settings_for, state, world
from test_directory_support import DAYS

pytestmark = [pytest.mark.faults, pytest.mark.slow]  # ≈ 7 min of builds: `make test-faults` / `make test-slow`
CLI = str(Path(sys.executable).parent / "cityshare")
TABLE = "base_legal_entity"


def cli(settings, *args: str, env: dict | None = None, timeout: float = 600,
        under: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """``cityshare …`` as an operator runs it, against this world (``under``: a wrapper such as faketime)."""
    full = {**os.environ, "CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir),
            "COLUMNS": "200", **(env or {})}
    full.pop("CITYSHARE_CRASH_AT", None)
    return subprocess.run([*under, CLI, *args], env=full, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One load day of both sources ingested, built and published."""
    settings = world(tmp_path_factory.mktemp("recovery") / "built")
    assert run(settings, "ingest,build", days=(DAYS[0],)) == 0
    return settings


def _copy(built, target: Path):
    shutil.copytree(built.project_root, target)
    return settings_for(target)


def _query(settings, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _files(settings) -> dict[str, str]:
    """Every file on the exports volume's published side, by content."""
    root = settings.exports_dir / "shared"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _one_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


def test_a_retracted_batch_leaves_the_layers_until_it_is_restored(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    assert cli(settings, "ingest", "scjgj/business_registry", "--date", str(DAYS[1])).returncode == 0
    assert run(settings, "build") == 0
    without = state(settings)["shared"]  # what the layers hold without day 2 of the case files
    assert cli(settings, "ingest", "cgj/city_cases", "--date", str(DAYS[1])).returncode == 0
    assert run(settings, "build") == 0
    with_day2 = state(settings)["shared"]
    assert with_day2 != without
    (load_id,) = _query(settings, "SELECT load_id FROM meta.batches WHERE dataset = 'cgj/city_cases' AND load_date = ?",
                        [DAYS[1]])[0]

    retracted = cli(settings, "batches", "retract", load_id, "--reason", "错误交付 wrong file")
    assert retracted.returncode == 0, retracted.stderr
    assert _query(settings, 'SELECT DISTINCT _load_id FROM raw."cgj__city_cases" WHERE _load_date = ?', [DAYS[1]]) == []
    assert run(settings, "build") == 0
    assert state(settings)["shared"] == without  # republished as if the batch had never been accepted
    again = cli(settings, "ingest", "cgj/city_cases", "--date", str(DAYS[1]))  # the same delivery run again
    assert again.returncode == 0 and json.loads(again.stdout)["load_id"] == load_id
    assert _query(settings, "SELECT status FROM meta.batches WHERE load_id = ?", [load_id]) == [("retracted",)]

    assert cli(settings, "batches", "restore", load_id, "--reason", "核实无误").returncode == 0
    assert run(settings, "build") == 0
    assert state(settings)["shared"] == with_day2
    actions = _query(settings, "SELECT action, reason FROM meta.batch_actions ORDER BY seq")
    assert actions == [("retract", "错误交付 wrong file"), ("restore", "核实无误")]
    shown = cli(settings, "audit", "show", "--limit", "5").stdout
    assert "batch.retract" in shown and "batch.restore" in shown
    refused = cli(settings, "batches", "restore", load_id)  # it is accepted again: nothing to restore
    assert refused.returncode == 2 and "only a batch that is retracted" in _one_line(refused)


def test_a_moved_data_dir_builds_and_serves_without_the_original(built, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(built.project_root, home)
    moved = tmp_path / "elsewhere" / "data"
    shutil.copytree(home / "data", moved)
    shutil.rmtree(home / "data")  # the original is gone: nothing may still read it
    settings = dataclasses.replace(settings_for(home), data_dir=moved)
    expected = state(built)

    assert cli(settings, "check").returncode == 0
    assert run(settings, "build") == 0
    assert state(settings) == expected
    views = _query(settings, "SELECT sql FROM duckdb_views() WHERE schema_name = 'raw' AND sql LIKE '%parquet%'")
    assert views and all(str(moved) in sql and str(built.data_dir) not in sql for (sql,) in views)

    from fastapi.testclient import TestClient

    from cityshare.settings import get_settings
    from cityshare.share.app import create_app
    from cityshare.share.tokens import issue

    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(moved))
    _, token = issue(get_settings(), "zjw", "mover", "consumer")
    response = TestClient(create_app()).get(f"/api/tables/{TABLE}/export", params={"format": "csv"},
                                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert len(response.text.strip().splitlines()) - 1 == expected["snapshots"][TABLE]


@pytest.mark.parametrize("journal", ["kept", "lost"])
def test_recover_rebuilds_a_lost_warehouse_from_the_lake(journal, built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    before, files = state(settings), _files(settings)
    order = _query(settings, "SELECT dataset, load_id, status, seq, gated_at FROM meta.batches ORDER BY seq")
    settings.warehouse_path.unlink()
    if journal == "lost":  # an installation from before the journal: every landed batch is gated again
        shutil.rmtree(settings.lake_dir / "_journal")

    recovered = cli(settings, "recover")
    assert recovered.returncode == 0, recovered.stderr[-3000:]
    assert state(settings) == before  # shared tables, versions, batches and their verdicts
    assert _files(settings) == files  # no snapshot rewritten, no version added
    after = _query(settings, "SELECT dataset, load_id, status, seq, gated_at FROM meta.batches ORDER BY seq")
    if journal == "kept":
        assert after == order  # the original sequences and gate times
    else:
        assert [r[:3] for r in after] == [r[:3] for r in order]
    refused = cli(settings, "recover")
    assert refused.returncode == 2 and "--force" in _one_line(refused)


def test_backup_and_restore_into_another_data_dir(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    issued = cli(settings, "token", "issue", "--department", "zjw", "--user", "backup-test")
    assert issued.returncode == 0
    before, files = state(settings), _files(settings)

    made = cli(settings, "backup", str(tmp_path / "backup"), "--lake")
    assert made.returncode == 0, made.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text(encoding="utf-8"))
    assert not (tmp_path / "backup" / "keys").exists()  # secrets stay out unless asked
    assert all(not name.startswith("keys/") for name in manifest["files"])
    shutil.rmtree(settings.data_dir)

    target = dataclasses.replace(settings, data_dir=tmp_path / "restored" / "data")
    restored = cli(target, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stderr
    assert run(target, "build") == 0
    assert state(target) == before and _files(target) == files
    assert "backup-test" in cli(target, "token", "list").stdout
    assert cli(target, "audit", "verify").returncode == 0

    (tmp_path / "backup" / "exports" / "shared" / TABLE / "version=1" / f"{TABLE}.parquet").write_bytes(b"x")
    damaged = cli(target, "restore", str(tmp_path / "backup"), "--force")
    assert damaged.returncode == 2 and "checksum" in _one_line(damaged)


def test_check_repairs_what_a_stopped_publish_leaves_and_names_what_it_cannot(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    files = _files(settings)
    folder = settings.exports_dir / "shared" / TABLE
    (folder / "current.json").unlink()  # the publish committed, then stopped before its pointer moved
    shutil.rmtree(folder / "version=1")  # and the current version's snapshot is lost
    orphan = folder / "version=2"  # a publish that stopped before its commit
    shutil.copytree(settings.exports_dir / "shared" / "theme_city_cases__case" / "version=1", orphan)
    (orphan / "theme_city_cases__case.parquet").rename(orphan / f"{TABLE}.parquet")

    repaired = cli(settings, "check")
    assert repaired.returncode == 0, repaired.stderr
    assert _files(settings).keys() == files.keys()
    assert not orphan.exists() and list((settings.exports_dir / ".orphaned" / TABLE).iterdir())
    assert cli(settings, "check").stdout.startswith("ok")

    with duckdb.connect(str(settings.warehouse_path)) as con:  # an older version whose file nobody can rebuild
        con.execute("INSERT INTO meta.publications VALUES (?, 0, 1, 'h', ?, now())",
                    [TABLE, f"exports/shared/{TABLE}/version=0/{TABLE}.parquet"])
    refused = cli(settings, "check")
    assert refused.returncode == 3 and "version=0" in _one_line(refused) and "cityshare restore" in refused.stderr


@pytest.mark.parametrize(("code", "words"), [("ENOSPC", "disk full"), ("EROFS", "read-only file system"),
                                             ("EACCES", "permission denied"), ("ENOMEM", "out of memory")])
def test_infrastructure_faults_are_one_line_with_their_own_exit_code(code, words, built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    before = state(settings)
    failed = cli(settings, "ingest", "cgj/city_cases", "--date", str(DAYS[1]),
                 env={"CITYSHARE_FAIL_AT": f"land.before_commit={code}"})
    assert failed.returncode == 3
    assert words in _one_line(failed) and "rerun" in failed.stderr
    assert state(settings) == before and half_written(settings) == []


def test_a_full_disk_while_publishing_changes_nothing_served(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    assert cli(settings, "ingest", "cgj/city_cases", "--date", str(DAYS[1])).returncode == 0
    before, files = state(settings), _files(settings)
    failed = cli(settings, "build", env={"CITYSHARE_FAIL_AT": "publish.before_commit=ENOSPC"})
    assert failed.returncode == 3 and "disk full" in _one_line(failed)
    assert state(settings)["shared"] == before["shared"] and state(settings)["publications"] == before["publications"]
    assert cli(settings, "build").returncode == 0  # space freed: the rerun publishes
    assert state(settings)["publications"] != before["publications"] and _files(settings) != files


def test_a_held_warehouse_lock_is_one_line_with_exit_3(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    with duckdb.connect(str(settings.warehouse_path)):  # another writer holds the warehouse
        held = cli(settings, "batches", "retract", "x", "--reason", "r", env={"CITYSHARE_LOCK_WAIT_SECONDS": "1"})
    assert held.returncode == 3 and "locked by another process" in _one_line(held)


def test_sigterm_during_a_build_stops_at_a_safe_point(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    assert cli(settings, "ingest", "cgj/city_cases", "--date", str(DAYS[1])).returncode == 0
    before = state(settings)
    env = {**os.environ, "CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir),
           "COLUMNS": "200"}
    proc = subprocess.Popen([CLI, "build"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # the dbt build is under way (or, on a fast machine, the publish)
    proc.send_signal(signal.SIGTERM)
    _out, errors = proc.communicate(timeout=300)
    assert proc.returncode == 143
    line = _one_line(subprocess.CompletedProcess([], 143, "", errors))
    assert "SIGTERM" in line and "safe point" in line
    after = state(settings)
    assert half_written(settings) == []
    if "nothing was published" in line:
        assert after["shared"] == before["shared"] and after["publications"] == before["publications"]
    assert cli(settings, "build").returncode == 0


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:  # mounting needs CAP_SYS_ADMIN (root on the CI machine has it)
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


@contextmanager
def _data_dir_on(settings, tmp_path: Path, *, size_mb: int | None = None, read_only: bool = False) -> Iterator:
    """The world's data dir moved onto its own volume: a tmpfs of ``size_mb`` or a read-only bind mount."""
    volume = tmp_path / "volume"
    volume.mkdir()
    if size_mb:
        _mount("-t", "tmpfs", "-o", f"size={size_mb}m", "cityshare-test", str(volume))
    try:
        shutil.copytree(settings.data_dir, volume / "data")
        moved = dataclasses.replace(settings, data_dir=volume / "data")
        if read_only:
            _mount("--bind", str(volume), str(volume))
            _mount("-o", "remount,bind,ro", str(volume))
        yield moved, volume
    finally:
        while subprocess.run(["umount", str(volume)], capture_output=True).returncode == 0:
            pass  # the bind mount, then the tmpfs under it


def _mb(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) // 2**20


def test_a_real_full_disk_is_one_line_and_the_rerun_loads_after_space_is_freed(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    with _data_dir_on(settings, tmp_path, size_mb=_mb(settings.data_dir) + 16) as (moved, volume):
        before = state(moved)
        filler = volume / "filler"
        with filler.open("wb") as f:  # another tenant of the volume takes every free byte
            try:
                while True:
                    f.write(b"\0" * 2**20)
                    f.flush()
            except OSError:
                pass
        failed = cli(moved, "ingest", "cgj/city_cases", "--date", str(DAYS[1]))
        assert failed.returncode == 3, failed.stderr[-3000:]
        assert "disk full" in _one_line(failed) and "rerun" in failed.stderr
        assert state(moved) == before and half_written(moved) == []

        filler.unlink()
        rerun = cli(moved, "ingest", "cgj/city_cases", "--date", str(DAYS[1]))
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert json.loads(rerun.stdout)["status"] == "accepted"


def test_a_real_read_only_volume_is_one_line_and_changes_nothing(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    before = state(settings)
    with _data_dir_on(settings, tmp_path, read_only=True) as (moved, _volume):
        for args in (("ingest", "cgj/city_cases", "--date", str(DAYS[1])), ("build",)):
            failed = cli(moved, *args)
            assert failed.returncode == 3, failed.stderr[-3000:]
            assert "read-only file system" in _one_line(failed)
        assert state(moved) == before


def test_a_correction_delivered_on_a_slow_clock_is_published(built, tmp_path):
    settings = _copy(built, tmp_path / "home")
    assert shutil.which("faketime"), "libfaketime's faketime is installed by `make setup` (Debian package faketime)"
    key, day = "scjgj/business_registry", DAYS[0]
    (first,) = _query(settings, "SELECT load_id FROM meta.batches WHERE dataset = ? AND load_date = ?", [key, day])[0]
    inbox = settings.inbox_dir / "scjgj" / "business_registry" / f"business_registry_{day}.csv"
    header, row, *rest = inbox.read_text(encoding="utf-8").splitlines()
    fields = row.split(",")
    fields[1] += "（更正）"  # the department corrects one entity's name and delivers the day again
    inbox.write_text("\n".join([header, ",".join(fields), *rest]) + "\n", encoding="utf-8")

    corrected = cli(settings, "ingest", key, "--date", str(day), under=("faketime", "-f", "-1h"))
    assert corrected.returncode == 0, corrected.stderr[-3000:]
    second = json.loads(corrected.stdout)["load_id"]
    gated = dict(_query(settings, "SELECT load_id, gated_at FROM meta.batches WHERE dataset = ?", [key]))
    assert gated[second] < gated[first]  # the skew is real: by the wall clock the correction is the older batch
    assert run(settings, "build") == 0
    assert _query(settings, f"SELECT entity_name FROM shared.{TABLE} WHERE uscc = ?", [fields[0]]) == [(fields[1],)]


def test_a_later_delivery_on_a_slow_clock_wins_across_load_dates(built, tmp_path):
    """Across load dates too: cases delivered again the next day by a worker whose clock is an hour slow look
    older by their landing time; the later delivery (the higher commit sequence) is the row the layer keeps."""
    settings = _copy(built, tmp_path / "home")
    assert shutil.which("faketime"), "libfaketime's faketime is installed by `make setup` (Debian package faketime)"
    inbox = settings.inbox_dir / "cgj" / "city_cases"
    _header, *first_day = (inbox / f"city_cases_{DAYS[0]}.csv").read_text(encoding="utf-8").splitlines()
    updates = []
    for row in first_day[:5]:  # five of day 1's cases come again on day 2, with a follow-up note
        fields = row.split(",")
        fields[6] += "（复核）"
        updates.append(",".join(fields))
    second = inbox / f"city_cases_{DAYS[1]}.csv"
    second.write_text(second.read_text(encoding="utf-8").rstrip("\n") + "\n" + "\n".join(updates) + "\n",
                      encoding="utf-8")
    later = cli(settings, "ingest", "cgj/city_cases", "--date", str(DAYS[1]), under=("faketime", "-f", "-1h"))
    assert later.returncode == 0, later.stderr[-3000:]
    landed = dict(_query(settings, 'SELECT _load_date, max(_loaded_at) FROM raw."cgj__city_cases" GROUP BY 1'))
    assert landed[DAYS[1]] < landed[DAYS[0]]  # by the landing clock, day 2 is the older delivery
    assert run(settings, "build") == 0
    kept = _query(settings, """
        SELECT s._load_date, count(*) FROM standard.stg_cgj__city_cases AS s
        WHERE s.case_id IN (SELECT upper(trim(case_id)) FROM raw."cgj__city_cases"
                            GROUP BY 1 HAVING count(DISTINCT _load_date) = 2)
        GROUP BY 1""")
    assert kept == [(DAYS[1], 5)]  # every case delivered twice: day 2's copy
    notes = _query(settings, "SELECT count(*) FROM standard.stg_cgj__city_cases WHERE description LIKE '%（复核）'")
    assert notes == [(5,)]
