"""The business-collaboration model (业务协同模型) as dbt SQL: one row per scenario task of ``catalog/scenarios.yml``.

Why rendered SQL, not a seed or a Python model: ``catalog/scenarios.yml`` stays the only place the scenarios are
written (the directory reads it too), and a SQL model of literal rows builds on every engine — dbt-spark runs
Python models only on Databricks. :func:`cityshare.transform.render_dbt_files` writes the model into
``models/_generated/`` for the engine it renders for (string literals are written differently), so both engines
build the same table: the same columns, types and rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cityshare.errors import BuildFailed
from cityshare.settings import Settings

MODEL = "collab_scenarios__tasks"
# column → logical type (cityshare.transform's contract types), in the table's order
COLUMNS = {"scenario_id": "string", "scenario_name": "string", "lead_department": "string",
           "business_dataset": "string", "published_contract": "string", "task_order": "integer",
           "task_id": "string", "task_name": "string", "department": "string", "responsibility": "string",
           "indicators": "string", "source_datasets": "string", "task_datasets": "string"}
_SCENARIO_KEYS = ("id", "name", "lead", "business_dataset")
_TASK_KEYS = ("id", "name", "department", "responsibility")


def scenarios_path(settings: Settings) -> Path:
    return settings.catalog_dir / "scenarios.yml"


def scenario_tasks(settings: Settings) -> list[dict[str, Any]]:
    """The model's rows (task_order counts from 1 within a scenario); a scenario or task missing a required key
    fails loudly, naming the file, the scenario and the task, rather than building a table with holes."""
    path = scenarios_path(settings)
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    rows = []
    for scenario in (doc or {}).get("scenarios") or []:
        if missing := [k for k in _SCENARIO_KEYS if not scenario.get(k)]:
            raise BuildFailed(f"{path}: scenario {scenario.get('id')!r}: missing {', '.join(missing)}")
        for order, task in enumerate(scenario.get("tasks") or [], start=1):
            if missing := [k for k in _TASK_KEYS if not task.get(k)]:
                raise BuildFailed(f"{path}: scenario {scenario['id']!r} task {order}: missing {', '.join(missing)}")
            rows.append({
                "scenario_id": scenario["id"], "scenario_name": scenario["name"],
                "lead_department": scenario["lead"], "business_dataset": scenario["business_dataset"],
                "published_contract": scenario.get("published"), "task_order": order,
                "task_id": task["id"], "task_name": task["name"], "department": task["department"],
                "responsibility": task["responsibility"], "indicators": "、".join(task.get("indicators") or []),
                "source_datasets": ",".join(task.get("sources") or []),
                "task_datasets": ",".join(task.get("datasets") or []),
            })
    return rows


def sql_literal(value: Any, engine: str) -> str:
    """``value`` as a SQL literal of ``engine``: DuckDB doubles a quote; Spark's literals take backslash escapes
    (and read ``''`` as two adjacent literals), so there the backslash and the quote are escaped."""
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if engine == "spark":
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + str(value).replace("'", "''") + "'"


def render_tasks_model(settings: Settings, types: dict[str, str], engine: str) -> str:
    """The model's SQL: the rows as literal selects (in ``{% raw %}``, so no text of the YAML is read as Jinja),
    every column cast to ``types`` (logical type → the engine's SQL type: VARCHAR and BIGINT on DuckDB)."""
    rows = scenario_tasks(settings)
    if rows:
        selects = [", ".join(f"{sql_literal(r[c], engine)} as {c}" for c in COLUMNS) for r in rows]
    else:  # no scenarios: the table exists, empty
        selects = [", ".join(f"null as {c}" for c in COLUMNS) + " where 1 = 0"]
    body = "\n    union all\n".join(f"    select {s}" for s in selects)
    casts = ",\n".join(f"    cast({c} as {types[t]}) as {c}" for c, t in COLUMNS.items())
    return (f"-- Generated from catalog/scenarios.yml by cityshare.scenarios. Do not edit.\n"
            f"{{{{ config(materialized='table') }}}}\nselect\n{casts}\nfrom (\n{{% raw %}}\n{body}\n{{% endraw %}}\n) as tasks\n")
