"""City-management evaluation (数字城管综合评价, GB/T 30428.4) from the published case table.

Data: ``shared.theme_city_cases__case`` (published 主题库 cases) and the seed ``ref.event_classes``
(minor class → 处置时限 ``disposal_hours``). Assumptions, because the shared data does not carry them yet:

- The responsible 专业部门 of a case is not in the data: the event **major class** (市容环境, 宣传广告,
  施工管理, 突发事件, 街面秩序 …) stands in for it. The second view is per **street** (街道).
- Cases are those reported in the period; the evaluation time ``as_of`` is the end of the period's last
  day (or now, if earlier). Times in the case table are Beijing local time.
- The time limit of a case is reported_at + the minor class's ``disposal_hours`` (unknown minor class:
  the major class's ``xx99`` 其他 limit).
- The case table has no separate disposal timestamp: a case counts as 处置 when it is closed (结案 with
  closed_at ≤ as_of). Status 处置 is a case still being handled.
- 应处置 = cases whose time limit has passed at as_of, plus cases closed before their limit ran out.
  处置率 = 处置 / 应处置; 按期处置率 = closed by the limit / 应处置.
- 应结案 = every case reported in the period (each accepted case must be closed eventually).
  结案率 = 结案 / 应结案; 按期结案率 = closed by the limit / 应结案.
- 返工率 = 返工 / 应结案 needs a rework flag the data does not have yet: reported as unavailable.
- 综合评价值 = weighted mean of the available rates (``WEIGHTS``); grades A ≥ 90, B 75–90, C 60–75,
  D 40–60, E < 40 apply to every rate and to the composite.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityshare.quality import history
from cityshare.quality.history import Period
from cityshare.quality.scorecards import grade
from cityshare.settings import Settings
from cityshare.workcal import to_beijing

INDICATORS = ("处置率", "按期处置率", "结案率", "按期结案率", "返工率")
WEIGHTS = {"处置率": 20, "按期处置率": 30, "结案率": 20, "按期结案率": 30}

_CASES_SQL = """
WITH limits AS (
    SELECT e.code, coalesce(e.disposal_hours, o.disposal_hours) AS hours
    FROM ref.event_classes e LEFT JOIN ref.event_classes o ON o.code = e.major_code || '99'
), c AS (
    SELECT c.case_id, coalesce(c.event_major_code, left(c.event_class_code, 2)) AS major_code,
           c.event_major_name, c.street_code, c.street_name, c.area_name, c.reported_at, c.closed_at,
           coalesce(l.hours, o.hours) AS hours
    FROM shared.theme_city_cases__case c
    LEFT JOIN limits l ON l.code = c.event_class_code
    LEFT JOIN limits o ON o.code = left(c.event_class_code, 2) || '99'
    WHERE CAST(c.reported_at AS DATE) BETWEEN ? AND ?
)
SELECT *, reported_at + hours * INTERVAL 1 HOUR AS deadline FROM c
"""


def cases(settings: Settings, period: Period) -> list[dict[str, Any]]:
    return history.query(settings, _CASES_SQL, [period.start, period.end],
                         needs=("shared.theme_city_cases__case", "ref.event_classes"))


def indicators(rows: list[dict[str, Any]], as_of: dt.datetime) -> dict[str, Any]:
    """The GB/T 30428.4 rates of a group of cases, with their counts and grades."""
    def is_closed(r: dict[str, Any]) -> bool:
        return r["closed_at"] is not None and r["closed_at"] <= as_of

    def in_time(r: dict[str, Any]) -> bool:
        return is_closed(r) and r["deadline"] is not None and r["closed_at"] <= r["deadline"]

    due = [r for r in rows if is_closed(r) or (r["deadline"] is not None and r["deadline"] <= as_of)]
    closed = sum(1 for r in rows if is_closed(r))
    on_time = sum(1 for r in rows if in_time(r))
    counts = {"案件数": len(rows), "应处置": len(due), "处置": sum(1 for r in due if is_closed(r)),
              "按期处置": on_time, "应结案": len(rows), "结案": closed, "按期结案": on_time}

    ratios = {"处置率": ("处置", "应处置"), "按期处置率": ("按期处置", "应处置"), "结案率": ("结案", "应结案"),
              "按期结案率": ("按期结案", "应结案")}
    exact = {k: 100.0 * counts[a] / counts[b] for k, (a, b) in ratios.items() if counts[b]}
    rates: dict[str, float | None] = {k: round(exact[k], 2) if k in exact else None for k in ratios}
    rates["返工率"] = None  # no rework records in the data yet
    total = sum(WEIGHTS[k] for k in exact)
    composite = round(sum(WEIGHTS[k] * v for k, v in exact.items()) / total, 2) if total else None
    return {"counts": counts, "rates": rates, "grades": {k: grade(v) for k, v in rates.items()},
            "综合评价值": composite, "grade": grade(composite)}


def evaluation(settings: Settings, period: Period, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """Indicators per event major class (专业部门 proxy), per street, and for the whole city."""
    end_of_period = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time())
    as_of = min(as_of or to_beijing(dt.datetime.now(dt.UTC)), end_of_period)
    rows = cases(settings, period)
    by_class: dict[str, list[dict[str, Any]]] = {}
    by_street: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_class.setdefault(r["major_code"] or "??", []).append(r)
        by_street.setdefault(r["street_code"] or "??", []).append(r)
    classes = [{"code": k, "name": v[0]["event_major_name"] or "未知大类", **indicators(v, as_of)}
               for k, v in sorted(by_class.items())]
    streets = [{"code": k, "name": v[0]["street_name"] or "未知街道", "area": v[0]["area_name"],
                **indicators(v, as_of)} for k, v in sorted(by_street.items())]
    return {"period": period, "as_of": as_of, "available": bool(rows) or _table_exists(settings),
            "overall": indicators(rows, as_of), "by_major_class": classes, "by_street": streets}


def _table_exists(settings: Settings) -> bool:
    return bool(history.query(settings, "SELECT 1 FROM information_schema.tables WHERE table_schema = 'shared' "
                              "AND table_name = 'theme_city_cases__case'"))
