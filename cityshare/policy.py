"""Sharing-policy propagation along lineage (共享属性沿血缘传递).

Rules (国发〔2016〕51号 spirit: a derived table must not open up what its inputs restrict):
- a published table's 共享类型 is at least as restrictive as the most restrictive upstream resource
  (无条件共享 < 有条件共享 < 不予共享), upstream meaning every department source and every other
  published table its lineage reaches;
- a column derived from a personal-information column upstream (``classification: pii`` in a source,
  ``pii-masked``/``pii-token`` in a published table) stays masked: it is declared ``pii-masked`` or
  ``pii-token`` in the published contract (whose quality rules then check the masking).

A published contract may declare an exception in ``customProperties``, always with a reason:

    - property: sharingException        # looser 共享类型 than an upstream
      value: {reason: 聚合统计，不含个人信息, upstream: [cgj/city_cases]}   # upstream optional = all
    - property: maskingException        # a column derived from PII that is not masked
      value: {reason: …, columns: [col_a]}

A conflict blocks publication (``publish.audit`` raises AuditFailed) with the path that leaks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract, load_contracts
from cityshare.lineage import Lineage, cache_path, compute_lineage, load_manifest, warehouse_schema
from cityshare.settings import Settings, get_settings
from cityshare.vocabulary import SharingType

MASKED_CLASSES = ("pii-masked", "pii-token")


@dataclass(frozen=True)
class Conflict:
    """One policy violation of a published contract, with the lineage path that shows it."""

    contract: str  # contract key, e.g. shared/storefront_order_street_day
    rule: str  # sharing_type | masking | exception
    path: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return self.message


def _exception(contract: Contract, name: str) -> dict[str, Any] | None:
    value = contract.custom.get(name)
    if value is None:
        return None
    return value if isinstance(value, dict) else {"reason": str(value)}


def _sensitive(prop: Any) -> bool:
    cls = str(prop.classification or "")
    return cls.startswith("pii") or bool(prop.pii) or bool(prop.masking)


def governing_nodes(contracts: list[Contract], graph: Lineage) -> dict[str, Contract]:
    """Lineage node → the contract that governs it (raw source views, published models and tables)."""
    out: dict[str, Contract] = {}
    for c in contracts:
        if c.kind == "source":
            out[f"raw.{c.raw_table}"] = c
        else:
            shared = f"shared.{c.model_name}"
            out[shared] = c
            for parent in graph.parents(shared):
                out[parent] = c
    return out


def policy_conflicts(contracts: list[Contract], graph: Lineage) -> list[Conflict]:
    """Every sharing-type and masking conflict of the published contracts along ``graph``."""
    governed = governing_nodes(contracts, graph)
    conflicts: list[Conflict] = []
    for c in (c for c in contracts if c.kind == "shared"):
        node = f"shared.{c.model_name}"
        if node not in graph.nodes:
            continue
        own = {n for n, g in governed.items() if g is c}
        conflicts += _sharing_conflicts(c, node, own, governed, graph)
        conflicts += _masking_conflicts(c, node, own, governed, graph)
    return conflicts


def _render(path: list[str], first: Contract, last: Contract) -> str:
    return (f"{first.key}（{first.sharing_type}）: " + " → ".join(path) + f"（{last.key} {last.sharing_type}）")


def _sharing_conflicts(c: Contract, node: str, own: set[str], governed: dict[str, Contract],
                       graph: Lineage) -> list[Conflict]:
    exc = _exception(c, "sharingException")
    if exc is not None and not str(exc.get("reason") or "").strip():
        return [Conflict(c.key, "exception", (), f"{c.path.name}: customProperties.sharingException needs a reason")]
    covered = set(exc.get("upstream") or []) if exc else set()
    mine = SharingType.rank(c.sharing_type)
    worst: dict[str, tuple[Contract, list[str]]] = {}
    for up in graph.ancestors(node) - own:
        upstream = governed.get(up)
        if upstream is None or upstream is c or SharingType.rank(upstream.sharing_type) <= mine:
            continue
        if exc is not None and (not covered or upstream.key in covered):
            continue
        path = graph.path(up, node)
        if upstream.key not in worst or len(path) < len(worst[upstream.key][1]):
            worst[upstream.key] = (upstream, path)
    return [Conflict(c.key, "sharing_type", tuple(path),
                     f"{c.path.name}: 共享类型 {c.sharing_type} 比上游 {up.key} 的 {up.sharing_type} 宽松，"
                     f"血缘路径 {_render(path, up, c)}；请收紧共享类型或在契约中声明 sharingException 及理由")
            for up, path in (worst[k] for k in sorted(worst))]


def _masking_conflicts(c: Contract, node: str, own: set[str], governed: dict[str, Contract],
                       graph: Lineage) -> list[Conflict]:
    exc = _exception(c, "maskingException")
    if exc is not None and not str(exc.get("reason") or "").strip():
        return [Conflict(c.key, "exception", (), f"{c.path.name}: customProperties.maskingException needs a reason")]
    excepted = set(exc.get("columns") or []) if exc else set()
    out = []
    for prop in c.properties:
        if str(prop.classification or "") in MASKED_CLASSES or prop.name in excepted:
            continue
        for up_node, up_col, path in graph.column_origins(node, prop.name):
            upstream = governed.get(up_node)
            if upstream is None or up_node in own:
                continue
            up_prop = next((p for p in upstream.properties if p.name == up_col), None)
            if up_prop is not None and _sensitive(up_prop):
                route = " → ".join(f"{n}.{col}" for n, col in zip(path, _columns_along(graph, path, up_col), strict=True))
                out.append(Conflict(
                    c.key, "masking", tuple(path),
                    f"{c.path.name}: 字段 {prop.name} 源自个人信息字段 {upstream.key}.{up_col}"
                    f"（{up_prop.classification or up_prop.pii}），须声明 classification: pii-masked 或 pii-token"
                    f"（或 maskingException 及理由）；血缘路径 {route}"))
                break
    return out


def _columns_along(graph: Lineage, path: list[str], first_col: str) -> list[str]:
    """The column name at each node of a column path (follows the first matching pair)."""
    cols = [first_col]
    for src, tgt in itertools.pairwise(path):
        pairs = graph.edges.get((src, tgt), [])
        nxt = next((to for frm, to in pairs if frm == cols[-1]), cols[-1])
        cols.append(nxt)
    return cols


def check_policy(settings: Settings | None = None, graph: Lineage | None = None,
                 contracts: list[Contract] | None = None) -> list[str]:
    """Conflict messages for the current contracts and dbt build (empty: publication may proceed).

    Without a dbt manifest nothing can be proven, so that is a failure too."""
    if graph is not None:
        contracts = load_contracts(settings or get_settings()) if contracts is None else contracts
        return [str(c) for c in policy_conflicts(contracts, graph)]
    return [m for messages in check_policy_by_contract(settings, contracts).values() for m in messages]


def manifest_path(settings: Settings) -> Path:
    """The manifest of the engine that builds the layers (``CITYSHARE_ENGINE``): the audit checks what was built."""
    if settings.engine == "spark":
        from cityshare.spark_engine import target_dir

        return target_dir(settings) / "manifest.json"
    return settings.dbt_target_dir / "manifest.json"


def current_lineage(settings: Settings, contracts: list[Contract]) -> Lineage | None:
    """The lineage of the last dbt build (None without a manifest: nothing can be proven).

    On Spark the Spark build's manifest and catalog columns, so a home that never built on DuckDB can publish."""
    if settings.engine == "spark":
        from cityshare.spark_engine import lineage_inputs

        manifest, schema, cache = lineage_inputs(settings)
        return None if manifest is None else compute_lineage(manifest, contracts, {}, schema, cache)
    manifest = load_manifest(settings)
    if manifest is None:
        return None
    from cityshare.warehouse import connect

    with connect(settings) as con:
        schema = warehouse_schema(con)
    return compute_lineage(manifest, contracts, {}, schema, cache_path(settings))


def check_policy_by_contract(settings: Settings | None = None, contracts: list[Contract] | None = None,
                             graph: Lineage | None = None) -> dict[str | None, list[str]]:
    """The conflicts per published contract key (``None``: concerns every table — no dbt manifest), so that
    ``publish.audit_each`` holds back only the tables that leak."""
    settings = settings or get_settings()
    contracts = load_contracts(settings) if contracts is None else contracts
    graph = graph or current_lineage(settings, contracts)
    if graph is None:
        return {None: [f"{manifest_path(settings)}: no dbt manifest, 共享属性传递 cannot be "
                       "checked (run `cityshare build`)"]}
    out: dict[str | None, list[str]] = {}
    for conflict in policy_conflicts(contracts, graph):
        out.setdefault(conflict.contract, []).append(str(conflict))
    return out


def upstream_sources(contract: Contract, contracts: list[Contract], graph: Lineage) -> list[str]:
    """The department sources (contract keys) a published table derives from, along lineage."""
    node = f"shared.{contract.model_name}"
    by_raw = {f"raw.{c.raw_table}": c.key for c in contracts if c.kind == "source"}
    return sorted(by_raw[n] for n in graph.ancestors(node) if n in by_raw) if node in graph.nodes else []
