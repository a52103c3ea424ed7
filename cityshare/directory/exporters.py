"""Directory exports: JSON, CSV in the 编制指南 template column order, DCAT-AP 3.0.1 (JSON-LD and Turtle).

Departments exchange the directory as spreadsheets, so the CSV follows the template's columns in
order, one row per resource with the items summarized, UTF-8 with a BOM so Excel opens it as UTF-8.
DCAT-AP is for catalogues outside the government network (and harvesters such as data portals).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from urllib.parse import quote

from cityshare.vocabulary import SharingType

# 《政务信息资源目录编制指南（试行）》 template columns, in order.
CSV_COLUMNS = [
    "信息资源分类", "信息资源名称", "信息资源代码", "信息资源提供方", "信息资源提供方代码", "信息资源摘要",
    "信息资源格式", "信息项信息", "共享类型", "共享条件", "共享方式", "是否向社会开放", "开放条件",
    "更新周期", "发布日期", "关联资源代码",
]  # fmt: skip

EU = "http://publications.europa.eu/resource/authority/"
IANA = "http://www.iana.org/assignments/media-types/"
# 更新周期 → EU frequency vocabulary (DCAT-AP's controlled vocabulary for dct:accrualPeriodicity).
UPDATE_CYCLE_FREQUENCY = {"实时": "UPDATE_CONT", "每日": "DAILY", "每周": "WEEKLY", "每月": "MONTHLY",
                          "每季度": "QUARTERLY", "每半年": "ANNUAL_2", "每年": "ANNUAL", "其他": "OTHER"}
# 共享类型 → EU access-right vocabulary: the directory's audience is government departments, so
# 无条件共享 (any department, no request) is PUBLIC to that audience, 有条件 RESTRICTED, 不予 NON_PUBLIC.
SHARING_ACCESS_RIGHT = {SharingType.UNCONDITIONAL: "PUBLIC", SharingType.CONDITIONAL: "RESTRICTED",
                        SharingType.NOT_SHARED: "NON_PUBLIC"}
# 格式类型 → (EU file-type, IANA media type or None). A 数据库 (duckdb) resource reaches its users through the
# share service's export, Parquet by default; JSON Lines has no file-type of its own (each line is JSON) and no
# registered media type; sqlite has neither, so it gets no dct:format.
FILE_TYPES: dict[str, tuple[str, str | None]] = {
    "csv": ("CSV", "text/csv"), "tsv": ("TSV", "text/tab-separated-values"), "json": ("JSON", "application/json"),
    "jsonl": ("JSON", None), "xlsx": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "duckdb": ("PARQUET", "application/vnd.apache.parquet"), "parquet": ("PARQUET", "application/vnd.apache.parquet"),
}
# 信息资源分类 项 → EU data theme (DCAT-AP's recommended dcat:theme vocabulary), with its Chinese label.
EU_THEME_LABELS = {"ECON": "经济和金融", "ENER": "能源", "ENVI": "环境", "GOVE": "政府和公共部门", "HEAL": "卫生",
                   "JUST": "司法、法律体系和公共安全", "REGI": "地区和城市", "SOCI": "人口和社会", "TRAN": "交通"}
ITEM_EU_THEME = {
    "1/01": "SOCI", "1/02": "ECON", "1/03": "ENVI", "1/04": "ECON", "1/05": "GOVE", "2/01": "GOVE", "2/02": "HEAL",
    "2/03": "SOCI", "2/04": "HEAL", "2/05": "JUST", "2/06": "ECON", "2/07": "ENER", "2/08": "ECON", "2/09": "REGI",
    "2/10": "REGI", "2/11": "ENVI", "2/12": "JUST", "3/01": "REGI", "3/02": "ECON", "3/03": "REGI", "3/04": "TRAN",
    "3/05": "ENVI", "3/06": "SOCI", "3/07": "GOVE", "3/08": "GOVE", "3/09": "REGI", "3/10": "ENER",
}
CITY_AREA = ("500000", "重庆市")  # GB/T 2260 code of the city: the coverage of a municipal department's data
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/", "skos": "http://www.w3.org/2004/02/skos/core#",
    "vcard": "http://www.w3.org/2006/vcard/ns#", "xsd": "http://www.w3.org/2001/XMLSchema#",
    "cityshare": "urn:cityshare:vocab#",
}


def _items_summary(items: list[dict[str, Any]]) -> str:
    """``案件编号(case_id,C,20)；上报时间(reported_at,T)…`` — one cell, readable in a spreadsheet."""
    parts = []
    for i in items:
        spec = f"{i['name']},{i['数据类型']}" + (f",{i['数据长度']}" if i.get("数据长度") else "")
        parts.append(f"{i['信息项名称']}({spec})")
    return "；".join(parts)


def csv_row(e: dict[str, Any]) -> list[str]:
    share, open_ = e["共享属性"], e.get("开放属性") or {}
    fmt = e["信息资源格式"]
    cls = e.get("分类") or {}
    return [
        f"{cls.get('代码', e['信息资源分类'])} {cls.get('名称', '')}".strip(), e["信息资源名称"], e["信息资源代码"],
        e["信息资源提供方"], e.get("提供方代码") or "", e["信息资源摘要"],
        "/".join(p for p in (fmt.get("格式分类"), fmt.get("格式类型")) if p), _items_summary(e["信息项信息"]),
        share.get("共享类型") or "", share.get("共享条件") or share.get("不予共享依据") or "",
        share.get("共享方式") or "", open_.get("是否向社会开放", ""),
        open_.get("开放条件") or open_.get("开放类型", ""), e.get("更新周期") or "", e.get("发布日期") or "",
        "；".join(e.get("关联资源代码") or []),
    ]


def to_csv(entries: list[dict[str, Any]]) -> str:
    """The CSV text (with a leading BOM: write it as UTF-8 and Excel shows Chinese correctly)."""
    from cityshare.spreadsheet import defuse_cell

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([defuse_cell(v) for v in csv_row(e)] for e in entries)
    return "\ufeff" + buf.getvalue()


def to_json(entries: list[dict[str, Any]]) -> str:
    return json.dumps({"共享数据资源目录": entries}, ensure_ascii=False, indent=2)


def _zh(text: str | None) -> dict[str, str]:
    return {"@value": text or "", "@language": "zh"}


def _node(iri: str, rdf_type: str | list[str], **props: Any) -> dict[str, Any]:
    """A typed node: DCAT-AP checks the class of every vocabulary value, so the export states it."""
    return {"@id": iri, "@type": rdf_type, **props}


def area_codes(settings: Any = None) -> dict[str, str]:
    """GB/T 2260 district (区县) name → code, from the area code list in use (cityshare.code_lists: the list received
    from a higher instance, else the seed every area check uses)."""
    from cityshare.code_lists import code_list_path
    from cityshare.settings import get_settings

    with code_list_path(settings or get_settings(), "chongqing_areas").open(encoding="utf-8", newline="") as fh:
        return {row["name"]: row["code"] for row in csv.DictReader(fh)}


def _spatial(provider: str, areas: dict[str, str], base_url: str) -> dict[str, Any]:
    """The provider's area: a district office (南岸区南坪街道办事处) covers its district, others the city."""
    name = max((n for n in areas if provider.startswith(n)), key=len, default=None)
    code, label = (areas[name], name) if name else CITY_AREA
    return _node(f"{base_url}/area/{code}", "dct:Location", **{"dct:identifier": code, "skos:prefLabel": _zh(label)})


def _publisher(name: str, code: str | None, base_url: str) -> dict[str, Any]:
    iri = f"urn:uscc:{code}" if code else f"{base_url}/publisher/{name}"
    return _node(iri, "foaf:Agent", **{"foaf:name": _zh(name), **({"dct:identifier": code} if code else {})})


def _themes(e: dict[str, Any], base_url: str) -> list[dict[str, Any]]:
    """The directory class as a concept of the catalog's scheme, plus the EU data theme of its 项."""
    path = e["信息资源分类"]
    local = _node(f"{base_url}/classification/{path}", "skos:Concept",
                  **{"skos:prefLabel": _zh((e.get("分类") or {}).get("名称", path)), "skos:notation": path,
                     "skos:inScheme": {"@id": f"{base_url}/classification"}})
    theme = ITEM_EU_THEME.get("/".join(path.split("/")[:2]))
    if theme is None:
        return [local]
    return [local, _node(f"{EU}data-theme/{theme}", "skos:Concept", **{"skos:prefLabel": _zh(EU_THEME_LABELS[theme]),
                                                                         "skos:inScheme": {"@id": f"{EU}data-theme"}})]


def dcat_dataset(e: dict[str, Any], base_url: str, areas: dict[str, str], modified: Any = None,
                 listed: set[str] | None = None) -> dict[str, Any]:
    """One dcat:Dataset (DCAT-AP 3.0.1) for a directory entry; ``modified`` (a datetime, UTC) when its entry last
    changed, so a harvester can tell what is new. Its 上游资源 among the ``listed`` codes (DCAT-AP wants a
    dcat:Dataset there; harvested entries are listed too, so a chain across platforms stays whole) are ``dct:source``."""
    code = e["信息资源代码"]
    share = e["共享属性"]
    fmt = e["信息资源格式"]
    dataset_iri = f"{base_url}/directory/{code}"
    distribution: dict[str, Any] = {
        "@id": f"{dataset_iri}#distribution", "@type": "dcat:Distribution",
        "dct:title": _zh(f"{e['信息资源名称']}（{share.get('共享方式') or '共享平台'}）"),
        "dct:description": _zh("/".join(p for p in (fmt.get("格式分类"), fmt.get("格式类型")) if p)),
        "dcat:accessURL": {"@id": f"{base_url}/api/directory/{code}"},
    }
    file_type, media_type = FILE_TYPES.get((fmt.get("格式类型") or "").lower(), (None, None))
    if file_type:
        distribution["dct:format"] = _node(f"{EU}file-type/{file_type}", "dct:MediaTypeOrExtent")
    if media_type:
        distribution["dcat:mediaType"] = _node(IANA + media_type, ["dct:MediaType", "dct:MediaTypeOrExtent"])
    cycle = e.get("更新周期") or "其他"
    sharing = share.get("共享类型") or SharingType.NOT_SHARED
    provider = e["信息资源提供方"]
    dataset: dict[str, Any] = {
        "@id": dataset_iri, "@type": "dcat:Dataset",
        "dct:identifier": code,
        "dct:title": _zh(e["信息资源名称"]),
        "dct:description": _zh(e["信息资源摘要"]),
        "dct:publisher": _publisher(provider, e.get("提供方代码"), base_url),
        "dcat:contactPoint": _node(f"{dataset_iri}#contact", ["vcard:Kind", "vcard:Organization"],
                                   **{"vcard:fn": _zh(provider), "vcard:hasURL": {"@id": dataset_iri}}),
        "dcat:distribution": [distribution],
        "dcat:landingPage": _node(f"{base_url}/entry?code={quote(code, safe='')}", "foaf:Document"),
        "dct:accrualPeriodicity": _node(EU + "frequency/" + UPDATE_CYCLE_FREQUENCY.get(cycle, "OTHER"), "dct:Frequency",
                                        **{"skos:prefLabel": _zh(cycle)}),
        "dct:accessRights": _node(EU + "access-right/" + SHARING_ACCESS_RIGHT.get(sharing, "NON_PUBLIC"),
                                  "dct:RightsStatement", **{"skos:prefLabel": _zh(sharing)}),
        "dct:spatial": _spatial(provider, areas, base_url),
        "dct:language": _node(f"{EU}language/ZHO", "dct:LinguisticSystem"),
        "dcat:keyword": [_zh(k) for k in (e.get("关键词") or [])] or [_zh(e["信息资源名称"])],
        "dcat:theme": _themes(e, base_url),
        "cityshare:sharingType": share.get("共享类型") or "",
        "cityshare:openType": (e.get("开放属性") or {}).get("开放类型", ""),
    }
    if e.get("发布日期"):
        dataset["dct:issued"] = {"@value": e["发布日期"], "@type": "xsd:date"}
    if modified is not None:
        dataset["dct:modified"] = {"@value": modified.isoformat(timespec="seconds") + "Z", "@type": "xsd:dateTime"}
    if e.get("关联资源代码"):
        dataset["dct:relation"] = [{"@id": f"{base_url}/directory/{c}"} for c in e["关联资源代码"]]
    sources = [r["信息资源代码"] for r in (e.get("上游资源") or {}).get("资源") or []
               if listed is None or r["信息资源代码"] in listed]
    if sources:
        dataset["dct:source"] = [{"@id": f"{base_url}/directory/{c}"} for c in sources]
    return dataset


def dcat_document(entries: list[dict[str, Any]], base_url: str = "http://127.0.0.1:8000",
                  areas: dict[str, str] | None = None, settings: Any = None,
                  modified: dict[str, Any] | None = None) -> dict[str, Any]:
    """The catalog and every dataset as one DCAT-AP 3.0.1 JSON-LD document (conforms to the official shapes).

    The catalog's publisher and coverage are this instance's identity (cityshare.instance).
    """
    from cityshare.instance import instance
    from cityshare.settings import get_settings

    me = instance(settings or get_settings())
    areas = area_codes(settings) if areas is None else areas
    issued = sorted(e["发布日期"] for e in entries if e.get("发布日期"))
    listed = {e["信息资源代码"] for e in entries}
    catalog: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"{base_url}/directory", "@type": "dcat:Catalog",
        "dct:title": _zh("共享数据资源目录"),
        "dct:description": _zh("城市运行和治理中心（一网统管）政务数据共享资源目录，按《政务信息资源目录编制指南》编制。"),
        "dct:publisher": _node(f"urn:cityshare:instance:{me.area}", "foaf:Agent",
                               **{"foaf:name": _zh(me.name), "dct:identifier": me.area}),
        "foaf:homepage": _node(f"{base_url}/", "foaf:Document"),
        "dct:language": _node(f"{EU}language/ZHO", "dct:LinguisticSystem"),
        "dct:spatial": _node(f"{base_url}/area/{me.area}", "dct:Location",
                             **{"dct:identifier": me.area, "skos:prefLabel": _zh(me.area_name)}),
        "cityshare:instanceLevel": me.level,
        "dcat:themeTaxonomy": [
            _node(f"{base_url}/classification", "skos:ConceptScheme", **{"dct:title": _zh("信息资源分类")}),
            _node(f"{EU}data-theme", "skos:ConceptScheme", **{"dct:title": _zh("欧盟数据主题")}),
        ],
        "dct:conformsTo": _node("https://semiceu.github.io/DCAT-AP/releases/3.0.1/", "dct:Standard"),
        "dcat:dataset": [dcat_dataset(e, base_url, areas, (modified or {}).get(e["信息资源代码"]), listed)
                         for e in entries],
    }
    if issued:
        catalog["dct:modified"] = {"@value": issued[-1], "@type": "xsd:date"}
    return catalog


def to_dcat(entries: list[dict[str, Any]], base_url: str = "http://127.0.0.1:8000",
            areas: dict[str, str] | None = None, settings: Any = None) -> str:
    """DCAT-AP 3.0.1 as JSON-LD."""
    return json.dumps(dcat_document(entries, base_url, areas, settings), ensure_ascii=False, indent=2)


def to_dcat_turtle(entries: list[dict[str, Any]], base_url: str = "http://127.0.0.1:8000",
                   areas: dict[str, str] | None = None, settings: Any = None) -> str:
    """The same graph as Turtle (what most RDF harvesters and validators read first)."""
    from rdflib import Graph

    graph = Graph().parse(data=to_dcat(entries, base_url, areas, settings), format="json-ld")
    return graph.serialize(format="turtle")


def export(entries: list[dict[str, Any]], fmt: str, base_url: str = "http://127.0.0.1:8000",
           areas: dict[str, str] | None = None, settings: Any = None) -> tuple[str, str]:
    """``(text, encoding)`` of an export; ValueError names the allowed formats."""
    if fmt == "json":
        return to_json(entries), "utf-8"
    if fmt == "csv":
        return to_csv(entries), "utf-8"
    if fmt == "dcat":
        return to_dcat(entries, base_url, areas, settings), "utf-8"
    if fmt == "dcat-ttl":
        return to_dcat_turtle(entries, base_url, areas, settings), "utf-8"
    raise ValueError(f"--format {fmt!r}: must be json, csv, dcat (JSON-LD) or dcat-ttl (Turtle)")


def write_exports(settings: Any = None, base_url: str = "http://127.0.0.1:8000") -> list[str]:
    """Write directory.csv, directory.dcat.jsonld and directory.dcat.ttl next to directory.json (the directory DAG's step)."""
    from cityshare.directory.document import load_entries
    from cityshare.settings import get_settings

    settings = settings or get_settings()
    entries = load_entries(settings)
    areas = area_codes(settings)
    written = []
    for fmt, name in (("csv", "directory.csv"), ("dcat", "directory.dcat.jsonld"), ("dcat-ttl", "directory.dcat.ttl")):
        text, encoding = export(entries, fmt, base_url, areas, settings)
        path = settings.directory_dir / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding=encoding, newline="")
        tmp.replace(path)
        written.append(str(path))
    return written
