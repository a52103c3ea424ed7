"""Downward reference data (下发参考数据): the code lists a higher instance governs, received by the lower ones.

A code list is one of the dbt seeds (GB/T 2260 areas and streets, the 县改区 code changes, the GB/T 30428.2
event and component classes, the GB/T 30428.4 evaluation indicators with their weights). Every instance serves
the list it builds with — the list it received from above, else its own seed — at
``/api/federation/reference/<name>``, signed with its receipt key; a lower instance names the higher one in a
``reference`` entry of ``catalog/federation.yml`` and pulls (``cityshare federation pull-reference``, DAG
``reference__<name>``). A list is checked before it replaces anything: signature against the pinned key, sha256
and size, the seed's columns, a non-empty list of unique codes. It is kept under
``<data dir>/federation/reference/`` with its signed document (origin, content version) and a local version
number (``meta.reference_versions``); the next ``cityshare build`` loads it in place of the seed (the seeds'
post-hook ``cs_received_code_list``), so every model, data test and report reading ``ref.<seed>`` uses it, and
the gate's ``referenceSeed`` rules check against it.

Why a federation endpoint and not shared tables: a code list is the platform's vocabulary (维度库), not a
department's data resource — no department provides or approves it and it is as public as the directory. As
shared tables every list would need a dbt model, a published contract and a directory entry on every level, and
a city could only pass a national list on after building it. Served as the list an instance builds with, one
change at the national or city level cascades through every level with its first origin kept (like harvested
directory entries), and a share-only instance without dbt serves its lists too.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from cityshare.code_lists import code_list_path, current, parse, received_dir, seed_path
from cityshare.errors import GateBlocked, SourceError
from cityshare.settings import Settings, get_settings


def list_problems(doc: dict[str, Any], name: str, trusted_pem: str, settings: Settings) -> list[str]:
    """Why a received list cannot replace the seed (empty: it can): signature, list, hash, size, columns, codes."""
    from cityshare.share.receipts import signature_ok
    from cityshare.sources.cityshare_peer import _payload

    payload = _payload(doc)
    text = doc["csv"] if isinstance(doc.get("csv"), str) else ""
    data = text.encode("utf-8")
    problems = []
    if not signature_ok(doc, trusted_pem):
        problems.append("签名无效：代码表不是上级平台签发，或内容被改动")
    if payload.get("code_list") != name:
        problems.append(f"代码表不符：收到 {payload.get('code_list')!r}，请求 {name}")
    if payload.get("sha256") != hashlib.sha256(data).hexdigest() or payload.get("bytes") != len(data):
        problems.append("文件哈希或大小与签名内容不符")
    columns, rows = parse(text)
    with seed_path(settings, name).open(encoding="utf-8", newline="") as fh:
        expected = next(csv.reader(fh))
    if sorted(columns) != sorted(expected):
        problems.append(f"列不符：收到 {','.join(columns)}，本平台 {name} 为 {','.join(expected)}")
        return problems
    keys = [r[expected[0]] for r in rows]
    if not rows or any(not (k or "").strip() for k in keys):
        problems.append(f"代码为空：{expected[0]} 每行必填，且代码表不得为空")
    if dupes := sorted({k for k in keys if keys.count(k) > 1}):
        problems.append(f"代码重复：{', '.join(dupes[:5])}")
    return problems


def _diff(old: Path, new_text: str) -> tuple[int, int, int]:
    """Codes added, removed and changed (same code, other name or attributes) against the list in use."""
    columns, before = parse(old.read_text(encoding="utf-8"))
    _, after = parse(new_text)
    key = columns[0]
    a, b = {r[key]: r for r in before}, {r[key]: r for r in after}
    return len(b.keys() - a.keys()), len(a.keys() - b.keys()), sum(1 for k in a.keys() & b.keys() if a[k] != b[k])


def _receive(settings: Settings, source: Any, name: str, doc: dict[str, Any], pem: str) -> dict[str, Any]:
    """Check one list and, when it is new, keep it as the list in use with its next local version."""
    from cityshare.meta.reference_versions import record_version
    from cityshare.share import audit
    from cityshare.sources.cityshare_peer import _payload
    from cityshare.warehouse import connect, transaction

    payload = _payload(doc)
    target = f"{source.name}/{name}"
    detail = {"provider": source.endpoint, "version": payload.get("version"), "key_id": payload.get("key_id")}
    problems = list_problems(doc, name, pem, settings)
    if problems:
        audit.record(settings, None, "federation.reference", target, status=422,
                     detail={**detail, "refused": "；".join(problems)})
        return {"code_list": name, "status": "refused", "problems": problems}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    kept = current(settings, name)
    if kept and kept["receipt"]["sha256"] == payload["sha256"]:
        return {"code_list": name, "status": "unchanged", "local_version": kept["local_version"],
                "version": payload["version"], "rows": payload["rows"]}
    added, removed, changed = _diff(code_list_path(settings, name), doc["csv"])
    origin = payload["origin"]
    with connect(settings) as con, transaction(con):
        version = record_version(con, {
            "code_list": name, "sha256": payload["sha256"], "rows": payload["rows"], "source": source.name,
            "provider": source.endpoint, "origin": f"{origin.get('name')}（{origin.get('area')}）",
            "key_id": payload["key_id"], "added": added, "removed": removed, "changed": changed, "received_at": now})
        folder = received_dir(settings)
        folder.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".csv", doc["csv"]), (".json", json.dumps(
                {k: v for k, v in doc.items() if k != "csv"} | {"local_version": version, "source": source.name,
                                                                "endpoint": source.endpoint,
                                                                "received_at": now.isoformat(sep=" ")},
                ensure_ascii=False, indent=1))):
            part = folder / f"{name}{suffix}.part"
            part.write_text(text, encoding="utf-8")
            part.replace(folder / f"{name}{suffix}")
    audit.record(settings, None, "federation.reference", target, status=200, rows=payload["rows"],
                 detail={**detail, "local_version": version, "added": added, "removed": removed, "changed": changed})
    return {"code_list": name, "status": "new", "local_version": version, "version": payload["version"],
            "rows": payload["rows"], "added": added, "removed": removed, "changed": changed}


def pull(name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Receive the code lists of one ``reference`` entry; a refused list keeps the one in use (see
    :func:`raise_if_refused`), an unreachable or foreign instance replaces nothing (SourceError, exit 2)."""
    from cityshare.instance import CATALOG_FILE, get_reference_source, instance
    from cityshare.sources.cityshare_peer import _Peer, check_key

    settings = settings or get_settings()
    instance(settings)
    source = get_reference_source(name, settings)
    peer = _Peer(source.endpoint, None, "nothing replaced")
    try:
        ident = peer.get("/api/federation/identity").json()
        if (ident.get("level"), ident.get("area")) != (source.level, source.area):
            raise SourceError(f"{source.endpoint}: 该平台自称 {ident.get('level')}级 {ident.get('area')}，与 catalog/"
                              f"{CATALOG_FILE} 中 {name} 的 {source.level}级 {source.area} 不符；nothing replaced")
        pem = str(ident.get("receipt_public_key") or "")
        check_key(pem, source.key_id, settings.data_dir / "federation" / "peers" / f"reference__{name}.pem",
                  f"{settings.catalog_dir / CATALOG_FILE}: reference {name}", "receiptKeyId", "nothing replaced")
        docs = {n: peer.get(f"/api/federation/reference/{n}").json() for n in source.lists}
    finally:
        peer.http.close()
    results = [_receive(settings, source, n, doc, pem) for n, doc in docs.items()]
    return {"source": name, "endpoint": source.endpoint, "lists": results}


def raise_if_refused(result: dict[str, Any]) -> None:
    """GateBlocked (exit 1) naming every refused list and why: the lists in use stay."""
    refused = [f"{r['code_list']}: {'；'.join(r['problems'])}" for r in result["lists"] if r["status"] == "refused"]
    if refused:
        raise GateBlocked(f"reference {result['source']} ({result['endpoint']}): refused, the list in use stays — "
                          + " | ".join(refused))
