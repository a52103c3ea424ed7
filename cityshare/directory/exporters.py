"""Directory exports: JSON, CSV in the 编制指南 template column order, DCAT-AP 3 JSON-LD.

Departments exchange the directory as spreadsheets, so the CSV follows the template's columns in
order, one row per resource with the items summarized, UTF-8 with a BOM so Excel opens it as UTF-8.
DCAT-AP is for catalogues outside the government network (and harvesters such as data portals).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

# 《政务信息资源目录编制指南（试行）》 template columns, in order.
CSV_COLUMNS = [
    "信息资源分类", "信息资源名称", "信息资源代码", "信息资源提供方", "信息资源提供方代码", "信息资源摘要",
    "信息资源格式", "信息项信息", "共享类型", "共享条件", "共享方式", "是否向社会开放", "开放条件",
    "更新周期", "发布日期", "关联资源代码",
]  # fmt: skip

FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
ACCESS_RIGHT = "http://publications.europa.eu/resource/authority/access-right/"
# 更新周期 → EU frequency vocabulary (DCAT-AP's controlled vocabulary for dct:accrualPeriodicity).
UPDATE_CYCLE_FREQUENCY = {"实时": "UPDATE_CONT", "每日": "DAILY", "每周": "WEEKLY", "每月": "MONTHLY",
                          "每季度": "QUARTERLY", "每半年": "ANNUAL_2", "每年": "ANNUAL", "其他": "OTHER"}
# 共享类型 → EU access-right vocabulary: the directory's audience is government departments, so
# 无条件共享 (any department, no request) is PUBLIC to that audience, 有条件 RESTRICTED, 不予 NON_PUBLIC.
SHARING_ACCESS_RIGHT = {"无条件共享": "PUBLIC", "有条件共享": "RESTRICTED", "不予共享": "NON_PUBLIC"}
MEDIA_TYPES = {"csv": "text/csv", "json": "application/json", "xlsx": "application/vnd.openxmlformats-"
               "officedocument.spreadsheetml.sheet", "parquet": "application/vnd.apache.parquet"}
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
    from cityshare.share.exports import defuse_cell

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([defuse_cell(v) for v in csv_row(e)] for e in entries)
    return "\ufeff" + buf.getvalue()


def to_json(entries: list[dict[str, Any]]) -> str:
    return json.dumps({"共享数据资源目录": entries}, ensure_ascii=False, indent=2)


def _zh(text: str | None) -> dict[str, str]:
    return {"@value": text or "", "@language": "zh"}


def dcat_dataset(e: dict[str, Any], base_url: str) -> dict[str, Any]:
    """One dcat:Dataset (DCAT-AP 3) for a directory entry."""
    code = e["信息资源代码"]
    share = e["共享属性"]
    fmt = e["信息资源格式"]
    fmt_type = (fmt.get("格式类型") or "").lower()
    dataset_iri = f"{base_url}/directory/{code}"
    distribution: dict[str, Any] = {
        "@id": f"{dataset_iri}#distribution", "@type": "dcat:Distribution",
        "dct:title": _zh(f"{e['信息资源名称']}（{share.get('共享方式') or '共享平台'}）"),
        "dcat:accessURL": {"@id": f"{base_url}/api/directory/{code}"},
        "dct:format": _zh("/".join(p for p in (fmt.get("格式分类"), fmt.get("格式类型")) if p)),
    }
    if fmt_type in MEDIA_TYPES:
        distribution["dcat:mediaType"] = {"@id": f"https://www.iana.org/assignments/media-types/{MEDIA_TYPES[fmt_type]}"}
    dataset: dict[str, Any] = {
        "@id": dataset_iri, "@type": "dcat:Dataset",
        "dct:identifier": code,
        "dct:title": _zh(e["信息资源名称"]),
        "dct:description": _zh(e["信息资源摘要"]),
        "dct:publisher": {"@id": f"urn:uscc:{e.get('提供方代码')}", "@type": "foaf:Agent",
                          "foaf:name": _zh(e["信息资源提供方"]), "dct:identifier": e.get("提供方代码") or ""},
        "dcat:distribution": [distribution],
        "dct:accrualPeriodicity": {"@id": FREQUENCY + UPDATE_CYCLE_FREQUENCY.get(e.get("更新周期") or "", "OTHER")},
        "dct:accessRights": {"@id": ACCESS_RIGHT + SHARING_ACCESS_RIGHT.get(share.get("共享类型") or "", "NON_PUBLIC")},
        "dcat:keyword": [_zh(k) for k in (e.get("关键词") or [])] or [_zh(e["信息资源名称"])],
        "dcat:theme": {"@id": f"urn:cityshare:classification:{e['信息资源分类']}", "@type": "skos:Concept",
                       "skos:prefLabel": _zh((e.get("分类") or {}).get("名称", e["信息资源分类"]))},
        "cityshare:sharingType": share.get("共享类型") or "",
        "cityshare:openType": (e.get("开放属性") or {}).get("开放类型", ""),
    }
    if e.get("发布日期"):
        dataset["dct:issued"] = {"@value": e["发布日期"], "@type": "xsd:date"}
    if e.get("关联资源代码"):
        dataset["dct:relation"] = [{"@id": f"{base_url}/directory/{c}"} for c in e["关联资源代码"]]
    return dataset


def to_dcat(entries: list[dict[str, Any]], base_url: str = "http://127.0.0.1:8000") -> str:
    """The catalog and every dataset as one DCAT-AP 3 JSON-LD document."""
    doc = {
        "@context": CONTEXT,
        "@id": f"{base_url}/directory", "@type": "dcat:Catalog",
        "dct:title": _zh("共享数据资源目录"),
        "dct:description": _zh("城市运行和治理中心（一网统管）政务数据共享资源目录，按《政务信息资源目录编制指南》编制。"),
        "dct:publisher": {"@id": "urn:cityshare:publisher:cyzx", "@type": "foaf:Agent",
                          "foaf:name": _zh("重庆市城市运行和治理中心")},
        "dct:conformsTo": {"@id": "https://semiceu.github.io/DCAT-AP/releases/3.0.0/"},
        "dcat:dataset": [dcat_dataset(e, base_url) for e in entries],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def export(entries: list[dict[str, Any]], fmt: str, base_url: str = "http://127.0.0.1:8000") -> tuple[str, str]:
    """``(text, encoding)`` of an export; ValueError names the allowed formats."""
    if fmt == "json":
        return to_json(entries), "utf-8"
    if fmt == "csv":
        return to_csv(entries), "utf-8"
    if fmt == "dcat":
        return to_dcat(entries, base_url), "utf-8"
    raise ValueError(f"--format {fmt!r}: must be json, csv or dcat")


def write_exports(settings: Any = None, base_url: str = "http://127.0.0.1:8000") -> list[str]:
    """Write directory.csv and directory.dcat.jsonld next to directory.json (the directory DAG's step)."""
    from cityshare.directory.builder import load_entries
    from cityshare.settings import get_settings

    settings = settings or get_settings()
    entries = load_entries(settings)
    written = []
    for fmt, name in (("csv", "directory.csv"), ("dcat", "directory.dcat.jsonld")):
        text, encoding = export(entries, fmt, base_url)
        path = settings.directory_dir / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding=encoding, newline="")
        tmp.replace(path)
        written.append(str(path))
    return written
