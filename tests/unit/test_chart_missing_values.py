"""Charts show a missing value as missing: the radar's outline breaks at a dimension without data
(it used to dip to the centre, reading as a score of 0), and the note names what is missing."""

from __future__ import annotations

import re

from cityshare.quality import charts
from cityshare.quality.scorecards import DIMENSIONS


def _department(name: str, missing: set[str]) -> dict:
    return {"department_name": name, "overall": 80.0,
            "dimensions": {d: {"X": None if d in missing else 90.0} for d in DIMENSIONS}}


def test_radar_breaks_the_outline_where_a_dimension_has_no_data():
    svg = charts.render(charts.radar([_department("城管局", {DIMENSIONS[2]}), _department("民政局", set())]))
    outlines = [d for d in re.findall(r'd="(M[\d.,L]+)"', svg) if d.count("L") >= 1]
    centre = "180,180"  # a 360 px radar's centre: where a 0 would be drawn
    assert not any(centre in d for d in outlines)
    # the 90 % ring point of 规范性 (top) starts both outlines; 城管局's is cut in two around 准确性
    department_paths = [d for d in outlines if d.startswith("M180,60")]
    assert len(department_paths) == 2  # 民政局 whole, 城管局's first run
    assert any(d.startswith("M180,300") for d in outlines)  # 城管局's second run, from 一致性 on
    assert f"城管局·{DIMENSIONS[2]}" in svg and "不画点" in svg
