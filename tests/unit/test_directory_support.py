"""Helpers (no tests): one real pipeline run per test session, shared by the directory test modules.

A temp CITYSHARE_HOME copy (contracts, catalog, dbt project) so tests may edit contracts; simulate →
ingest (the 市场监管局 registry delivered as daily CSV files, see registry_as_daily_csv) → dbt build →
audit → publish → directory build. Building once keeps the suite lean (dbt build ≈ 5–10 s).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

from cityshare.settings import PROJECT_ROOT, Settings, get_settings

DAYS = [dt.date(2026, 11, 25), dt.date(2026, 11, 26)]
_BUILT: dict[str, Settings] = {}


# The 门前三包 scenario: two department sources and the three tables published from them. Pinned so
# other scenarios' contracts and models (which need their own sources) stay out of these tests.
CORE_CONTRACTS = {"cgj/city_cases", "scjgj/business_registry", "shared/city_cases", "shared/legal_entity",
                  "shared/storefront_order_street_day"}
CORE_MODELS = ("staging/cgj/stg_cgj__city_cases.sql", "staging/scjgj/stg_scjgj__business_registry.sql",
               "base/base_areas.sql", "base/base_streets.sql", "base/base_legal_entity.sql",
               "theme/city_cases/", "collaboration/storefront_order/")


def copy_home(target: Path, data_dir: Path | None = None) -> Settings:
    """A CITYSHARE_HOME copy (core scenario only) with its own data folder; settings pointing at it."""
    for name in ("contracts", "catalog", "dbt_project"):
        shutil.copytree(PROJECT_ROOT / name, target / name,
                        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "_generated"))
    for path in (target / "contracts").glob("*/*.odcs.yaml"):
        if f"{path.parent.name}/{path.name.removesuffix('.odcs.yaml')}" not in CORE_CONTRACTS:
            path.unlink()
    models = target / "dbt_project" / "models"
    for path in [*models.rglob("*.sql"), *models.rglob("*__unit_tests.yml")]:  # dbt refuses unit tests of absent models
        if not path.relative_to(models).as_posix().startswith(CORE_MODELS):
            path.unlink()
    drop_docs_of_absent_models(models)
    return dataclasses.replace(get_settings(), project_root=target, data_dir=data_dir or target / "data")


def drop_docs_of_absent_models(models: Path) -> None:
    """Remove the YAML entries (descriptions, data tests) of models whose SQL was removed from the copy: dbt warns
    about every data test of an absent model."""
    import yaml

    present = {p.stem for p in [*models.rglob("*.sql"), *models.rglob("*.py")]}
    for path in models.rglob("_*.yml"):
        if path.name.endswith("__unit_tests.yml"):
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        entries = doc.get("models") or []
        kept = [m for m in entries if m.get("name") in present]
        if len(kept) == len(entries):
            continue
        if kept:
            doc["models"] = kept
            path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        else:
            path.unlink()


def registry_as_daily_csv(settings: Settings, days: list[dt.date] = DAYS) -> None:
    """Deliver the simulated 市场监管局 registry as daily CSV files instead of its HTTP API.

    The directory tests need the registry's rows, not the API connector (tested elsewhere), so the
    copied contract's server becomes a CSV inbox; nothing binds a port.
    """
    import csv
    import json

    import yaml

    path = settings.contracts_dir / "scjgj" / "business_registry.odcs.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    names = [p["name"] for p in doc["schema"][0]["properties"]]
    folder = settings.inbox_dir / "scjgj" / "business_registry"
    folder.mkdir(parents=True, exist_ok=True)
    records = [json.loads(line) for line in (settings.departments_dir / "scjgj" / "business_registry.jsonl")
               .read_text(encoding="utf-8").splitlines() if line.strip()]
    for day in days:
        with (folder / f"business_registry_{day}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            writer.writerows([r.get(n) for n in names] for r in records if r["updated_at"][:10] == str(day))
    doc["servers"] = [{"server": "inbox", "type": "local", "environment": "test", "format": "csv",
                       "customProperties": [{"property": "encoding", "value": "UTF-8"}],
                       "path": "${CITYSHARE_DATA_DIR}/inbox/scjgj/business_registry/business_registry_{date}.csv"}]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def built_home(base: Path) -> Settings:
    """The session's built warehouse (built on first call)."""
    if "home" in _BUILT:
        return _BUILT["home"]
    from cityshare.directory.builder import build_directory
    from cityshare.ingest import ingest
    from cityshare.publish import audit, publish
    from cityshare.simulate import simulate
    from cityshare.transform import build

    settings = copy_home(base / "home")
    simulate(settings, days=len(DAYS), start=DAYS[0], scale=0.3, defect_rate=0.0, seed=11)
    registry_as_daily_csv(settings)
    for day in DAYS:
        ingest("cgj/city_cases", day, settings)
        ingest("scjgj/business_registry", day, settings)
    build(settings)
    publish(audit(settings), settings)
    build_directory(settings)
    _BUILT["home"] = settings
    return settings


def clone_built(built: Settings, target: Path) -> Settings:
    """A private copy of the built home (contracts + data) for tests that change things."""
    shutil.copytree(built.project_root, target, ignore=shutil.ignore_patterns("logs", "*.tmp"))
    return dataclasses.replace(built, project_root=target, data_dir=target / "data")
