"""Directory cascade (目录汇聚, upward): a higher instance harvests a lower instance's directory.

Harvest sources are ``harvest`` entries in ``catalog/federation.yml`` (name, endpoint, level, area); each
gets a ``harvest__<name>`` Airflow DAG like every other source. A harvest reads the lower instance's
``/api/federation/directory`` since the last modification time it saw (or, ``format: dcat-ap``, its whole DCAT-AP
feed: cityshare.federation.dcat_feed), stores every changed entry with
its origin (level, area, original code, original provider) in ``directory.harvested``, withdraws the
entries whose codes are gone, records entry versions (so an edit at the origin is one new version here)
and rewrites the directory the portal serves. Running it again changes nothing (idempotent). A lower
instance that cannot be reached keeps its last entries, flagged stale (过期) with the time of the last
successful harvest; only the harvest itself reports the failure.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cityshare.directory.harvested import DDL, write_directory
from cityshare.errors import SourceError
from cityshare.federation import dcat_feed
from cityshare.instance import CATALOG_FILE, HarvestSource, get_source, instance
from cityshare.settings import Settings, get_settings
from cityshare.warehouse import connect, transaction

HARVESTED = "下级平台汇聚"
LINK_FIELDS = ("关联资源代码", "上游共享资源代码", "下游资源代码")  # codes of other entries an entry names
TIMEOUT = 30.0


def global_code(code: str, area: str) -> str:
    """A lower instance's code, globally unique: one that carries an area code (its own, or its origin's when
    it was harvested itself) stays as it is; a 5-digit sequence (the default city instance) gets ``area``."""
    prefix, _, seq = code.partition("/")
    return code if len(seq) == 11 else f"{prefix}/{area}{seq[-5:]}"


def within(area: str, source_area: str) -> bool:
    """Whether a GB/T 2260 area lies inside the source's (a district inside its city, anything in 000000)."""
    return area.startswith(source_area.rstrip("0")) if source_area.rstrip("0") else True


def entry_problem(entry: dict[str, Any], source: HarvestSource) -> str | None:
    """Why a received entry is not taken (a lower instance speaks only for its own area, with sane links)."""
    import re

    from cityshare.directory.validate import CODE_PATTERN

    code = str(entry.get("信息资源代码") or "")
    if not CODE_PATTERN.match(code):
        return f"信息资源代码 {code[:40]!r} 格式不符"
    area = global_code(code, source.area).split("/")[1][:6]
    if not within(area, source.area):
        return f"{code}: 行政区划 {area} 不在 {source.name} 的 {source.area} 范围内"
    if (problem := upstream_problem(entry.get("上游资源"))) is not None:
        return f"{code}: {problem}"
    origin = entry.get("来源平台")
    if origin is not None and (not isinstance(origin, dict) or not re.fullmatch(
            r"https?://[^\s\"'<>]+", str(origin.get("平台地址") or "")) or not within(
            str(origin.get("行政区划代码") or ""), source.area)):
        return f"{code}: 来源平台 不可信（地址或行政区划不符）"
    return None


def upstream_problem(upstream: Any) -> str | None:
    """Why an entry's 上游资源 (the lineage a higher instance continues, cityshare.lineage.upstream_resources) is not
    usable: absent is fine; else it must be the known format version with a list of valid codes and names."""
    from cityshare.directory.validate import CODE_PATTERN
    from cityshare.lineage import UPSTREAM_FORMAT

    if upstream is None:
        return None
    ok = (isinstance(upstream, dict) and upstream.get("格式版本") == UPSTREAM_FORMAT
          and isinstance(upstream.get("资源"), list)
          and all(isinstance(r, dict) and CODE_PATTERN.match(str(r.get("信息资源代码") or ""))
                  and isinstance(r.get("名称"), str) for r in upstream["资源"]))
    return None if ok else f"上游资源 格式不符（需要格式版本 {UPSTREAM_FORMAT}，资源为信息资源代码与名称的列表）"


def _global_links(entry: dict[str, Any], area: str) -> dict[str, Any]:
    """The entry's links to other resources (related, upstream, downstream codes and 上游资源) in global codes, as
    they are listed here: a default city instance's 5-digit codes get its area, like the entry's own code."""
    out: dict[str, Any] = {k: [global_code(str(c), area) for c in entry[k]] for k in LINK_FIELDS
                           if isinstance(entry.get(k), list)}
    if isinstance(up := entry.get("上游资源"), dict):
        out["上游资源"] = {**up, "资源": [{**r, "信息资源代码": global_code(r["信息资源代码"], area)} for r in up["资源"]]}
    return out


def harvested_entry(entry: dict[str, Any], source: HarvestSource, origin: dict[str, Any]) -> dict[str, Any]:
    """The entry as the higher directory lists it: global code, origin, marked 下级平台汇聚, requestable there."""
    from cityshare.directory.versions import VERSION_KEYS

    original = entry["信息资源代码"]
    code = global_code(original, source.area)
    out = {k: v for k, v in entry.items() if k not in VERSION_KEYS and k != "汇聚状态"}
    origin_info = entry.get("来源平台") or {  # harvested again higher up: keep the first origin (entry_problem)
        "层级": origin.get("level") or source.level, "行政区划代码": origin.get("area") or source.area,
        "行政区划": origin.get("area_name") or "", "平台名称": origin.get("name") or source.title,
        "平台地址": source.endpoint, "原信息资源代码": original, "原提供方": entry.get("信息资源提供方"),
        "原提供方代码": entry.get("提供方代码")}
    return {**out, **_global_links(entry, source.area), "信息资源代码": code, "kind": "harvested", "汇聚方式": HARVESTED,
            "来源平台": origin_info,
            "申请方式": {"说明": f"该资源由{origin_info['平台名称']}提供，请向来源平台申请共享",
                     "申请地址": origin_info.get("申请地址")  # a DCAT-AP dataset's landing page (dcat_feed)
                     or f"{origin_info['平台地址']}/entry?code={origin_info['原信息资源代码']}"}}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _fetch(source: HarvestSource, since: dt.datetime | None) -> dict[str, Any]:
    import httpx

    url = f"{source.endpoint}/api/federation/directory"
    try:
        resp = httpx.get(url, params={"since": since.isoformat(sep=" ")} if since else {}, timeout=TIMEOUT)
    except httpx.TransportError as exc:
        raise SourceError(f"{url}: 下级平台不可达（{type(exc).__name__}）") from None
    if resp.status_code != 200 or "json" not in resp.headers.get("content-type", ""):
        raise SourceError(f"{url}: HTTP {resp.status_code}，不是 CityShare 目录接口")
    try:
        body = resp.json()
        ok = (isinstance(body, dict) and isinstance(body.get("codes"), list) and isinstance(body.get("entries"), list)
              and all(isinstance(i, dict) and isinstance(i.get("entry"), dict) and isinstance(i.get("modified"), str)
                      for i in body["entries"]))
    except ValueError:
        ok = False
    if not ok:
        raise SourceError(f"{url}: 响应不是 CityShare 目录增量（需要 instance、codes、entries）")
    me = body.get("instance") or {}
    if me.get("area") != source.area or me.get("level") != source.level:
        raise SourceError(f"{url}: 该平台自称 {me.get('level')}级 {me.get('area')}，与 catalog/{CATALOG_FILE} "
                          f"中 {source.name} 的 {source.level}级 {source.area} 不符")
    return body


def harvest(name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Harvest one lower instance; SourceError (after flagging its entries stale) when it cannot be read."""
    from cityshare.directory.versions import record_versions

    settings = settings or get_settings()
    instance(settings)  # a harvest writes this instance's directory: its identity must be valid
    source = get_source(name, settings)
    now = _now()
    with connect(settings) as con:
        con.execute(DDL)
        row = con.execute("SELECT watermark FROM directory.harvest_sources WHERE name = ?", [name]).fetchone()
    watermark = row[0] if row else None
    try:
        body = dcat_feed.fetch(source) if source.format == "dcat-ap" else _fetch(source, watermark)
    except SourceError as exc:
        with connect(settings) as con, transaction(con):
            _upsert_source(con, source, watermark, None, now, str(exc))
            kept = con.execute("SELECT count(*) FROM directory.harvested WHERE source = ? AND NOT withdrawn",
                               [name]).fetchone()[0]
        write_directory(settings)
        raise SourceError(f"harvest {name}: {exc}; kept its {kept} entries, flagged stale (过期)") from None
    codes = {global_code(c, source.area) for c in body["codes"]}
    changed, withdrawn, refused, newest, received = [], [], [], watermark, 0
    with connect(settings) as con, transaction(con):
        stored = {r[0]: (json.loads(r[1]), r[2]) for r in con.execute(
            "SELECT resource_code, entry, withdrawn FROM directory.harvested WHERE source = ?", [name]).fetchall()}
        local = {r[0] for r in con.execute("SELECT resource_code FROM directory.resource_codes").fetchall()} if \
            con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'directory' "
                        "AND table_name = 'resource_codes'").fetchone()[0] else set()
        for item in body["entries"]:
            problem = entry_problem(item["entry"], source)
            if problem is None and global_code(item["entry"]["信息资源代码"], source.area) in local:
                problem = f"{item['entry']['信息资源代码']}: 与本平台自有目录代码重复"
            if problem:
                refused.append(problem)
                continue
            entry = harvested_entry(item["entry"], source, body["instance"])
            try:
                modified = dt.datetime.fromisoformat(item["modified"])
            except ValueError:
                refused.append(f"{entry['信息资源代码']}: modified {item['modified'][:40]!r} 不是 ISO 时间")
                continue
            newest = max(newest, modified) if newest else modified
            received += 1
            old = stored.get(entry["信息资源代码"])
            if old is None or old[1] or _content(old[0]) != _content(entry):  # new, back, or changed
                changed.append((entry, modified))
        for code, (entry, was_withdrawn) in stored.items():
            if code not in codes and not was_withdrawn:
                withdrawn.append({**entry, "目录状态": "已撤销（来源平台已撤销）"})
        versions = record_versions(con, [e for e, _ in changed] + withdrawn, now)
        for entry, modified in changed:
            con.execute("INSERT OR REPLACE INTO directory.harvested VALUES (?, ?, ?, ?, false, ?, ?)",
                        [entry["信息资源代码"], name, entry["来源平台"]["原信息资源代码"], modified,
                         json.dumps(entry, ensure_ascii=False), now])
        for entry in withdrawn:
            con.execute("UPDATE directory.harvested SET withdrawn = true, entry = ?, harvested_at = ? "
                        "WHERE resource_code = ?", [json.dumps(entry, ensure_ascii=False), now, entry["信息资源代码"]])
        _upsert_source(con, source, newest, now, now, None)
    write_directory(settings)
    return {"source": name, "endpoint": source.endpoint, "received": received, "changed": len(changed),
            "withdrawn": len(withdrawn), "new_versions": len(versions), "entries": len(codes), "refused": refused}


def _content(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry without its version bookkeeping: what decides whether it changed."""
    from cityshare.directory.versions import VERSION_KEYS

    return {k: v for k, v in entry.items() if k not in VERSION_KEYS}


def _upsert_source(con: Any, source: HarvestSource, watermark: dt.datetime | None, success: dt.datetime | None,
                   attempt: dt.datetime, error: str | None) -> None:
    con.execute(DDL)
    con.execute(
        "INSERT INTO directory.harvest_sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
        "endpoint = excluded.endpoint, level = excluded.level, area = excluded.area, "
        "instance_name = excluded.instance_name, watermark = excluded.watermark, "
        "last_success = coalesce(excluded.last_success, directory.harvest_sources.last_success), "
        "last_attempt = excluded.last_attempt, last_error = excluded.last_error",
        [source.name, source.endpoint, source.level, source.area, source.title, watermark, success, attempt, error])


def status(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every harvest source with its last success, last attempt, error and entry count (``federation status``)."""
    settings = settings or get_settings()
    with connect(settings) as con:
        con.execute(DDL)
        rows = con.execute(
            "SELECT s.name, s.endpoint, s.level, s.area, s.last_success, s.last_attempt, s.last_error, "
            "count(h.resource_code) FILTER (WHERE NOT h.withdrawn) FROM directory.harvest_sources s "
            "LEFT JOIN directory.harvested h ON h.source = s.name GROUP BY ALL ORDER BY s.name").fetchall()
    keys = ("name", "endpoint", "level", "area", "last_success", "last_attempt", "last_error", "entries")
    return [dict(zip(keys, r, strict=True)) for r in rows]
