"""What the Airflow DAG files need to know, derived from contracts (no Airflow import here).

Called at DAG-parse time, so it only reads the small contract YAML files: no warehouse, no network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cityshare.contracts.model import Contract, load_contracts
from cityshare.settings import get_settings

# 更新周期 (update cycle) → Airflow schedule.
SCHEDULES = {"实时": "*/15 * * * *", "每日": "@daily", "每周": "@weekly", "每月": "@monthly",
             "每季度": "@quarterly", "每半年": "0 0 1 1,7 *", "每年": "@yearly", "其他": None}
START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class DagSpec:
    dag_id: str
    key: str
    schedule: str | None
    owner: str
    tags: tuple[str, ...]
    asset_uri: str
    doc: str


# Emitted by every gate that accepted a batch / by every publish: what the downstream DAGs are scheduled on.
# One asset each (not an AssetAny over every source or table), so the schedule stays the same size however
# many datasets a city onboards, and any one department's batch starts a build — a department that delivers
# nothing holds back only the tables that read it.
ANY_RAW_BATCH = "cityshare://raw/_any_batch"
ANY_SHARED_TABLE = "cityshare://shared/_any_table"


def asset_uri(contract: Contract) -> str:
    """The Airflow Asset of a dataset: its raw accepted batches, or its shared table."""
    if contract.kind == "shared":
        return f"cityshare://shared/{contract.model_name}"
    return f"cityshare://raw/{contract.key}"


def source_specs() -> list[DagSpec]:
    return [
        DagSpec(
            dag_id=f"ingest__{c.department}__{c.dataset}", key=c.key,
            schedule=SCHEDULES.get(c.update_cycle, "@daily"), owner=c.department,
            tags=("cityshare", "ingest", c.department), asset_uri=asset_uri(c),
            doc=f"{c.name}: extract → land → gate ({c.update_cycle}, contract {c.id})",
        )
        for c in load_contracts(get_settings(), kind="source")
    ]


def shared_asset_uris() -> list[str]:
    return [asset_uri(c) for c in load_contracts(get_settings(), kind="shared")]
