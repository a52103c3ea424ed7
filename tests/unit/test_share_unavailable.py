"""When the service's own storage fails (a read-only or full volume, a held lock) a department gets 503 with the
reason and Retry-After — never rows it cannot be audited for, never a traceback or driver text."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cityshare.share import audit
from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue

OPEN = "base_legal_entity"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("unavailable"))


@pytest.mark.parametrize(("code", "reason"), [("EROFS", "只读文件系统"), ("ENOSPC", "磁盘已满")])
def test_a_read_that_cannot_be_audited_is_503_with_the_reason_and_no_rows(world, monkeypatch, code, reason):
    client = TestClient(create_app(world), raise_server_exceptions=False)
    token = issue(world, "zjw", "reader", "consumer")[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/login", data={"token": token}, follow_redirects=False).status_code == 303  # the portal's session
    served = client.get(f"/api/tables/{OPEN}/rows", headers=headers, params={"limit": 3})
    assert served.status_code == 200 and served.json()["rows"]
    before = audit.entries(world, 1)[0]["seq"]

    monkeypatch.setenv("CITYSHARE_FAIL_AT", f"audit.append={code}")
    refused = client.get(f"/api/tables/{OPEN}/rows", headers=headers, params={"limit": 3})
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
    assert refused.json() == {"detail": f"服务暂不可用：{reason}，请稍后重试（运维人员已收到日志）"}
    assert client.get("/", headers=headers).status_code == 200  # the directory page reads no rows: it still answers
    code = next(e["信息资源代码"] for e in client.get("/api/directory").json()["共享数据资源目录"]
                if e["table"] == f"shared.{OPEN}")
    sample = client.get("/entry", params={"code": code})  # the entry page shows sample rows
    assert sample.status_code == 503 and f"服务暂不可用：{reason}" in sample.text and "暂不可用" in sample.text
    for answer in (refused, sample):
        assert "Traceback" not in answer.text and "<audit.append>" not in answer.text
        assert str(world.data_dir) not in answer.text and "Errno" not in answer.text

    monkeypatch.delenv("CITYSHARE_FAIL_AT")
    assert audit.entries(world, 1)[0]["seq"] == before  # nothing served, nothing half-recorded
    assert client.get(f"/api/tables/{OPEN}/rows", headers=headers, params={"limit": 3}).status_code == 200


def test_an_unexpected_error_is_a_plain_500_without_driver_text(world, monkeypatch):
    from cityshare.share import service

    def broken(*_args, **_kwargs):
        raise RuntimeError("Catalog Error: Table with name secret_internal does not exist!")

    monkeypatch.setattr(service, "entry", broken)
    answer = TestClient(create_app(world), raise_server_exceptions=False).get("/api/directory/anything")
    assert answer.status_code == 500 and "Retry-After" not in answer.headers
    assert answer.json() == {"detail": "服务内部错误，请稍后重试（运维人员已收到日志）"}
