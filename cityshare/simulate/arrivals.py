"""When each simulated delivery arrives: the departments' punctuality, for timeliness (及时率) to measure.

A real department drops its daily file (or publishes its API data) some time after the day it covers,
usually by the next morning and now and then days late. The simulator writes every day's files at once,
so it stamps each file's modification time — and the simulated APIs their ``Last-Modified`` — with the
arrival drawn here: each department has its own punctuality (the share of days it delivers on time), and
each (dataset, day) draws on time or late from it. A time that would lie in the future is clamped to now.
Deterministic for a seed, like everything the simulator writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
from collections.abc import Iterable
from pathlib import Path

from cityshare.settings import Settings
from cityshare.simulate._util import write_atomic
from cityshare.workcal import BEIJING, next_workday

PUNCTUALITY = (0.6, 1.0)  # a department's share of on-time days is drawn from this range
_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def arrivals_path(settings: Settings) -> Path:
    """Where the simulated departments' delivery times are kept (read by the simulated APIs)."""
    return settings.departments_dir / "arrivals.json"


def arrival(seed: int, dataset: str, day: dt.date, now: dt.datetime) -> dt.datetime:
    """When ``dataset``'s delivery for ``day`` arrives (UTC, no tzinfo): on time is by the morning after the
    day, late is one to three days after the due day (the next working day); never after ``now`` (UTC)."""
    department = dataset.split("/")[0]
    punctuality = random.Random(f"{seed}:punctuality:{department}").uniform(*PUNCTUALITY)
    rng = random.Random(f"{seed}:arrival:{dataset}:{day}")
    if rng.random() < punctuality:
        local = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(2)) + dt.timedelta(minutes=rng.randrange(480))
    else:
        late = next_workday(day) + dt.timedelta(days=rng.randint(1, 3))
        local = dt.datetime.combine(late, dt.time(9)) + dt.timedelta(minutes=rng.randrange(480))
    utc = local.replace(tzinfo=BEIJING).astimezone(dt.UTC).replace(tzinfo=None)
    return min(utc, now.replace(microsecond=0))


def stamp(settings: Settings, seed: int, deliveries: Iterable[tuple[str, Path]], api_datasets: Iterable[str],
          days: list[dt.date]) -> dict[str, dict[str, str]]:
    """Stamp each delivered file (dataset, path; the day read from the file name) with its arrival time, and
    record every dataset's arrivals, the simulated APIs' included, in ``arrivals_path``."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    record: dict[str, dict[str, str]] = {}
    for dataset in api_datasets:
        record[dataset] = {str(day): arrival(seed, dataset, day, now).isoformat() for day in days}
    for dataset, path in deliveries:
        found = _DAY_IN_NAME.search(path.name)
        if not found or not path.is_file():
            continue
        when = arrival(seed, dataset, dt.date.fromisoformat(found.group(1)), now)
        epoch = when.replace(tzinfo=dt.UTC).timestamp()
        os.utime(path, (epoch, epoch))
        record.setdefault(dataset, {})[found.group(1)] = when.isoformat()
    write_atomic(arrivals_path(settings), json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True).encode())
    return record


def last_modified(settings: Settings, dataset: str, day: str) -> str | None:
    """The ``Last-Modified`` header (RFC 9110 HTTP date) for a simulated API's data of ``day``, if recorded."""
    from email.utils import format_datetime

    try:
        recorded = json.loads(arrivals_path(settings).read_text(encoding="utf-8")).get(dataset, {}).get(day)
    except (OSError, ValueError):
        return None
    return format_datetime(dt.datetime.fromisoformat(recorded).replace(tzinfo=dt.UTC), usegmt=True) if recorded else None
