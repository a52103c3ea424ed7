"""The directory's DCAT-AP export conforms to the official DCAT-AP 3.0.1 SHACL shapes (pySHACL, RDFS inference).

The shapes are an unchanged copy of the SEMICeu release file (tests/reference/dcat-ap-3.0.1/, CC-BY 4.0).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pyshacl import validate
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS
from test_directory_support import built_home

from cityshare.directory.document import load_entries
from cityshare.directory.exporters import area_codes, dcat_document, to_dcat, to_dcat_turtle

SHAPES = Path(__file__).resolve().parents[1] / "reference" / "dcat-ap-3.0.1" / "dcat-ap-SHACL.ttl"
EU = "http://publications.europa.eu/resource/authority/"
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def shapes() -> Graph:
    return Graph().parse(SHAPES, format="turtle")


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    return load_entries(built_home(tmp_path_factory.getbasetemp()))


def _violations(data: Graph, shapes: Graph) -> list[str]:
    """Each SHACL result as 'focus path: message' (empty: the graph conforms)."""
    conforms, results, _ = validate(data, shacl_graph=shapes, inference="rdfs")
    sh = Namespace("http://www.w3.org/ns/shacl#")
    found = [f"{results.value(r, sh.focusNode)} {results.value(r, sh.resultPath)}: {results.value(r, sh.resultMessage)}"
             for r in results.subjects(RDF.type, sh.ValidationResult)]
    assert conforms == (found == [])
    return found


@pytest.mark.parametrize("fmt", ["json-ld", "turtle"])
def test_export_conforms_to_the_official_dcat_ap_shapes(entries, shapes, fmt):
    text = to_dcat(entries) if fmt == "json-ld" else to_dcat_turtle(entries)
    graph = Graph().parse(data=text, format=fmt)
    assert len(list(graph.subjects(RDF.type, DCAT.Dataset))) == len(entries) == 5
    assert _violations(graph, shapes) == []


def test_vocabulary_values_are_mapped_from_the_directory(entries):
    g = Graph().parse(data=to_dcat_turtle(entries), format="turtle")
    cases = URIRef(f"{BASE}/directory/{next(e['信息资源代码'] for e in entries if e['信息资源名称'] == '数字城管案件')}")
    # 更新周期 每日 → EU frequency DAILY; 共享类型 有条件共享 → access right RESTRICTED (both typed, labelled @zh)
    freq = g.value(cases, DCTERMS.accrualPeriodicity)
    assert freq == URIRef(EU + "frequency/DAILY") and (freq, RDF.type, DCTERMS.Frequency) in g
    assert g.value(freq, SKOS.prefLabel) == Literal("每日", lang="zh")
    rights = g.value(cases, DCTERMS.accessRights)
    assert rights == URIRef(EU + "access-right/RESTRICTED") and (rights, RDF.type, DCTERMS.RightsStatement) in g
    # the CSV source: EU file type and IANA media type as IRIs
    dist = g.value(cases, DCAT.distribution)
    assert g.value(dist, DCTERMS["format"]) == URIRef(EU + "file-type/CSV")
    assert g.value(dist, DCAT.mediaType) == URIRef("http://www.iana.org/assignments/media-types/text/csv")
    # publisher as a foaf:Agent named in Chinese, a contact point, the city as GB/T 2260 area, themes
    publisher = g.value(cases, DCTERMS.publisher)
    assert (publisher, RDF.type, FOAF.Agent) in g and g.value(publisher, FOAF.name) == Literal("重庆市城市管理局", lang="zh")
    assert g.value(g.value(cases, DCAT.contactPoint), VCARD.fn) == Literal("重庆市城市管理局", lang="zh")
    area = g.value(cases, DCTERMS.spatial)
    assert (area, RDF.type, DCTERMS.Location) in g and str(g.value(area, DCTERMS.identifier)) == "500000"
    themes = set(g.objects(cases, DCAT.theme))
    assert {URIRef(f"{BASE}/classification/3/01/001"), URIRef(EU + "data-theme/REGI")} == themes
    shared = {e["信息资源代码"]: e for e in entries if e["共享属性"]["共享类型"] == "无条件共享"}
    for code in shared:
        assert g.value(URIRef(f"{BASE}/directory/{code}"), DCTERMS.accessRights) == URIRef(EU + "access-right/PUBLIC")


def test_a_district_office_covers_its_district(entries, shapes):
    street = copy.deepcopy(entries[0])
    street["信息资源提供方"] = "南岸区南坪街道办事处"
    doc = dcat_document([street], BASE, area_codes())
    graph = Graph().parse(data=json.dumps(doc, ensure_ascii=False), format="json-ld")
    area = graph.value(URIRef(doc["dcat:dataset"][0]["@id"]), DCTERMS.spatial)
    assert str(graph.value(area, DCTERMS.identifier)) == "500108"
    assert graph.value(area, SKOS.prefLabel) == Literal("南岸区", lang="zh")
    assert _violations(graph, shapes) == []


def test_the_shapes_catch_a_plain_text_format(entries, shapes):
    """The check is not vacuous: dct:format as text (what the export once wrote) is a violation."""
    doc = dcat_document(entries[:1], BASE, area_codes())
    doc["dcat:dataset"][0]["dcat:distribution"][0]["dct:format"] = {"@value": "电子表格/csv", "@language": "zh"}
    found = _violations(Graph().parse(data=json.dumps(doc, ensure_ascii=False), format="json-ld"), shapes)
    assert found and all("http://purl.org/dc/terms/format" in f for f in found)
