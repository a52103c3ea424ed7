"""The benchmark harness cannot rot: ``bench/run.py`` at a tiny scale writes every stage with a ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["extract_land", "gate", "build", "publish", "directory", "end_to_end"]


@pytest.mark.slow  # ≈ 50 s: the whole pipeline twice at 2,000 rows (make test-slow)
def test_bench_runs_at_tiny_scale_and_reports_every_stage(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--scales", "2e3", "--days", "1",
         "--no-orchestration", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={k: v for k, v in os.environ.items() if "TOKEN" not in k},  # from a shell with no secret set
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert report["machine"]["cores"] >= 1 and len(report["machine"]["load_average"]) == 3
    (scale,) = report["scales"]
    assert scale["rows"] > 0
    for stage in STAGES:
        entry = scale["stages"][stage]
        assert entry["ratio"] > 0, stage
        for side in ("ours", "baseline"):
            assert entry[side]["seconds_median"] > 0 and entry[side]["peak_rss_mb"] > 0, (stage, side)
    # both sides gated the same batches: the baseline is doing the same work, not nothing
    assert scale["counts"]["baseline"]["rows"] == scale["counts"]["ours"]["rows"]
    # the next-day run happened after the full one (and the baseline still ran the full build's SQL)
    assert scale["incremental"]["seconds"] > 0 and scale["incremental"]["share_of_full"] > 0
    # its build was timed three times from the same state (one rep), and the figure is their median
    build = scale["incremental"]["stages"]["build"]
    assert len(build["samples"]) == 3 and all(x > 0 for x in build["samples"])
    assert build["seconds"] == sorted(build["samples"])[1]
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "端到端 end to end" in md and "入库关口 gate" in md and "median of 3 timings" in md


@pytest.mark.slow  # ≈ 40 s: a full and two next-day builds (make test-slow)
def test_incremental_harness_times_the_next_day_build_from_the_same_state(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "incremental_bench.py"), "--rows", "2e3", "--days", "1",
         "--samples", "2", "--dir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("{")))
    assert result["full_build_s"] > 0 and result["full_models"] > 0
    assert len(result["next_day_build_s"]) == 2 and result["median_s"] > 0
    # the next day builds less than the whole project: what the next day's batches reach
    assert 0 < result["share_of_full_build"] < 1


def test_land_bench_times_both_readers_on_the_same_deliveries(tmp_path: Path) -> None:
    out = tmp_path / "land"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "land_bench.py"), "--rows", "2e3", "--reps", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    for fmt in ("csv", "jsonl"):
        entry = report["formats"][fmt]
        # CityShare took the native reader, and both sides landed every row of the delivery
        assert entry["ours"]["reader"] == "native", entry["ours"]
        assert entry["ours"]["rows"] == entry["baseline"]["rows"] == 2000
        assert entry["ratio"] > 0 and entry["ours"]["peak_rss_mb"] > 0
    assert "| csv |" in out.with_suffix(".md").read_text(encoding="utf-8")


def test_gate_fixed_cost_bench_times_ours_and_the_baseline_on_the_same_batches(tmp_path: Path) -> None:
    out = tmp_path / "gate_fixed"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gate_fixed_bench.py"), "--batches", "3", "--batch-rows", "1000",
         "--profile", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    defects, clean = report["with defects"], report["clean"]
    # the same checks on both sides: the baseline quarantined as many rows (asserted inside), and the clean
    # batch is the same batch without its defective rows
    assert defects["quarantined"] > 0 and clean["quarantined"] == 0 and clean["batch_rows"] < defects["batch_rows"]
    for variant in (defects, clean):
        assert variant["rule_results"] > 20
        assert 0 < variant["ours"]["gx_validate_s"] < variant["ours"]["wall_s"]
        assert variant["baseline"]["wall_s"] > 0 and variant["baseline"]["cpu_s"] > 0
    # the profile splits the gate into GX's steps, which together take most of it and never more than all of it
    parts = report["profile"]["parts"]
    gx = sum(v["share"] for label, v in parts.items() if label.startswith("GX:"))
    assert parts["whole gate (run_gate)"]["ms_per_batch"] > 0 and 0.5 < gx <= 1.0, parts
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "fixed cost ms (wall / CPU)" in md and "Where the time goes" in md


def test_connections_bench_times_a_new_instance_and_a_cursor_on_the_same_warehouse(tmp_path: Path) -> None:
    out = tmp_path / "connections"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "connections_bench.py"), "--uses", "5", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "CITYSHARE_DATA_DIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert set(report["results"]) == {"warehouse", "scratch"}
    for ways in report["results"].values():
        assert len(ways) == 2 and all(ms > 0 for ms in ways.values())
    assert "| warehouse" in out.with_suffix(".md").read_text(encoding="utf-8")
