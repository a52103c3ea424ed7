"""Read the quality history (meta.batches, meta.quality_results) and the registry facts around it.

The warehouse is opened read-only and only the columns the gate has always written are selected, so
columns added later to ``meta.quality_results`` change nothing here. A missing warehouse or table is
an empty history, not an error: a fresh installation still gets a report naming every department.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cityshare.errors import CityShareError
from cityshare.meta import batches as meta_batches
from cityshare.settings import Settings
from cityshare.workcal import to_beijing, today_beijing

T = TypeVar("T")
DEFAULT_PERIOD_DAYS = 28
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)  # evaluable dates (a guard against typos)


class BadPeriod(CityShareError):
    """A report period that cannot be evaluated (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Period:
    """The evaluation period [start, end] (Beijing dates, both inclusive)."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise BadPeriod(f"period start {self.start} is after its end {self.end}")
        if (self.end - self.start).days > 366 * 2:
            raise BadPeriod(f"period {self.start}..{self.end} is longer than two years")

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} 至 {self.end.isoformat()}"


def default_period(settings: Settings, start: dt.date | None = None, end: dt.date | None = None) -> Period:
    """The period asked for; missing ends default to the 28 days up to today (Beijing).

    Without an explicit start, the period does not begin before the first load in the history, so a new
    installation is not blamed for deliveries expected before anything was onboarded.
    """
    end = end or today_beijing()
    if not EARLIEST <= end <= LATEST:  # checked before any date arithmetic
        raise BadPeriod(f"period end {end} is outside {EARLIEST}..{LATEST}")
    if start is None:
        start = end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        first = first_load_date(settings)
        if first and start < first <= end:
            start = first
    if not EARLIEST <= start <= LATEST:
        raise BadPeriod(f"period start {start} is outside {EARLIEST}..{LATEST}")
    return Period(start, end)


def _tables(con: Any) -> set[str]:
    return {f"{s}.{t}" for s, t in con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables").fetchall()}


def read_only(settings: Settings) -> Any:
    """A read-only warehouse connection context, or None when there is no warehouse yet."""
    from cityshare.warehouse import connect

    if not settings.warehouse_path.exists():
        return None
    return connect(settings, read_only=True)


def query(settings: Settings, sql: str, params: list[Any] | None = None,
          needs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a read-only query as dicts; [] when the warehouse or a needed table does not exist."""
    ctx = read_only(settings)
    if ctx is None:
        return []
    with ctx as con:
        if any(t not in _tables(con) for t in needs):
            return []
        cur = con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def read(settings: Settings, reader: Callable[[Any], T], needs: tuple[str, ...], empty: T) -> T:
    """``reader`` (a cityshare.meta function) on a read-only connection; ``empty`` when the warehouse or a needed
    table does not exist."""
    ctx = read_only(settings)
    if ctx is None:
        return empty
    with ctx as con:
        if any(t not in _tables(con) for t in needs):
            return empty
        return reader(con)


def first_load_date(settings: Settings) -> dt.date | None:
    return read(settings, meta_batches.first_load_date, ("meta.batches",), None)


def batches(settings: Settings, period: Period | None = None) -> list[dict[str, Any]]:
    """Gated batches (accepted and blocked), with their load date in the period if one is given."""
    start, end = (period.start, period.end) if period else (None, None)
    return read(settings, lambda con: meta_batches.gated_batches(con, start, end), ("meta.batches",), [])


def quality_results(settings: Settings) -> list[dict[str, Any]]:
    """Rule results with the day they describe, only the latest check of every (dataset, load, stage).

    The day is the batch's load date for gate results and the (Beijing) check date for audit results,
    which describe a published table rather than a delivery. A batch re-gated or a table re-audited
    with the same content counts once, with its latest results.
    """
    from cityshare.meta.quality import LATEST_RUN_RESULTS

    rows = query(settings, LATEST_RUN_RESULTS, needs=("meta.quality_results", "meta.batches"))
    for r in rows:
        if r["load_date"] is None and r["checked_at"] is not None:
            r["load_date"] = to_beijing(r["checked_at"]).date()
    return rows


@dataclass(frozen=True)
class Resource:
    """A dataset as the reports know it: key, name, provider department, update cycle, kind."""

    key: str
    name: str
    department: str
    update_cycle: str
    kind: str


def resources(settings: Settings) -> dict[str, Resource]:
    """Every contract (source and published) by key."""
    from cityshare.contracts.model import load_contracts

    return {c.key: Resource(c.key, c.name, c.department or c.key.split("/")[0], c.update_cycle, c.kind)
            for c in load_contracts(settings)}


def departments(settings: Settings) -> dict[str, dict[str, str]]:
    """The departments registry (catalog/departments.yml) in file order: slug → name, short_name …"""
    from cityshare.departments import registry

    return registry(settings)


def department_of(key: str, known: dict[str, Resource]) -> str:
    """The provider of a dataset: its contract's team, else the key's first part."""
    res = known.get(key)
    return res.department if res else key.split("/")[0]
