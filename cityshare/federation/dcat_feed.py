"""Harvesting a plain DCAT-AP feed (目录汇聚 from a DCAT-AP catalogue): a ``harvest`` entry with ``format: dcat-ap``.

Not every lower platform runs CityShare: a district may publish its catalogue only as DCAT-AP (CKAN's DCAT
extension, a national portal's export, or a CityShare instance's own ``/catalog.ttl``). This module reads such a
feed — JSON-LD, Turtle or RDF/XML — and turns each ``dcat:Dataset`` into the directory entry the CityShare
directory API would have sent, so cityshare.federation.harvest stores, versions, withdraws and flags it exactly
as it does for a CityShare peer. A DCAT feed has no "since": every harvest reads the whole feed, and the
harvester's content comparison keeps a re-harvest free of new versions.

What a DCAT-AP dataset carries maps to the 编制指南 fields: ``dct:identifier`` → 信息资源代码 (it must be a
directory code of the entry's area, as for any harvest), title, description, publisher (name and identifier →
信息资源提供方 and 提供方代码), ``dct:accrualPeriodicity`` → 更新周期, ``dct:accessRights`` (or CityShare's
``cityshare:sharingType``) → 共享类型, ``dct:issued``/``dct:modified``, keywords, the distribution's format, and the
classification from a theme's ``skos:notation`` (else from the code's class prefix). DCAT-AP has no 信息项
(columns): such entries list none, and the portal says where to request them (the dataset's landing page).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from cityshare.errors import SourceError
from cityshare.instance import HarvestSource

CS = "urn:cityshare:vocab#"
FORMATS = {"json": "json-ld", "ld+json": "json-ld", "turtle": "turtle", "rdf+xml": "xml", "n-triples": "nt"}
CLASS_PATH = re.compile(r"^\d/\d{2}/\d{3}$")
EPOCH = dt.datetime(1970, 1, 1)
TIMEOUT = 30.0


def fetch(source: HarvestSource) -> dict[str, Any]:
    """The feed at ``source.endpoint`` as the CityShare directory API's answer (instance, codes, entries)."""
    import httpx
    from rdflib import Graph

    url = source.endpoint
    try:
        resp = httpx.get(url, timeout=TIMEOUT, follow_redirects=True,
                         headers={"Accept": "text/turtle, application/ld+json;q=0.9, application/rdf+xml;q=0.8"})
    except httpx.TransportError as exc:
        raise SourceError(f"{url}: 下级平台不可达（{type(exc).__name__}）") from None
    if resp.status_code != 200:
        raise SourceError(f"{url}: HTTP {resp.status_code}，不是 DCAT-AP 目录")
    kind = resp.headers.get("content-type", "").split(";")[0].strip().split("/")[-1]
    fmt = FORMATS.get(kind) or ("json-ld" if url.endswith((".jsonld", ".json")) else
                                "xml" if url.endswith((".rdf", ".xml")) else "turtle")
    try:
        graph = Graph().parse(data=resp.text, format=fmt)
    except Exception as exc:  # rdflib raises parser-specific errors: name the feed and the format, not the parser
        raise SourceError(f"{url}: 无法按 {fmt} 解析 DCAT-AP 目录（{type(exc).__name__}）") from None
    return feed_body(graph, source)


def feed_body(graph: Any, source: HarvestSource) -> dict[str, Any]:
    """The directory-API answer for a parsed DCAT-AP graph; SourceError when it names another area or level."""
    from rdflib import RDF, Namespace

    dcat = Namespace("http://www.w3.org/ns/dcat#")
    catalogs = list(graph.subjects(RDF.type, dcat.Catalog))
    if len(catalogs) != 1:
        raise SourceError(f"{source.endpoint}: 应有且仅有一个 dcat:Catalog，收到 {len(catalogs)} 个")
    catalog = catalogs[0]
    me = _instance(graph, catalog, source)
    datasets = sorted(graph.objects(catalog, dcat.dataset), key=str)
    if not datasets:
        raise SourceError(f"{source.endpoint}: dcat:Catalog 未列出任何 dcat:dataset（空目录不予汇聚，以免误撤销）")
    catalog_modified = _time(graph, catalog, "modified")
    entries = [dataset_entry(graph, d, me, catalog_modified) for d in datasets]
    return {"instance": me, "codes": [i["entry"]["信息资源代码"] for i in entries], "entries": entries}


def _instance(graph: Any, catalog: Any, source: HarvestSource) -> dict[str, Any]:
    """Who publishes the feed: the catalog's area and level when it states them (they must be the entry's),
    else the harvest entry's own."""
    spatial = _one(graph, catalog, "http://purl.org/dc/terms/spatial")
    area = _text(graph, spatial, "http://purl.org/dc/terms/identifier") if spatial is not None else None
    level = _text(graph, catalog, CS + "instanceLevel")
    if (area and area != source.area) or (level and level != source.level):
        raise SourceError(f"{source.endpoint}: 该目录自称 {level or '?'}级 {area or '?'}，与 harvest 条目 "
                          f"{source.name} 的 {source.level}级 {source.area} 不符")
    publisher = _one(graph, catalog, "http://purl.org/dc/terms/publisher")
    home = _one(graph, catalog, "http://xmlns.com/foaf/0.1/homepage")
    return {"level": source.level, "area": source.area,
            "area_name": (_text(graph, spatial, "http://www.w3.org/2004/02/skos/core#prefLabel") if spatial is not None
                          else None) or "",
            "name": (_text(graph, publisher, "http://xmlns.com/foaf/0.1/name") if publisher is not None else None)
            or source.title,
            "url": str(home).rstrip("/") if home is not None else re.sub(r"^(https?://[^/]+).*$", r"\1", source.endpoint)}


def dataset_entry(graph: Any, ds: Any, me: dict[str, Any], catalog_modified: dt.datetime | None) -> dict[str, Any]:
    """One ``dcat:Dataset`` as ``{"entry": <directory entry>, "modified": <ISO time>}``."""
    from cityshare.directory.exporters import SHARING_ACCESS_RIGHT, UPDATE_CYCLE_FREQUENCY

    dct, skos, foaf = "http://purl.org/dc/terms/", "http://www.w3.org/2004/02/skos/core#", "http://xmlns.com/foaf/0.1/"
    code = _text(graph, ds, dct + "identifier") or ""
    publisher = _one(graph, ds, dct + "publisher")
    provider = (_text(graph, publisher, foaf + "name") if publisher is not None else None) or me["name"]
    cycle = _label(graph, _one(graph, ds, dct + "accrualPeriodicity"), {v: k for k, v in UPDATE_CYCLE_FREQUENCY.items()})
    sharing = _text(graph, ds, CS + "sharingType") or _label(
        graph, _one(graph, ds, dct + "accessRights"), {v: str(k) for k, v in SHARING_ACCESS_RIGHT.items()}, prefer_map=True)
    notations = [n for t in graph.objects(ds, _iri("http://www.w3.org/ns/dcat#theme"))
                 if CLASS_PATH.match(n := _text(graph, t, skos + "notation") or "")]
    prefix = code.split("/")[0]
    path = notations[0] if notations else (f"{prefix[0]}/{prefix[1:3]}/{prefix[3:6]}" if len(prefix) >= 6 else "")
    distribution = _one(graph, ds, "http://www.w3.org/ns/dcat#distribution")
    fmt = _one(graph, distribution, dct + "format") if distribution is not None else None
    landing = _one(graph, ds, "http://www.w3.org/ns/dcat#landingPage")
    issued = _time(graph, ds, "issued")
    modified = _time(graph, ds, "modified") or catalog_modified or issued or EPOCH
    entry = {
        "信息资源代码": code, "信息资源名称": _text(graph, ds, dct + "title") or code,
        "信息资源分类": path, "分类": {"代码": path, "名称": path},
        "信息资源提供方": provider,
        "提供方代码": (_text(graph, publisher, dct + "identifier") if publisher is not None else None) or "",
        "信息资源摘要": _text(graph, ds, dct + "description") or "",
        "信息资源格式": {"格式分类": "", "格式类型": str(fmt).rsplit("/", 1)[-1].lower() if fmt is not None else ""},
        "信息项信息": [],
        "共享属性": {"共享类型": sharing or "", "共享条件": "", "共享方式": "", "不予共享依据": ""},
        "开放属性": {"开放类型": _text(graph, ds, CS + "openType") or ""},
        "更新周期": cycle or "其他", "发布日期": issued.date().isoformat() if issued else None,
        "关联资源代码": [], "关键词": sorted({str(k) for k in graph.objects(ds, _iri("http://www.w3.org/ns/dcat#keyword"))}),
        "来源平台": {"层级": me["level"], "行政区划代码": me["area"], "行政区划": me["area_name"], "平台名称": me["name"],
                 "平台地址": me["url"], "原信息资源代码": code, "原提供方": provider,
                 "申请地址": str(landing) if landing is not None else str(ds)},
    }
    upstream = sorted({(c, _text(graph, o, dct + "title") or c) for o in graph.objects(ds, _iri(dct + "source"))
                       if (c := _text(graph, o, dct + "identifier"))})  # the datasets it derives from, in this feed
    if upstream:
        from cityshare.lineage import UPSTREAM_FORMAT

        entry["上游资源"] = {"格式版本": UPSTREAM_FORMAT, "资源": [{"信息资源代码": c, "名称": t} for c, t in upstream]}
    return {"entry": entry, "modified": modified.isoformat(sep=" ")}


def _iri(value: str) -> Any:
    from rdflib import URIRef

    return URIRef(value)


def _one(graph: Any, subject: Any, predicate: str) -> Any:
    return next(iter(graph.objects(subject, _iri(predicate))), None)


def _text(graph: Any, subject: Any, predicate: str) -> str | None:
    """A literal, the Chinese one when there are several languages."""
    values = list(graph.objects(subject, _iri(predicate)))
    values.sort(key=lambda v: (getattr(v, "language", None) or "") not in ("zh", "zh-cn", "zh-CN"))
    return str(values[0]).strip() if values else None


def _label(graph: Any, node: Any, by_code: dict[str, str], prefer_map: bool = False) -> str | None:
    """A controlled-vocabulary value: its Chinese label, else the label of its EU code (``…/frequency/DAILY``)."""
    if node is None:
        return None
    mapped = by_code.get(str(node).rsplit("/", 1)[-1])
    label = _text(graph, node, "http://www.w3.org/2004/02/skos/core#prefLabel")
    return (mapped or label) if prefer_map else (label or mapped)


def _time(graph: Any, subject: Any, name: str) -> dt.datetime | None:
    """``dct:issued``/``dct:modified`` (a date or a date-time, UTC when it has a zone) as naive UTC."""
    value = _one(graph, subject, "http://purl.org/dc/terms/" + name)
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
