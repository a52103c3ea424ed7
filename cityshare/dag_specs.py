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
    pool: str | None = None  # the department API's pool (its slots = the contract's rate limit)


@dataclass(frozen=True)
class PoolSpec:
    name: str
    slots: int
    description: str


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


def source_specs(only_dag: str | None = None) -> list[DagSpec]:
    """One spec per source contract; ``only_dag``: just that DAG's (a task process parses only its own DAG,
    reading one contract instead of all of them — Airflow's parsing context names it)."""
    if only_dag is not None:
        from cityshare.contracts.model import ContractError, get_contract

        if not only_dag.startswith("ingest__"):
            return []
        try:
            contracts = [get_contract("/".join(only_dag.removeprefix("ingest__").split("__", 1)), get_settings())]
        except ContractError:
            return []
    else:
        contracts = load_contracts(get_settings(), kind="source")
    return [
        DagSpec(
            dag_id=f"ingest__{c.department}__{c.dataset}", key=c.key,
            schedule=SCHEDULES.get(c.update_cycle, "@daily"), owner=c.department,
            tags=("cityshare", "ingest", "贴源", c.department, c.sharing_type), asset_uri=asset_uri(c),
            doc=dag_doc(c), pool=pool_name(c),
        )
        for c in contracts
    ]


def pool_name(contract: Contract) -> str | None:
    """Loads from a department's rate-limited HTTP API share one Airflow pool (one slot per request/s)."""
    servers = contract.raw.get("servers") or [{}]
    if servers[0].get("type") != "api" or not contract.server_option("rateLimitPerSecond"):
        return None
    return f"api__{contract.department}"


def pool_specs() -> list[PoolSpec]:
    """The pools the DAGs use, from the contracts (created by ``cityshare.airflow_local.migrate``)."""
    pools: dict[str, PoolSpec] = {}
    for c in load_contracts(get_settings(), kind="source"):
        if name := pool_name(c):
            slots = max(1, int(float(c.server_option("rateLimitPerSecond"))))
            if name not in pools or slots < pools[name].slots:
                pools[name] = PoolSpec(name, slots, f"{c.department} 部门接口（限速 {slots} 次/秒）")
    return sorted(pools.values(), key=lambda p: p.name)


def dag_doc(contract: Contract) -> str:
    """The ingestion DAG's documentation (``doc_md``), from its contract."""
    server = (contract.raw.get("servers") or [{}])[0]
    where = server.get("path") or server.get("url") or server.get("host") or ""
    rules = [(q.get("name", ""), q.get("description", "")) for p in contract.properties for q in p.quality]
    rules += [(q.get("name", ""), q.get("description", "")) for q in contract.table_quality()]
    team = contract.raw.get("team")
    team = team if isinstance(team, dict) else {}
    lines = [
        f"### {contract.name}",
        "",
        contract.description,
        "",
        f"- 提供部门 provider: {team.get('description') or contract.department} (`{contract.department}`)",
        f"- 数据源 source: `{server.get('type', '')}` {server.get('format', '')} `{where}`",
        f"- 更新周期 update cycle: {contract.update_cycle}",
        f"- 共享类型 sharing: {contract.sharing_type}"
        + (f"（{contract.custom['sharingCondition']}）" if contract.custom.get("sharingCondition") else ""),
        f"- 契约 contract: `contracts/{contract.key}.odcs.yaml` ({contract.id}, v{contract.version})",
        "",
        "Tasks: `land` (extract → immutable batch) → `gate` (quality contract: blocks or quarantines) → "
        "`data_docs` (GX Data Docs).",
        "",
        "| 规则 rule | 说明 |",
        "|---|---|",
        *(f"| `{name}` | {desc} |" for name, desc in rules),
    ]
    return "\n".join(lines)


def harvest_specs(only_dag: str | None = None) -> list[DagSpec]:
    """One ``harvest__<name>`` DAG per ``harvest`` entry of catalog/federation.yml (目录汇聚 from a lower instance)."""
    from cityshare.instance import harvest_sources

    if only_dag is not None and not only_dag.startswith("harvest__"):
        return []
    return [
        DagSpec(dag_id=s.dag_id, key=s.name, schedule=s.schedule, owner="cyzx",
                tags=("cityshare", "harvest", "下级平台汇聚", s.level), asset_uri=f"cityshare://directory/harvest/{s.name}",
                doc=f"### 下级平台汇聚：{s.title}\n\n{s.level}级平台 {s.area}（`{s.endpoint}`）的目录，"
                    "按修改时间增量汇聚到本平台目录（来源、原代码、原提供方），撤销的条目同步撤销；"
                    "不可达时保留上次内容并标记过期。")
        for s in harvest_sources(get_settings()) if only_dag is None or s.dag_id == only_dag
    ]


def reference_specs(only_dag: str | None = None) -> list[DagSpec]:
    """One ``reference__<name>`` DAG per ``reference`` entry of catalog/federation.yml (下发参考数据 from a higher
    instance). Its asset is a raw batch's (``ANY_RAW_BATCH``): a received code list changes what the build reads."""
    from cityshare.instance import reference_sources

    if only_dag is not None and not only_dag.startswith("reference__"):
        return []
    return [
        DagSpec(dag_id=s.dag_id, key=s.name, schedule=s.schedule, owner="cyzx",
                tags=("cityshare", "reference", "下发参考数据", s.level), asset_uri=ANY_RAW_BATCH,
                doc=f"### 下发参考数据：{s.title}\n\n接收{s.level}级平台 {s.area}（`{s.endpoint}`）下发的代码表 "
                    f"{'、'.join(s.lists)}：验签、校验列与代码后替换本平台的种子数据，记录版本；下一次加工即使用。"
                    "被拒绝的代码表保留当前版本，任务失败并说明原因。")
        for s in reference_sources(get_settings()) if only_dag is None or s.dag_id == only_dag
    ]


def shared_asset_uris() -> list[str]:
    return [asset_uri(c) for c in load_contracts(get_settings(), kind="shared")]
