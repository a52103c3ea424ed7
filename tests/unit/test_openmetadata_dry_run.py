"""OpenMetadata dry run: every written request parses back with openmetadata-ingestion's own model.

The same requests the workflow's custom source yields (test_openmetadata_workflow.py runs that
workflow against a stand-in server); here every payload is checked offline against its model.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from test_directory_support import built_home

from cityshare.directory.document import load_entries


@pytest.fixture(scope="module")
def dry(built, tmp_path_factory):
    from typer.testing import CliRunner

    from cityshare.cli import app

    out = tmp_path_factory.mktemp("om")
    env = {"CITYSHARE_HOME": str(built.project_root), "CITYSHARE_DATA_DIR": str(built.data_dir)}
    result = CliRunner().invoke(app, ["directory", "publish", "--dry-run", str(out)], env=env)
    assert result.exit_code == 0, result.output
    return sorted(out.glob("*.json"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_home(tmp_path_factory.getbasetemp())


def _parsed(files):
    from cityshare.directory.sinks.openmetadata import models

    classes = models()
    out = []
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        out.append((doc, classes[doc["model"]].model_validate(doc["body"])))
    return out


def test_every_file_parses_with_its_openmetadata_model(dry):
    parsed = _parsed(dry)
    assert len(parsed) == len(dry) > 0
    for doc, model in parsed:
        assert type(model).__name__ == doc["model"]
        # a round trip keeps the payload: nothing was silently dropped by the model
        assert json.loads(model.model_dump_json(exclude_none=True)) == doc["body"]
    kinds = Counter(doc["model"] for doc, _ in parsed)
    for kind in ("CreateDatabaseServiceRequest", "CreateDatabaseRequest", "CreateDatabaseSchemaRequest",
                 "CreateTableRequest", "CreateTeamRequest", "CreateClassificationRequest", "CreateTagRequest",
                 "CreateGlossaryRequest", "CreateGlossaryTermRequest", "AddLineageRequest", "CreateTestCaseRequest",
                 "CreateTestCaseResult"):
        assert kinds[kind] > 0, kind
    assert kinds["CreateTestCaseRequest"] == kinds["CreateTestCaseResult"]


def test_tables_carry_owners_sharing_and_pii_tags_and_column_types(dry, built):
    tables = {m.name.root: m for doc, m in _parsed(dry) if doc["model"] == "CreateTableRequest"
              if m.databaseSchema.root.endswith((".shared", ".raw"))}
    entries = load_entries(built)
    assert {e["table"].split(".")[1] for e in entries} <= set(tables)
    cases = tables["theme_city_cases__case"]
    assert [o.fullyQualifiedName for o in cases.owners.root] == ["cgj"]
    assert "共享类型.有条件共享" in {t.tagFQN.root for t in cases.tags}
    cols = {c.name.root: c for c in cases.columns}
    assert {t.tagFQN.root for t in cols["reporter_phone"].tags} == {"个人信息.已脱敏"}
    assert {t.tagFQN.root for t in cols["reporter_token"].tags} == {"个人信息.令牌"}
    assert cols["handling_hours"].dataType.value == "DOUBLE" and cols["is_closed"].dataType.value == "BOOLEAN"
    assert cols["case_id"].description.root == "案件编号"
    raw = {c.name.root: c for c in tables["cgj__city_cases"].columns}
    assert {t.tagFQN.root for t in raw["reporter_phone"].tags} == {"个人信息.明文"}


def test_lineage_requests_carry_column_lineage(dry):
    edges = [m.edge for doc, m in _parsed(dry) if doc["model"] == "AddLineageRequest"]
    by_pair = {(e.fromEntity.fullyQualifiedName, e.toEntity.fullyQualifiedName): e for e in edges}
    edge = by_pair[("cityshare.warehouse.raw.cgj__city_cases", "cityshare.warehouse.standard.stg_cgj__city_cases")]
    token = next(c for c in edge.lineageDetails.columnsLineage if c.toColumn.root.endswith(".reporter_token"))
    assert [f.root for f in token.fromColumns] == ["cityshare.warehouse.raw.cgj__city_cases.reporter_phone"]
    assert ("cityshare.warehouse.collab.collab_storefront_order__street_day",
            "cityshare.warehouse.shared.collab_storefront_order__street_day") in by_pair


def test_quality_results_become_test_cases_with_results(dry, built):
    from cityshare.warehouse import connect

    parsed = _parsed(dry)
    cases = [m for doc, m in parsed if doc["model"] == "CreateTestCaseRequest"]
    results = [(doc, m) for doc, m in parsed if doc["model"] == "CreateTestCaseResult"]
    with connect(built, read_only=True) as con:
        (expected,) = con.execute("SELECT count(DISTINCT (dataset, rule)) FROM meta.quality_results").fetchone()
    assert len(cases) == expected
    assert all(c.entityLink.root.startswith("<#E::table::cityshare.warehouse.") for c in cases)
    statuses = {m.testCaseStatus.value for _, m in results}
    assert statuses <= {"Success", "Failed"} and "Success" in statuses
    assert all("/testCaseResults/cityshare.warehouse." in doc["path"] for doc, _ in results)
