"""Timeliness (时效性 / 及时率): expected deliveries from each source's update cycle (更新周期) on the
Chinese working calendar, actual arrival from the gate, and the on-time rate.

Rules (project definitions, configurable here):

- A delivery *slot* is one period a source owes data for:
  每日 — every working day D (法定节假日 excluded, 调休 make-up workdays included);
  实时 — every calendar day D; 每周 — every ISO week, 每月 / 每季度 / 每半年 / 每年 — every calendar
  month / quarter / half-year / year that contains at least one working day; 其他 — none (不考核).
- A slot belongs to the evaluation period when its reference day (D, or the period's last working day)
  lies in the period.
- The slot is *due* at the end (24:00 Beijing time) of its due day: for 每日 the next working day after
  D; for 实时 the next calendar day; for the longer cycles the ``GRACE_WORKDAYS``-th working day after
  the period's last working day.
- A slot is delivered by the first *accepted* batch whose load date lies in the slot's window; its arrival
  is when the department delivered it by the source's own evidence (``meta.batches.delivered_at``: a file's
  modification time, an API's Last-Modified, a database window's latest watermark), never later than the
  gate time (``gated_at``), which counts when the source gives no evidence; UTC, converted to Beijing time.
  A platform that gates late does not make a department late. A delivery whose batches were all blocked
  does not count: the data never became usable.
- Status: 按时 (arrived by the due day), 迟到 (arrived later), 阻断 (only blocked batches, past due),
  缺失 (nothing, past due), 未到期 (not yet due at ``as_of`` and not yet arrived; excluded from the rate).
- 及时率 = 按时 / (按时 + 迟到 + 阻断 + 缺失), per resource, per department and overall.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from cityshare.quality import history
from cityshare.quality.history import Period
from cityshare.settings import Settings
from cityshare.vocabulary import BatchStatus
from cityshare.workcal import holiday_name, is_workday, next_workday, to_beijing

GRACE_WORKDAYS = {"每日": 1, "每周": 1, "每月": 5, "每季度": 10, "每半年": 10, "每年": 15}
COUNTED = ("按时", "迟到", "阻断", "缺失")


@dataclass(frozen=True)
class Slot:
    """One expected delivery: the data window it covers, its reference day and its due day."""

    window_start: dt.date
    window_end: dt.date
    ref_day: dt.date
    due: dt.date

    @property
    def label(self) -> str:
        if self.window_start == self.window_end:
            return self.window_start.isoformat()
        return f"{self.window_start.isoformat()}~{self.window_end.isoformat()}"


def _calendar_periods(cycle: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Calendar windows of a long cycle that overlap [start, end] (with a margin for the ref day)."""
    out: list[tuple[dt.date, dt.date]] = []
    if cycle == "每周":
        day = start - dt.timedelta(days=start.weekday())
        while day <= end:
            out.append((day, day + dt.timedelta(days=6)))
            day += dt.timedelta(days=7)
        return out
    months = {"每月": 1, "每季度": 3, "每半年": 6, "每年": 12}[cycle]
    year, month = start.year, ((start.month - 1) // months) * months + 1
    while dt.date(year, month, 1) <= end:
        nxt_y, nxt_m = (year + 1, 1) if month + months > 12 else (year, month + months)
        out.append((dt.date(year, month, 1), dt.date(nxt_y, nxt_m, 1) - dt.timedelta(days=1)))
        year, month = nxt_y, nxt_m
    return out


def slots(cycle: str, period: Period) -> list[Slot]:
    """The delivery slots a source with this update cycle owes within the period."""
    days = [period.start + dt.timedelta(days=i) for i in range((period.end - period.start).days + 1)]
    if cycle == "每日":
        return [Slot(d, d, d, next_workday(d, GRACE_WORKDAYS["每日"])) for d in days if is_workday(d)]
    if cycle == "实时":
        return [Slot(d, d, d, d + dt.timedelta(days=1)) for d in days]
    if cycle not in GRACE_WORKDAYS:  # 其他 or undeclared: not assessed
        return []
    out = []
    for first, last in _calendar_periods(cycle, period.start, period.end):
        work = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)
                if is_workday(first + dt.timedelta(days=i))]
        if work and period.contains(work[-1]):
            out.append(Slot(first, last, work[-1], next_workday(work[-1], GRACE_WORKDAYS[cycle])))
    return out


def arrival(batch: dict[str, Any]) -> dt.datetime:
    """When a batch arrived, Beijing time: its delivery time, at the latest its gate time (see the rules above)."""
    times = [t for t in (batch.get("delivered_at"), batch["gated_at"]) if t is not None]
    return to_beijing(min(times)) if times else dt.datetime.combine(batch["load_date"], dt.time())


def _status(slot: Slot, found: list[dict[str, Any]], as_of: dt.datetime) -> tuple[str, dt.datetime | None]:
    arrivals = sorted(arrival(b) for b in found if b["status"] == BatchStatus.ACCEPTED)
    arrivals = [a for a in arrivals if a <= as_of]
    if arrivals:
        return ("按时" if arrivals[0].date() <= slot.due else "迟到"), arrivals[0]
    if as_of.date() <= slot.due:
        return "未到期", None
    return ("阻断" if found else "缺失"), None


def rate(on_time: int, counted: int) -> float | None:
    return round(on_time / counted, 4) if counted else None


def deliveries(settings: Settings, period: Period, as_of: dt.datetime) -> list[dict[str, Any]]:
    """Every expected delivery of every source contract in the period, with its status."""
    known = history.resources(settings)
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in history.batches(settings):
        by_dataset[b["dataset"]].append(b)
    out = []
    for res in sorted(known.values(), key=lambda r: r.key):
        if res.kind != "source":
            continue
        for slot in slots(res.update_cycle, period):
            found = [b for b in by_dataset[res.key] if slot.window_start <= b["load_date"] <= slot.window_end
                     and (b["gated_at"] is None or to_beijing(b["gated_at"]) <= as_of)]
            status, arrived = _status(slot, found, as_of)
            late_days = None
            if status == "迟到" and arrived:
                late_days = sum(1 for i in range(1, (arrived.date() - slot.due).days + 1)
                                if is_workday(slot.due + dt.timedelta(days=i)))
            out.append({
                "dataset": res.key, "name": res.name, "department": res.department,
                "update_cycle": res.update_cycle, "slot": slot.label, "ref_day": slot.ref_day,
                "due": slot.due, "arrived_at": arrived, "status": status, "late_workdays": late_days,
                "batches": len(found),
            })
    return out


def _summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in (*COUNTED, "未到期")}
    counted = sum(counts[s] for s in COUNTED)
    return {"应报": counted, **counts, "及时率": rate(counts["按时"], counted)}


def summary(settings: Settings, period: Period, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """及时率 per department (every registered one) and per resource, the late/missing list, heatmap cells."""
    as_of = as_of or to_beijing(dt.datetime.now(dt.UTC))
    rows = deliveries(settings, period, as_of)
    depts = history.departments(settings)
    by_dept = []
    for slug, info in depts.items():
        mine = [r for r in rows if r["department"] == slug]
        by_dept.append({"department": slug, "department_name": info.get("short_name", slug),
                        "resources": len({r["dataset"] for r in mine}), **_summarize(mine)})
    by_res = []
    for key in sorted({r["dataset"] for r in rows}):
        mine = [r for r in rows if r["dataset"] == key]
        by_res.append({"dataset": key, "name": mine[0]["name"], "department": mine[0]["department"],
                       "update_cycle": mine[0]["update_cycle"], **_summarize(mine)})
    problems = [r for r in rows if r["status"] in ("迟到", "阻断", "缺失")]
    return {"period": period, "as_of": as_of, "departments": by_dept, "resources": by_res,
            "problems": problems, "overall": _summarize(rows), "heatmap": heatmap(rows, period, depts)}


def heatmap(rows: list[dict[str, Any]], period: Period, depts: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    """One cell per department × calendar day: deliveries due for that reference day and how many on time."""
    cells = []
    for i in range((period.end - period.start).days + 1):
        day = period.start + dt.timedelta(days=i)
        work, holiday = is_workday(day), holiday_name(day)
        kind = "工作日" if work else "休息日"
        if holiday:
            kind = f"调休上班（{holiday}）" if work else f"节假日（{holiday}）"
        for slug, info in depts.items():
            mine = [r for r in rows if r["department"] == slug and r["ref_day"] == day and r["status"] in COUNTED]
            on_time = sum(1 for r in mine if r["status"] == "按时")
            cells.append({"day": day.isoformat(), "department": slug,
                          "department_name": info.get("short_name", slug), "day_kind": kind,
                          "expected": len(mine), "on_time": on_time, "及时率": rate(on_time, len(mine))})
    return cells
