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
import io
import json
from pathlib import Path
from typing import Any

from cityshare.errors import CityShareError, GateBlocked, SourceError
from cityshare.settings import PROJECT_ROOT, Settings, get_settings

# The code lists a higher level governs (seed name → title); the seeds of local project rules are not served.
CODE_LISTS = {
    "chongqing_areas": "区县代码（GB/T 2260）",
    "chongqing_streets": "街道乡镇代码（统计用区划代码）",
    "area_code_changes": "区划代码变更（县改区）",
    "event_classes": "数字城管事件分类（GB/T 30428.2）",
    "component_classes": "数字城管部件分类（GB/T 30428.2）",
    "evaluation_indicators": "数字城管综合评价指标及权重（GB/T 30428.4）",
}
RECEIVED = "received"  # a list's state: from a higher instance (else "seed")
DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.reference_versions (code_list VARCHAR, version INTEGER, sha256 VARCHAR, rows INTEGER,
    source VARCHAR, provider VARCHAR, origin VARCHAR, key_id VARCHAR, added INTEGER, removed INTEGER,
    changed INTEGER, received_at TIMESTAMP, PRIMARY KEY (code_list, version));
"""


def received_dir(settings: Settings) -> Path:
    return settings.data_dir / "federation" / "reference"


def seed_path(settings: Settings, name: str) -> Path:
    """The project's own seed of a code list (a home without a dbt project uses the shipped one)."""
    seed = settings.dbt_project_dir / "seeds" / f"{name}.csv"
    return seed if seed.exists() else PROJECT_ROOT / "dbt_project" / "seeds" / f"{name}.csv"


def code_list_path(settings: Settings, name: str) -> Path:
    """The list this instance uses: the one received from a higher instance, else its seed."""
    received = received_dir(settings) / f"{name}.csv"
    return received if received.exists() else seed_path(settings, name)


def current(settings: Settings, name: str) -> dict[str, Any] | None:
    """The signed document and local version of the received list in use (None: the seed is used)."""
    path = received_dir(settings) / f"{name}.json"
    if not path.exists() or not (received_dir(settings) / f"{name}.csv").exists():
        return None
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def received_lists(settings: Settings) -> dict[str, str]:
    """Seed name → received CSV, for the seeds' post-hook (``var('cs_code_lists')``) that loads it instead."""
    return {n: str(received_dir(settings) / f"{n}.csv") for n in CODE_LISTS if current(settings, n)}


def received_digests(settings: Settings) -> list[str]:
    """``name=sha256`` of every received list in use: part of the build's project fingerprint (a new list
    rebuilds everything that reads the seed)."""
    return [f"{n}={doc['receipt']['sha256']}" for n in CODE_LISTS if (doc := current(settings, n))]


def _parse(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def code_lists_index(settings: Settings) -> dict[str, Any]:
    """``/api/federation/reference``: every code list served, with its content version and origin."""
    from cityshare.share.federation import identity_doc

    lists = []
    for name, title in CODE_LISTS.items():
        payload = code_list_doc(settings, name)["receipt"]
        lists.append({k: payload[k] for k in ("code_list", "title", "version", "rows", "columns", "origin")}
                     | {"title": title})
    return {"instance": identity_doc(settings) | {"receipt_public_key": None}, "code_lists": lists}


def code_list_doc(settings: Settings, name: str) -> dict[str, Any]:
    """``/api/federation/reference/<name>``: the list as CSV text with a signed payload (sha256, size, rows,
    columns, content version, origin: the instance that first published it)."""
    from cityshare.instance import instance
    from cityshare.share.receipts import sign

    if name not in CODE_LISTS:
        raise CityShareError(f"code list {name!r}: not one of {', '.join(CODE_LISTS)}")
    data = code_list_path(settings, name).read_bytes()
    columns, rows = _parse(data.decode("utf-8"))
    received = current(settings, name)
    origin = received["receipt"]["origin"] if received else instance(settings).as_dict()
    digest = hashlib.sha256(data).hexdigest()
    payload = {"code_list": name, "title": CODE_LISTS[name], "sha256": digest, "bytes": len(data), "rows": len(rows),
               "columns": columns, "version": digest[:12], "origin": origin}
    return {**sign(settings, payload), "csv": data.decode("utf-8")}


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
    columns, rows = _parse(text)
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
    columns, before = _parse(old.read_text(encoding="utf-8"))
    _, after = _parse(new_text)
    key = columns[0]
    a, b = {r[key]: r for r in before}, {r[key]: r for r in after}
    return len(b.keys() - a.keys()), len(a.keys() - b.keys()), sum(1 for k in a.keys() & b.keys() if a[k] != b[k])


def _receive(settings: Settings, source: Any, name: str, doc: dict[str, Any], pem: str) -> dict[str, Any]:
    """Check one list and, when it is new, keep it as the list in use with its next local version."""
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
    with connect(settings) as con, transaction(con):
        con.execute(DDL)
        version = con.execute("SELECT coalesce(max(version), 0) + 1 FROM meta.reference_versions WHERE code_list = ?",
                              [name]).fetchone()[0]
        origin = payload["origin"]
        con.execute("INSERT INTO meta.reference_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, version, payload["sha256"], payload["rows"], source.name, source.endpoint,
                     f"{origin.get('name')}（{origin.get('area')}）", payload["key_id"], added, removed, changed, now])
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
    peer = _Peer(source.endpoint, None)
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


def status(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every code list: in use from the seed or received (local version, content version, from where, when)."""
    settings = settings or get_settings()
    out = []
    for name, title in CODE_LISTS.items():
        doc = current(settings, name)
        payload = doc["receipt"] if doc else {}
        out.append({"code_list": name, "title": title, "in_use": RECEIVED if doc else "seed",
                    "local_version": doc["local_version"] if doc else None,
                    "version": payload.get("version") or hashlib.sha256(
                        code_list_path(settings, name).read_bytes()).hexdigest()[:12],
                    "rows": payload.get("rows"), "origin": (payload.get("origin") or {}).get("name"),
                    "source": doc["source"] if doc else None, "received_at": doc["received_at"] if doc else None})
    return out
