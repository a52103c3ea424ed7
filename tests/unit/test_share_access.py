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
    return settings, client, h, d.json()["grant_id"]


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
