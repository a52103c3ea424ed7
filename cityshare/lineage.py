"""Table and column lineage (血缘) from department source to shared table.

Tables and their dependencies come from the dbt manifest; column pairs come from each model's
compiled SQL, parsed with sqlglot in the dialect of the manifest's adapter (DuckDB, or Spark for a Spark build's
manifest) and qualified with the warehouse's column list so ``select *`` CTEs resolve. The published
``shared.<table>`` copies its model column for column.
The graph is stored in the ``directory`` schema (queryable) and as ``data/directory/lineage.json``
(what the portal reads, lock-free); ``lineage_graph()`` is the portal's entry point.

sqlglot's column lineage is the expensive part (seconds for the project's ~55 models) and both the
audit's policy check and the directory build need it, every day, for SQL that rarely changes. Each model's column
pairs are therefore cached in ``<dbt target>/column_lineage_cache.json``, keyed by a hash of its
compiled SQL and the columns of the relations it reads (all the input sqlglot sees), so a changed
model or upstream schema recomputes exactly that model and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract
from cityshare.settings import Settings, get_settings
from cityshare.transform import PARTITION_COLUMN
from cityshare.vocabulary import LAYER_ZH
from cityshare.warehouse import insert_rows

log = logging.getLogger("cityshare.lineage")

DDL = """
CREATE SCHEMA IF NOT EXISTS directory;
CREATE TABLE IF NOT EXISTS directory.lineage_nodes (id VARCHAR PRIMARY KEY, label VARCHAR, kind VARCHAR,
    layer VARCHAR, resource_code VARCHAR, dbt_unique_id VARCHAR);
CREATE TABLE IF NOT EXISTS directory.lineage_edges (source VARCHAR, target VARCHAR, columns JSON,
    PRIMARY KEY (source, target));
CREATE TABLE IF NOT EXISTS directory.column_lineage (source VARCHAR, source_column VARCHAR,
    target VARCHAR, target_column VARCHAR);
"""

LAYERS = LAYER_ZH  # schema → layer name (cityshare.vocabulary)


class UnknownResource(KeyError):
    """No directory entry (or no lineage node) has this resource code."""

    def __str__(self) -> str:
        return f"no directory entry with resource code {self.args[0]!r}"


@dataclass
class Lineage:
    """Nodes (``id`` → attributes) and edges (``(source, target)`` → column pairs)."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)

    _adjacency: tuple[int, dict[str, list[str]], dict[str, list[str]]] | None = field(
        default=None, repr=False, compare=False)

    def _index(self) -> tuple[int, dict[str, list[str]], dict[str, list[str]]]:
        """Parents and children of every node, built once (not a scan of every edge per step: a city's graph has
        thousands of nodes, and the directory walks it from each of them). Edges are only ever added."""
        if self._adjacency is None or self._adjacency[0] != len(self.edges):
            up: dict[str, list[str]] = {}
            down: dict[str, list[str]] = {}
            for s, t in self.edges:
                up.setdefault(t, []).append(s)
                down.setdefault(s, []).append(t)
            self._adjacency = (len(self.edges), up, down)
        return self._adjacency

    def parents(self, node: str) -> list[str]:
        return sorted(self._index()[1].get(node, ()))

    def children(self, node: str) -> list[str]:
        return sorted(self._index()[2].get(node, ()))

    def ancestors(self, node: str) -> set[str]:
        return self._closure(node, self.parents)

    def descendants(self, node: str) -> set[str]:
        return self._closure(node, self.children)

    @staticmethod
    def _closure(node: str, step: Any) -> set[str]:
        seen: set[str] = set()
        queue = deque([node])
        while queue:
            for nxt in step(queue.popleft()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def path(self, upstream: str, downstream: str) -> list[str]:
        """The shortest node path upstream → … → downstream (empty if unconnected)."""
        back: dict[str, str | None] = {upstream: None}
        queue = deque([upstream])
        while queue:
            node = queue.popleft()
            if node == downstream:
                out = [node]
                while back[out[-1]] is not None:
                    out.append(back[out[-1]])  # type: ignore[arg-type]
                return out[::-1]
            for nxt in self.children(node):
                if nxt not in back:
                    back[nxt] = node
                    queue.append(nxt)
        return []

    def column_origins(self, node: str, column: str) -> Iterator[tuple[str, str, list[str]]]:
        """Every upstream ``(node, column, path)`` a column derives from, following column edges."""
        stack = [(node, column, [node])]
        seen = set()
        while stack:
            cur, col, path = stack.pop()
            for (src, tgt), pairs in self.edges.items():
                if tgt != cur:
                    continue
                for from_col, to_col in pairs:
                    if to_col == col and (src, from_col) not in seen:
                        seen.add((src, from_col))
                        yield src, from_col, [src, *path]
                        stack.append((src, from_col, [src, *path]))

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [self.nodes[k] for k in sorted(self.nodes)],
                "edges": [{"source": s, "target": t, "columns": [list(p) for p in pairs]}
                          for (s, t), pairs in sorted(self.edges.items())]}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Lineage:
        return cls({n["id"]: n for n in doc.get("nodes", [])},
                   {(e["source"], e["target"]): [tuple(p) for p in e["columns"]] for e in doc.get("edges", [])})


def _relation(name: str) -> str:
    """``"warehouse"."raw"."x"`` → ``warehouse.raw.x`` (how sqlglot tables are matched to nodes)."""
    return name.replace('"', "").replace("`", "").lower()


def load_manifest(settings: Settings) -> dict[str, Any] | None:
    path = settings.dbt_target_dir / "manifest.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def warehouse_schema(con: Any) -> dict[str, Any]:
    """``{catalog: {schema: {table: {column: type}}}}`` of the layer schemas, for sqlglot's qualify."""
    out: dict[str, Any] = {}
    for catalog, schema, table, column, dtype in con.execute(
        "SELECT table_catalog, table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema NOT IN ('directory', 'meta', 'shared', 'information_schema', 'pg_catalog') "
        "ORDER BY table_catalog, table_schema, table_name, ordinal_position"
    ).fetchall():
        out.setdefault(catalog, {}).setdefault(schema, {}).setdefault(table, {})[column] = dtype
    return out


CACHE_FILE = "column_lineage_cache.json"
_CACHE_FORMAT = 1  # bump when column_pairs' output changes meaning


def cache_path(settings: Settings) -> Path:
    """Where the column-lineage cache lives: beside the manifest whose SQL it describes."""
    return settings.dbt_target_dir / CACHE_FILE


def column_pairs(sql: str, schema: dict[str, Any], dialect: str = "duckdb") -> dict[str, list[tuple[str, str]]]:
    """For each output column of ``sql`` (SQL of sqlglot's ``dialect``): the ``(relation, column)`` leaves it derives
    from.

    ``trim_selects=False``: sqlglot would otherwise copy the whole query once per column only to
    label the nodes, which this function does not read.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.lineage import lineage
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import build_scope

    query = qualify(sqlglot.parse_one(sql, dialect=dialect), schema=schema or None, dialect=dialect,
                    validate_qualify_columns=False)
    scope = build_scope(query)
    out: dict[str, list[tuple[str, str]]] = {}
    for select in query.selects:  # type: ignore[attr-defined]  # a parsed SELECT (sqlglot types it as Expression)
        col = select.alias_or_name
        if col == PARTITION_COLUMN:  # a Spark table's partition column: no data, not in the DuckDB build
            continue
        root = lineage(col, query, schema=schema or None, dialect=dialect, scope=scope, copy=False,
                       trim_selects=False)
        leaves = []
        for node in root.walk():
            if isinstance(node.expression, exp.Table):
                table = node.expression
                rel = ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()
                leaves.append((rel, node.name.split(".")[-1].strip('"')))
        out[col] = sorted(set(leaves))
    return out


def _input_schema(item: dict[str, Any], by_uid: dict[str, Any], index: dict[tuple[str, ...], tuple[str, ...]],
                  schema: dict[str, Any]) -> dict[str, Any]:
    """The warehouse columns of the relations a model reads: its parents (an ephemeral parent is
    inlined as a CTE, so its own parents count) and itself (an incremental run reads ``{{ this }}``).
    That is all sqlglot needs to resolve the model's ``select *``."""
    relations = [item.get("relation_name")]
    todo = list(item.get("depends_on", {}).get("nodes", []))
    seen: set[str] = set()
    while todo:
        uid = todo.pop()
        if uid in seen or uid not in by_uid:
            continue
        seen.add(uid)
        parent = by_uid[uid]
        if parent.get("config", {}).get("materialized") == "ephemeral":
            todo += parent.get("depends_on", {}).get("nodes", [])
        else:
            relations.append(parent.get("relation_name"))
    out: dict[str, Any] = {}
    for relation in relations:
        key = index.get(tuple(_relation(relation or "").split(".")))
        if key is not None:
            *path, table = key
            inner, level = out, schema
            for part in path:
                inner, level = inner.setdefault(part, {}), level[part]
            inner[table] = level[table]
    return out


def _table_keys(schema: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """The (catalog, schema, table) of every table of a DuckDB warehouse schema, or (schema, table) of a Spark one
    (whose relations have no catalog): the path down to each ``{column: type}``."""
    for name, inner in schema.items():
        if isinstance(inner, dict) and inner and all(isinstance(v, dict) for v in inner.values()):
            for rest in _table_keys(inner):
                yield (name, *rest)
        else:
            yield (name,)


def _load_cache(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a damaged cache is only a slower run
        return {}
    return doc.get("models", {}) if isinstance(doc, dict) and doc.get("format") == _CACHE_FORMAT else {}


def _save_cache(path: Path, models: dict[str, Any]) -> None:
    """Atomic replace (audit and directory build may run in parallel processes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": _CACHE_FORMAT, "models": models}, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def model_column_pairs(manifest: dict[str, Any], schema: dict[str, Any],
                       cache: Path | None = None) -> dict[str, dict[str, list[tuple[str, str]]] | None]:
    """dbt unique id → column pairs of every SQL model (None: its SQL could not be analysed).

    With ``cache`` (a file), a model whose SQL and input columns are unchanged is not parsed again;
    the file keeps only the entries of this manifest.
    """
    from importlib.metadata import version

    by_uid = {**manifest.get("sources", {}), **manifest.get("nodes", {})}
    index = {tuple(part.lower() for part in key): key for key in _table_keys(schema)}
    dialect = "spark" if manifest.get("metadata", {}).get("adapter_type") == "spark" else "duckdb"
    stored = _load_cache(cache)
    used: dict[str, Any] = {}
    out: dict[str, dict[str, list[tuple[str, str]]] | None] = {}
    engine = version("sqlglot")
    for uid, item in by_uid.items():
        sql = item.get("compiled_code")
        if item.get("resource_type") != "model" or not sql or item.get("language", "sql") != "sql":
            continue  # a Python model has no SQL to parse: table-level lineage only
        inputs = _input_schema(item, by_uid, index, schema)
        # (a DuckDB model's key as before the Spark dialect, so existing caches stay valid)
        inputs_key = [_CACHE_FORMAT, engine, sql, inputs, *([dialect] if dialect != "duckdb" else [])]
        key = hashlib.sha256(json.dumps(inputs_key, sort_keys=True).encode()).hexdigest()
        entry = stored.get(key)
        if entry is None:
            try:
                entry = {"pairs": column_pairs(sql, inputs, dialect)}
            except Exception as exc:  # unparsable SQL keeps table-level lineage only
                entry = {"error": str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}
        used[key] = entry
        if "error" in entry:
            name = f"{item.get('schema')}.{item.get('alias') or item.get('name')}"
            log.warning("column lineage of %s unavailable: %s", name, entry["error"])
            out[uid] = None
        else:
            out[uid] = {col: [tuple(p) for p in pairs] for col, pairs in entry["pairs"].items()}
    if cache is not None and used.keys() != stored.keys():
        _save_cache(cache, used)
    return out


def peer_table(contract: Contract) -> tuple[str, str] | None:
    """(endpoint as written, table) of a source contract that lands another CityShare instance's shared table."""
    from cityshare.sources import server_kind

    if contract.kind != "source" or server_kind(contract)[0] != "cityshare":
        return None
    return str(contract.server.get("endpointUrl") or ""), str(contract.server.get("dataset") or "")


def compute_lineage(
    manifest: dict[str, Any], contracts: Iterable[Contract], codes: dict[str, str], schema: dict[str, Any],
    cache: Path | None = None, peers: dict[str, tuple[str, str | None]] | None = None,
) -> Lineage:
    """The lineage graph of every dbt model, its sources/seeds, and the published shared tables.

    ``codes`` maps contract id → resource code (nodes of directory resources carry it); ``cache`` is
    the column-lineage cache file (``cache_path(settings)``), None to compute everything afresh.
    ``peers`` maps a peer-source contract's id (``peer_table``) → (the providing platform's name, the code of
    its entry as harvested into this directory, if it was): the graph then starts at the other instance's
    shared table (跨平台血缘), reachable in this directory when harvested.
    """
    contracts = list(contracts)
    by_raw = {c.raw_table: c for c in contracts if c.kind == "source"}
    by_model = {c.model_name: c for c in contracts if c.kind == "shared"}
    graph = Lineage()
    node_of_relation: dict[str, str] = {}
    unique_to_node: dict[str, str] = {}

    def add(unique_id: str, item: dict[str, Any]) -> None:
        kind = {"source": "source", "seed": "seed"}.get(item["resource_type"], "model")
        schema_name = item.get("schema", "")
        name = str(item.get("name") if kind == "source" else item.get("alias") or item.get("name"))
        node_id = f"{schema_name}.{name}"
        contract = by_raw.get(name) if kind == "source" else None
        label = f"{contract.name}（{node_id}）" if contract else node_id
        graph.nodes[node_id] = {"id": node_id, "label": label, "kind": kind,
                                "resource_code": codes.get(contract.id) if contract else None,
                                "layer": LAYERS.get(schema_name, "代码表" if kind == "seed" else schema_name),
                                "dbt_unique_id": unique_id}
        unique_to_node[unique_id] = node_id
        if item.get("relation_name"):
            node_of_relation[_relation(item["relation_name"])] = node_id

    for uid, item in manifest.get("sources", {}).items():
        add(uid, item)
    models = {uid: n for uid, n in manifest.get("nodes", {}).items() if n.get("resource_type") in ("model", "seed")}
    for uid, item in models.items():
        add(uid, item)
    columns = model_column_pairs(manifest, schema, cache)
    for uid, item in models.items():
        if item["resource_type"] != "model":
            continue
        target = unique_to_node[uid]
        for parent in item.get("depends_on", {}).get("nodes", []):
            if parent in unique_to_node:
                graph.edges.setdefault((unique_to_node[parent], target), [])
        for to_col, leaves in (columns.get(uid) or {}).items():
            for rel, from_col in leaves:
                source = node_of_relation.get(rel)
                if source is not None:
                    graph.edges.setdefault((source, target), []).append((from_col, to_col))
    for model_name, contract in by_model.items():
        model_node = next((n for n, a in graph.nodes.items()
                           if a["kind"] == "model" and n.split(".", 1)[1] == model_name), None)
        shared_id = f"shared.{model_name}"
        graph.nodes[shared_id] = {"id": shared_id, "label": f"{contract.name}（{shared_id}）", "kind": "shared",
                                  "resource_code": codes.get(contract.id), "layer": LAYERS["shared"],
                                  "dbt_unique_id": None}
        if model_node:
            graph.edges[(model_node, shared_id)] = [(p.name, p.name) for p in contract.properties]
    for contract in contracts:
        raw = f"raw.{contract.raw_table}"
        if (table := peer_table(contract)) is None:
            continue
        if raw not in graph.nodes:  # landed but read by no model (or no dbt project at all: a national instance)
            graph.nodes[raw] = {"id": raw, "label": f"{contract.name}（{raw}）", "kind": "source",
                                "resource_code": codes.get(contract.id), "layer": LAYERS["raw"], "dbt_unique_id": None}
        platform, code = (peers or {}).get(contract.id, (contract.server.get("server") or table[0], None))
        peer_id = f"peer.{contract.server.get('server') or 'peer'}.{table[1]}"
        graph.nodes[peer_id] = {"id": peer_id, "label": f"{platform} · {table[1]}", "kind": "peer",
                                "resource_code": code, "layer": "其他平台共享库", "dbt_unique_id": None}
        graph.edges[(peer_id, raw)] = [(p.name, p.name) for p in contract.properties]
    for key in graph.edges:
        graph.edges[key] = sorted(set(graph.edges[key]))
    return graph


UPSTREAM_FORMAT = 1  # the version of an entry's 上游资源, the part of lineage a higher instance harvests


def upstream_resources(graph: Lineage, node: str) -> list[dict[str, str]]:
    """The nearest directory resources upstream of ``node`` (its entry's 上游资源): walking up, a node with a resource
    code — or a model published as one — is taken and not passed. A harvesting instance continues its lineage from
    these codes (``add_harvested_upstream``) without this instance's graph; codes are unique across the federation."""
    own = graph.nodes[node].get("resource_code")
    found: dict[str, str] = {}
    seen, queue = {node}, deque(graph.parents(node))
    while queue:
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        resource = current if graph.nodes[current].get("resource_code") else next(
            (c for c in graph.children(current)
             if graph.nodes[c]["kind"] == "shared" and graph.nodes[c].get("resource_code") not in (None, own)), None)
        code = graph.nodes[resource]["resource_code"] if resource else None
        if resource and code and code != own:
            found[code] = graph.nodes[resource]["label"]
        else:
            queue.extend(graph.parents(current))
    return [{"信息资源代码": code, "名称": label} for code, label in sorted(found.items())]


def add_harvested_upstream(graph: Lineage, harvested: dict[str, dict[str, Any]]) -> None:
    """Continue lineage past the peer nodes through the 上游资源 their harvested entries carry (跨平台血缘): every
    upstream code becomes a peer node — labelled by its platform and table when that entry was harvested here
    too — feeding the node whose entry named it, and is followed in turn (city table → city sources → district)."""
    by_code = {a["resource_code"]: n for n, a in graph.nodes.items() if a.get("resource_code")}
    queue = deque(n for n, a in graph.nodes.items() if a["kind"] == "peer" and a.get("resource_code"))
    seen: set[str] = set()
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        entry = harvested.get(graph.nodes[node]["resource_code"]) or {}
        for up in (entry.get("上游资源") or {}).get("资源") or []:
            code = up["信息资源代码"]
            source = by_code.get(code)
            if source is None:
                origin = harvested.get(code)
                source = by_code[code] = f"peer.entry.{code}"
                graph.nodes[source] = {"id": source, "label": peer_label(origin) if origin else up["名称"],
                                       "kind": "peer", "resource_code": code, "layer": "其他平台",
                                       "dbt_unique_id": None}
            if source != node:
                graph.edges.setdefault((source, node), [])
                queue.append(source)


def peer_label(entry: dict[str, Any]) -> str:
    """How lineage names another platform's table: ``南岸区城市运行和治理中心 · theme_city_cases__case``."""
    table = str(entry.get("table") or entry.get("信息资源名称") or "")
    return f"{(entry.get('来源平台') or {}).get('平台名称') or '其他平台'} · {table.removeprefix('shared.')}"


def store_lineage(con: Any, graph: Lineage, directory_dir: Path, unchanged_ok: bool = False) -> None:
    """Replace the stored lineage (inside the caller's transaction) and write lineage.json atomically.

    ``unchanged_ok``: leave both as they are when they already hold this graph (its hash is kept in
    ``directory.fingerprints``, created by the directory builder, with the tables: it always describes what
    they hold)."""
    con.execute(DDL)
    text = json.dumps(graph.to_json(), ensure_ascii=False, indent=1)
    digest = hashlib.sha256(text.encode()).hexdigest()
    path = directory_dir / "lineage.json"
    stored = con.execute("SELECT fingerprint FROM directory.fingerprints WHERE item = 'lineage'").fetchone()
    if unchanged_ok and stored and stored[0] == digest and path.exists():
        return
    for table in ("lineage_nodes", "lineage_edges", "column_lineage"):
        con.execute(f"DELETE FROM directory.{table}")
    insert_rows(con, "directory.lineage_nodes",
                [[n["id"], n["label"], n["kind"], n["layer"], n["resource_code"], n["dbt_unique_id"]]
                 for n in graph.nodes.values()])
    insert_rows(con, "directory.lineage_edges", [[s, t, json.dumps(pairs)] for (s, t), pairs in graph.edges.items()])
    insert_rows(con, "directory.column_lineage", [[s, f, t, c] for (s, t), pairs in graph.edges.items() for f, c in pairs])
    con.execute("INSERT OR REPLACE INTO directory.fingerprints VALUES ('lineage', ?)", [digest])
    directory_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def load_lineage(settings: Settings | None = None) -> Lineage:
    """The stored lineage graph (empty before the first directory build)."""
    settings = settings or get_settings()
    path = settings.directory_dir / "lineage.json"
    if not path.exists():
        return Lineage()
    return Lineage.from_json(json.loads(path.read_text(encoding="utf-8")))


def lineage_graph(resource_code: str, settings: Settings | None = None) -> dict[str, Any]:
    """Lineage around one directory resource: everything upstream and downstream of it.

    Returns ``{"nodes": [{"id", "label", "kind", "resource_code"}], "edges": [{"source", "target",
    "columns": [[from_col, to_col], ...]}]}``; ``kind`` is source / seed / model / shared, or peer (another
    instance's shared table a source contract lands: 跨平台血缘).
    Raises UnknownResource when no lineage node carries the code.
    """
    graph = load_lineage(settings)
    start = [n for n, a in graph.nodes.items() if a.get("resource_code") == resource_code]
    if not start:
        raise UnknownResource(resource_code)
    keep = set(start)
    for node in start:
        keep |= graph.ancestors(node) | graph.descendants(node)
    return {
        "nodes": [{k: graph.nodes[n][k] for k in ("id", "label", "kind", "resource_code")} for n in sorted(keep)],
        "edges": [{"source": s, "target": t, "columns": [list(p) for p in pairs]}
                  for (s, t), pairs in sorted(graph.edges.items()) if s in keep and t in keep],
    }
