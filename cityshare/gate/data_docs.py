"""Great Expectations Data Docs for gate runs, rendered off the gate's hot path.

The gate stores each batch's GX validation results as JSON (``data/quality/validations/…``); this
step (the ``data_docs`` Airflow task after the gate, or ``build_data_docs()``) loads them into a
file-based GX context and renders HTML under ``data/quality/data_docs/``. Page paths are fixed by
dataset, batch and level, so the quality history can link to a page before it is rendered.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from cityshare.settings import Settings, get_settings

SITE = "cityshare"
log = logging.getLogger("cityshare.data_docs")


def docs_dir(settings: Settings) -> Path:
    return settings.data_dir / "quality" / "data_docs"


def _run_time(load_date: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(load_date), dt.time(), tzinfo=dt.UTC)


def _suite(raw_table: str) -> str:
    return f"{raw_table}__gate"


def page_path(settings: Settings, raw_table: str, load_id: str, load_date: dt.date, level: str) -> Path:
    """The Data Docs page of one gate level (``batch`` or ``row``) of one batch."""
    stamp = _run_time(load_date.isoformat()).strftime("%Y%m%dT%H%M%S.%fZ")
    return docs_dir(settings) / "validations" / _suite(raw_table) / load_id / stamp / f"{level}.html"


def _context(settings: Settings) -> Any:
    import great_expectations as gx

    root = settings.data_dir / "quality" / "gx"
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(root))
    if SITE not in (getattr(context.get_config(), "data_docs_sites", None) or {}):  # a DataContextConfig
        context.add_data_docs_site(SITE, {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir(settings))},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        })
    return context


def build_data_docs(dataset: str | None = None, load_id: str | None = None,
                    settings: Settings | None = None) -> list[Path]:
    """Render the stored validation results (all, one dataset, or one batch); returns the pages."""
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    import cityshare.contracts.gx_expectations  # noqa: F401  (registers CityShare's expectations for rendering)

    settings = settings or get_settings()
    root = settings.data_dir / "quality" / "validations"
    pattern = f"{dataset.replace('/', '__') if dataset else '*'}/{load_id or '*'}.json"
    files = sorted(root.glob(pattern))
    if not files:
        return []
    context = _context(settings)
    identifiers, pages = [], []
    for file in files:
        doc = json.loads(file.read_text(encoding="utf-8"))
        raw_table = file.parent.name
        for level, validation in doc["validations"].items():
            result = ExpectationSuiteValidationResultSchema().load(validation)
            ident = ValidationResultIdentifier(
                ExpectationSuiteIdentifier(name=_suite(raw_table)),
                RunIdentifier(run_name=doc["load_id"], run_time=_run_time(doc["load_date"])),
                level,
            )
            context.validation_results_store.set(ident, result)
            identifiers.append(ident)
            pages.append(page_path(settings, raw_table, doc["load_id"], dt.date.fromisoformat(doc["load_date"]),
                                   level))
    context.build_data_docs(site_names=[SITE], resource_identifiers=identifiers)
    log.info("Data Docs: %d page(s) under %s", len(pages), docs_dir(settings))
    return [p for p in pages if p.exists()]
