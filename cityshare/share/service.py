"""What the API and the portal share: directory lookup, audited reads, exports with receipts."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cityshare.settings import Settings
from cityshare.share import audit, receipts, store
from cityshare.share.auth import Access, Caller, ShareError, authorize_read, entitle, require
from cityshare.share.exports import BYTE_STABLE, FORMATS, XLSX_MAX_ROWS, Delivery, Tally, parse_range, spool, stream, window
from cityshare.share.rows import Query, QueryError, build_query, fetch, grant_filters
from cityshare.share.search import Indexed, index, search
from cityshare.share.tables import NAME, SharedTable, pinned, shared_tables, snapshots
from cityshare.vocabulary import SharingType

_dir_cache: dict[Path, tuple[tuple[int, int], list[dict[str, Any]], list[Indexed]]] = {}
_dir_lock = threading.Lock()


# -- directory --------------------------------------------------------------------------------------
def directory(settings: Settings) -> tuple[list[dict[str, Any]], list[Indexed]]:
    """Directory entries and their search index, reloaded when directory.json changes."""
    from cityshare.directory.document import load_entries

    path = settings.directory_dir / "directory.json"
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        return [], []
    with _dir_lock:
        hit = _dir_cache.get(path)
        if hit and hit[0] == stamp:
            return hit[1], hit[2]
    entries = load_entries(settings)
    docs = index(entries, _short_names(settings))
    with _dir_lock:
        _dir_cache[path] = (stamp, entries, docs)
    return entries, docs


def _short_names(settings: Settings) -> dict[str, str]:
    """Departments' short names (城管局, 南坪街道): what a clerk types when looking for a provider's data."""
    from cityshare.departments import catalog_departments

    try:
        return {slug: d.get("short_name") or "" for slug, d in catalog_departments(settings.catalog_dir).items()}
    except FileNotFoundError:
        return {}


def find_entries(settings: Settings, q: str | None = None, **filters: Any) -> list[dict[str, Any]]:
    _, docs = directory(settings)
    return search(docs, q, **filters)


def entry(settings: Settings, code: str) -> dict[str, Any]:
    for e in directory(settings)[0]:
        if e["信息资源代码"] == code:
            return e
    raise ShareError(404, f"目录中没有信息资源代码 {code[:60]!r}")


def facets(settings: Settings) -> dict[str, list[str]]:
    entries = directory(settings)[0]
    return {
        "classification": sorted({str(e.get("信息资源分类") or "")[:1] for e in entries} - {""}),
        "provider": sorted({e.get("department") or "" for e in entries} - {""}),
        "sharing_type": list(SharingType),
        "update_cycle": sorted({e.get("更新周期") or "" for e in entries} - {""}),
    }


_SUMMARY = ("信息资源代码", "信息资源名称", "信息资源分类", "目录视图", "信息资源提供方", "信息资源摘要", "共享属性",
            "更新周期", "发布日期", "kind", "table", "department", "rows", "version")


def summary(e: dict[str, Any]) -> dict[str, Any]:
    """What a search result shows of an entry (no item list, lineage or changelog)."""
    out = {k: e.get(k) for k in _SUMMARY}
    out["数据时效"] = (e.get("数据时效") or {}).get("状态")
    out["发布状态"] = (e.get("发布状态") or {}).get("状态")
    for key in ("汇聚方式", "来源平台", "汇聚状态"):  # a lower instance's entry (cityshare.federation.harvest)
        if e.get(key):
            out[key] = e[key]
    return out


def facet_counts(hits: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts of the hits by provider, 共享类型, 更新周期 and directory view, for narrowing a search."""
    from collections import Counter

    def count(values: Any) -> dict[str, int]:
        return dict(Counter(v for v in values if v).most_common())

    return {"provider": count(e.get("信息资源提供方") for e in hits),
            "sharing_type": count((e.get("共享属性") or {}).get("共享类型") for e in hits),
            "update_cycle": count(e.get("更新周期") for e in hits),
            "view": count(e.get("目录视图") for e in hits)}


def table_of_entry(e: dict[str, Any]) -> str | None:
    table = e.get("table") or ""
    return table.split(".", 1)[1] if e.get("kind") == "shared" and table.startswith("shared.") else None


def quality(settings: Settings, e: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest check run (gate or audit) of the entry's dataset, from meta.quality_results."""
    import duckdb

    from cityshare.contracts.model import load_contracts
    from cityshare.meta.quality import latest_run
    from cityshare.warehouse import connect

    key = next((c.key for c in load_contracts(settings) if c.id == e.get("contract_id")), None)
    if key is None or not settings.warehouse_path.exists():
        return []
    try:
        with connect(settings, read_only=True, wait=1.0) as con:
            return latest_run(con, key)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise ShareError(503, "数据仓库正在写入（发布进行中），质量结果稍后可查") from None
    except duckdb.CatalogException:
        return []


def lineage(settings: Settings, code: str) -> dict[str, Any]:
    """The entry's lineage graph (cityshare.lineage); a resource without recorded lineage is a 404 naming it."""
    from cityshare.lineage import UnknownResource, lineage_graph

    try:
        return lineage_graph(code, settings)
    except UnknownResource:
        raise ShareError(404, f"{code} 尚无血缘记录（目录构建时从 dbt 清单生成）") from None


# -- reads ------------------------------------------------------------------------------------------
def table(settings: Settings, name: str, version: int | None = None) -> SharedTable:
    """A published table, latest version unless ``version`` pins an earlier one (``?version=N``)."""
    tables = shared_tables(settings)
    if not NAME.match(name or "") or name not in tables:
        raise ShareError(404, f"没有共享数据表 {str(name)[:60]!r}")
    if not tables[name].published:
        raise ShareError(404, f"{name} 尚未发布")
    if version is None:
        return tables[name]
    t = pinned(settings, tables[name], version)
    if t is None:
        have = "、".join(map(str, snapshots(settings, name)))
        raise ShareError(404, f"version: {name} 没有第 {version} 版（已发布版本：{have}）")
    return t


def authorize(settings: Settings, caller: Caller, name: str, action: str, detail: dict[str, Any] | None = None,
              version: int | None = None) -> tuple[SharedTable, Access]:
    """Identify, look up and authorize; every refusal is appended to the audit chain before raising."""
    try:
        ident = require(caller)
        t = table(settings, name, version)
        return t, authorize_read(settings, ident, t)
    except ShareError as exc:
        refused(settings, caller, action, str(name)[:80], exc, detail)
        raise


def refused(settings: Settings, caller: Caller, action: str, target: str | None, exc: ShareError,
            detail: dict[str, Any] | None = None) -> None:
    """Append a refusal to the audit chain (once per error)."""
    if not exc.audited:
        audit.record(settings, caller.identity, action, target, status=exc.status,
                     detail={**(detail or {}), "refused": exc.message})
        exc.audited = True


def quarantine(settings: Settings, caller: Caller, dataset: str, load_id: str, page: int, size: int
               ) -> dict[str, Any]:
    """One page of a batch's quarantined rows (masked) for an entitled caller; reads and refusals audited.

    Entitled: the provider department, governance staff (quality oversight), anyone for 无条件共享, a
    grant on the dataset for 有条件共享. A retired contract's type is unknown, so only those first two.
    """
    from cityshare.contracts.model import ContractError, get_contract
    from cityshare.quality.loads import NotFound, quarantine_rows

    detail = {"load_id": str(load_id)[:60], "page": page}
    try:
        ident = require(caller)
        try:
            contract = get_contract(dataset, settings)
            # grants are held on a published table's name; a source's own key otherwise
            name = contract.model_name if contract.kind == "shared" else contract.key
            provider, sharing_type = contract.department, contract.sharing_type
        except ContractError:
            name, provider, sharing_type = str(dataset)[:80], str(dataset).split("/", 1)[0], ""
        access = entitle(settings, ident, name, provider, sharing_type, oversight=True)
        try:
            result = quarantine_rows(settings, dataset, load_id, raw_allowed=False, page=page, size=size)
        except NotFound as exc:
            raise ShareError(404, str(exc)) from None
    except ShareError as exc:
        refused(settings, caller, "quarantine.read", str(dataset)[:80], exc, detail)
        raise
    audit.record(settings, ident, "quarantine.read", str(dataset)[:80], rows=len(result["rows"]),
                 grant_id=access.grant_id, detail={**detail, "basis": access.basis})
    return result


def _query(settings: Settings, caller: Caller, t: SharedTable, access: Access, action: str,
           params: dict[str, Any]) -> Query:
    try:
        return build_query(t, columns=params.get("columns"), filters=params.get("filters"), sort=params.get("sort"),
                           limit=params.get("limit"), offset=params.get("offset") or 0, allowed=access.columns,
                           forced=grant_filters(t, access.row_filter))
    except QueryError as exc:
        audit.record(settings, caller.identity, action, t.name, status=400, grant_id=access.grant_id,
                     detail={**_printable(params), "refused": str(exc)})
        raise ShareError(400, str(exc)) from None


def _printable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v not in (None, [], "")}


def read_rows(settings: Settings, caller: Caller, name: str, action: str = "read", version: int | None = None,
              **params: Any) -> dict[str, Any]:
    t, access = authorize(settings, caller, name, action, _printable({**params, "version": version}), version)
    query = _query(settings, caller, t, access, action, params)
    result = fetch(query)
    audit.record(settings, caller.identity, action, t.name, rows=result["returned"], grant_id=access.grant_id,
                 detail={**_printable(params), "version": t.version, "basis": access.basis})
    result["basis"] = access.basis
    result["masked"] = sorted(c for c in t.masked if c in result["columns"])
    return result


HEADER_MODES = {"zh": "信息项名称（中文）", "name": "字段名"}


@dataclass
class ExportPlan:
    """What the export route answers: 200 / 206 with a delivery to stream, or 304 / 416 with headers only."""

    status: int
    headers: dict[str, str]
    delivery: Delivery | None = None


def item_headers(t: SharedTable, columns: list[str]) -> list[str]:
    """The Chinese item names of ``columns`` for a header row; a name two columns share gets its column."""
    names = [t.business_names.get(c) or c for c in columns]
    return [f"{n}（{c}）" if names.count(n) > 1 else n for n, c in zip(names, columns, strict=True)]


def _etag(t: SharedTable, fmt: str, header: str, query: Query) -> str:
    """Names these exact bytes: the table version's immutable snapshot and every query choice (grant
    restrictions included). Weak for XLSX, whose workbook carries its creation time."""
    import hashlib

    st = t.snapshot.stat() if t.snapshot else None
    key = json.dumps([t.name, t.version, st and (st.st_size, st.st_mtime_ns), fmt, header, query.columns,
                      [f.as_dict() for f in query.filters], query.sort], default=str, ensure_ascii=False)
    tag = f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
    return tag if fmt in BYTE_STABLE else f"W/{tag}"


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): ``*`` or any listed tag equal once ``W/`` is dropped."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def export(settings: Settings, caller: Caller, name: str, fmt: str, *, header: str = "name",
           version: int | None = None, if_none_match: str | None = None, range_header: str | None = None,
           if_range: str | None = None, **params: Any) -> ExportPlan:
    """An export to stream (``exports.DeliveryResponse``) and its headers; the signed receipt and the
    delivery row are stored only for a transfer that completed, an aborted one is audited as such.

    ``header`` = ``zh`` puts the Chinese item names in a CSV/XLSX header row; ``version`` pins a
    published version (latest by default). An ``If-None-Match`` naming the current ETag is answered
    304 once the caller is authorized; a single ``Range`` on a byte-stable format is answered 206.
    """
    if fmt not in FORMATS or header not in HEADER_MODES:
        audit.record(settings, caller.identity, "export", str(name)[:80], status=400,
                     detail={"format": str(fmt)[:20], "header": str(header)[:20]})
        raise ShareError(400, f"format: 可选 {', '.join(FORMATS)}" if fmt not in FORMATS
                         else f"header: 可选 {', '.join(HEADER_MODES)}")
    asked = {**_printable(params), **({"header": header} if header != "name" else {}),
             **({"version": version} if version is not None else {})}
    t, access = authorize(settings, caller, name, "export", {"format": fmt, **asked}, version)
    query = _query(settings, caller, t, access, "export", {**params, "limit": None})
    ident = caller.identity
    assert ident is not None
    etag = _etag(t, fmt, header, query)
    base = {"ETag": etag, "Accept-Ranges": "bytes" if fmt in BYTE_STABLE else "none",
            "Cache-Control": "private, no-cache"}
    if _matches(if_none_match, etag):
        audit.record(settings, ident, "export", t.name, status=304, grant_id=access.grant_id,
                     detail={"format": fmt, "outcome": "not-modified", "version": t.version, **asked})
        return ExportPlan(304, base)
    if fmt == "xlsx":
        _fits_a_sheet(query)
    labels = item_headers(t, query.columns) if header == "zh" and fmt in {"csv", "xlsx"} else None
    delivery_id = f"DLV-{store.now():%Y%m%d}-{secrets.token_hex(4)}"
    filename = f"{t.name}-v{t.version}.{FORMATS[fmt][1]}"
    title_name = f"{t.title}-v{t.version}.{FORMATS[fmt][1]}"
    tally = Tally()
    chunks, status, span = stream(query, fmt, tally, labels), 200, None
    wanted = range_header if fmt in BYTE_STABLE and (not if_range or if_range.strip() == etag) else None
    if wanted and wanted.startswith("bytes="):
        handle, size = spool(chunks)
        span = parse_range(wanted, size)
        if span == (size, size):
            handle.close()
            audit.record(settings, ident, "export", t.name, status=416, grant_id=access.grant_id,
                         detail={"format": fmt, "range": wanted[:60], "size": size, **asked})
            return ExportPlan(416, {**base, "Content-Range": f"bytes */{size}"})
        start, end = span or (0, size - 1)
        chunks, status = window(handle, start, end), 206 if span else 200
        base = {**base, "Content-Length": str(end - start + 1),
                **({"Content-Range": f"bytes {start}-{end}/{size}"} if span else {})}

    def done(tally: Tally) -> None:
        payload = {"delivery_id": delivery_id, "platform": "CityShare", "table": f"shared.{t.name}",
                   "version": t.version, "format": fmt, "filename": filename, "header": header,
                   "columns": query.columns, "query": asked, "row_filter": access.row_filter, "rows": tally.rows,
                   "bytes": tally.bytes, "sha256": tally.sha.hexdigest(), "department": ident.department,
                   "user": ident.user, "token_id": ident.token_id, "grant_id": access.grant_id,
                   "basis": access.basis, "issued_at": store.now().isoformat()}
        if span:  # bytes and sha256 describe the whole file; this transfer carried the range
            payload["range"] = {"start": span[0], "end": span[1]}
        receipt = receipts.sign(settings, payload)
        with store.connect(settings, write=True) as con:
            rec = audit.append(con, ident, "export", t.name, rows=tally.rows, grant_id=access.grant_id,
                               detail={"delivery": delivery_id, "format": fmt, "sha256": payload["sha256"],
                                       "version": t.version, **asked, **({"range": list(span)} if span else {})},
                               settings=settings)
            receipt["audit"] = {"seq": rec["seq"], "hash": rec["hash"]}
            con.execute("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [delivery_id, t.name, t.version, fmt, ident.department, ident.user, access.grant_id,
                         tally.rows, tally.bytes, payload["sha256"], json.dumps(receipt, ensure_ascii=False),
                         payload["issued_at"]])
        audit.anchor(settings)  # every receipt pins the chain's head at least this far

    def aborted(tally: Tally) -> None:
        audit.record(settings, ident, "export", t.name, status=499, grant_id=access.grant_id,
                     detail={"delivery": delivery_id, "outcome": "aborted", "bytes_sent": tally.sent,
                             "format": fmt, "version": t.version, **asked})

    headers = {**base, "Content-Disposition": f"attachment; filename=\"{filename}\"; "
                                              f"filename*=UTF-8''{quote(title_name, safe='')}",
               "X-CityShare-Delivery": delivery_id, "X-CityShare-Version": str(t.version),
               "Link": f'</api/receipts/{delivery_id}>; rel="receipt"'}
    return ExportPlan(status, headers, Delivery(chunks, tally, done, aborted))


def _fits_a_sheet(query: Query) -> None:
    """XLSX holds at most 1,048,575 data rows in a sheet: say so before streaming, not after."""
    from cityshare.share.snapshot_reader import cursor

    cur = cursor()
    try:
        rows = cur.execute(*query.count_sql).fetchone()[0]
    finally:
        cur.close()
    if rows > XLSX_MAX_ROWS:
        raise ShareError(400, f"format: xlsx 一张工作表最多 {XLSX_MAX_ROWS:,} 行，本次 {rows:,} 行；"
                              "请加筛选条件，或改用 csv / parquet")


def deliveries(settings: Settings, caller: Caller, limit: int = 50) -> list[dict[str, Any]]:
    ident = require(caller)
    with store.connect(settings) as con:
        if ident.role == "governance":
            rows = con.execute("SELECT * FROM deliveries ORDER BY created_at DESC LIMIT ?", [limit]).fetchall()
        else:
            rows = con.execute("SELECT * FROM deliveries WHERE department = ? ORDER BY created_at DESC LIMIT ?",
                               [ident.department, limit]).fetchall()
    return [{k: v for k, v in dict(r).items() if k != "receipt"} for r in rows]


def receipt(settings: Settings, caller: Caller, delivery_id: str) -> dict[str, Any]:
    """A delivery's signed receipt (it names the query's filter values): own department or governance; audited."""
    ident = require(caller)
    with store.connect(settings) as con:
        row = con.execute("SELECT department, table_name, receipt FROM deliveries WHERE id = ?",
                          [delivery_id]).fetchone()
    if row is None or (row["department"] != ident.department and ident.role != "governance"):
        exc = ShareError(404, f"没有交付记录 {delivery_id[:40]!r}")
        refused(settings, caller, "receipt.read", None, exc, {"delivery": delivery_id[:40]})
        raise exc
    audit.record(settings, ident, "receipt.read", row["table_name"], detail={"delivery": delivery_id})
    receipt: dict[str, Any] = json.loads(row["receipt"])
    return receipt


def corrections(settings: Settings, caller: Caller) -> list[dict[str, Any]]:
    """Correction cases (they quote rows' keys and values): own, addressed to own department, or all for
    governance; every listing audited."""
    from cityshare.share.grants import list_corrections

    ident = require(caller)
    cases = list_corrections(settings, ident)
    audit.record(settings, ident, "correction.list", None, rows=len(cases))
    return cases
