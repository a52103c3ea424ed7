"""The working calendar (工作日历) and Beijing time: the one owner of both.

National holidays and make-up workdays (调休) come from chinese-calendar; years it does not know yet fall
back to Monday–Friday (logged once per year). Timeliness (quality), grant and correction deadlines
(share), delivery alerts and the simulator all count working days here, so they never disagree.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache

log = logging.getLogger("cityshare.workcal")

BEIJING = dt.timezone(dt.timedelta(hours=8))  # China has no DST: UTC+8 all year


@cache
def _warn_unknown_year(year: int) -> None:
    log.warning("chinese-calendar does not know %s; counting Monday–Friday as working days", year)


@cache
def is_workday(day: dt.date) -> bool:
    """True on a working day (including 调休 weekends), False on weekends and 法定节假日."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_unknown_year(day.year)
        return day.weekday() < 5


def holiday_name(day: dt.date) -> str | None:
    """The holiday (or make-up workday) a date belongs to, in Chinese, if chinese-calendar knows it."""
    import chinese_calendar

    names = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
             "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
             "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "抗战胜利纪念日"}
    try:
        _, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return names.get(name, name) if name else None


def next_workday(day: dt.date, n: int = 1) -> dt.date:
    """The n-th working day strictly after ``day``."""
    counted = 0
    while counted < n:
        day += dt.timedelta(days=1)
        if is_workday(day):
            counted += 1
    return day


def workdays_between(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]; negative when end is before start."""
    if end < start:
        return -workdays_between(end, start)
    return sum(1 for i in range(1, (end - start).days + 1) if is_workday(start + dt.timedelta(days=i)))


def workdays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Working days in [start, end]."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)
            if is_workday(start + dt.timedelta(days=i))]


def to_beijing(ts: dt.datetime) -> dt.datetime:
    """A warehouse timestamp (naive UTC, as the gate records it) as naive Beijing time."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(BEIJING).replace(tzinfo=None)


def today_beijing() -> dt.date:
    return dt.datetime.now(BEIJING).date()


def now_beijing() -> dt.datetime:
    """Beijing wall-clock time to the second (what the portal and the request log show)."""
    return dt.datetime.now(BEIJING).replace(microsecond=0)
