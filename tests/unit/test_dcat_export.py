"""Exports: DCAT-AP 3 JSON-LD parsed with rdflib, the 编制指南 CSV, and the CLI that writes them."""

from __future__ import annotations

import csv
import io
import json

import pytest
from test_directory_support import built_home

from cityshare.directory.document import load_entries
from cityshare.directory.exporters import CSV_COLUMNS, to_csv, to_dcat

FREQ = "http://publications.europa.eu/resource/authority/frequency/"
ACCESS = "http://publications.europa.eu/resource/authority/access-right/"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_home(tmp_path_factory.getbasetemp())


def test_dcat_json_ld_parses_and_every_dataset_has_the_dcat_ap_properties(built):
    from rdflib import RDF, Graph, Namespace
    from rdflib.namespace import DCAT, DCTERMS

    entries = load_entries(built)
    g = Graph().parse(data=to_dcat(entries), format="json-ld")
    catalogs = list(g.subjects(RDF.type, DCAT.Catalog))
    datasets = list(g.subjects(RDF.type, DCAT.Dataset))
    assert len(catalogs) == 1 and len(datasets) == len(entries) == 5
    assert set(g.objects(catalogs[0], DCAT.dataset)) == set(datasets)
    by_code = {e["信息资源代码"]: e for e in entries}
    foaf = Namespace("http://xmlns.com/foaf/0.1/")
    for ds in datasets:
        for prop in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCAT.distribution,
                     DCTERMS.accrualPeriodicity, DCTERMS.accessRights, DCAT.keyword, DCTERMS.identifier):
            assert g.value(ds, prop) is not None, (ds, prop)
        entry = by_code[str(g.value(ds, DCTERMS.identifier))]
        assert str(g.value(ds, DCTERMS.title)) == entry["信息资源名称"]
        assert str(g.value(ds, DCTERMS.accrualPeriodicity)) == FREQ + "DAILY"  # every contract is 每日
        access = {"无条件共享": "PUBLIC", "有条件共享": "RESTRICTED"}[entry["共享属性"]["共享类型"]]
        assert str(g.value(ds, DCTERMS.accessRights)) == ACCESS + access
        publisher = g.value(ds, DCTERMS.publisher)
        assert str(g.value(publisher, foaf.name)) == entry["信息资源提供方"]
        dist = g.value(ds, DCAT.distribution)
        assert (dist, RDF.type, DCAT.Distribution) in g and g.value(dist, DCAT.accessURL) is not None


def test_csv_follows_the_template_columns_with_bom_one_row_per_resource(built):
    entries = load_entries(built)
    text = to_csv(entries)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == CSV_COLUMNS and len(rows) == len(entries) + 1
    header = rows[0]
    for row, e in zip(rows[1:], entries, strict=True):
        got = dict(zip(header, row, strict=True))
        assert got["信息资源代码"] == e["信息资源代码"] and got["信息资源名称"] == e["信息资源名称"]
        assert got["共享类型"] == e["共享属性"]["共享类型"] and got["更新周期"] == "每日"
        assert got["信息项信息"].count("；") == len(e["信息项信息"]) - 1
    storefront = next(dict(zip(header, r, strict=True)) for r in rows[1:] if r[1] == "门前三包店外经营街道日统计")
    assert "统计日期(stat_date,D)" in storefront["信息项信息"]
    assert storefront["信息资源分类"].startswith("2/10/001 主题信息资源")


def test_cli_exports_each_format_and_rejects_unknown(built, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cityshare.cli import app

    monkeypatch.setenv("CITYSHARE_HOME", str(built.project_root))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(built.data_dir))
    runner = CliRunner()
    for fmt in ("json", "csv", "dcat", "dcat-ttl"):
        out = tmp_path / f"directory.{fmt}"
        result = runner.invoke(app, ["directory", "export", "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "directory.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(json.loads((tmp_path / "directory.json").read_text(encoding="utf-8"))["共享数据资源目录"]) == 5
    assert json.loads((tmp_path / "directory.dcat").read_text(encoding="utf-8"))["@type"] == "dcat:Catalog"
    assert "a dcat:Catalog" in (tmp_path / "directory.dcat-ttl").read_text(encoding="utf-8")
    bad = runner.invoke(app, ["directory", "export", "--format", "xml"])
    assert bad.exit_code == 2 and "json, csv, dcat (JSON-LD) or dcat-ttl (Turtle)" in bad.output
