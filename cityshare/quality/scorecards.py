"""Scorecards (数据质量评分卡) per department and per resource by the six GB/T 36344 dimensions.

Each dimension is X = A / B (GB/T 36344-2018): B the checks evaluated, A the checks that met the rule.

- 规范性 / 完整性 / 准确性 / 一致性 (and any rule tagged 时效性 / 可访问性): from the gate and audit rule
  results in ``meta.quality_results``. A row rule contributes B = rows evaluated, A = rows evaluated −
  rows failed; a batch rule B = 1, A = 1 if it passed. A rule that could not be evaluated (an error and
  nothing evaluated) counts B = 1, A = 0. Only the latest check of each (dataset, load, stage) counts.
  The ODCS ``uniqueness`` dimension belongs to 准确性 (GB/T 36344 lists duplicate rate under it).
- 时效性 also counts every expected delivery: B = deliveries due, A = deliveries on time
  (see :mod:`cityshare.quality.timeliness`).
- 可访问性 also counts the gated batches of the department's sources: B = batches gated, A = batches
  accepted (a blocked batch never became available to anyone).
- Results are attributed to the provider department of the dataset's contract (``team``); published
  tables (audit stage) count for their provider too.
- The overall score (综合得分) is the weighted mean of the dimensions that have evaluations, with
  ``WEIGHTS`` re-normalized over them; the grade uses the A–E bands of GB/T 30428.4 (A ≥ 90, B ≥ 75,
  C ≥ 60, D ≥ 40, E < 40) for readability. The rank orders departments with a score (ties share a rank).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from cityshare.quality import history, timeliness
from cityshare.quality.history import Period
from cityshare.settings import Settings
from cityshare.vocabulary import BatchStatus
from cityshare.workcal import to_beijing

DIMENSIONS = ("规范性", "完整性", "准确性", "一致性", "时效性", "可访问性")
# Project weights (sum 100): completeness, accuracy and timeliness weigh most for sharing.
WEIGHTS = {"规范性": 15, "完整性": 20, "准确性": 20, "一致性": 15, "时效性": 20, "可访问性": 10}
ODCS_TO_ZH = {"conformity": "规范性", "completeness": "完整性", "accuracy": "准确性", "uniqueness": "准确性",
              "consistency": "一致性", "timeliness": "时效性", "availability": "可访问性",
              "accessibility": "可访问性", "coverage": "完整性"}
GRADES = ((90.0, "A"), (75.0, "B"), (60.0, "C"), (40.0, "D"))

Tally = dict[str, dict[str, list[int]]]  # group → dimension → [A, B]


def grade(score: float | None) -> str | None:
    """A ≥ 90, B 75–90, C 60–75, D 40–60, E < 40 (GB/T 30428.4 bands)."""
    if score is None:
        return None
    return next((g for bound, g in GRADES if score >= bound), "E")


def dimension_of(result: dict[str, Any]) -> str | None:
    zh = result.get("dimension_zh")
    if zh in DIMENSIONS:
        return zh
    return ODCS_TO_ZH.get(str(result.get("dimension") or "").lower())


def rule_counts(result: dict[str, Any]) -> tuple[int, int]:
    """(A, B) of one rule result."""
    evaluated = int(result.get("evaluated") or 0)
    failed = min(int(result.get("failed") or 0), evaluated)
    if evaluated == 0:
        return (0, 1) if result.get("error") or result.get("success") is False else (0, 0)
    return evaluated - failed, evaluated


def tally(results: Iterable[dict[str, Any]], deliveries: Iterable[dict[str, Any]],
          batches: Iterable[dict[str, Any]], window: Period, group: Callable[[str], str | None]) -> Tally:
    """Sum A and B per group and dimension for everything whose day lies in the window."""
    out: Tally = defaultdict(lambda: defaultdict(lambda: [0, 0]))

    def add(key: str | None, dim: str, a: int, b: int) -> None:
        if key is not None and b:
            out[key][dim][0] += a
            out[key][dim][1] += b

    for r in results:
        dim = dimension_of(r)
        if dim and r["load_date"] and window.contains(r["load_date"]):
            add(group(r["dataset"]), dim, *rule_counts(r))
    for d in deliveries:
        if window.contains(d["ref_day"]) and d["status"] in timeliness.COUNTED:
            add(group(d["dataset"]), "时效性", int(d["status"] == "按时"), 1)
    for b in batches:
        if window.contains(b["load_date"]):
            add(group(b["dataset"]), "可访问性", int(b["status"] == BatchStatus.ACCEPTED), 1)
    return out


def card(dims: dict[str, list[int]]) -> dict[str, Any]:
    """Dimension scores (percent), overall score and grade of one group."""
    scores: dict[str, Any] = {}
    for dim in DIMENSIONS:
        a, b = dims.get(dim, [0, 0])
        scores[dim] = {"A": a, "B": b, "X": round(100.0 * a / b, 2) if b else None}
    # the overall score uses the exact ratios; only the shown values are rounded
    weighted = [(WEIGHTS[d], 100.0 * scores[d]["A"] / scores[d]["B"]) for d in DIMENSIONS if scores[d]["B"]]
    total = sum(w for w, _ in weighted)
    overall = round(sum(w * x for w, x in weighted) / total, 2) if total else None
    return {"dimensions": scores, "overall": overall, "grade": grade(overall)}


def rank(rows: list[dict[str, Any]]) -> None:
    """Competition ranking (1, 2, 2, 4) by overall score; rows without a score get no rank."""
    scored = sorted((r for r in rows if r["overall"] is not None), key=lambda r: -r["overall"])
    for r in rows:
        r["rank"] = None
    for i, r in enumerate(scored):
        r["rank"] = scored[i - 1]["rank"] if i and r["overall"] == scored[i - 1]["overall"] else i + 1


def iso_weeks(end: dt.date, weeks: int) -> list[Period]:
    """The last ``weeks`` ISO weeks (Monday–Sunday) up to and including the week of ``end``, clipped at end."""
    monday = end - dt.timedelta(days=end.weekday())
    out = []
    for i in range(weeks - 1, -1, -1):
        start = monday - dt.timedelta(days=7 * i)
        out.append(Period(start, min(start + dt.timedelta(days=6), end)))
    return out


def scorecards(settings: Settings, period: Period, as_of: dt.datetime | None = None,
               trend_weeks: int = 8) -> dict[str, Any]:
    """Department and resource scorecards for the period, ranks, and the weekly trend per department.

    The trend covers up to ``trend_weeks`` ISO weeks ending with the period's last week, skipping weeks
    before the first load in the history that also lie before the period.
    """
    as_of = as_of or to_beijing(dt.datetime.now(dt.UTC))
    first = history.first_load_date(settings)
    # trend weeks before anything was ever loaded (and before the period) would only show missing deliveries
    weeks = [w for w in iso_weeks(period.end, trend_weeks)
             if first is None or w.end >= first or w.end >= period.start] or [iso_weeks(period.end, 1)[0]]
    span = Period(min(period.start, weeks[0].start), period.end)
    known = history.resources(settings)
    depts = history.departments(settings)
    results = history.quality_results(settings)
    delivered = timeliness.deliveries(settings, span, as_of)
    gated = [b for b in history.batches(settings, span)
             if b["gated_at"] is None or to_beijing(b["gated_at"]) <= as_of]

    def dept_of(key: str) -> str:
        return history.department_of(key, known)

    by_dept = tally(results, delivered, gated, period, dept_of)
    departments = []
    for slug, info in depts.items():
        departments.append({"department": slug, "department_name": info.get("short_name", slug),
                            "full_name": info.get("name", slug), **card(by_dept.get(slug, {}))})
    for slug in sorted(set(by_dept) - set(depts)):  # a provider missing from the registry still shows
        departments.append({"department": slug, "department_name": slug, "full_name": slug,
                            **card(by_dept[slug])})
    rank(departments)

    by_res = tally(results, delivered, gated, period, lambda key: key)
    resources = []
    for key in sorted(by_res):
        res = known.get(key)
        resources.append({"dataset": key, "name": res.name if res else key, "department": dept_of(key),
                          "kind": res.kind if res else "", **card(by_res[key])})

    trend = []
    for week in weeks:
        weekly = tally(results, delivered, gated, week, dept_of)
        for d in departments:
            c = card(weekly.get(d["department"], {}))
            trend.append({"week": week.start.isoformat(), "week_label": f"{week.start:%G}-W{week.start:%V}",
                          "department": d["department"], "department_name": d["department_name"],
                          "overall": c["overall"]})
    return {"period": period, "weights": WEIGHTS, "departments": departments, "resources": resources,
            "trend": trend}
