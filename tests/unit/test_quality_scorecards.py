"""Scorecards and timeliness recomputed by hand from a small quality history around 2026 National Day.

Calendar facts used (chinese-calendar, checked): 2026-10-01..07 are holidays (国庆节), Saturday
2026-10-10 is a make-up workday (调休上班), Sunday 2026-10-11 is a rest day. The period 2026-09-28 ..
2026-10-11 therefore has six working days for a 每日 source: 09-28, 09-29, 09-30, 10-08, 10-09, 10-10,
due on 09-29, 09-30, 10-08, 10-09, 10-10 (the Saturday) and 10-12. Gate times are stored in UTC.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from cityshare.quality import scorecards, timeliness
from cityshare.quality.history import Period
from cityshare.warehouse import connect

PERIOD = Period(dt.date(2026, 9, 28), dt.date(2026, 10, 11))
AS_OF = dt.datetime(2026, 10, 20)  # Beijing time, long after every due day
CGJ, SCJGJ = "cgj/city_cases", "scjgj/business_registry"

# (dataset, load_date, status, gated_at UTC)
BATCHES = [
    (CGJ, "2026-09-28", "accepted", "2026-09-29 02:00"),  # Beijing 09-29 10:00, due 09-29 → 按时
    (CGJ, "2026-09-29", "accepted", "2026-10-01 01:00"),  # due 09-30 → 迟到
    (CGJ, "2026-09-30", "accepted", "2026-10-05 02:00"),  # due 10-08 (after the holiday) → 按时
    (CGJ, "2026-10-03", "accepted", "2026-10-04 02:00"),  # a holiday: nothing was due, not counted
    # 10-08: no delivery → 缺失
    (CGJ, "2026-10-09", "accepted", "2026-10-10 12:00"),  # due Saturday 10-10 (调休) → 按时
    (CGJ, "2026-10-10", "accepted", "2026-10-12 01:00"),  # the make-up Saturday itself, due 10-12 → 按时
    (CGJ, "2026-10-12", "blocked", "2026-10-12 03:00"),   # outside the period
    (SCJGJ, "2026-09-28", "accepted", "2026-09-29 17:30"),  # Beijing 09-30 01:30, due 09-29 → 迟到
    (SCJGJ, "2026-09-29", "blocked", "2026-09-29 12:00"),   # only a blocked batch → 阻断
    (SCJGJ, "2026-09-30", "accepted", "2026-10-08 15:00"),  # Beijing 10-08 23:00, due 10-08 → 按时
    (SCJGJ, "2026-10-08", "accepted", "2026-10-09 00:00"),  # → 按时
    (SCJGJ, "2026-10-09", "accepted", "2026-10-11 01:00"),  # due Saturday 10-10 → 迟到
    # 10-10: no delivery → 缺失
]

# cgj rule failures per load date: (完整性 case_id_required, 准确性 case_id_unique, 一致性 closed_after_reported),
# each of 100 rows, plus one passing batch-level 规范性 check per batch.
CGJ_FAILS = {"2026-09-28": (0, 2, 1), "2026-09-29": (0, 0, 0), "2026-09-30": (5, 1, 0),
             "2026-10-03": (0, 0, 3), "2026-10-09": (0, 4, 0), "2026-10-10": (1, 0, 0),
             "2026-10-12": (50, 50, 50)}
# scjgj per load date: (规范性 batch check failed?, 准确性 failures of 200 or None = rule errored, 完整性 of 200)
SCJGJ_FAILS = {"2026-09-28": (0, 3, 0), "2026-09-29": (1, None, 0), "2026-09-30": (0, 0, 2),
               "2026-10-08": (0, 1, 0), "2026-10-09": (0, 6, 0)}

COLS = ("dataset, load_id, stage, rule, level, column_name, dimension, dimension_zh, description, "
        "evaluated, failed, success, error, checked_at")


# Minimal contracts of their own, so datasets other engineers onboard do not change the hand counts.
CONTRACTS = {
    "cgj/city_cases": ("数字城管案件", "cgj", "每日",
                       "[{name: case_id, businessName: 案件编号}, {name: reporter_phone, businessName: 上报人电话,"
                       " customProperties: [{property: pii, value: mobile}]}]"),
    "scjgj/business_registry": ("市场主体登记信息", "scjgj", "每日",
                                "[{name: uscc, businessName: 统一社会信用代码}, {name: legal_person_name,"
                                " businessName: 法定代表人姓名, customProperties: [{property: pii, value: person_name}]}]"),
    "shared/city_cases": ("城市管理案件（共享）", "cgj", "每日", "[{name: case_id, businessName: 案件编号}]"),
}


def write_project(root: Path, monkeypatch) -> None:
    """A project root with the real departments registry and the fixture contracts."""
    shutil.copytree(Path(__file__).resolve().parents[2] / "catalog", root / "catalog",
                    ignore=shutil.ignore_patterns("site", "exports"))
    for key, (name, team, cycle, props) in CONTRACTS.items():
        path = root / "contracts" / f"{key}.odcs.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f"apiVersion: v3.0.2\nkind: DataContract\nid: {key}\nname: {name}\nversion: 1.0.0\nstatus: active\n"
            f"team: {{name: {team}}}\nschema:\n  - name: {key.split('/')[1]}\n    properties: {props}\n"
            f"customProperties:\n  - {{property: updateCycle, value: {cycle}}}\n", encoding="utf-8")
    monkeypatch.setenv("CITYSHARE_HOME", str(root))


def load_id(dataset: str, day: str) -> str:
    return f"{day.replace('-', '')}-{dataset.split('/')[0]}"


def seed_history(settings) -> None:
    """Write the batches and rule results above into a fresh warehouse (the gate's own tables)."""
    with connect(settings) as con:
        for dataset, day, status, gated in BATCHES:
            lid = load_id(dataset, day)
            con.execute(
                "INSERT INTO meta.batches (dataset, load_id, load_date, source, raw_path, accepted_path, "
                "quarantine_path, rows_landed, rows_accepted, rows_quarantined, status, reason, gated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [dataset, lid, day, f"http://127.0.0.1:8765/api/{dataset}?d={day}", "/x", None, None, 100,
                 100 if status == "accepted" else 0, 0, status,
                 "批次被阻断 [column_present:uscc]" if status == "blocked" else "", gated])
        rows = []
        for day, (c, u, k) in CGJ_FAILS.items():
            lid, at = load_id(CGJ, day), f"{day} 20:00"
            rows += [(CGJ, lid, "gate", *r, at) for r in (
                ("column_present:case_id", "batch", None, "conformity", "规范性", "列存在", 1, 0, True, None),
                ("case_id_required", "row", "case_id", "completeness", "完整性", "必填", 100, c, c == 0, None),
                ("case_id_unique", "row", "case_id", "uniqueness", "准确性", "唯一", 100, u, u == 0, None),
                ("closed_after_reported", "row", None, "consistency", "一致性", "时序", 100, k, k == 0, None))]
        # an earlier gate run of the 09-28 batch: superseded by the re-gate above, must not count
        rows.append((CGJ, load_id(CGJ, "2026-09-28"), "gate", "case_id_unique", "row", "case_id", "uniqueness",
                     "准确性", "唯一", 100, 90, False, None, "2026-09-28 08:00"))
        # the published table of cgj, audited twice on 10-09 (Beijing); only the later audit counts
        rows.append(("shared/city_cases", "aud1", "audit", "case_id_unique", "row", "case_id", "uniqueness",
                     "准确性", "唯一", 500, 100, False, None, "2026-10-08 20:00"))
        rows.append(("shared/city_cases", "aud1", "audit", "case_id_unique", "row", "case_id", "uniqueness",
                     "准确性", "唯一", 500, 0, True, None, "2026-10-09 02:00"))
        for day, (blocked, acc, comp) in SCJGJ_FAILS.items():
            lid, at = load_id(SCJGJ, day), f"{day} 20:00"
            rows.append((SCJGJ, lid, "gate", "column_present:uscc", "batch", "uscc", "conformity", "规范性", "列存在",
                         1, blocked, not blocked, None, at))
            if acc is None:
                rows.append((SCJGJ, lid, "gate", "uscc_check_digit", "row", "uscc", "accuracy", "准确性", "校验码",
                             0, 0, False, "Binder Error: column uscc not found", at))
            else:
                rows.append((SCJGJ, lid, "gate", "uscc_check_digit", "row", "uscc", "accuracy", "准确性", "校验码",
                             200, acc, acc == 0, None, at))
            rows.append((SCJGJ, lid, "gate", "entity_name_required", "row", "entity_name", "completeness", "完整性",
                         "必填", 200, comp, comp == 0, None, at))
        con.executemany(f"INSERT INTO meta.quality_results ({COLS}) VALUES ({', '.join('?' * 14)})", rows)


@pytest.fixture
def history(tmp_path, monkeypatch):
    from cityshare.settings import get_settings

    write_project(tmp_path / "project", monkeypatch)
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    seed_history(settings)
    return settings


def _dept(card: dict, slug: str) -> dict:
    return next(d for d in card["departments"] if d["department"] == slug)


def test_cgj_dimension_scores_by_hand(history):
    cards = scorecards.scorecards(history, PERIOD, AS_OF)
    cgj = _dept(cards, "cgj")
    dims = {k: (v["A"], v["B"]) for k, v in cgj["dimensions"].items()}
    # six batches in the period (09-28, 09-29, 09-30, 10-03, 10-09, 10-10); 10-12 is outside
    assert dims["规范性"] == (6, 6)
    assert dims["完整性"] == (600 - (0 + 0 + 5 + 0 + 0 + 1), 600)
    # gate: 7 duplicates in 600 rows (the superseded run's 90 ignored) + the later audit: 500 rows, 0 failed
    assert dims["准确性"] == (600 - 7 + 500, 1100)
    assert dims["一致性"] == (600 - 4, 600)
    assert dims["时效性"] == (4, 6)          # 按时 09-28, 09-30, 10-09, 10-10 of six working days
    assert dims["可访问性"] == (6, 6)
    assert cgj["dimensions"]["准确性"]["X"] == round(100 * 1093 / 1100, 2) == 99.36
    overall = (15 * 100 + 20 * 99.0 + 20 * 100 * 1093 / 1100 + 15 * 100 * 596 / 600 + 20 * 100 * 4 / 6 + 10 * 100) / 100
    assert cgj["overall"] == round(overall, 2) == 92.91
    assert cgj["grade"] == "A"


def test_scjgj_dimension_scores_by_hand(history):
    cards = scorecards.scorecards(history, PERIOD, AS_OF)
    s = _dept(cards, "scjgj")
    dims = {k: (v["A"], v["B"]) for k, v in s["dimensions"].items()}
    assert dims["规范性"] == (4, 5)                      # the 09-29 batch failed its column check
    assert dims["准确性"] == (800 - (3 + 1 + 6), 801)   # the errored rule counts as one unmet check
    assert dims["完整性"] == (998, 1000)
    assert dims["一致性"] == (0, 0) and s["dimensions"]["一致性"]["X"] is None
    assert dims["时效性"] == (2, 6)
    assert dims["可访问性"] == (4, 5)                    # one of five batches blocked
    # 一致性 has no evaluations: weights re-normalized over 15 + 20 + 20 + 20 + 10 = 85
    overall = (15 * 80 + 20 * 100 * 790 / 801 + 20 * 99.8 + 20 * 100 * 2 / 6 + 10 * 80) / 85
    assert s["overall"] == round(overall, 2) == 78.06
    assert s["grade"] == "B"


def test_rank_and_every_department_listed(history):
    cards = scorecards.scorecards(history, PERIOD, AS_OF)
    ranks = {d["department"]: d["rank"] for d in cards["departments"]}
    assert ranks["cgj"] == 1 and ranks["scjgj"] == 2
    assert ranks["zjw"] is None and _dept(cards, "zjw")["overall"] is None
    assert {"cgj", "scjgj", "cyzx", "zjw", "jtj", "slj", "mzj", "jd_nanping"} <= set(ranks)


def test_resource_scorecards_keep_gate_and_audit_apart(history):
    cards = scorecards.scorecards(history, PERIOD, AS_OF)
    res = {r["dataset"]: r for r in cards["resources"]}
    assert res[CGJ]["dimensions"]["准确性"]["B"] == 600
    assert res["shared/city_cases"]["dimensions"]["准确性"]["A"] == 500
    assert res["shared/city_cases"]["department"] == "cgj"


def test_weekly_trend_by_hand(history):
    cards = scorecards.scorecards(history, PERIOD, AS_OF, trend_weeks=3)
    week = {(t["week"], t["department"]): t["overall"] for t in cards["trend"]}
    # week 09-28..10-04 for cgj: batches 09-28, 09-29, 09-30, 10-03; deliveries due 09-28, 09-29, 09-30 (2 on time)
    expected = (15 * 100 + 20 * 100 * 395 / 400 + 20 * 100 * 397 / 400 + 15 * 100 * 396 / 400 + 20 * 100 * 2 / 3
                + 10 * 100) / 100
    assert week[("2026-09-28", "cgj")] == round(expected, 2)
    # weeks before the first load are not drawn as weeks of missing deliveries
    assert sorted({w for w, _ in week}) == ["2026-09-28", "2026-10-05"]
    assert week[("2026-10-05", "zjw")] is None


def test_on_time_rates_with_holiday_and_makeup_workday(history):
    summary = timeliness.summary(history, PERIOD, AS_OF)
    by_dept = {d["department"]: d for d in summary["departments"]}
    cgj, scjgj = by_dept["cgj"], by_dept["scjgj"]
    assert (cgj["应报"], cgj["按时"], cgj["迟到"], cgj["缺失"], cgj["阻断"]) == (6, 4, 1, 1, 0)
    assert cgj["及时率"] == round(4 / 6, 4)
    assert (scjgj["应报"], scjgj["按时"], scjgj["迟到"], scjgj["缺失"], scjgj["阻断"]) == (6, 2, 2, 1, 1)
    assert scjgj["及时率"] == round(2 / 6, 4)
    problems = {(p["dataset"], p["slot"]): p for p in summary["problems"]}
    assert problems[(CGJ, "2026-10-08")]["status"] == "缺失"
    assert problems[(SCJGJ, "2026-10-10")]["status"] == "缺失"        # the 调休 Saturday was owed
    assert problems[(SCJGJ, "2026-10-09")]["due"] == dt.date(2026, 10, 10)
    assert problems[(SCJGJ, "2026-09-28")]["status"] == "迟到"        # 01:30 Beijing on 09-30
    assert (CGJ, "2026-10-03") not in problems and (CGJ, "2026-10-03") not in {
        (r["dataset"], r["slot"]) for r in timeliness.deliveries(history, PERIOD, AS_OF)}


def test_a_delivery_counts_when_the_department_made_it_not_when_it_was_gated(history):
    with connect(history) as con:  # delivered on time (Beijing 09-30 09:00, due 09-30), gated only on 10-01
        con.execute("UPDATE meta.batches SET delivered_at = '2026-09-30 01:00' WHERE load_id = ?",
                    [load_id(CGJ, "2026-09-29")])
        con.execute("UPDATE meta.batches SET delivered_at = '2026-10-20 00:00' WHERE load_id = ?",  # after its gate:
                    [load_id(CGJ, "2026-09-28")])  # a file's time cannot make a delivery later than its gate
    by_dept = {d["department"]: d for d in timeliness.summary(history, PERIOD, AS_OF)["departments"]}
    assert (by_dept["cgj"]["按时"], by_dept["cgj"]["迟到"]) == (5, 0)
    arrived = {r["slot"]: r for r in timeliness.deliveries(history, PERIOD, AS_OF) if r["dataset"] == CGJ}
    assert arrived["2026-09-29"]["status"] == "按时"


def test_not_yet_due_deliveries_are_left_out(history):
    as_of = dt.datetime(2026, 10, 11, 12, 0)  # Sunday noon: the 10-10 delivery is due on Monday 10-12
    by_dept = {d["department"]: d for d in timeliness.summary(history, PERIOD, as_of)["departments"]}
    cgj = by_dept["cgj"]
    assert (cgj["应报"], cgj["按时"], cgj["未到期"]) == (5, 3, 1)


def test_heatmap_marks_holidays_and_makeup_days(history):
    cells = {(c["day"], c["department"]): c for c in timeliness.summary(history, PERIOD, AS_OF)["heatmap"]}
    assert cells[("2026-10-03", "cgj")]["expected"] == 0
    assert "国庆节" in cells[("2026-10-03", "cgj")]["day_kind"]
    assert cells[("2026-10-10", "scjgj")]["day_kind"].startswith("调休上班")
    assert cells[("2026-10-10", "scjgj")]["及时率"] == 0.0
    assert cells[("2026-10-09", "cgj")]["及时率"] == 1.0


def test_weekly_and_monthly_slots():
    period = Period(dt.date(2026, 9, 28), dt.date(2026, 10, 31))
    weekly = timeliness.slots("每周", period)
    # week of 10-05 has only holidays (10-05..07) and Sat/Sun 10-10/11: its last working day is Saturday 10-10
    week = next(s for s in weekly if s.window_start == dt.date(2026, 10, 5))
    assert week.ref_day == dt.date(2026, 10, 10) and week.due == dt.date(2026, 10, 12)
    monthly = timeliness.slots("每月", period)
    assert [(s.window_start, s.due) for s in monthly] == [
        (dt.date(2026, 9, 1), dt.date(2026, 10, 13)),  # 09-30 + 5 workdays: 10-08, 09, 10 (调休), 12, 13
        (dt.date(2026, 10, 1), dt.date(2026, 11, 6))]
    assert timeliness.slots("其他", period) == []
