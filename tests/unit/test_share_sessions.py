"""Portal sessions and CSRF: an opaque expiring cookie (never the API token), forms bound to the session
by a CSRF token, cross-origin posts refused and audited, logout revoking the session."""

from __future__ import annotations

import sqlite3

import pytest
import test_share_access as access
from fastapi.testclient import TestClient
from test_share_access import COND, csrf_of, portal

from cityshare.share import audit, store
from cityshare.share.sessions import COOKIE
from cityshare.share.tokens import issue, revoke

world = access.world  # the same small share world (a fixture of this module's own)


def _pending(world) -> str:
    _, client, h, _ = world
    r = client.post("/api/requests", headers=h["no_grant"], json={"table": COND, "purpose": "住建执法协同：会话测试"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_cookie_is_an_opaque_server_side_session(world):
    settings, client, h, _ = world
    token = h["provider_cgj"]["Authorization"].split(" ", 1)[1]
    browser = TestClient(client.app)
    r = browser.post("/login", data={"token": token}, follow_redirects=False)
    header = r.headers["set-cookie"]
    sid = browser.cookies[COOKIE]
    assert token not in header and sid != token and len(sid) >= 40
    assert "HttpOnly" in header and "SameSite=strict" in header.replace("Strict", "strict") and "Max-Age=28800" in header
    assert "Secure" not in header  # plain http (loopback); behind HTTPS it is Secure:
    secure = TestClient(client.app, base_url="https://portal.example")
    assert "Secure" in secure.post("/login", data={"token": token}, follow_redirects=False).headers["set-cookie"]
    with sqlite3.connect(store.db_path(settings)) as con:  # the store keeps only a hash of the id
        dump = "\n".join(con.iterdump())
    assert sid not in dump and token not in dump
    assert browser.get("/approvals").status_code == 200


def test_cross_origin_post_is_refused_and_audited(world):
    settings, client, _, _ = world
    rid = _pending(world)
    browser = portal(world, "provider_cgj")
    csrf = csrf_of(browser)
    form = {"decision": "approve", "csrf": csrf}
    for header in ({"Origin": "http://testserver:8081"}, {"Referer": "http://testserver:8081/attack.html"},
                   {"Origin": "null"}):
        r = browser.post(f"/portal/requests/{rid}/decision", data=form, headers=header, follow_redirects=False)
        assert r.status_code == 403 and "跨站请求被拒绝" in r.text
        last = audit.entries(settings, 1)[0]
        assert (last["action"], last["status"], last["department"]) == ("refuse", 403, "cgj")
    r = browser.post(f"/portal/requests/{rid}/decision", data={"decision": "approve"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text  # same origin but no token: a forged form
    assert client.get(f"/api/requests/{rid}", headers={"Authorization": world[2]["provider_cgj"]["Authorization"]}
                      ).json()["status"] == "pending"
    r = browser.post(f"/portal/requests/{rid}/decision", data=form, headers={"Origin": "http://testserver"},
                     follow_redirects=False)
    assert r.status_code == 303
    assert audit.entries(settings, 1)[0]["action"] == "request.approve"


def test_api_posts_on_the_session_cookie_need_the_csrf_header(world):
    _, client, h, _ = world
    browser = portal(world, "no_grant")
    body = {"table": COND, "purpose": "以会话 Cookie 调用接口"}
    assert browser.post("/api/requests", json=body).status_code == 403
    assert browser.post("/api/requests", json=body, headers={"X-CSRF-Token": csrf_of(browser)}).status_code == 201
    assert client.post("/api/requests", json=body, headers=h["no_grant"]).status_code == 201  # Bearer: no cookie


def test_logout_revokes_the_session_and_expiry_ends_it(world):
    settings, client, _, _ = world
    browser = portal(world, "provider_cgj")
    sid = browser.cookies[COOKIE]
    assert browser.post("/logout", data={"csrf": csrf_of(browser)}, follow_redirects=False).status_code == 303
    assert audit.entries(settings, 1)[0]["action"] == "logout"
    replay = TestClient(client.app, cookies={COOKIE: sid})
    assert replay.get("/approvals").status_code == 401  # a copied cookie dies with the session
    browser = portal(world, "provider_cgj")
    with store.connect(settings, write=True) as con:
        con.execute("UPDATE sessions SET expires_at = '2020-01-01T00:00:00+08:00'")
    r = browser.get("/approvals")
    assert r.status_code == 401 and "过期" in r.text


def test_revoking_the_token_ends_its_sessions(world):
    settings, client, _, _ = world
    token_id, token = issue(settings, "cgj", "short_lived", "approver")
    browser = TestClient(client.app)
    browser.post("/login", data={"token": token}, follow_redirects=False)
    assert browser.get("/approvals").status_code == 200
    revoke(settings, token_id)
    assert browser.get("/approvals").status_code == 401


@pytest.mark.parametrize("path", ["/portal/requests", "/portal/corrections", "/logout"])
def test_every_portal_form_is_checked(world, path):
    settings, _, _, _ = world
    browser = portal(world, "granted")
    r = browser.post(path, data={"table": COND, "purpose": "x", "row_key": "k", "column": "status",
                                 "description": "没有令牌的表单"}, follow_redirects=False)
    assert r.status_code == 403 and audit.entries(settings, 1)[0]["status"] == 403
