"""Which engine builds the layers (加工引擎): DuckDB (default) or Spark, chosen by ``CITYSHARE_ENGINE`` — here only.

Why one place: only two steps of write-audit-publish touch the built tables, and only they differ by engine —
the dbt build itself (:func:`build`) and the audit's reading of each published model (:func:`audit_source`).
Everything around them stays on DuckDB whatever the engine: the gate per batch, ``meta.*`` (batches, build
state, publications), the audit's contract checks, the Parquet snapshots and the ``shared`` schema the share
service and the directory read. So a Spark build is published by the same code as a DuckDB one
(:mod:`cityshare.publish`), with the same snapshot layout and ``meta.publications`` records.
"""

from __future__ import annotations

from typing import Any

from cityshare.errors import BuildFailed
from cityshare.settings import Settings, get_settings
from cityshare.sqlquote import lit
from cityshare.transform import NodeProgress
from cityshare.transform import build as build_on_duckdb
from cityshare.warehouse import table_schema

ENGINES = ("duckdb", "spark")


def engine(settings: Settings) -> str:
    """The configured engine, or a one-line BuildFailed naming the ones there are."""
    if settings.engine not in ENGINES:
        raise BuildFailed(f"未知的加工引擎 CITYSHARE_ENGINE={settings.engine!r}：可选 {' / '.join(ENGINES)}（docs/spark.md）")
    return settings.engine


def build(settings: Settings | None = None, full_refresh: bool = False, on_node: NodeProgress | None = None) -> dict[str, Any]:
    """dbt build of the layers into the audit area on the configured engine (``cityshare build``, the DAG's task).

    DuckDB: :func:`cityshare.transform.build` (incremental, planned by ``cityshare.build_state``). Spark:
    :func:`cityshare.spark_engine.build` (every model, then each published model written as Parquet for the audit).
    The summary has the same keys either way, for :func:`cityshare.publish.audit_and_publish`."""
    settings = settings or get_settings()
    if engine(settings) == "spark":
        from cityshare import spark_engine

        return spark_engine.build(settings, full_refresh=full_refresh, on_node=on_node)
    return build_on_duckdb(settings, full_refresh=full_refresh, on_node=on_node)


def audit_source(con: Any, settings: Settings, model: str) -> str | None:
    """What the audit stages a published model from, as a DuckDB ``FROM`` item; None when it was not built.

    DuckDB: the layer table in the warehouse. Spark: the Parquet files the Spark build wrote of that model
    (:func:`cityshare.spark_engine.audit_dir`), read by DuckDB — so the rules, the content hash and the snapshot
    are computed exactly as for a DuckDB build, and never from a DuckDB table the Spark build did not write."""
    if engine(settings) == "spark":
        from cityshare.spark_engine import audit_dir

        folder = audit_dir(settings) / model
        return f"read_parquet({lit(str(folder / '*.parquet'))})" if any(folder.glob("*.parquet")) else None
    schema = table_schema(con, model)
    return None if schema is None else f'{schema}."{model}"'
