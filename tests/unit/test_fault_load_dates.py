"""Fault #3 (issue 32): a load date in the future is refused before anything lands.

Registries keep the latest row per key by load date, so one batch dated 2030 would win over every real
delivery until then. ``cityshare ingest --date`` beyond today on the Asia/Shanghai calendar plus the
configured tolerance (``CITYSHARE_LOAD_DATE_TOLERANCE_DAYS``) exits 2 with a message saying so.
"""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest
from reliability_support import world
from test_directory_support import DAYS
from typer.testing import CliRunner

from cityshare.cli import app
from cityshare.workcal import today_beijing

pytestmark = pytest.mark.faults

KEY = "scjgj/business_registry"


def _deliver(settings, day: dt.date) -> None:
    """The department's file for ``day`` (a copy of a real day's), so only the date can be wrong."""
    folder = settings.inbox_dir / "scjgj" / "business_registry"
    shutil.copy(folder / f"business_registry_{DAYS[0]}.csv", folder / f"business_registry_{day}.csv")


def _ingest(settings, day: dt.date, **env: str):
    env = {"CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir), **env}
    return CliRunner().invoke(app, ["ingest", KEY, "--date", day.isoformat()], env=env)


def _landed(settings, day: dt.date) -> list:
    folders = list(settings.lake_dir.rglob(f"load_date={day}"))
    if not settings.warehouse_path.exists():
        return folders
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return folders + con.execute("SELECT load_id FROM meta.batches WHERE load_date = ?", [day]).fetchall()


def test_a_future_load_date_is_refused_before_anything_lands(tmp_path):
    settings = world(tmp_path / "home")
    future = dt.date(2030, 1, 1)
    _deliver(settings, future)
    result = _ingest(settings, future)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "2030-01-01" in message and "Asia/Shanghai" in message and "CITYSHARE_LOAD_DATE_TOLERANCE_DAYS" in message
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    assert _landed(settings, future) == []

    beyond = today_beijing() + dt.timedelta(days=2)  # the default tolerance is one day
    _deliver(settings, beyond)
    assert _ingest(settings, beyond).exit_code == 2 and _landed(settings, beyond) == []
    # the tolerance is a setting: widened, the same date is no longer refused for being in the future
    widened = _ingest(settings, beyond, CITYSHARE_LOAD_DATE_TOLERANCE_DAYS="3")
    assert "Asia/Shanghai" not in widened.output and _landed(settings, beyond) != []
