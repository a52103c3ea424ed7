"""Share API authorization: sharing type × caller matrix, each answer audited; requests, grants, corrections."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest
from fastapi.testclient import TestClient

from cityshare.share import audit, grants, store
from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world
from cityshare.share.service import table
from cityshare.share.tokens import Identity, issue, revoke

OPEN, COND, CLOSED = "base_legal_entity", "theme_city_cases__case", "theme_elderly_alone__person"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = build_world(tmp_path_factory.mktemp("share"))
    client = TestClient(create_app(settings))
    tok = {}
    for key, dept, role in [("provider_cgj", "cgj", "approver"), ("provider_scjgj", "scjgj", "consumer"),
                            ("provider_mzj", "mzj", "consumer"), ("granted", "slj", "consumer"),
                            ("wrong_dept", "jd_nanping", "consumer"), ("no_grant", "zjw", "consumer"),
                            ("expired", "jtj", "consumer"), ("revoked", "slj", "consumer"),
                            ("governance", "cyzx", "governance")]:
        tok[key] = issue(settings, dept, f"user_{key}", role)
    revoke(settings, tok["revoked"][0])
    h = {k: {"Authorization": f"Bearer {v[1]}"} for k, v in tok.items()}
    # slj: a live grant on the city cases, limited to four columns, through the API as a user would.
    r = client.post("/api/requests", headers=h["granted"], json={
        "table": COND, "purpose": "水利设施周边案件研判", "columns": ["case_id", "street_code", "status", "reporter_phone"],
        "period_days": 30})
    assert r.status_code == 201, r.text
    d = client.post(f"/api/requests/{r.json()['id']}/decision", headers=h["provider_cgj"], json={"decision": "approve"})
    assert d.status_code == 200, d.text
    # jtj: a grant that ran out in January 2020.
    jtj = Identity(tok["expired"][0], "jtj", "user_expired", "consumer")
    cgj = Identity(tok["provider_cgj"][0], "cgj", "user_provider_cgj", "approver")
    req = grants.submit_request(settings, jtj, table(settings, COND), "交通秩序协同", [], 30, today=dt.date(2020, 1, 2))
    grants.decide(settings, cgj, req["id"], True, today=dt.date(2020, 1, 2))
    # A grant row on a 不予共享 table (never obtainable through the API) must still not open it.
    with store.connect(settings, write=True) as con:
        con.execute("INSERT INTO grants VALUES ('GRT-forged', NULL, ?, 'mzj', 'slj', '[]', '[]', '2020-01-01', "
                    "'2099-12-31', 'nobody', '2020-01-01', NULL)", [CLOSED])
    _quarantine(settings)
    return settings, client, h, d.json()["grant_id"]


# Two 有条件共享 sources: 城管局 cases (a reporter's mobile) and 民政局 elders living alone (ID number, mobile).
RAW = ("13812345678", "500108194001010012")
QUARANTINE = {"cgj/city_cases": ("L-cases-1", "case_id, reporter_phone", "CG1"),
              "mzj/elderly_living_alone": ("L-elderly-1", "person_id, phone", RAW[1])}


def _quarantine(settings) -> None:
    """Two quarantined rows per source, as the gate leaves them, with raw PII in them."""
    import shutil

    import duckdb

    from cityshare.settings import PROJECT_ROOT

    con = duckdb.connect(str(settings.warehouse_path))
    try:
        for dataset, (load_id, columns, key) in QUARANTINE.items():
            (settings.contracts_dir / dataset).parent.mkdir(exist_ok=True)
            shutil.copy(PROJECT_ROOT / "contracts" / f"{dataset}.odcs.yaml", settings.contracts_dir / dataset.split("/")[0])
            path = settings.lake_dir / "quarantine" / dataset / "part-0.parquet"
            path.parent.mkdir(parents=True)
            con.execute(f"""COPY (SELECT * FROM (VALUES ('{key}', '{RAW[0]}', 3, 'pk_unique', '主键不得重复'),
                                                       ('{key}', '13900001111', 4, 'pk_unique', '主键不得重复'))
                            AS t({columns}, _source_row, _failed_rules, _failed_reasons))
                            TO '{path}' (FORMAT parquet)""")
            con.execute("INSERT INTO meta.batches (dataset, load_id, load_date, quarantine_path, rows_quarantined, "
                        "status) VALUES (?, ?, DATE '2026-11-26', ?, 2, 'accepted')", [dataset, load_id, str(path)])
    finally:
        con.close()


H_NONE = "none"
# caller → expected status for (无条件共享, 有条件共享, 不予共享)
MATRIX = {
    H_NONE: (401, 401, 401),
    "wrong_dept": (200, 403, 403),
    "no_grant": (200, 403, 403),
    "expired": (200, 403, 403),
    "revoked": (401, 401, 401),
    "granted": (200, 200, 403),
    "governance": (200, 403, 403),
}
DEPARTMENT = {"provider_cgj": "cgj", "provider_scjgj": "scjgj", "provider_mzj": "mzj", "granted": "slj",
              "wrong_dept": "jd_nanping", "no_grant": "zjw", "expired": "jtj", "revoked": "slj", "governance": "cyzx"}
PROVIDER = {OPEN: "provider_scjgj", COND: "provider_cgj", CLOSED: "provider_mzj"}


@pytest.mark.parametrize("who", [*MATRIX, "provider"])
@pytest.mark.parametrize("index", [0, 1, 2], ids=["无条件共享", "有条件共享", "不予共享"])
def test_authorization_matrix_answers_and_audits(world, who, index):
    settings, client, h, grant_id = world
    name = (OPEN, COND, CLOSED)[index]
    key = PROVIDER[name] if who == "provider" else who
    expected = 200 if who == "provider" else MATRIX[who][index]
    r = client.get(f"/api/tables/{name}/rows", headers=h.get(key, {}), params={"limit": 5})
    assert r.status_code == expected, r.text
    last = audit.entries(settings, 1)[0]
    assert (last["action"], last["target"], last["status"]) == ("read", name, expected)
    assert last["department"] == DEPARTMENT.get(key)
    if expected == 200:
        assert last["rows"] == len(r.json()["rows"]) == 5
    if key == "granted" and name == COND:
        assert last["grant_id"] == grant_id
        assert r.json()["columns"] == ["case_id", "street_code", "status", "reporter_phone"]
        assert all("****" in row["reporter_phone"] for row in r.json()["rows"])  # masked stays masked
    if expected != 200:
        assert "refused" in json.loads(last["detail"])


def test_grant_limits_columns_and_refuses_others(world):
    _, client, h, _ = world
    r = client.get(f"/api/tables/{COND}/rows", headers=h["granted"], params={"columns": "case_id,address"})
    assert r.status_code == 400 and "address" in r.json()["detail"]
    r = client.get(f"/api/tables/{COND}/rows", headers=h["granted"], params={"filter": "address:contains:南坪"})
    assert r.status_code == 400


def test_request_rules_refusal_needs_reason_and_only_provider_decides(world):
    settings, client, h, _ = world
    assert client.post("/api/requests", headers=h["no_grant"], json={"table": OPEN, "purpose": "无需申请的表"}).status_code == 400
    closed = {"table": CLOSED, "purpose": "不予共享的表"}
    assert client.post("/api/requests", headers=h["no_grant"], json=closed).status_code == 403
    r = client.post("/api/requests", headers=h["no_grant"], json={"table": COND, "purpose": "住建执法协同", "period_days": 10})
    assert r.status_code == 201
    req = r.json()
    assert req["deadline"] > req["submitted_at"][:10] and req["status"] == "pending"
    rid = req["id"]
    # the requester itself and governance cannot approve; the refusal is audited
    assert client.post(f"/api/requests/{rid}/decision", headers=h["no_grant"], json={"decision": "approve"}).status_code == 403
    assert audit.entries(settings, 1)[0]["action"] == "request.decide"
    assert client.post(f"/api/requests/{rid}/decision", headers=h["governance"], json={"decision": "approve"}).status_code == 403
    r = client.post(f"/api/requests/{rid}/decision", headers=h["provider_cgj"], json={"decision": "refuse", "reason": " "})
    assert r.status_code == 400
    r = client.post(f"/api/requests/{rid}/decision", headers=h["provider_cgj"],
                    json={"decision": "refuse", "reason": "用途超出共享条件"})
    assert r.status_code == 200 and r.json()["status"] == "refused" and r.json()["reason"] == "用途超出共享条件"
    assert audit.entries(settings, 1)[0]["action"] == "request.refuse"
    assert client.get(f"/api/tables/{COND}/rows", headers=h["no_grant"]).status_code == 403


def test_overdue_request_is_escalated_to_governance(world):
    settings, client, h, _ = world
    zjw = Identity("tk_x", "zjw", "u", "consumer")
    req = grants.submit_request(settings, zjw, table(settings, COND), "逾期未答复的申请", [], 30, today=dt.date(2026, 9, 28))
    assert req["deadline"] == "2026-10-16"  # 10 working days across National Day 2026
    assert client.get("/api/governance/overdue", headers=h["no_grant"]).status_code == 403
    r = client.get("/api/governance/overdue", headers=h["governance"])
    assert r.status_code == 200
    hit = [x for x in r.json() if x["id"] == req["id"]]
    assert hit and hit[0]["escalated_at"] and hit[0]["overdue_days"] > 0
    assert any(a["action"] == "request.escalate" and req["id"] in a["detail"] for a in audit.entries(settings, 20))


def test_correction_case_reaches_provider_with_deadline(world):
    _, client, h, _ = world
    r = client.post("/api/corrections", headers=h["no_grant"], json={
        "table": OPEN, "row_key": "91500108MA00000003", "column": "status", "current_value": "存续",
        "proposed_value": "注销", "description": "该主体已于上月注销"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["provider"] == "scjgj" and case["deadline"] > case["created_at"][:10]
    assert client.post("/api/corrections", headers=h["no_grant"], json={
        "table": CLOSED, "row_key": "x", "column": "age", "description": "不能读取的表不可纠错"}).status_code == 403
    inbox = client.get("/api/corrections", headers=h["provider_scjgj"]).json()
    assert [c["id"] for c in inbox] == [case["id"]]
    # only an approver of the provider closes it
    body = {"accepted": True, "resolution": "已更正登记状态"}
    assert client.post(f"/api/corrections/{case['id']}/resolve", headers=h["provider_scjgj"], json=body).status_code == 403


def test_audit_chain_detects_tampering(world, tmp_path):
    settings, client, h, _ = world
    assert audit.verify(settings)["ok"]
    con = sqlite3.connect(store.db_path(settings))
    try:
        seq = con.execute("SELECT min(seq) FROM audit_log WHERE action = 'read' AND status = 403").fetchone()[0]
        con.execute("UPDATE audit_log SET status = 200 WHERE seq = ?", [seq])
        con.commit()
        result = audit.verify(settings)
        assert not result["ok"] and result["bad_seq"] == seq
        r = client.get("/api/audit/verify", headers=h["governance"])
        assert r.json()["bad_seq"] == seq
    finally:
        con.execute("UPDATE audit_log SET status = 403 WHERE seq = ?", [seq])
        con.commit()
        con.close()
    assert audit.verify(settings)["ok"]


# -- every route, by what it shows ------------------------------------------------------------------
PUBLIC, SIGNED_IN, ROWS = "public", "signed-in", "rows"
# Rows or row-level facts (rows, samples, exports, quarantine, correction cases, receipts) need an
# entitled caller and every read and refusal is audited. A route missing here fails the test below.
ROUTES = {
    ("GET", "/openapi.json"): PUBLIC, ("GET", "/docs"): PUBLIC, ("MOUNT", "/docs-assets"): PUBLIC,
    ("GET", "/healthz"): PUBLIC, ("MOUNT", "/static"): PUBLIC,
    ("GET", "/"): PUBLIC, ("GET", "/login"): PUBLIC, ("POST", "/login"): PUBLIC, ("POST", "/logout"): PUBLIC,
    ("GET", "/api/directory"): PUBLIC, ("GET", "/api/directory/{code:path}"): PUBLIC,
    ("GET", "/api/directory/{code:path}/lineage"): PUBLIC, ("GET", "/directory/{code:path}/lineage"): PUBLIC,
    ("GET", "/api/entry/quality"): PUBLIC,
    ("GET", "/api/keys/receipt"): PUBLIC,
    # what peers in the federation read: identity + receipt key, the directory by modification time (metadata)
    ("GET", "/api/federation/identity"): PUBLIC, ("GET", "/api/federation/directory"): PUBLIC,
    # code lists a higher level hands down (areas, streets, event classes): reference data, no rows of anyone
    ("GET", "/api/federation/reference"): PUBLIC, ("GET", "/api/federation/reference/{name}"): PUBLIC,
    ("GET", "/reference"): PUBLIC,  # the same code lists as a portal page
    ("GET", "/catalog.jsonld"): PUBLIC, ("GET", "/catalog.ttl"): PUBLIC,  # the directory as DCAT-AP (metadata)
    # aggregates only (the quality report file goes to every department)
    ("GET", "/quality"): PUBLIC, ("GET", "/api/quality/report"): PUBLIC, ("GET", "/api/quality/scorecards"): PUBLIC,
    ("GET", "/api/quality/timeliness"): PUBLIC, ("GET", "/api/quality/loads"): PUBLIC,
    ("GET", "/api/quality/evaluation"): PUBLIC,
    ("GET", "/api/me"): SIGNED_IN, ("GET", "/api/tables"): SIGNED_IN, ("GET", "/api/deliveries"): SIGNED_IN,
    ("POST", "/api/requests"): SIGNED_IN, ("GET", "/api/requests"): SIGNED_IN,
    ("GET", "/api/requests/{request_id}"): SIGNED_IN, ("POST", "/api/requests/{request_id}/decision"): SIGNED_IN,
    ("GET", "/api/grants"): SIGNED_IN, ("POST", "/api/grants/{grant_id}/revoke"): SIGNED_IN,
    ("POST", "/api/corrections/{case_id}/resolve"): SIGNED_IN, ("GET", "/api/governance/overdue"): SIGNED_IN,
    ("GET", "/api/audit"): SIGNED_IN, ("GET", "/api/audit/verify"): SIGNED_IN,
    ("POST", "/portal/requests"): SIGNED_IN, ("GET", "/approvals"): SIGNED_IN,
    ("POST", "/portal/requests/{request_id}/decision"): SIGNED_IN, ("GET", "/grants"): SIGNED_IN,
    ("POST", "/portal/grants/{grant_id}/revoke"): SIGNED_IN,
    ("POST", "/portal/corrections/{case_id}/resolve"): SIGNED_IN, ("GET", "/governance"): SIGNED_IN,
    ("GET", "/api/tables/{name}/rows"): ROWS, ("GET", "/api/tables/{name}/export"): ROWS,
    ("GET", "/entry"): ROWS, ("GET", "/api/quality/quarantine/{dataset:path}/{load_id}"): ROWS,
    ("GET", "/quality/quarantine/{dataset:path}/{load_id}"): ROWS,
    ("POST", "/api/corrections"): ROWS, ("GET", "/api/corrections"): ROWS, ("GET", "/corrections"): ROWS,
    ("POST", "/portal/corrections"): ROWS, ("GET", "/api/receipts/{delivery_id}"): ROWS,
}


def test_every_route_is_classified(world):
    _, client, _, _ = world
    found = {(m, r.path) for r in client.app.routes for m in (getattr(r, "methods", None) or {"MOUNT"}) - {"HEAD"}}
    assert found - set(ROUTES) == set(), "new route: classify it in ROUTES (and probe it below if it shows rows)"
    assert set(ROUTES) - found == set()


def portal(world, key: str | None) -> TestClient:
    """A browser signed in to the portal as ``key`` (anonymous for None)."""
    _, client, h, _ = world
    browser = TestClient(client.app, base_url="http://testserver")
    if key:
        token = h[key]["Authorization"].split(" ", 1)[1]
        assert browser.post("/login", data={"token": token}, follow_redirects=False).status_code == 303
    return browser


def csrf_of(browser: TestClient) -> str:
    """The CSRF token the portal's forms carry for this browser's session."""
    import re

    return re.search(r'name="csrf" value="([^"]+)"', browser.get("/").text).group(1)


CASE = {"table": COND, "row_key": "CASE00000001", "column": "status", "current_value": "已结案",
        "proposed_value": "处置中", "description": "该案件尚未处置完毕"}
# (route, how to call it as a caller: (client, headers) -> response, the entitled caller)
PROBES = {
    ("GET", "/api/tables/{name}/rows"): (lambda c, hd: c.get(f"/api/tables/{COND}/rows", headers=hd), "granted"),
    ("GET", "/api/tables/{name}/export"): (
        lambda c, hd: c.get(f"/api/tables/{COND}/export", headers=hd, params={"format": "csv"}), "granted"),
    ("GET", "/api/quality/quarantine/{dataset:path}/{load_id}"): (
        lambda c, hd: c.get("/api/quality/quarantine/cgj/city_cases/L-cases-1", headers=hd), "provider_cgj"),
    ("GET", "/quality/quarantine/{dataset:path}/{load_id}"): (
        lambda c, hd: c.get("/quality/quarantine/mzj/elderly_living_alone/L-elderly-1", headers=hd), "governance"),
    ("POST", "/api/corrections"): (lambda c, hd: c.post("/api/corrections", headers=hd, json=CASE), "granted"),
    ("GET", "/api/corrections"): (lambda c, hd: c.get("/api/corrections", headers=hd), "provider_cgj"),
}


@pytest.mark.parametrize("route", list(PROBES), ids=lambda r: f"{r[0]} {r[1]}")
def test_row_level_routes_refuse_anonymous_and_other_departments_and_audit(world, route):
    settings, client, h, _ = world
    call, entitled = PROBES[route]
    callers = [(None, 401), ("wrong_dept", 403), (entitled, 200)]
    if route == ("GET", "/api/corrections"):  # a listing: other departments see only their own cases
        callers[1] = ("wrong_dept", 200)
    for key, expected in callers:
        before = audit.entries(settings, 1)[0]["seq"]
        r = call(client, h.get(key, {}))
        assert r.status_code in ({201} if expected == 200 and route[0] == "POST" else {expected}), (key, r.text)
        new = audit.entries(settings, 5)
        assert new[0]["seq"] > before, f"{route} by {key}: no audit record"
        assert new[0]["status"] == r.status_code and new[0]["department"] == DEPARTMENT.get(key)
        if expected != 200:
            assert "refused" in json.loads(new[0]["detail"])
        if expected == 200 and route[0] == "GET" and "quarantine" in route[1]:
            assert new[0]["rows"] == 2 and not any(raw in r.text for raw in RAW) and "138****5678" in r.text


@pytest.mark.parametrize("key", ["provider_mzj", "provider_cgj", "granted", "wrong_dept", "governance"])
def test_quarantine_of_another_departments_conditional_source(world, key):
    """有条件共享 sources' quarantine: the provider and governance only (a grant on a shared table derived
    from a source does not open the source's raw rows)."""
    settings, client, h, _ = world
    cases = client.get("/api/quality/quarantine/cgj/city_cases/L-cases-1", headers=h[key])
    elderly = client.get("/api/quality/quarantine/mzj/elderly_living_alone/L-elderly-1", headers=h[key])
    assert cases.status_code == (200 if key in ("provider_cgj", "governance") else 403), cases.text
    assert elderly.status_code == (200 if key in ("provider_mzj", "governance") else 403), elderly.text
    last = audit.entries(settings, 1)[0]
    assert (last["action"], last["target"], last["status"]) == ("quarantine.read", "mzj/elderly_living_alone",
                                                               elderly.status_code)


def test_portal_row_level_pages_refuse_and_audit(world):
    settings, client, _, _ = world
    anon, other, provider = portal(world, None), portal(world, "wrong_dept"), portal(world, "provider_cgj")
    for browser, status in ((anon, 401), (other, 200), (provider, 200)):
        assert browser.get("/corrections").status_code == status
        last = audit.entries(settings, 1)[0]
        assert last["status"] == status and last["action"] in ("refuse", "correction.list")
    # the entry page is public metadata; its sample is a row read, refused and audited for others
    code = next(e["信息资源代码"] for e in client.get("/api/directory").json()["共享数据资源目录"]
                if e.get("table") == f"shared.{COND}")
    page = other.get("/entry", params={"code": code})
    assert page.status_code == 200 and "CASE00000001" not in page.text
    last = audit.entries(settings, 1)[0]
    assert (last["action"], last["status"], last["department"]) == ("sample", 403, "jd_nanping")
    page = provider.get("/entry", params={"code": code})
    assert "CASE00000001" in page.text
    assert (audit.entries(settings, 1)[0]["action"], audit.entries(settings, 1)[0]["rows"]) == ("sample", 10)
    r = other.post("/portal/corrections", data={**CASE, "csrf": csrf_of(other)})
    assert r.status_code == 403 and "有条件共享" in r.text
    assert audit.entries(settings, 1)[0]["status"] == 403


def test_receipt_of_another_department_is_refused_and_audited(world):
    settings, client, h, _ = world
    r = client.get(f"/api/tables/{OPEN}/export", headers=h["no_grant"], params={"format": "csv"})
    delivery = r.headers["X-CityShare-Delivery"]
    assert client.get(f"/api/receipts/{delivery}", headers=h["no_grant"]).status_code == 200
    assert audit.entries(settings, 1)[0]["action"] == "receipt.read"
    assert client.get(f"/api/receipts/{delivery}", headers=h["wrong_dept"]).status_code == 404
    last = audit.entries(settings, 1)[0]
    assert (last["action"], last["status"], last["department"]) == ("receipt.read", 404, "jd_nanping")
    assert client.get(f"/api/receipts/{delivery}").status_code == 401
    assert audit.entries(settings, 1)[0]["status"] == 401
