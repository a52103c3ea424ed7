"""Build directory entries (《政务信息资源目录编制指南》 fields) from contracts and the warehouse.

Resource codes (信息资源代码) are 类(1) + 项(2) + 目(3) + 细目 from the contract's classification
(``catalog/classification.yml``), then "/" and a 5-digit sequence (after the instance's GB/T 2260 area
code on every instance but the default city one, docs/federation.md) assigned the first time a resource
is seen and stored in ``directory.resource_codes``, so codes stay stable across rebuilds and are never
reused. Every entry is validated; every change becomes an entry version (versions.py); lineage from
the dbt manifest gives the related resources (lineage.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.classification import Classification, classify
from cityshare.contracts.model import Contract, load_contracts
from cityshare.departments import registry
from cityshare.directory.document import export_json
from cityshare.instance import code_infix
from cityshare.meta.batches import accepted_totals
from cityshare.meta.publications import latest_publications, publish_status
from cityshare.meta.quality import latest_run_summaries
from cityshare.settings import Settings, get_settings
from cityshare.warehouse import connect, insert_rows, transaction

DDL = """
CREATE SCHEMA IF NOT EXISTS directory;
CREATE TABLE IF NOT EXISTS directory.resource_codes (contract_id VARCHAR PRIMARY KEY, resource_code VARCHAR UNIQUE);
CREATE TABLE IF NOT EXISTS directory.entries (resource_code VARCHAR PRIMARY KEY, contract_id VARCHAR,
    kind VARCHAR, entry JSON, built_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS directory.entry_inputs (contract_id VARCHAR PRIMARY KEY, inputs VARCHAR, entry JSON);
CREATE TABLE IF NOT EXISTS directory.fingerprints (item VARCHAR PRIMARY KEY, fingerprint VARCHAR);
"""

# Warehouse type → 编制指南 信息项 data type letter.
_TYPE_LETTERS = [("VARCHAR", "C"), ("BIGINT", "I"), ("INTEGER", "I"), ("HUGEINT", "I"), ("DOUBLE", "B"),
                 ("FLOAT", "F"), ("DECIMAL", "N"), ("TIMESTAMP", "T"), ("DATE", "D"), ("BOOLEAN", "L")]
_LOGICAL_LETTERS = {"string": "C", "integer": "I", "number": "N", "date": "D", "timestamp": "T",
                    "boolean": "L"}


def type_letter(warehouse_type: str) -> str:
    upper = warehouse_type.upper()
    return next((letter for prefix, letter in _TYPE_LETTERS if upper.startswith(prefix)), "M")


@dataclass
class Facts:
    """What the entries read from the warehouse, fetched with one query per kind for all contracts
    (not four queries per contract: meta.quality_results grows with every gate and audit)."""

    departments: dict[str, dict[str, str]]
    codes: dict[str, str]  # contract id → resource code
    publications: dict[str, tuple[Any, ...]]  # table → (version, rows, published_at) of the latest version
    batches: dict[str, tuple[Any, ...]]  # dataset → (accepted rows, last gated_at)
    quality: dict[str, tuple[Any, ...]]  # dataset → (rules, passed, checked_at) of its latest check
    new_codes: list[list[str]] = field(default_factory=list)  # [contract id, code] assigned since, to store

    def last_sequences(self) -> dict[str, int]:
        """Classification prefix → the highest sequence ever assigned under it (see _resource_code)."""
        last: dict[str, int] = {}
        for code in self.codes.values():
            prefix, _, rest = code.partition("/")
            last[prefix] = max(last.get(prefix, 0), int(rest[-5:]))
        return last


def fetch_facts(con: Any, settings: Settings) -> Facts:
    def by_key(sql: str) -> dict[str, tuple[Any, ...]]:
        return {row[0]: tuple(row[1:]) for row in con.execute(sql).fetchall()}

    return Facts(
        departments=registry(settings),
        codes={k: v[0] for k, v in by_key("SELECT contract_id, resource_code FROM directory.resource_codes").items()},
        publications=dict(latest_publications(con)),
        batches=accepted_totals(con),
        quality=latest_run_summaries(con),
    )


def _resource_code(contract: Contract, cls: Classification, facts: Facts, last: dict[str, int], infix: str = "") -> str:
    """The stored code of a contract, or the next free sequence under its classification (kept in
    ``facts.new_codes`` for the caller to store).

    Sequences are max + 1 (not count + 1), so a removed resource's code stays retired. ``infix``: the
    instance's area code (cityshare.instance.code_infix) before the sequence. ``last``: facts.last_sequences(),
    updated here (one pass over the codes for a whole build, not one query per new entry).
    """
    if contract.id in facts.codes:
        return facts.codes[contract.id]
    prefix = cls.code_prefix
    last[prefix] = last.get(prefix, 0) + 1
    code = f"{prefix}/{infix}{last[prefix]:05d}"
    facts.codes[contract.id] = code
    facts.new_codes.append([contract.id, code])
    return code


def _items(con: Any, contract: Contract) -> list[dict[str, Any]]:
    """信息项: name, Chinese name, type letter and length (measured on the shared table)."""
    types: dict[str, str] = {}
    lengths: dict[str, int] = {}
    if contract.kind == "shared":
        rows = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'shared' AND table_name = ? ORDER BY ordinal_position",
            [contract.model_name],
        ).fetchall()
        types = dict(rows)
        text_cols = [c for c, t in rows if t.upper().startswith("VARCHAR")]
        if text_cols:
            sel = ", ".join(f'max(length("{c}"))' for c in text_cols)
            values = con.execute(f'SELECT {sel} FROM shared."{contract.model_name}"').fetchone()
            lengths = {c: int(v or 0) for c, v in zip(text_cols, values, strict=True)}
    items = []
    for p in contract.properties:
        letter = type_letter(types[p.name]) if p.name in types else _LOGICAL_LETTERS.get(p.logical_type, "C")
        length = lengths.get(p.name)
        if length is None and "(" in p.physical_type:
            length = int(p.physical_type.split("(")[1].rstrip(")").split(",")[0])
        items.append({"name": p.name, "信息项名称": p.business_name or p.name, "数据类型": letter,
                      "数据长度": length, "分级": p.classification or "", "说明": p.custom.get("description", "")})
    return items


def _publication(facts: Facts, contract: Contract) -> dict[str, Any]:
    if contract.kind == "shared":
        row = facts.publications.get(contract.model_name)
        if row:
            return {"version": row[0], "rows": row[1], "published_at": row[2].isoformat(sep=" ")}
        return {"version": None, "rows": 0, "published_at": None}
    rows, at = facts.batches.get(contract.key, (None, None))
    return {"version": None, "rows": int(rows or 0), "published_at": at.isoformat(sep=" ") if at else None}


def _quality(facts: Facts, contract: Contract) -> dict[str, Any]:
    """质量: the latest gate/audit run of the dataset (rules passed / evaluated) from meta.quality_results."""
    rules, passed, at = facts.quality.get(contract.key, (0, 0, None))
    return {"规则数": int(rules), "通过规则数": int(passed or 0),
            "最近检查": at.isoformat(sep=" ") if at else None}


def build_entry(con: Any, contract: Contract, settings: Settings, cls: Classification, facts: Facts,
                last: dict[str, int]) -> dict[str, Any]:
    """One 编制指南 entry for a contract; a new resource's code is added to ``facts.new_codes`` (stored by
    the caller, in its transaction). ``facts`` and ``last`` are fetched once for the whole build."""
    dept = facts.departments.get(contract.department, {})
    pub = _publication(facts, contract)
    fmt = str(contract.custom.get("resourceFormat", "数据库/duckdb")).split("/")
    c = contract.custom
    exceptions = {k: c[k] for k in ("sharingException", "maskingException") if k in c}
    return {
        "信息资源代码": _resource_code(contract, cls, facts, last, code_infix(settings)),
        "信息资源名称": contract.name,
        "信息资源分类": cls.path,
        "分类": {**cls.as_dict(), "code_prefix": cls.code_prefix},
        "目录视图": cls.view,
        "信息资源提供方": dept.get("name", contract.department),
        "提供方代码": dept.get("provider_code"),
        "信息资源摘要": contract.description,
        "信息资源格式": {"格式分类": fmt[0], "格式类型": fmt[1] if len(fmt) > 1 else ""},
        "信息项信息": _items(con, contract),
        "共享属性": {"共享类型": c.get("sharingType"), "共享条件": c.get("sharingCondition", ""),
                     "共享方式": c.get("sharingMethod", ""), "不予共享依据": c.get("legalBasis", ""),
                     **({"传递例外": exceptions} if exceptions else {})},
        "开放属性": {"开放类型": c.get("openType", ""),
                     "是否向社会开放": "否" if c.get("openType", "不予开放") == "不予开放" else "是",
                     "开放条件": c.get("openCondition", "")},
        "更新周期": contract.update_cycle,
        "发布日期": (pub["published_at"] or "")[:10] or None,
        "关联资源代码": [],
        "关键词": contract.tags,
        "质量": _quality(facts, contract),
        "契约版本": contract.version,
        "kind": contract.kind,
        "contract_id": contract.id,
        "contract_key": contract.key,
        "table": f"shared.{contract.model_name}" if contract.kind == "shared" else f"raw.{contract.raw_table}",
        "department": contract.department,
        "rows": pub["rows"],
        "version": pub["version"],
    }


def _code_fingerprint(settings: Settings) -> str:
    """What every entry is also made from: the entry code and the catalog (classification, departments)."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted([*here.glob("*.py"), *settings.catalog_dir.glob("*.yml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _entry_inputs(contract: Contract, facts: Facts, file_hash: str, columns: dict[str, Any], code: str) -> str:
    """Everything build_entry reads for one contract, hashed: its file, its department, its resource code and the
    facts of its publication/batches and quality (a shared table's columns and lengths change only with a new
    published version)."""
    pub = (facts.publications.get(contract.model_name), columns.get(contract.model_name)) if contract.kind == "shared" \
        else facts.batches.get(contract.key)
    parts = [code, contract.key, file_hash, facts.departments.get(contract.department), facts.codes.get(contract.id),
             pub, facts.quality.get(contract.key)]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode()).hexdigest()


def _entries(con: Any, contracts: list[Contract], settings: Settings, file_hashes: dict[str, str],
             reuse: bool = True) -> tuple[list[dict[str, Any]], int]:
    """Classify, build and validate every entry; any problem raises DirectoryInvalid (nothing written).

    An entry whose inputs (``_entry_inputs``) are those it was last built from is taken as it was built then
    (``directory.entry_inputs``); only the others are built again (all of them without ``reuse``). Returns the
    entries and how many were built."""
    from cityshare.directory.validate import DirectoryInvalid, entry_problems

    problems: list[str] = []
    entries = []
    facts = fetch_facts(con, settings)
    built = {cid: (inputs, entry) for cid, inputs, entry in
             con.execute("SELECT contract_id, inputs, entry FROM directory.entry_inputs").fetchall()} if reuse else {}
    columns = dict(con.execute("SELECT table_name, list(column_name || ' ' || data_type ORDER BY ordinal_position) "
                               "FROM information_schema.columns WHERE table_schema = 'shared' GROUP BY table_name").fetchall())
    code = _code_fingerprint(settings)
    last = facts.last_sequences()
    rebuilt: list[list[Any]] = []
    for contract in contracts:
        file_hash = file_hashes.get(f"{contract.path.parent.name}/{contract.path.name}", "")
        previous = built.get(contract.id)
        if previous is not None and previous[0] == _entry_inputs(contract, facts, file_hash, columns, code):
            entries.append(json.loads(previous[1]))
            continue
        where = str(contract.path.relative_to(settings.project_root)) if contract.path.is_relative_to(
            settings.project_root) else str(contract.path)
        try:
            cls = classify(contract, settings.catalog_dir)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        entry = build_entry(con, contract, settings, cls, facts, last)
        problems += entry_problems(entry, where)
        entries.append(entry)
        # its inputs now: a new resource's code was assigned by build_entry
        rebuilt.append([contract.id, _entry_inputs(contract, facts, file_hash, columns, code),
                        json.dumps(entry, ensure_ascii=False)])
    dupes = sorted(c for c, n in Counter(e["信息资源代码"] for e in entries).items() if n > 1)
    if dupes:
        problems.append(f"directory.resource_codes: duplicate 信息资源代码 {', '.join(dupes)}")
    if problems:
        raise DirectoryInvalid(problems)
    insert_rows(con, "directory.resource_codes", facts.new_codes)  # in the caller's transaction, like the rest
    if rebuilt:  # inside the caller's transaction: kept only if the whole directory is written
        con.execute("DELETE FROM directory.entry_inputs WHERE contract_id IN (SELECT unnest(?::VARCHAR[]))",
                    [[row[0] for row in rebuilt]])
        insert_rows(con, "directory.entry_inputs", rebuilt)
    return entries, len(rebuilt)


@dataclass
class DirectoryBuild:
    """What a directory build did: every entry, and which of them changed (a new entry version)."""

    entries: list[dict[str, Any]]
    rebuilt: int  # entries whose inputs changed (built again; the others were taken as built before)
    changed: list[str]  # resource codes with a new entry version


def build_directory(settings: Settings | None = None, incremental: bool = True) -> list[dict[str, Any]]:
    """Every entry, its versions and the lineage in the ``directory`` schema; write the JSON (see update_directory)."""
    return update_directory(settings, incremental).entries


def update_directory(settings: Settings | None = None, incremental: bool = True) -> DirectoryBuild:
    """Bring every entry, its versions and the lineage in the ``directory`` schema up to date; write the JSON.

    All in one transaction: an invalid entry leaves the previous directory in place. ``incremental``: entries
    whose inputs did not change are not built again, and unchanged rows, lineage and JSON are not rewritten
    (the result is the same as a full build's, which ``incremental=False`` runs).
    """
    from cityshare.contracts.compiled import catalogue
    from cityshare.directory.harvested import harvested_entries
    from cityshare.directory.versions import record_versions
    from cityshare.lineage import store_lineage

    settings = settings or get_settings()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    contracts = load_contracts(settings)
    compiled = catalogue(settings)
    with connect(settings) as con, transaction(con):
        con.execute(DDL)
        entries, rebuilt = _entries(con, contracts, settings, compiled.file_hashes, reuse=incremental)
        codes = {e["contract_id"]: e["信息资源代码"] for e in entries}
        graph = _lineage(con, settings, contracts, codes, compiled.content_hash, incremental)
        if graph is not None:
            _link_related(entries, contracts, graph)
        _mark_status(con, entries, contracts, graph)
        changed = record_versions(con, entries, now)
        texts = {e["信息资源代码"]: json.dumps(e, ensure_ascii=False) for e in entries}
        stored = dict(con.execute("SELECT resource_code, entry::VARCHAR FROM directory.entries").fetchall()) \
            if incremental else {}
        gone = [code for code in stored if code not in texts]
        write = [e for e in entries if stored.get(e["信息资源代码"]) != texts[e["信息资源代码"]]]
        if not incremental:
            con.execute("DELETE FROM directory.entries")
        con.execute("DELETE FROM directory.entries WHERE resource_code IN (SELECT unnest(?::VARCHAR[]))",
                    [gone + [e["信息资源代码"] for e in write]])
        insert_rows(con, "directory.entries", [[e["信息资源代码"], e["contract_id"], e["kind"], texts[e["信息资源代码"]], now]
                                               for e in write])
        if graph is not None:
            store_lineage(con, graph, settings.directory_dir, unchanged_ok=incremental)
        harvested = harvested_entries(con)  # lower instances' entries (cityshare.federation.harvest)
        fingerprint = hashlib.sha256("\n".join([*texts.values(), json.dumps(harvested, ensure_ascii=False, sort_keys=True,
                                                                        default=str)]).encode()).hexdigest()
        exported = con.execute("SELECT fingerprint FROM directory.fingerprints WHERE item = 'directory.json'").fetchone()
    path = settings.directory_dir / "directory.json"
    if not (incremental and exported and exported[0] == fingerprint and path.exists()):
        export_json(entries + harvested, path)
        with connect(settings) as con:
            con.execute("INSERT OR REPLACE INTO directory.fingerprints VALUES ('directory.json', ?)", [fingerprint])
    return DirectoryBuild(entries, rebuilt, changed)


def _peer_origins(con: Any, settings: Settings, contracts: list[Contract]) -> dict[str, tuple[str, str | None]]:
    """For each source contract landing another instance's shared table: (that platform's name, the code of its
    entry as harvested into this directory, or None) — where cross-instance lineage starts (跨平台血缘)."""
    from cityshare.directory.harvested import harvested_entries
    from cityshare.lineage import peer_table

    peers = {c.id: found for c in contracts if (found := peer_table(c))}
    if not peers:
        return {}
    harvested = {(str(e["来源平台"].get("平台地址") or "").rstrip("/"), str(e.get("table") or "")): e
                 for e in harvested_entries(con)}
    out: dict[str, tuple[str, str | None]] = {}
    for c in contracts:
        if c.id not in peers:
            continue
        endpoint, table = c.server_value("endpointUrl", settings).rstrip("/"), peers[c.id][1]
        entry = harvested.get((endpoint, f"shared.{table}"))
        out[c.id] = ((entry["来源平台"].get("平台名称"), entry["信息资源代码"]) if entry
                     else (str(c.server.get("server") or endpoint), None))
    return out


def _lineage(con: Any, settings: Settings, contracts: list[Contract], codes: dict[str, str], contracts_hash: str,
             reuse: bool) -> Any:
    """The lineage graph (None before the first dbt build). Computed from the dbt manifest (tens of MB at city
    scale) only when the manifest, the contracts or the resource codes changed since it was stored; else read
    back from lineage.json (its inputs' hash is kept in ``directory.fingerprints`` with the stored graph)."""
    from cityshare.directory.harvested import harvested_entries
    from cityshare.lineage import (
        add_harvested_upstream,
        cache_path,
        compute_lineage,
        load_lineage,
        load_manifest,
        peer_label,
        warehouse_schema,
    )

    manifest_path = settings.dbt_target_dir / "manifest.json"
    peers = _peer_origins(con, settings, contracts)
    if not manifest_path.exists() and not peers:  # an instance that only lands peers' tables still has their lineage
        return None
    st = manifest_path.stat() if manifest_path.exists() else None
    code = (Path(__file__).resolve().parents[1] / "lineage.py").read_bytes()  # cityshare/lineage.py
    harvested = {e["信息资源代码"]: e for e in harvested_entries(con)}
    onward = sorted((c, e.get("上游资源"), peer_label(e)) for c, e in harvested.items())  # what add_harvested_upstream reads
    inputs = hashlib.sha256(json.dumps([[st.st_mtime_ns, st.st_size] if st else None, contracts_hash,
                                        sorted(codes.items()), hashlib.sha256(code).hexdigest(), sorted(peers.items()),
                                        onward], ensure_ascii=False).encode()).hexdigest()
    stored = con.execute("SELECT fingerprint FROM directory.fingerprints WHERE item = 'lineage_inputs'").fetchone()
    if reuse and stored and stored[0] == inputs and (settings.directory_dir / "lineage.json").exists():
        return load_lineage(settings)
    manifest = load_manifest(settings) if st else {}
    if manifest is None or (st and not manifest):
        return None
    graph = compute_lineage(manifest, contracts, codes, warehouse_schema(con), cache_path(settings), peers)
    add_harvested_upstream(graph, harvested)
    con.execute("INSERT OR REPLACE INTO directory.fingerprints VALUES ('lineage_inputs', ?)", [inputs])
    return graph


def _link_related(entries: list[dict[str, Any]], contracts: list[Contract], graph: Any) -> None:
    """关联资源代码 from lineage: a published table's upstream department sources; plus
    上游共享资源代码 (upstream published tables) and, for sources, 下游资源代码 (tables derived from it); and 上游资源,
    the nearest upstream resources (another platform's too), which a higher instance harvests to continue lineage."""
    from cityshare.lineage import UPSTREAM_FORMAT, upstream_resources

    for contract, entry in zip(contracts, entries, strict=True):
        node = f"shared.{contract.model_name}" if contract.kind == "shared" else f"raw.{contract.raw_table}"
        entry.pop("上游资源", None)  # a reused entry keeps none it no longer has
        if node not in graph.nodes:
            continue
        if contract.kind == "shared":
            ups = graph.ancestors(node)
            entry["关联资源代码"] = sorted(graph.nodes[n]["resource_code"] for n in ups
                                     if graph.nodes[n]["kind"] == "source" and graph.nodes[n]["resource_code"])
            published = {graph.nodes[ch]["resource_code"] for n in ups for ch in graph.children(n)
                         if graph.nodes[ch]["kind"] == "shared" and graph.nodes[ch]["resource_code"]}
            entry["上游共享资源代码"] = sorted(published - {entry["信息资源代码"]})
        else:
            downs = [graph.nodes[n] for n in graph.descendants(node) if graph.nodes[n].get("resource_code")]
            entry["下游资源代码"] = sorted(n["resource_code"] for n in downs)
        if upstream := upstream_resources(graph, node):  # what a higher instance's lineage continues from
            entry["上游资源"] = {"格式版本": UPSTREAM_FORMAT, "资源": upstream}


def _mark_status(con: Any, entries: list[dict[str, Any]], contracts: list[Contract], graph: Any) -> None:
    """数据时效 (is the data current, per cityshare.freshness) on every entry; 发布状态 on published tables:
    a table whose audit or build failed keeps its previous version, and says why."""
    from cityshare.freshness import late_inputs, source_freshness
    from cityshare.policy import upstream_sources

    sources = source_freshness(con, contracts)
    status: dict[str, tuple[Any, ...]] = dict(publish_status(con))
    for contract, entry in zip(contracts, entries, strict=True):
        if contract.kind == "source":
            fresh = sources[contract.key]
            entry["数据时效"] = {"状态": "滞后" if fresh.late else "正常", **fresh.as_dict()}
            continue
        node = f"shared.{contract.model_name}"
        late = late_inputs(upstream_sources(contract, contracts, graph) if graph is not None else [], sources)
        entry["数据时效"] = {"状态": "滞后" if late else "正常", "滞后来源": [s.as_dict() for s in late]}
        state, reason, at = status.get(node, (None, "", None))
        if state == "blocked":
            entry["发布状态"] = {"状态": "未发布（审核未通过，保留上一版本）", "原因": reason, "检查时间": at.isoformat(sep=" ")}
        elif state == "waiting" and not entry["version"]:
            entry["发布状态"] = {"状态": "尚未发布（等待首批数据）", "原因": f"等待数据源首批数据：{reason}"}
        else:
            entry["发布状态"] = {"状态": "已发布" if entry["version"] else "尚未发布"}
