"""OpenMetadata publish: the real openmetadata-ingestion MetadataWorkflow against a stand-in server.

The stand-in (openmetadata_double.py) validates every body with openmetadata-ingestion's models and
keeps state; what is asserted here is what a user would look up in the OpenMetadata UI afterwards,
read back through the OpenMetadata client. No live OpenMetadata server is involved.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openmetadata_double import RunningDouble
from test_directory_support import built_home
from typer.testing import CliRunner

from cityshare.cli import app

SHARED = "cityshare.warehouse.shared.theme_city_cases__case"


def _jwt() -> str:
    """An (unsigned) JWT-shaped bot token: the client decodes it to log the bot's name."""
    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'sub': 'ingestion-bot', 'isBot': True})}.c2ln"


TOKEN = _jwt()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_home(tmp_path_factory.getbasetemp())


def _env(built) -> dict[str, str]:
    return {"CITYSHARE_HOME": str(built.project_root), "CITYSHARE_DATA_DIR": str(built.data_dir)}


def _publish(built, url: str, token: str = TOKEN):
    return CliRunner().invoke(app, ["directory", "publish", "--openmetadata", url, "--token", token], env=_env(built))


def _client(url: str):
    from metadata.generated.schema.entity.services.connections.metadata.openMetadataConnection import (
        AuthProvider,
        OpenMetadataConnection,
    )
    from metadata.generated.schema.security.client.openMetadataJWTClientConfig import OpenMetadataJWTClientConfig
    from metadata.ingestion.ometa.ometa_api import OpenMetadata

    return OpenMetadata(OpenMetadataConnection(hostPort=url, authProvider=AuthProvider.openmetadata,
                                               securityConfig=OpenMetadataJWTClientConfig(jwtToken=TOKEN)))


def _snapshot(server) -> dict[str, tuple[str, float]]:
    return {f"{c}:{name}": (e["id"], e["version"]) for c, items in server.state.entities.items()
            for name, e in items.items()}


@pytest.fixture(scope="module")
def published(built):
    """Two runs against one stand-in server: the CLI, then the directory DAG's task function.

    Yields (double, snapshot after run 1, (lineage edges, test results) after run 1).
    """
    from cityshare.directory.sinks.openmetadata import push_if_configured

    with RunningDouble(TOKEN) as om:
        first = _publish(built, om.url)
        assert first.exit_code == 0, first.output
        after_first = _snapshot(om.server)
        edges_first, results_first = len(om.server.state.lineage), sum(map(len, om.server.state.results.values()))
        # what the compose stack sets for the Airflow workers (CITYSHARE_OPENMETADATA_URL / _TOKEN)
        second = push_if_configured(dataclasses.replace(built, openmetadata_url=om.url, openmetadata_token=TOKEN))
        assert second["pushed"]["sink_records"] > 0
        yield om, after_first, (edges_first, results_first)


def test_tables_columns_owners_and_tags_are_there(published, built):
    from metadata.generated.schema.entity.data.table import Table

    from cityshare.directory.document import load_entries

    om, _, _ = published
    client = _client(om.url)
    table = client.get_by_name(entity=Table, fqn=SHARED, fields=["*"])
    assert table is not None and table.fullyQualifiedName.root == SHARED
    assert table.databaseSchema.fullyQualifiedName == "cityshare.warehouse.shared"
    assert table.service.name == "cityshare" and table.database.name == "warehouse"
    assert [o.name for o in table.owners.root] == ["cgj"] and table.owners.root[0].type == "team"
    assert "共享类型.有条件共享" in {t.tagFQN.root for t in table.tags}
    cols = {c.name.root: c for c in table.columns}
    assert cols["case_id"].fullyQualifiedName.root == f"{SHARED}.case_id"
    assert cols["case_id"].description.root == "案件编号"
    assert {t.tagFQN.root for t in cols["reporter_phone"].tags} == {"个人信息.已脱敏"}
    assert {t.tagFQN.root for t in cols["reporter_token"].tags} == {"个人信息.令牌"}
    raw = client.get_by_name(entity=Table, fqn="cityshare.warehouse.raw.cgj__city_cases")
    assert {t.tagFQN.root for t in {c.name.root: c for c in raw.columns}["reporter_phone"].tags} == {"个人信息.明文"}
    # every directory entry's table is in OpenMetadata, with its 编制指南 fields as custom properties
    for entry in load_entries(built):
        found = client.get_by_name(entity=Table, fqn=f"cityshare.warehouse.{entry['table']}", fields=["extension"])
        assert found is not None, entry["table"]
        assert found.extension.root["resourceCode"] == entry["信息资源代码"]
        assert found.extension.root["sharingType"] == entry["共享属性"]["共享类型"]
    declared = {p["name"]: p for p in client.get_entity_custom_properties(Table)}
    assert declared["resourceCode"]["displayName"] == "信息资源代码"
    assert declared["resourceCode"]["propertyType"]["name"] == "string"
    assert om.server.state.unknown == []


def test_classifications_and_glossary(published, built):
    from metadata.generated.schema.entity.classification.tag import Tag
    from metadata.generated.schema.entity.data.glossaryTerm import GlossaryTerm

    om, _, _ = published
    client = _client(om.url)
    for fqn in ("共享类型.无条件共享", "共享类型.有条件共享", "共享类型.不予共享", "个人信息.令牌"):
        assert client.get_by_name(entity=Tag, fqn=fqn) is not None, fqn
    glossary = yaml.safe_load((built.catalog_dir / "glossary.yml").read_text(encoding="utf-8"))
    terms = om.server.state.entities["glossaryTerms"]
    assert len(terms) == len(glossary["terms"])
    name = glossary["glossary"]["name"]
    child = next(t for t in glossary["terms"] if t.get("parent"))
    assert client.get_by_name(entity=GlossaryTerm, fqn=f"{name}.{child['parent']}.{child['name']}") is not None


def test_lineage_edges_with_column_lineage(published):
    from metadata.generated.schema.entity.data.table import Table

    om, _, _ = published
    client = _client(om.url)
    lineage = client.get_lineage_by_name(entity=Table, fqn="cityshare.warehouse.standard.stg_cgj__city_cases")
    ids = {n["id"]: n["fullyQualifiedName"] for n in lineage["nodes"]}
    upstream = [e for e in lineage["upstreamEdges"] if ids[e["fromEntity"]] == "cityshare.warehouse.raw.cgj__city_cases"]
    assert len(upstream) == 1
    token = next(c for c in upstream[0]["lineageDetails"]["columnsLineage"] if c["toColumn"].endswith(".reporter_token"))
    assert token["fromColumns"] == ["cityshare.warehouse.raw.cgj__city_cases.reporter_phone"]
    shared = client.get_lineage_by_name(entity=Table, fqn="cityshare.warehouse.shared.collab_storefront_order__street_day")
    assert {n["fullyQualifiedName"] for n in shared["nodes"]} >= {
        "cityshare.warehouse.collab.collab_storefront_order__street_day"}


def test_quality_results_are_test_cases_with_results(published, built):
    from metadata.generated.schema.tests.testCase import TestCase

    from cityshare.warehouse import connect

    om, _, _ = published
    client = _client(om.url)
    cases = om.server.state.entities["dataQuality/testCases"]
    with connect(built, read_only=True) as con:
        (expected,) = con.execute("SELECT count(DISTINCT (dataset, rule)) FROM meta.quality_results").fetchone()
        failed_rules = {r for (r,) in con.execute(
            "SELECT rule FROM meta.quality_results QUALIFY row_number() OVER "
            "(PARTITION BY dataset, rule ORDER BY checked_at DESC) = 1 AND NOT success").fetchall()}
    assert len(cases) == expected
    fqn = next(iter(cases))
    case = client.get_by_name(entity=TestCase, fqn=fqn)
    assert case.testSuite.fullyQualifiedName.endswith(".testSuite") and case.entityLink.root.startswith("<#E::table::")
    results = client.get_test_case_results(fqn, 0, 2**45)
    assert len(results) == 1 and results[0].testCaseStatus.value in {"Success", "Failed"}
    statuses = {c["name"]: c["testCaseStatus"] for c in cases.values()}
    assert set(statuses.values()) <= {"Success", "Failed"} and "Success" in statuses.values()
    assert {n for n, s in statuses.items() if s == "Failed"} <= {r.replace(".", "_") for r in failed_rules}


def test_second_run_changes_nothing(published):
    om, after_first, (edges, results) = published
    assert _snapshot(om.server) == after_first  # same ids, no version bump
    assert len(om.server.state.lineage) == edges
    assert sum(map(len, om.server.state.results.values())) == results


def test_the_dag_task_skips_without_a_server_and_refuses_a_url_without_token(built, monkeypatch):
    from cityshare.directory.sinks.openmetadata import push_if_configured
    from cityshare.errors import CityShareError
    from cityshare.settings import get_settings

    unset = dataclasses.replace(built, openmetadata_url="", openmetadata_token="")
    assert "skipped" in push_if_configured(unset)
    monkeypatch.setenv("CITYSHARE_OPENMETADATA_URL", "http://127.0.0.1:9/api")  # as a worker's environment sets it
    monkeypatch.delenv("CITYSHARE_OPENMETADATA_TOKEN", raising=False)
    configured = get_settings()
    assert (configured.openmetadata_url, configured.openmetadata_token) == ("http://127.0.0.1:9/api", "")
    with pytest.raises(CityShareError, match="CITYSHARE_OPENMETADATA_TOKEN"):
        push_if_configured(dataclasses.replace(unset, openmetadata_url=configured.openmetadata_url))


def test_wrong_token_and_other_server_version_are_one_line_errors(built):
    with RunningDouble(TOKEN) as om:
        bad = _publish(built, om.url, token=_jwt().replace("c2ln", "eHh4"))
        assert bad.exit_code != 0 and "Traceback" not in bad.output and "Not authorized" in bad.output
        assert om.server.state.entities == {}
    with RunningDouble(TOKEN, version="1.9.7") as om:  # the compose file's old server
        old = _publish(built, om.url)
        assert old.exit_code != 0 and "Traceback" not in old.output
        assert "VersionMismatch" in old.output and "1.9.7" in old.output and om.server.state.entities == {}


def test_invalid_body_is_refused_like_the_server(published):
    import requests

    om, _, _ = published
    resp = requests.put(f"{om.url}/v1/tables", json={"name": "t", "databaseSchema": "cityshare.warehouse.shared"},
                        headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert resp.status_code == 400 and "columns" in resp.json()["message"]


def test_metadata_ingest_runs_the_written_workflow(built, tmp_path):
    """What a data engineer schedules: the YAML from `--workflow-file`, run by openmetadata's CLI."""
    path = tmp_path / "openmetadata.yaml"
    with RunningDouble(TOKEN) as om:
        result = CliRunner().invoke(app, ["directory", "publish", "--openmetadata", om.url,
                                          "--workflow-file", str(path)], env=_env(built))
        assert result.exit_code == 0, result.output
        text = path.read_text(encoding="utf-8")
        assert TOKEN not in text and "${CITYSHARE_OPENMETADATA_TOKEN}" in text
        env = os.environ | _env(built) | {"CITYSHARE_OPENMETADATA_TOKEN": TOKEN}
        run = subprocess.run([str(Path(sys.executable).parent / "metadata"), "ingest", "-c", str(path)],
                             env=env, capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert SHARED in om.server.state.entities["tables"]
        assert om.server.state.lineage and om.server.state.unknown == []
