"""Small helpers shared by the simulator modules."""

from __future__ import annotations

import datetime as dt
import os
import random
from pathlib import Path


def stochastic_round(rng: random.Random, x: float) -> int:
    """Round ``x`` up with probability equal to its fraction, so small expected counts stay unbiased."""
    whole = int(x)
    return whole + (1 if rng.random() < x - whole else 0)


def scaled_count(rng: random.Random, base: float, scale: float, jitter: float, minimum: int = 1) -> int:
    """About ``base * scale`` (± ``jitter`` relative), at least ``minimum`` so no daily batch is empty."""
    return max(minimum, round(base * scale * rng.uniform(1 - jitter, 1 + jitter)))


def at(day: dt.date, seconds: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)


def fmt_ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` in one rename, so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
