"""OpenMetadata sink: the directory, its lineage and the gate's results as OpenMetadata entities.

Built with openmetadata-ingestion 2.0.7's own request models (imported inside functions: they take
5–10 s): a CustomDatabase service, the warehouse database and its schemas, tables with column types
and descriptions, departments as teams owning their tables, a 共享类型 classification and a 个人信息
classification tagging tables and columns, a glossary of directory terms (catalog/glossary.yml), the
编制指南 fields as table custom properties, table + column lineage (AddLineageRequest), and
meta.quality_results as test cases + results.

``dry_run(dir)`` writes one JSON file per request. ``run_workflow(url, token)`` publishes them the way
OpenMetadata's users ingest: openmetadata-ingestion's ``MetadataWorkflow`` runs the custom source
``openmetadata_source.CityShareSource`` into the framework's ``metadata-rest`` sink; ``write_workflow``
writes the same workflow as YAML for ``metadata ingest -c``. Tested against a stand-in server
(tests/unit/openmetadata_double.py), never against a live OpenMetadata.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityshare.directory.document import load_entries
from cityshare.lineage import load_lineage
from cityshare.settings import Settings, get_settings

_DUCKDB_TYPES = [("VARCHAR", "STRING"), ("BIGINT", "BIGINT"), ("HUGEINT", "BIGINT"), ("INTEGER", "INT"),
                 ("SMALLINT", "SMALLINT"), ("DOUBLE", "DOUBLE"), ("FLOAT", "FLOAT"), ("DECIMAL", "DECIMAL"),
                 ("TIMESTAMP", "TIMESTAMP"), ("DATE", "DATE"), ("BOOLEAN", "BOOLEAN"), ("JSON", "JSON")]
_LETTER_TYPES = {"C": "STRING", "I": "BIGINT", "N": "NUMERIC", "B": "DOUBLE", "F": "FLOAT", "D": "DATE",
                 "T": "TIMESTAMP", "L": "BOOLEAN", "M": "TEXT", "Y": "DECIMAL", "G": "BLOB"}
PII_TAGS = {"pii": ("明文", "个人信息明文（仅原始库）"), "pii-masked": ("已脱敏", "个人信息已按项目规则脱敏"),
            "pii-token": ("令牌", "个人信息经城市密钥 HMAC 令牌化")}
DIMENSIONS = {"completeness": "Completeness", "accuracy": "Accuracy", "consistency": "Consistency",
              "conformity": "Validity", "uniqueness": "Uniqueness", "timeliness": "NoDimension"}
# request model → (HTTP method, API path) the OpenMetadata client uses for it (documentation in dry runs)
ENDPOINTS = {
    "CreateDatabaseServiceRequest": ("PUT", "/v1/services/databaseServices"),
    "CreateDatabaseRequest": ("PUT", "/v1/databases"),
    "CreateDatabaseSchemaRequest": ("PUT", "/v1/databaseSchemas"),
    "CreateTableRequest": ("PUT", "/v1/tables"),
    "CreateTeamRequest": ("PUT", "/v1/teams"),
    "CreateClassificationRequest": ("PUT", "/v1/classifications"),
    "CreateTagRequest": ("PUT", "/v1/tags"),
    "CreateGlossaryRequest": ("PUT", "/v1/glossaries"),
    "CreateGlossaryTermRequest": ("PUT", "/v1/glossaryTerms"),
    "AddLineageRequest": ("PUT", "/v1/lineage"),
    "CreateTestDefinitionRequest": ("PUT", "/v1/dataQuality/testDefinitions"),
    "CreateTestCaseRequest": ("PUT", "/v1/dataQuality/testCases"),
    "CreateTestCaseResult": ("POST", "/v1/dataQuality/testCases/testCaseResults/{fqn}"),
    "CreateCustomPropertyRequest": ("PUT", "/v1/metadata/types/{fqn}"),  # the id of the type named there
}
# 共享数据资源目录 fields as custom properties of OpenMetadata tables: name, 中文 display name, entry path
CATALOG_PROPERTIES = [
    ("resourceCode", "信息资源代码", ("信息资源代码",)), ("resourceCategory", "信息资源分类", ("信息资源分类",)),
    ("catalogView", "目录视图", ("目录视图",)), ("provider", "信息资源提供方", ("信息资源提供方",)),
    ("providerCode", "提供方代码", ("提供方代码",)), ("updateCycle", "更新周期", ("更新周期",)),
    ("sharingType", "共享类型", ("共享属性", "共享类型")), ("sharingCondition", "共享条件", ("共享属性", "共享条件")),
    ("sharingMethod", "共享方式", ("共享属性", "共享方式")), ("openType", "开放类型", ("开放属性", "开放类型")),
    ("releaseDate", "发布日期", ("发布日期",)), ("contractVersion", "契约版本", ("契约版本",)),
]


def catalog_extension(entry: dict[str, Any]) -> dict[str, str]:
    """The entry's 编制指南 fields as a table's custom property values (empty ones left out)."""
    out = {}
    for name, _, path in CATALOG_PROPERTIES:
        value: Any = entry
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value not in (None, ""):
            out[name] = str(value)
    return out

Ref = Callable[[str, str], Any]  # (entity type, fully qualified name) → EntityReference


@dataclass
class Request:
    """One request to send: the model instance and, for results, the test case it belongs to."""

    model: Any
    target: str = ""  # test case FQN for CreateTestCaseResult
    flush: bool = False  # no request: everything sent so far must be committed before going on

    @property
    def kind(self) -> str:
        return type(self.model).__name__


def _config(settings: Settings) -> dict[str, Any]:
    return yaml.safe_load((settings.catalog_dir / "openmetadata.yml").read_text(encoding="utf-8"))


def placeholder_ref(entity_type: str, fqn: str) -> Any:
    """Dry-run reference: a stable uuid5 stands in for the id the server would return."""
    from metadata.generated.schema.type.entityReference import EntityReference

    return EntityReference(id=uuid.uuid5(uuid.NAMESPACE_URL, f"{entity_type}:{fqn}"), type=entity_type,
                           fullyQualifiedName=fqn)


def _om_type(duckdb_type: str) -> str:
    upper = duckdb_type.upper()
    return next((om for prefix, om in _DUCKDB_TYPES if upper.startswith(prefix)), "UNKNOWN")


def _name(text: str) -> str:
    """An OpenMetadata EntityName/FQN part: no dots or quotes inside names."""
    return re.sub(r"[.\"']", "_", text)


def _table_columns(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """``schema.table`` → [(column, duckdb type)] from the warehouse (read-only)."""
    from cityshare.warehouse import connect

    out: dict[str, list[tuple[str, str]]] = {}
    if not settings.warehouse_path.exists():
        return out
    with connect(settings, read_only=True) as con:
        for schema, table, column, dtype in con.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema NOT IN ('directory', 'meta', 'information_schema', 'pg_catalog') "
            "ORDER BY table_schema, table_name, ordinal_position"
        ).fetchall():
            out.setdefault(f"{schema}.{table}", []).append((column, dtype))
    return out


def _quality_results(settings: Settings) -> list[dict[str, Any]]:
    """The latest result of every rule of every dataset (gate for sources, audit for published)."""
    from cityshare.meta.quality import latest_rule_results
    from cityshare.warehouse import connect

    if not settings.warehouse_path.exists():
        return []
    with connect(settings, read_only=True) as con:
        rows = latest_rule_results(con)
    keys = ("dataset", "rule", "level", "column", "dimension", "description", "evaluated", "failed", "success",
            "error", "checked_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def build_requests(settings: Settings | None = None, ref: Ref = placeholder_ref) -> Iterator[Request]:
    """Every request, in dependency order (teams and tags before tables, tables before lineage).

    Lazy on purpose: with a live client ``ref`` looks entities up, so they must exist by then.
    """
    from metadata.generated.schema.api.classification.createClassification import CreateClassificationRequest
    from metadata.generated.schema.api.classification.createTag import CreateTagRequest
    from metadata.generated.schema.api.data.createCustomProperty import CreateCustomPropertyRequest
    from metadata.generated.schema.api.data.createDatabase import CreateDatabaseRequest
    from metadata.generated.schema.api.data.createDatabaseSchema import CreateDatabaseSchemaRequest
    from metadata.generated.schema.api.data.createGlossary import CreateGlossaryRequest
    from metadata.generated.schema.api.data.createGlossaryTerm import CreateGlossaryTermRequest
    from metadata.generated.schema.api.data.createTable import CreateTableRequest
    from metadata.generated.schema.api.lineage.addLineage import AddLineageRequest
    from metadata.generated.schema.api.services.createDatabaseService import CreateDatabaseServiceRequest
    from metadata.generated.schema.api.teams.createTeam import CreateTeamRequest
    from metadata.generated.schema.api.tests.createTestCase import CreateTestCaseRequest
    from metadata.generated.schema.api.tests.createTestCaseResult import CreateTestCaseResult
    from metadata.generated.schema.api.tests.createTestDefinition import CreateTestDefinitionRequest
    from metadata.generated.schema.entity.data.table import Column, DataType
    from metadata.generated.schema.entity.services.connections.database.customDatabaseConnection import (
        CustomDatabaseConnection,
    )
    from metadata.generated.schema.entity.services.databaseService import (
        DatabaseConnection,
        DatabaseServiceType,
    )
    from metadata.generated.schema.entity.teams.team import TeamType
    from metadata.generated.schema.tests.basic import TestCaseStatus, TestResultValue
    from metadata.generated.schema.tests.testCase import TestCaseParameterValue
    from metadata.generated.schema.tests.testDefinition import (
        DataQualityDimensions,
        EntityType,
        TestCaseParameterDefinition,
        TestPlatform,
    )
    from metadata.generated.schema.type.customProperty import PropertyType
    from metadata.generated.schema.type.entityLineage import ColumnLineage, EntitiesEdge, LineageDetails, Source
    from metadata.generated.schema.type.tagLabel import LabelType, State, TagLabel, TagSource

    from cityshare.departments import registry

    settings = settings or get_settings()
    cfg = _config(settings)
    service, database = cfg["service"]["name"], cfg["database"]["name"]
    sharing_cls, pii_cls = cfg["classifications"]["sharing"], cfg["classifications"]["pii"]
    entries = load_entries(settings)
    graph = load_lineage(settings)
    columns = _table_columns(settings)
    depts = registry(settings)

    def tag(fqn: str) -> Any:
        return TagLabel(tagFQN=fqn, source=TagSource.Classification, labelType=LabelType.Automated,
                        state=State.Confirmed)

    # -- service, database, teams, classifications, glossary ---------------------------------------
    yield Request(CreateDatabaseServiceRequest(
        name=service, displayName=cfg["service"]["displayName"], description=cfg["service"]["description"],
        serviceType=DatabaseServiceType.CustomDatabase,
        connection=DatabaseConnection(config=CustomDatabaseConnection(
            type="CustomDatabase", sourcePythonClass=cfg["service"]["sourcePythonClass"])),
    ))
    yield Request(CreateDatabaseRequest(name=database, service=service, description=cfg["database"]["description"]))
    for slug, dept in sorted(depts.items()):
        yield Request(CreateTeamRequest(name=slug, displayName=dept["name"], teamType=TeamType.Department,
                                        description=f"{dept['name']}（统一社会信用代码 {dept['provider_code']}）"))
    yield Request(CreateClassificationRequest(name=sharing_cls, description="编制指南共享类型（无条件/有条件/不予共享）",
                                              mutuallyExclusive=True))
    sharing_tags = (("无条件共享", "所有政务部门可获取"), ("有条件共享", "申请并经提供方审批"),
                    ("不予共享", "仅提供方，须有法律依据"))
    for kind, text in sharing_tags:
        yield Request(CreateTagRequest(classification=sharing_cls, name=kind, description=text))
    yield Request(CreateClassificationRequest(name=pii_cls, description="个人信息分级（GB/T 35273 去标识化）",
                                              mutuallyExclusive=True))
    for name, text in PII_TAGS.values():
        yield Request(CreateTagRequest(classification=pii_cls, name=name, description=text))
    glossary = yaml.safe_load((settings.catalog_dir / "glossary.yml").read_text(encoding="utf-8"))
    gname = glossary["glossary"]["name"]
    yield Request(CreateGlossaryRequest(name=gname, description=glossary["glossary"]["description"]))
    for term in glossary["terms"]:
        parent = f"{gname}.{term['parent']}" if term.get("parent") else None
        yield Request(CreateGlossaryTermRequest(glossary=gname, parent=parent, name=term["name"],
                                                description=term["description"]))

    # -- the directory's fields as custom properties of tables (before any table carries them) -------
    string_type = ref("type", "string")
    for name, display, _ in CATALOG_PROPERTIES:
        yield Request(CreateCustomPropertyRequest(name=name, displayName=display, description=f"共享数据资源目录：{display}",
                                                  propertyType=PropertyType(string_type)), target="table")

    # -- schemas and tables --------------------------------------------------------------------------
    by_table = {e["table"]: e for e in entries}
    tables = sorted(set(columns) | set(by_table) | {n for n in graph.nodes})
    tables = [t for t in tables if t.count(".") == 1]
    for schema in sorted({t.split(".")[0] for t in tables}):
        yield Request(CreateDatabaseSchemaRequest(name=schema, database=f"{service}.{database}",
                                                  description=f"{schema} 层"))
    known: set[str] = set()  # tables actually sent: lineage and test cases may only point at these
    for table in tables:
        schema, name = table.split(".")
        entry = by_table.get(table)
        node = graph.nodes.get(table, {})
        items = {i["name"]: i for i in (entry or {}).get("信息项信息", [])}
        cols = columns.get(table) or [(i["name"], _LETTER_TYPES.get(i["数据类型"], "VARCHAR")) for i in items.values()]
        om_cols, table_pii = [], set()
        for col, dtype in cols:
            om = _om_type(dtype)
            item = items.get(col, {})
            pii = PII_TAGS.get(item.get("分级") or "")
            if pii:
                table_pii.add(pii[0])
            om_cols.append(Column(
                name=col, dataType=DataType(om), dataTypeDisplay=dtype.lower(),
                dataLength=item.get("数据长度") or None,
                description=item.get("信息项名称") or None,
                tags=[tag(f"{pii_cls}.{pii[0]}")] if pii else None))
        if not om_cols:  # in the lineage graph but not in the warehouse (e.g. an ephemeral model)
            continue
        known.add(table)
        tags = [tag(f"{pii_cls}.{p}") for p in sorted(table_pii)]
        owners = None
        if entry:
            tags.insert(0, tag(f"{sharing_cls}.{entry['共享属性']['共享类型']}"))
            owners = [ref("team", entry["department"])]
        description = (f"{entry['信息资源名称']}（信息资源代码 {entry['信息资源代码']}）：{entry['信息资源摘要']}"
                       if entry else f"{node.get('layer', schema)} · {name}")
        yield Request(CreateTableRequest(
            name=name, displayName=entry["信息资源名称"] if entry else None, description=description,
            databaseSchema=f"{service}.{database}.{schema}", columns=om_cols, tags=tags or None,
            owners=owners, extension=catalog_extension(entry) if entry else None))

    # -- lineage (references by id: the tables must be committed, so the workflow's sink flushes) --
    yield Request(None, flush=True)
    for (src, tgt), pairs in sorted(graph.edges.items()):
        if src not in known or tgt not in known:
            continue
        sfqn, tfqn = f"{service}.{database}.{src}", f"{service}.{database}.{tgt}"
        by_target: dict[str, list[str]] = {}
        for frm, to in pairs:
            by_target.setdefault(to, []).append(f"{sfqn}.{frm}")
        yield Request(AddLineageRequest(edge=EntitiesEdge(
            fromEntity=ref("table", sfqn), toEntity=ref("table", tfqn),
            lineageDetails=LineageDetails(
                source=Source.DbtLineage if graph.nodes[tgt]["kind"] != "shared" else Source.Manual,
                description="dbt manifest + sqlglot（DuckDB 方言）字段级血缘",
                columnsLineage=[ColumnLineage(fromColumns=sorted(froms), toColumn=f"{tfqn}.{to}")
                                for to, froms in sorted(by_target.items())] or None),
        )))

    # -- the gate's and the audit's results as test cases ------------------------------------------
    definition = cfg["testDefinition"]
    yield Request(CreateTestDefinitionRequest(
        name=definition, displayName="CityShare 契约质量规则", description="数据契约编译的 GX 规则（闸门/发布审计）",
        entityType=EntityType.TABLE, testPlatforms=[TestPlatform.GreatExpectations],
        parameterDefinition=[TestCaseParameterDefinition(name=n, description=d) for n, d in
                             (("rule", "规则名"), ("dimension", "GB/T 36344 维度"), ("stage", "闸门或审计"))],
        dataQualityDimension=DataQualityDimensions.NoDimension))
    by_key = {e.get("contract_key") or e["contract_id"]: e for e in entries}
    for r in _quality_results(settings):
        entry = by_key.get(r["dataset"])
        if entry is None or entry["table"] not in known:
            continue
        tfqn = f"{service}.{database}.{entry['table']}"
        link = f"<#E::table::{tfqn}>"
        case = _name(r["rule"])
        yield Request(CreateTestCaseRequest(
            name=case, displayName=r["description"], description=f"{r['description']}（{r['dimension']}）",
            testDefinition=definition, entityLink=link,
            parameterValues=[TestCaseParameterValue(name="rule", value=r["rule"]),
                             TestCaseParameterValue(name="dimension", value=r["dimension"] or ""),
                             TestCaseParameterValue(name="stage", value="audit" if entry["kind"] == "shared" else "gate")]))
        at = r["checked_at"] or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        yield Request(CreateTestCaseResult(
            timestamp=int(at.replace(tzinfo=dt.UTC).timestamp() * 1000),
            testCaseStatus=TestCaseStatus.Success if r["success"] else TestCaseStatus.Failed,
            result=f"{r['failed']}/{r['evaluated']} 行未通过" + (f"；{r['error']}" if r["error"] else ""),
            testResultValue=[TestResultValue(name="failedRows", value=str(r["failed"])),
                             TestResultValue(name="evaluatedRows", value=str(r["evaluated"]))],
        ), target=f"{tfqn}.{case}")


def dry_run(out_dir: Path, settings: Settings | None = None) -> list[Path]:
    """Write ``NNNN-<Model>.json`` per request: ``{"model", "method", "path", "body"}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    written = []
    for n, req in enumerate((r for r in build_requests(settings) if not r.flush), start=1):
        method, path = ENDPOINTS[req.kind]
        doc = {"model": req.kind, "method": method, "path": path.replace("{fqn}", req.target),
               "body": json.loads(req.model.model_dump_json(exclude_none=True))}
        target = out_dir / f"{n:04d}-{req.kind}.json"
        target.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
        written.append(target)
    return written


TOKEN_VARIABLE = "CITYSHARE_OPENMETADATA_TOKEN"


def workflow_config(url: str, token: str, settings: Settings | None = None) -> dict[str, Any]:
    """The ``metadata ingest`` workflow: CityShare's custom source → the framework's metadata-rest sink.

    ``token`` may be ``${CITYSHARE_OPENMETADATA_TOKEN}``: ``metadata ingest`` expands environment
    variables in the file, so a written YAML holds no secret.
    """
    settings = settings or get_settings()
    service = _config(settings)["service"]
    return {
        "source": {
            "type": "customDatabase",
            "serviceName": service["name"],
            "serviceConnection": {"config": {
                "type": "CustomDatabase", "sourcePythonClass": service["sourcePythonClass"],
                "connectionOptions": {"cityshareHome": str(settings.project_root),
                                      "cityshareDataDir": str(settings.data_dir)}}},
            "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {
            "loggerLevel": "WARN",
            "openMetadataServerConfig": {"hostPort": url, "authProvider": "openmetadata",
                                         "securityConfig": {"jwtToken": token}},
        },
    }


def write_workflow(path: Path, url: str, settings: Settings | None = None) -> Path:
    """Write the workflow YAML a data engineer runs with ``metadata ingest -c PATH`` (token from env)."""
    doc = workflow_config(url, "${" + TOKEN_VARIABLE + "}", settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# CityShare → OpenMetadata: openmetadata-ingestion MetadataWorkflow with the CityShare custom source.\n"
              f"# Run: {TOKEN_VARIABLE}=<ingestion-bot JWT> metadata ingest -c {path}\n")
    path.write_text(header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_workflow(url: str, token: str, settings: Settings | None = None) -> dict[str, Any]:
    """Run openmetadata-ingestion's ``MetadataWorkflow`` in-process; one-line error if any step failed."""
    from metadata.workflow.metadata import MetadataWorkflow

    from cityshare.errors import CityShareError

    try:
        workflow = MetadataWorkflow.create(workflow_config(url, token, settings))
    except Exception as exc:  # the client refuses an unreachable/mismatched server before any request
        raise CityShareError(f"OpenMetadata {url}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    try:
        workflow.execute()
    except Exception as exc:  # the framework re-raises what its steps did not handle
        raise CityShareError(f"OpenMetadata {url}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    source, sink = workflow.source.get_status(), workflow.steps[0].get_status()
    # the sink's and our source's own messages first; "Unhandled" is the framework's wrapper of them
    failures = sorted((f"{f.name}: {f.error}" for f in [*sink.failures, *source.failures]),
                      key=lambda text: text.startswith("Unhandled"))
    if failures:
        raise CityShareError(f"OpenMetadata {url}: {len(failures)} failure(s), first: {failures[0]}".splitlines()[0])
    return {"source_records": len(source.records), "sink_records": len(sink.records),
            "warnings": len(source.warnings) + len(sink.warnings)}


def models() -> dict[str, type]:
    """Request model name → class, to parse dry-run files back (tests, tooling)."""
    from metadata.generated.schema.api.classification.createClassification import CreateClassificationRequest
    from metadata.generated.schema.api.classification.createTag import CreateTagRequest
    from metadata.generated.schema.api.data.createCustomProperty import CreateCustomPropertyRequest
    from metadata.generated.schema.api.data.createDatabase import CreateDatabaseRequest
    from metadata.generated.schema.api.data.createDatabaseSchema import CreateDatabaseSchemaRequest
    from metadata.generated.schema.api.data.createGlossary import CreateGlossaryRequest
    from metadata.generated.schema.api.data.createGlossaryTerm import CreateGlossaryTermRequest
    from metadata.generated.schema.api.data.createTable import CreateTableRequest
    from metadata.generated.schema.api.lineage.addLineage import AddLineageRequest
    from metadata.generated.schema.api.services.createDatabaseService import CreateDatabaseServiceRequest
    from metadata.generated.schema.api.teams.createTeam import CreateTeamRequest
    from metadata.generated.schema.api.tests.createTestCase import CreateTestCaseRequest
    from metadata.generated.schema.api.tests.createTestCaseResult import CreateTestCaseResult
    from metadata.generated.schema.api.tests.createTestDefinition import CreateTestDefinitionRequest

    classes = [CreateDatabaseServiceRequest, CreateDatabaseRequest, CreateDatabaseSchemaRequest, CreateTableRequest,
               CreateTeamRequest, CreateClassificationRequest, CreateTagRequest, CreateGlossaryRequest,
               CreateGlossaryTermRequest, AddLineageRequest, CreateTestDefinitionRequest, CreateTestCaseRequest,
               CreateTestCaseResult, CreateCustomPropertyRequest]
    return {c.__name__: c for c in classes}


def push_if_configured(settings: Settings | None = None) -> dict[str, Any]:
    """The directory DAG's last step: push only when CITYSHARE_OPENMETADATA_URL (and _TOKEN) are set."""
    settings = settings or get_settings()
    url, token = settings.openmetadata_url, settings.openmetadata_token
    if not url:
        return {"skipped": "CITYSHARE_OPENMETADATA_URL not set"}
    if not token:
        from cityshare.errors import CityShareError

        raise CityShareError("CITYSHARE_OPENMETADATA_URL is set but CITYSHARE_OPENMETADATA_TOKEN is not")
    return {"pushed": run_workflow(url, token, settings)}
