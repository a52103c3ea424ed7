"""Chongqing department simulator: the data CityShare collects, made up but shaped like the real thing.

It plays the departments of the seed's scenarios. The first two, of the storefront-order
(门前三包/店外经营) scenario, keep their original formats:

- 市场监管局 (``scjgj/business_registry``): the business registry, kept as the department's own
  system in ``<departments_dir>/scjgj/business_registry.jsonl`` and served by a loopback HTTP JSON
  API (:mod:`cityshare.simulate.api`);
- 城管局 (``cgj/city_cases``): the daily 数字城管 case export,
  ``<inbox_dir>/cgj/city_cases/city_cases_YYYY-MM-DD.csv``.

The other departments (城管局 lamps/muck trucks, 市场监管局 smart kitchens, 住建委, 交通局, 规划和自然资源局,
民政局, 水电气讯 utilities, 南坪街道, 礼嘉街道) are listed in :mod:`cityshare.simulate.sources`.

Codes are real (GB/T 2260 areas and streets, the event code table — all from the dbt seeds),
identifiers carry valid check digits, and a configurable share of rows carries the defects the
quality gate must catch. Output depends only on the arguments: the same call writes byte-identical
files, and a re-run replaces the previous simulation rather than adding to it.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cityshare.settings import Settings
from cityshare.simulate import arrivals
from cityshare.simulate._framework import SimContext, remove_stale
from cityshare.simulate._util import write_atomic
from cityshare.simulate.api import ApiServer, registry_path, serve_forever, start_api_server
from cityshare.simulate.cases import simulate_cases
from cityshare.simulate.geography import load_geography
from cityshare.simulate.registry import simulate_registry
from cityshare.simulate.sources import DEPARTMENT_SOURCES

__all__ = [
    "ApiServer",
    "cases_path",
    "registry_path",
    "serve_forever",
    "simulate",
    "simulated_sources",
    "start_api_server",
]

_CASE_FILE = re.compile(r"city_cases_\d{4}-\d{2}-\d{2}\.csv")


def cases_path(settings: Settings, day: dt.date) -> Path:
    """The 城管局 daily case export for ``day``."""
    return settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{day:%Y-%m-%d}.csv"


def simulated_sources() -> frozenset[str]:
    """The source contracts (``<dept>/<dataset>``) the simulator writes data for. A contract onboarded
    later has none: the demo skips its loads and says so, instead of failing on a missing delivery."""
    return frozenset({"cgj/city_cases", "scjgj/business_registry", *(name for name, _ in DEPARTMENT_SOURCES)})


def _selected(departments: Iterable[str] | None) -> list[tuple[str, Any]]:
    chosen = None if departments is None else set(departments)
    return [(name, run) for name, run in DEPARTMENT_SOURCES if chosen is None or name.split("/")[0] in chosen]


def steps(departments: Iterable[str] | None = None) -> int:
    """How many times ``simulate`` reports progress: the registry, the cases, each selected source."""
    return 2 + len(_selected(departments))


def simulate(
    settings: Settings,
    days: int = 3,
    start: dt.date | None = None,
    scale: float = 1.0,
    defect_rate: float = 0.02,
    seed: int = 7,
    departments: Iterable[str] | None = None,
    file_defects: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Simulate ``days`` days from ``start`` (default: today minus ``days``, so the last day is yesterday).

    Writes the registry and one case file per day, removes case files of an earlier simulation that
    this one does not cover (the registry they would reference is replaced), and returns a summary:
    ``files`` written, ``removed_files``, ``rows`` per dataset per day and ``defects`` per dataset
    per kind. ``departments`` limits the *additional* departments' sources (slugs; the 城管局 cases and
    the 市场监管局 registry are always written); ``file_defects`` also injects whole-file defects that
    block a batch (a renamed column). Raises ValueError for out-of-range arguments. ``progress`` is
    called with each finished step's name (``steps(departments)`` of them), for a progress bar.
    """
    step = progress or (lambda _name: None)
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if not 0 <= defect_rate <= 1:
        raise ValueError(f"defect_rate must be between 0 and 1, got {defect_rate}")
    if start is None:
        start = dt.date.today() - dt.timedelta(days=days)
    day_list = [start + dt.timedelta(days=i) for i in range(days)]

    geo = load_geography(settings.project_root)
    master = random.Random(seed)
    registry_rng = random.Random(master.getrandbits(64))
    cases_rng = random.Random(master.getrandbits(64))

    registry = simulate_registry(geo, day_list, scale, defect_rate, registry_rng)
    step("scjgj/business_registry")
    cases = simulate_cases(geo, day_list, scale, defect_rate, cases_rng, registry.open_shops)
    step("cgj/city_cases")

    ctx = SimContext(settings, geo, day_list, scale, defect_rate, seed, file_defects,
                     registry_versions=registry.versions)
    outputs = []
    for name, run in _selected(departments):
        outputs.append(run(ctx))
        step(name)

    reg_path = registry_path(settings)
    write_atomic(reg_path, registry.to_jsonl())
    files = [str(reg_path)]
    case_dir = cases_path(settings, start).parent
    written: set[str] = set()
    for day, body in cases.files.items():
        path = cases_path(settings, day)
        write_atomic(path, body)
        written.add(path.name)
        files.append(str(path))
    removed = []
    for stale in sorted(case_dir.iterdir()):
        if _CASE_FILE.fullmatch(stale.name) and stale.name not in written:
            stale.unlink()
            removed.append(str(stale))

    for out in outputs:
        files += [str(f) for f in out.files]
        if out.fmt in ("csv", "xlsx", "jsonl"):
            folder = settings.inbox_dir / out.dataset
            removed += remove_stale(folder, set(out.files), "*_????-??-??.*")
    # every delivery stamped with the time the department delivered it, so timeliness has something to measure
    deliveries = [("cgj/city_cases", cases_path(settings, day)) for day in cases.files]
    deliveries += [(out.dataset, f) for out in outputs if out.fmt in ("csv", "xlsx", "jsonl") for f in out.files]
    arrivals.stamp(settings, seed, deliveries,
                   ["scjgj/business_registry", *(out.dataset for out in outputs if out.fmt == "api")], day_list)
    return {
        "seed": seed,
        "start": day_list[0].isoformat(),
        "end": day_list[-1].isoformat(),
        "days": days,
        "scale": scale,
        "defect_rate": defect_rate,
        "files": files,
        "removed_files": removed,
        "rows": {
            "scjgj/business_registry": registry.rows_per_day,
            "cgj/city_cases": cases.rows_per_day,
            **{o.dataset: o.rows for o in outputs},
        },
        "defects": {
            "scjgj/business_registry": registry.defects,
            "cgj/city_cases": cases.defects,
            **{o.dataset: dict(sorted(o.defects.items())) for o in outputs},
        },
        "formats": {"scjgj/business_registry": "api", "cgj/city_cases": "csv", **{o.dataset: o.fmt for o in outputs}},
    }
