"""业务协同模型 as a table: one row per (scenario, task) from catalog/scenarios.yml (collaboration layer / 协同专题库).

A Python model because the business-collaboration model is kept once, as YAML in the catalog (read here and by the
directory), not copied into a seed. Returns an Arrow table (dbt-duckdb registers it and creates the table).
"""


def model(dbt, session):
    import pyarrow as pa
    import yaml

    from cityshare.settings import get_settings

    dbt.config(materialized="table")
    path = get_settings().catalog_dir / "scenarios.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rows = []
    for scenario in doc.get("scenarios") or []:
        for order, task in enumerate(scenario.get("tasks") or [], start=1):
            missing = [k for k in ("id", "name", "department", "responsibility") if not task.get(k)]
            if missing:
                raise ValueError(f"{path}: scenario {scenario.get('id')!r} task {order}: missing {', '.join(missing)}")
            rows.append({
                "scenario_id": scenario["id"],
                "scenario_name": scenario["name"],
                "lead_department": scenario["lead"],
                "business_dataset": scenario["business_dataset"],
                "published_contract": scenario.get("published"),
                "task_order": order,
                "task_id": task["id"],
                "task_name": task["name"],
                "department": task["department"],
                "responsibility": task["responsibility"],
                "indicators": "、".join(task.get("indicators") or []),
                "source_datasets": ",".join(task.get("sources") or []),
                "task_datasets": ",".join(task.get("datasets") or []),
            })
    schema = pa.schema([(name, pa.int64() if name == "task_order" else pa.string()) for name in (
        "scenario_id", "scenario_name", "lead_department", "business_dataset", "published_contract", "task_order",
        "task_id", "task_name", "department", "responsibility", "indicators", "source_datasets", "task_datasets")])
    return pa.Table.from_pylist(rows, schema=schema)
