"""Long CLI steps show a progress bar: simulate reports each finished source, and the CLI bar reaches its total."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner


def test_simulate_reports_every_step_it_announces(settings):
    from cityshare.simulate import simulate, steps
    from cityshare.simulate.sources import DEPARTMENT_SOURCES

    seen: list[str] = []
    simulate(settings, days=1, start=dt.date(2026, 11, 2), scale=0.05, departments=["zjw"], progress=seen.append)
    zjw = [name for name, _ in DEPARTMENT_SOURCES if name.startswith("zjw/")]
    assert zjw and len(seen) == steps(["zjw"]) == 2 + len(zjw)
    assert seen == ["scjgj/business_registry", "cgj/city_cases", *zjw]


def test_the_cli_bar_goes_to_stderr_and_completes(settings, tmp_path):
    from cityshare.cli import app

    result = CliRunner().invoke(app, ["simulate", "--days", "1", "--start", "2026-11-02", "--scale", "0.05",
                                      "--departments", "zjw"],
                             env={"CITYSHARE_DATA_DIR": str(settings.data_dir), "TTY_COMPATIBLE": "1"})  # a terminal
    assert result.exit_code == 0, result.output
    from cityshare.simulate import steps

    total = steps(["zjw"])
    assert "simulate 模拟" in result.stderr and f"{total}/{total}" in result.stderr
    assert result.stdout.lstrip().startswith("{")  # the summary stays parseable


def test_no_bar_where_nobody_watches_it(settings):
    """A pipe, a log file or an Airflow task gets the summary and no bar."""
    from cityshare.cli import app

    result = CliRunner().invoke(app, ["simulate", "--days", "1", "--start", "2026-11-02", "--scale", "0.05",
                                      "--departments", "zjw"],
                                env={"CITYSHARE_DATA_DIR": str(settings.data_dir), "TTY_COMPATIBLE": "0"})
    assert result.exit_code == 0, result.output
    assert "simulate 模拟" not in result.stderr and result.stdout.lstrip().startswith("{")


def test_ingest_shows_its_steps_on_a_terminal(settings):
    """`cityshare ingest`: landed, then gated, on stderr; stdout stays the JSON summary."""
    from cityshare.cli import app
    from cityshare.simulate import simulate

    simulate(settings, days=1, start=dt.date(2026, 11, 2), scale=0.05, departments=["zjw"])
    result = CliRunner().invoke(app, ["ingest", "zjw/bridge_sensor_readings", "--date", "2026-11-02"],
                                env={"CITYSHARE_DATA_DIR": str(settings.data_dir), "TTY_COMPATIBLE": "1",
                                     "CITYSHARE_TOKEN_KEY": "k" * 43})
    assert result.exit_code == 0, result.output
    assert "ingest 入库 zjw/bridge_sensor_readings" in result.stderr and "2/2" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "accepted" and summary["rows"] > 0
