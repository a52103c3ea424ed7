"""Helpers (no tests): a stand-in OpenMetadata server on 127.0.0.1 for the workflow tests.

OpenMetadata (Java, PostgreSQL, OpenSearch) cannot run on these machines, so the tests run the real
openmetadata-ingestion ``MetadataWorkflow`` against this small HTTP server. It implements only the
REST endpoints that workflow calls, the way the server answers them:

- ``GET /api/v1/system/version`` → the client's own version (the client refuses another major.minor);
- every other call needs ``Authorization: Bearer <token>`` (401 otherwise);
- ``PUT /api/v1/<collection>`` and ``PUT /api/v1/<collection>/bulk`` create-or-update: the body is
  validated with the openmetadata-ingestion ``CreateXRequest`` model (400 with the message otherwise),
  referenced services/databases/schemas/classifications/glossaries/teams/tags must exist (404), the
  entity gets a UUID id kept across updates, a fullyQualifiedName built like the server's (``fqn.build``
  quoting) and a version bumped by 0.1 only when something changed; the stored entity is validated
  with the entity model (``Table``, ``Tag``…);
- custom properties: ``GET /api/v1/metadata/types/name/<type>``, ``PUT /api/v1/metadata/types/<id>``;
  a table's ``extension`` may only hold declared properties of the declared value type (400);
- ``GET /api/v1/<collection>/name/<fqn>`` and ``/<id>``; lineage ``PUT /api/v1/lineage``, ``GET
  …/getLineageEdge/<from>/<to>``, ``GET /api/v1/lineage/<type>/name/<fqn>``; test case results
  ``POST``/``GET /api/v1/dataQuality/testCases/testCaseResults/<fqn>`` (one result per timestamp,
  like the server's time series); test cases get their table's basic test suite ``<table>.testSuite``.

Unknown endpoints answer 404 and are recorded in ``unknown`` so a test can assert none was hit.
Simplifications: ``fields=`` is ignored (whole entities are returned), no search index, no PATCH.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from metadata.__version__ import get_client_version
from metadata.generated.schema.api.classification.createClassification import CreateClassificationRequest
from metadata.generated.schema.api.classification.createTag import CreateTagRequest
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
from metadata.generated.schema.entity.classification.classification import Classification
from metadata.generated.schema.entity.classification.tag import Tag
from metadata.generated.schema.entity.data.database import Database
from metadata.generated.schema.entity.data.databaseSchema import DatabaseSchema
from metadata.generated.schema.entity.data.glossary import Glossary
from metadata.generated.schema.entity.data.glossaryTerm import GlossaryTerm
from metadata.generated.schema.entity.data.table import Table
from metadata.generated.schema.entity.services.databaseService import DatabaseService
from metadata.generated.schema.entity.teams.team import Team
from metadata.generated.schema.entity.type import Type
from metadata.generated.schema.tests.basic import TestCaseResult
from metadata.generated.schema.tests.testCase import TestCase
from metadata.generated.schema.tests.testDefinition import TestDefinition
from metadata.generated.schema.tests.testSuite import TestSuite
from metadata.generated.schema.type.customProperty import CustomProperty
from metadata.utils import fqn as om_fqn
from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Kind:
    """One entity collection: its create model, entity model, type name and reference fields."""

    create: type[BaseModel]
    entity: type[BaseModel]
    type: str
    parent: str | None = None  # create field holding the parent's FQN (prefix of this FQN)
    refs: dict[str, str] = field(default_factory=dict)  # create field (an FQN string) → collection


KINDS: dict[str, Kind] = {
    "services/databaseServices": Kind(CreateDatabaseServiceRequest, DatabaseService, "databaseService"),
    "databases": Kind(CreateDatabaseRequest, Database, "database", "service", {"service": "services/databaseServices"}),
    "databaseSchemas": Kind(CreateDatabaseSchemaRequest, DatabaseSchema, "databaseSchema", "database",
                            {"database": "databases"}),
    "tables": Kind(CreateTableRequest, Table, "table", "databaseSchema", {"databaseSchema": "databaseSchemas"}),
    "teams": Kind(CreateTeamRequest, Team, "team"),
    "classifications": Kind(CreateClassificationRequest, Classification, "classification"),
    "tags": Kind(CreateTagRequest, Tag, "tag", "classification", {"classification": "classifications"}),
    "glossaries": Kind(CreateGlossaryRequest, Glossary, "glossary"),
    "glossaryTerms": Kind(CreateGlossaryTermRequest, GlossaryTerm, "glossaryTerm", "glossary",
                          {"glossary": "glossaries", "parent": "glossaryTerms"}),
    "dataQuality/testDefinitions": Kind(CreateTestDefinitionRequest, TestDefinition, "testDefinition"),
    "dataQuality/testCases": Kind(CreateTestCaseRequest, TestCase, "testCase", None,
                                  {"testDefinition": "dataQuality/testDefinitions"}),
    "dataQuality/testSuites": Kind(BaseModel, TestSuite, "testSuite"),
}
# the server keeps the parent's whole ancestry on a child (a table names its schema, database, service)
_ANCESTRY = {"database": ("service",), "databaseSchema": ("database", "service"),
             "table": ("databaseSchema", "database", "service")}
_RESULTS = "dataQuality/testCases/testCaseResults"


class ApiError(Exception):
    """An HTTP error answered as the server does: ``{"code": N, "message": "..."}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class State:
    """Everything the stand-in server holds (the tests read it only through the API)."""

    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # collection → fqn → entity
    content: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # what the last PUT said
    lineage: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (from id, to id) → edge
    results: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # test case fqn → ts → result
    types: dict[str, dict[str, Any]] = field(default_factory=dict)  # metadata type name → Type
    requests: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_id(self, entity_id: str) -> tuple[str, dict[str, Any]] | None:
        for collection, items in self.entities.items():
            for entity in items.values():
                if entity["id"] == entity_id:
                    return collection, entity
        return None

    def get(self, collection: str, name: str) -> dict[str, Any]:
        found = self.entities.get(collection, {}).get(name)
        if found is None:
            raise ApiError(404, f"{KINDS[collection].type} instance for {name} not found")
        return found


def _ref(kind: Kind, entity: dict[str, Any]) -> dict[str, Any]:
    return {"id": entity["id"], "type": kind.type, "name": entity["name"],
            "fullyQualifiedName": entity["fullyQualifiedName"], "displayName": entity.get("displayName"),
            "deleted": False}


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


class Server:
    """Create-or-update semantics and reference checks of the OpenMetadata entity API."""

    def __init__(self, token: str, version: str | None = None) -> None:
        self.token = token
        self.version = version or get_client_version().rsplit(".", 1)[0]  # 2.0.7.0 → server 2.0.7
        self.state = State()
        # the type system the server ships: entity types (custom properties attach here) and field types
        for name, category in (("table", "entity"), ("string", "field"), ("integer", "field")):
            self.state.types[name] = Type(id=str(uuid.uuid4()), name=name, fullyQualifiedName=name,
                                          description=f"{name} type", category=category, version=0.1,
                                          customProperties=[] if category == "entity" else None).model_dump(
                mode="json", exclude_none=True)

    # -- entities ------------------------------------------------------------------------------
    def put(self, collection: str, body: Any) -> tuple[int, dict[str, Any]]:
        kind = KINDS[collection]
        try:
            request = kind.create.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, f"[query param] {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        doc = json.loads(request.model_dump_json(exclude_none=True))
        name = doc["name"]
        entity: dict[str, Any] = {k: v for k, v in doc.items() if k not in kind.refs and k != "entityLink"}
        parent_fqn = None
        for key, target in kind.refs.items():
            if key in doc:
                referenced = self.state.get(target, doc[key])
                entity[key] = _ref(KINDS[target], referenced)
                for ancestor in _ANCESTRY.get(kind.type, ()):
                    if ancestor != key and ancestor in referenced:
                        entity[ancestor] = referenced[ancestor]
                if key == kind.parent or (key == "parent" and kind.type == "glossaryTerm"):
                    parent_fqn = referenced["fullyQualifiedName"]
        if kind.type == "testCase":
            parent_fqn = self._test_case_target(doc, entity)
        full = om_fqn.quote_name(name) if parent_fqn is None else f"{parent_fqn}.{om_fqn.quote_name(name)}"
        if "owners" in doc:
            entity["owners"] = [self._owner(o) for o in doc["owners"]]
        for tag in doc.get("tags", []):
            self._tag_exists(tag["tagFQN"])
        if "extension" in doc:
            self._check_extension(kind.type, doc["extension"])
        if kind.type == "table":
            for column in entity["columns"]:
                column["fullyQualifiedName"] = f"{full}.{om_fqn.quote_name(column['name'])}"
                for tag in column.get("tags", []):
                    self._tag_exists(tag["tagFQN"])
        return self._store(collection, full, entity)

    def _store(self, collection: str, full: str, entity: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kind = KINDS[collection]
        items = self.state.entities.setdefault(collection, {})
        content = entity | {"fullyQualifiedName": full}
        old = items.get(full)
        if old is not None and self.state.content[(collection, full)] == content:
            return 200, old  # nothing changed: same version, like the server
        keep = {k: old[k] for k in ("testCaseResult", "testCaseStatus") if old and k in old}
        entity_id = old["id"] if old else str(uuid.uuid4())
        stored = content | keep | {
            "id": entity_id, "version": round(old["version"] + 0.1, 1) if old else 0.1, "deleted": False,
            "updatedAt": _now_ms(), "updatedBy": "ingestion-bot",
            "href": f"http://localhost:8585/api/v1/{collection}/{entity_id}"}
        kind.entity.model_validate(stored)  # what is stored must be a valid entity of that type
        items[full] = stored
        self.state.content[(collection, full)] = content
        return (200 if old else 201), stored

    def _check_extension(self, entity_type: str, extension: dict[str, Any]) -> None:
        """Custom property values: each must be a property of the entity type, of its value type."""
        declared = {p["name"]: p for p in self.state.types.get(entity_type, {}).get("customProperties") or []}
        for key, value in extension.items():
            if key not in declared:
                raise ApiError(400, f"Unknown custom field {key}")
            value_type = declared[key]["propertyType"]["name"]
            if value_type == "string" and not isinstance(value, str):
                raise ApiError(400, f"Custom field {key} has invalid JSON: expected string")

    def put_custom_property(self, type_id: str, body: Any) -> dict[str, Any]:
        target = next((t for t in self.state.types.values() if t["id"] == type_id), None)
        if target is None:
            raise ApiError(404, f"type instance for {type_id} not found")
        try:
            prop = CustomProperty.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        value_type = next((t for t in self.state.types.values() if t["id"] == str(prop.propertyType.root.id.root)), None)
        if value_type is None or value_type["category"] != "field":
            raise ApiError(404, f"type instance for {prop.propertyType.root.id.root} not found")
        doc = json.loads(prop.model_dump_json(exclude_none=True))
        doc["propertyType"] |= {"name": value_type["name"], "fullyQualifiedName": value_type["name"], "type": "type"}
        props = [p for p in target["customProperties"] if p["name"] != doc["name"]]
        if doc not in target["customProperties"]:
            target["version"] = round(target["version"] + 0.1, 1)
        target["customProperties"] = [*props, doc]
        Type.model_validate(target)
        return target

    def _owner(self, ref: dict[str, Any]) -> dict[str, Any]:
        found = self.state.by_id(ref["id"])
        if found is None:
            raise ApiError(404, f"{ref.get('type')} instance for {ref['id']} not found")
        return _ref(KINDS[found[0]], found[1])

    def _tag_exists(self, tag_fqn: str) -> None:
        if tag_fqn not in self.state.entities.get("tags", {}) and \
                tag_fqn not in self.state.entities.get("glossaryTerms", {}):
            raise ApiError(404, f"tag instance for {tag_fqn} not found")

    def _test_case_target(self, doc: dict[str, Any], entity: dict[str, Any]) -> str:
        link = doc["entityLink"]  # <#E::table::FQN> or <#E::table::FQN::columns::COL>
        parts = link.removeprefix("<#E::").removesuffix(">").split("::")
        if len(parts) < 2 or parts[0] != "table":
            raise ApiError(400, f"entityLink {link} is not a table link")
        table = self.state.get("tables", parts[1])
        suite_fqn = f"{table['fullyQualifiedName']}.testSuite"
        suites = self.state.entities.setdefault("dataQuality/testSuites", {})
        if suite_fqn not in suites:
            self._store("dataQuality/testSuites", suite_fqn, {
                "name": suite_fqn, "basic": True, "basicEntityReference": _ref(KINDS["tables"], table)})
        entity["entityLink"] = link
        entity["entityFQN"] = table["fullyQualifiedName"]
        entity["testSuite"] = _ref(KINDS["dataQuality/testSuites"], suites[suite_fqn])
        return table["fullyQualifiedName"] + (f".{parts[3]}" if len(parts) >= 4 else "")

    def bulk(self, collection: str, body: list[Any]) -> dict[str, Any]:
        ok, failed = [], []
        for item in body:
            try:
                status, entity = self.put(collection, item)
                ok.append({"request": entity["fullyQualifiedName"], "message": "Success", "status": status})
            except ApiError as exc:
                failed.append({"request": item.get("name") if isinstance(item, dict) else None,
                               "message": str(exc), "status": exc.code})
        status = "success" if not failed else ("failure" if not ok else "partialSuccess")
        return {"status": status, "numberOfRowsProcessed": len(body), "numberOfRowsPassed": len(ok),
                "numberOfRowsFailed": len(failed), "successRequest": ok, "failedRequest": failed}

    # -- lineage -------------------------------------------------------------------------------
    def add_lineage(self, body: Any) -> None:
        try:
            edge = AddLineageRequest.model_validate(body).edge
        except ValidationError as exc:
            raise ApiError(400, f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        ends = []
        for end in (edge.fromEntity, edge.toEntity):
            found = self.state.by_id(str(end.id.root))
            if found is None:
                raise ApiError(404, f"{end.type} instance for {end.id.root} not found")
            ends.append(_ref(KINDS[found[0]], found[1]))
        details = json.loads(edge.lineageDetails.model_dump_json(exclude_none=True)) if edge.lineageDetails else {}
        self.state.lineage[(ends[0]["id"], ends[1]["id"])] = {"fromEntity": ends[0], "toEntity": ends[1],
                                                              "lineageDetails": details}

    def lineage_of(self, collection: str, name: str) -> dict[str, Any]:
        entity = self.state.get(collection, name)
        ref = _ref(KINDS[collection], entity)
        up = [e for (_, to), e in self.state.lineage.items() if to == entity["id"]]
        down = [e for (frm, _), e in self.state.lineage.items() if frm == entity["id"]]

        def flat(e: dict[str, Any]) -> dict[str, Any]:
            return {"fromEntity": e["fromEntity"]["id"], "toEntity": e["toEntity"]["id"],
                    "lineageDetails": e["lineageDetails"]}

        nodes = {e["fromEntity"]["id"]: e["fromEntity"] for e in up} | {e["toEntity"]["id"]: e["toEntity"] for e in down}
        return {"entity": ref, "nodes": list(nodes.values()), "upstreamEdges": [flat(e) for e in up],
                "downstreamEdges": [flat(e) for e in down]}

    # -- test case results ---------------------------------------------------------------------
    def add_result(self, case_fqn: str, body: Any) -> dict[str, Any]:
        case = self.state.get("dataQuality/testCases", case_fqn)
        try:
            CreateTestCaseResult.model_validate(body)
        except ValidationError as exc:
            raise ApiError(400, f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        result = {k: v for k, v in body.items() if v is not None} | {"testCaseFQN": case_fqn}
        result.setdefault("id", str(uuid.uuid4()))
        TestCaseResult.model_validate(result)
        self.state.results.setdefault(case_fqn, {})[result["timestamp"]] = result
        latest = max(self.state.results[case_fqn].values(), key=lambda r: r["timestamp"])
        case["testCaseResult"] = latest
        case["testCaseStatus"] = latest["testCaseStatus"]
        return result

    # -- HTTP dispatch ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: Any) -> tuple[int, Any]:
        if not path.startswith("/api/v1/"):
            raise ApiError(404, f"HTTP 404 Not Found {path}")
        route = path.removeprefix("/api/v1/")
        if method == "GET" and route == "system/version":
            return 200, {"version": self.version, "revision": "double",
                         "timestamp": _now_ms()}
        if headers.get("Authorization") != f"Bearer {self.token}":
            raise ApiError(401, "Not authorized; User's Email is not present")
        if route.startswith("metadata/types/name/") and method == "GET":
            name = unquote(route.removeprefix("metadata/types/name/"))
            if name not in self.state.types:
                raise ApiError(404, f"type instance for {name} not found")
            return 200, self.state.types[name]
        if route.startswith("metadata/types/") and method == "PUT":
            return 200, self.put_custom_property(route.removeprefix("metadata/types/"), body)
        if route == "lineage" and method == "PUT":
            self.add_lineage(body)
            return 200, None
        if route.startswith("lineage/getLineageEdge/") and method == "GET":
            frm, to = route.split("/")[2:4]
            edge = self.state.lineage.get((frm, to))
            if edge is None:
                raise ApiError(404, f"Lineage edge {frm} → {to} not found")
            return 200, {"edge": {"fromEntity": edge["fromEntity"], "toEntity": edge["toEntity"],
                                  **edge["lineageDetails"]}}
        if route.startswith("lineage/") and "/name/" in route and method == "GET":
            entity_type, name = route.removeprefix("lineage/").split("/name/", 1)
            collection = next(c for c, k in KINDS.items() if k.type == entity_type)
            return 200, self.lineage_of(collection, unquote(name))
        if route.startswith(_RESULTS + "/"):
            case_fqn = unquote(route.removeprefix(_RESULTS + "/"))
            if method == "POST":
                return 200, self.add_result(case_fqn, body)
            if method == "GET":
                start, end = int(query.get("startTs", ["0"])[0]), int(query.get("endTs", [str(2**62)])[0])
                data = sorted((r for r in self.state.results.get(case_fqn, {}).values()
                               if start <= r["timestamp"] <= end), key=lambda r: r["timestamp"])
                return 200, {"data": data, "paging": {"total": len(data)}}
        for collection in sorted(KINDS, key=len, reverse=True):
            if route == collection and method == "PUT":
                return self.put(collection, body)
            if route == f"{collection}/bulk" and method == "PUT":
                return 200, self.bulk(collection, body)
            if route.startswith(f"{collection}/name/") and method == "GET":
                return 200, self.state.get(collection, unquote(route.removeprefix(f"{collection}/name/")))
            if route.startswith(f"{collection}/") and method == "GET":
                entity_id = route.removeprefix(f"{collection}/")
                found = next((e for e in self.state.entities.get(collection, {}).values() if e["id"] == entity_id),
                             None)
                if found is None:
                    raise ApiError(404, f"{KINDS[collection].type} instance for {entity_id} not found")
                return 200, found
        self.state.unknown.append((method, path))
        raise ApiError(404, f"HTTP 404 Not Found {method} {path}")


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with server.state.lock:
                server.state.requests.append((self.command, url.path))
                try:
                    body = json.loads(raw) if raw else None
                    status, payload = server.handle(self.command, url.path, parse_qs(url.query), self.headers, body)
                except json.JSONDecodeError as exc:
                    status, payload = 400, {"code": 400, "message": f"Unable to process JSON: {exc}"}
                except ApiError as exc:
                    status, payload = exc.code, {"code": exc.code, "message": str(exc)}
            data = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, *_: Any) -> None:  # quiet: the tests read the state instead
            pass

    return Handler


class RunningDouble:
    """``with RunningDouble(token) as om:`` → ``om.url`` (``http://127.0.0.1:PORT/api``), ``om.server``."""

    def __init__(self, token: str, version: str | None = None) -> None:
        self.server = Server(token, version)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.server))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RunningDouble:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
