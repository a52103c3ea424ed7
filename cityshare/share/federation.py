"""What an instance offers its peers: its identity with the receipt key, its directory by modification time, and the
code lists it builds with (下发参考数据, signed; cityshare.federation.reference receives them).

Both are as public as the directory itself (``/api/directory``, the DCAT-AP feed): metadata, no data.
A higher instance harvests ``directory_feed`` incrementally: entries changed after ``since`` in full,
plus every current code, so it can withdraw what disappeared.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityshare.errors import CityShareError
from cityshare.settings import Settings


def identity_doc(settings: Settings) -> dict[str, Any]:
    """``/api/federation/identity``: level, area, name and the receipt public key peers verify deliveries with."""
    from cityshare.instance import instance
    from cityshare.share.receipts import key_id, public_key_pem

    pem = public_key_pem(settings)
    return {**instance(settings).as_dict(), "receipt_public_key": pem, "key_id": key_id(pem),
            "software": "CityShare"}


def modified_times(settings: Settings) -> dict[str, dt.datetime]:
    """Resource code → when its latest entry version was recorded (directory.entry_versions)."""
    import duckdb

    from cityshare.warehouse import connect

    if not settings.warehouse_path.exists():
        return {}
    with connect(settings, read_only=True) as con:
        try:
            return dict(con.execute("SELECT resource_code, max(changed_at) FROM directory.entry_versions "
                                    "GROUP BY resource_code").fetchall())
        except duckdb.CatalogException:
            return {}


def directory_feed(settings: Settings, since: dt.datetime | None = None) -> dict[str, Any]:
    """Entries modified at or after ``since`` (all when None) with their modification time, and every current code.

    At or after: versions carry whole seconds, so an entry changed later within the watermark's second is
    sent again rather than missed; the harvester records a version only for real changes.
    """
    from cityshare.share.service import directory

    entries = directory(settings)[0]
    times = modified_times(settings)
    epoch = dt.datetime(1970, 1, 1)
    changed = [{"modified": times.get(e["信息资源代码"], epoch).isoformat(sep=" "), "entry": e} for e in entries
               if since is None or times.get(e["信息资源代码"], epoch) >= since]  # >=: times have whole seconds
    return {"instance": identity_doc(settings) | {"receipt_public_key": None},
            "generated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0).isoformat(sep=" "),
            "since": since.isoformat(sep=" ") if since else None,
            "codes": [e["信息资源代码"] for e in entries], "entries": changed}


def dcat_feed(settings: Settings, base_url: str, turtle: bool = False) -> str:
    """The directory (own and harvested entries) as DCAT-AP 3.0.1, JSON-LD or Turtle, each dataset with
    ``dct:modified`` (when its entry last changed): a DCAT harvester cannot ask "since", so it compares."""
    import json

    from cityshare.directory.exporters import dcat_document
    from cityshare.share.service import directory

    doc = dcat_document(directory(settings)[0], base_url, settings=settings, modified=modified_times(settings))
    text = json.dumps(doc, ensure_ascii=False)
    if not turtle:
        return text
    from rdflib import Graph

    return Graph().parse(data=text, format="json-ld").serialize(format="turtle")


def code_lists_index(settings: Settings) -> dict[str, Any]:
    """``/api/federation/reference``: every code list served, with its content version and origin."""
    from cityshare.code_lists import CODE_LISTS

    lists = []
    for name, title in CODE_LISTS.items():
        payload = code_list_doc(settings, name)["receipt"]
        lists.append({k: payload[k] for k in ("code_list", "title", "version", "rows", "columns", "origin")}
                     | {"title": title})
    return {"instance": identity_doc(settings) | {"receipt_public_key": None}, "code_lists": lists}


def code_list_doc(settings: Settings, name: str) -> dict[str, Any]:
    """``/api/federation/reference/<name>``: the list as CSV text with a signed payload (sha256, size, rows,
    columns, content version, origin: the instance that first published it)."""
    import hashlib

    from cityshare.code_lists import CODE_LISTS, code_list_path, current, parse
    from cityshare.instance import instance
    from cityshare.share.receipts import sign

    if name not in CODE_LISTS:
        raise CityShareError(f"code list {name!r}: not one of {', '.join(CODE_LISTS)}")
    data = code_list_path(settings, name).read_bytes()
    columns, rows = parse(data.decode("utf-8"))
    received = current(settings, name)
    origin = received["receipt"]["origin"] if received else instance(settings).as_dict()
    digest = hashlib.sha256(data).hexdigest()
    payload = {"code_list": name, "title": CODE_LISTS[name], "sha256": digest, "bytes": len(data), "rows": len(rows),
               "columns": columns, "version": digest[:12], "origin": origin}
    return {**sign(settings, payload), "csv": data.decode("utf-8")}
