"""Is a dataset's data current? (时效: 数据是否按更新周期到达)

Builds and publishes run whenever any source has a new batch, reading each source's latest accepted data,
so a department that delivers nothing never holds back the tables that do not depend on it. The tables that
do depend on it are published from its last delivery and flagged late (滞后) here, for the directory and the
quality report.

"Late" is measured against the installation's own clock of deliveries, not the wall clock: a source is late
when its newest accepted load date lags the newest load date any source delivered (the current load date)
by at least its update cycle (更新周期) — a daily source without today's batch, a weekly one a week behind.
So a backfill or a demo over past dates judges punctuality the same way as the daily run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cityshare.contracts.model import Contract
from cityshare.meta.batches import newest_accepted_load_dates

# 更新周期 → days after which a missing delivery counts as late (其他: no fixed cycle, never late)
CYCLE_DAYS = {"实时": 1, "每日": 1, "每周": 7, "每月": 31, "每季度": 92, "每半年": 183, "每年": 366}


@dataclass(frozen=True)
class SourceFreshness:
    key: str
    name: str
    latest_load_date: dt.date | None
    as_of: dt.date | None
    late: bool

    def as_dict(self) -> dict[str, Any]:
        return {"数据集": self.name, "最新批次日期": self.latest_load_date.isoformat() if self.latest_load_date else None,
                "当前批次日期": self.as_of.isoformat() if self.as_of else None, "滞后": self.late}


def source_freshness(con: Any, contracts: list[Contract]) -> dict[str, SourceFreshness]:
    """Per source contract key: its newest accepted load date and whether it is late."""
    latest = newest_accepted_load_dates(con)
    as_of = max(latest.values(), default=None)
    out = {}
    for c in (c for c in contracts if c.kind == "source"):
        day = latest.get(c.key)
        cycle = CYCLE_DAYS.get(c.update_cycle)
        late = as_of is not None and cycle is not None and (day is None or (as_of - day).days >= cycle)
        out[c.key] = SourceFreshness(c.key, c.name, day, as_of, late)
    return out


def late_inputs(upstream_sources: list[str], sources: dict[str, SourceFreshness]) -> list[SourceFreshness]:
    """The late ones among a table's upstream sources (contract keys from lineage)."""
    return [sources[k] for k in sorted(upstream_sources) if k in sources and sources[k].late]
