"""Working days on the Chinese calendar (法定节假日 and 调休 make-up workdays, via chinese-calendar)."""

from __future__ import annotations

import datetime as dt
import logging

log = logging.getLogger("cityshare.share.workdays")

REQUEST_DEADLINE_WORKDAYS = 10  # 《政务数据共享条例》: the provider answers within 10 working days
CORRECTION_DEADLINE_WORKDAYS = 5  # 数据纠错: provider's reply window (project default, unverified)


def is_workday(day: dt.date) -> bool:
    """True on a working day; years chinese-calendar does not know fall back to Monday–Friday."""
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        log.warning("chinese-calendar does not know %s; counting Monday–Friday", day.year)
        return day.weekday() < 5


def add_workdays(start: dt.date, n: int) -> dt.date:
    """The n-th working day after ``start`` (the day of receipt itself does not count)."""
    day, counted = start, 0
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
