"""The audit log as an auditor checks it: `cityshare audit verify` catches a cut-off tail, a deleted or
reordered record, and an edit whose chain was recomputed without the key, naming the first bad record;
raw ID and mobile numbers never reach the log."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import stat

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cityshare.cli import app as cli
from cityshare.share import audit, store
from cityshare.share.app import create_app
from cityshare.share.sample_world import build_world
from cityshare.share.tokens import issue

OPEN = "base_legal_entity"


@pytest.fixture
def logged(tmp_path, monkeypatch):
    """A share world with 12 audited reads and one export (whose receipt anchors the head)."""
    settings = build_world(tmp_path)
    monkeypatch.setenv("CITYSHARE_HOME", str(settings.project_root))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CITYSHARE_TOKEN_KEY", settings.token_key)
    client = TestClient(create_app(settings))
    headers = {"Authorization": f"Bearer {issue(settings, 'zjw', 'auditor_test', 'consumer')[1]}"}
    for i in range(12):
        assert client.get(f"/api/tables/{OPEN}/rows", headers=headers, params={"limit": i + 1}).status_code == 200
    assert client.get(f"/api/tables/{OPEN}/export", headers=headers, params={"format": "csv"}).status_code == 200
    assert audit.verify(settings)["ok"]
    return settings, client, headers


def _sql(settings, *statements: tuple[str, list]) -> None:
    con = sqlite3.connect(store.db_path(settings))
    try:
        for sql, params in statements:
            con.execute(sql, params)
        con.commit()
    finally:
        con.close()


def _rows(settings) -> list[dict]:
    con = sqlite3.connect(store.db_path(settings))
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit_log ORDER BY seq")]
    finally:
        con.close()


def _cli_verify() -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify"])
    return result.exit_code, " ".join(result.output.split())


def test_intact_log_verifies(logged):
    settings, _, _ = logged
    code, out = _cli_verify()
    assert code == 0 and f"{len(_rows(settings))} records" in out and "signed anchors" in out


def test_tail_truncation_is_detected(logged):
    settings, _, _ = logged
    last = len(_rows(settings))
    _sql(settings, ("DELETE FROM audit_log WHERE seq >= ?", [last - 1]))  # the export and the read before it
    result = audit.verify(settings)
    assert not result["ok"] and result["bad_seq"] == last - 1 and "截断" in result["reason"]
    code, out = _cli_verify()
    assert code == 1 and f"at record {last - 1}" in out


def test_deleted_middle_entry_is_detected(logged):
    settings, _, _ = logged
    _sql(settings, ("DELETE FROM audit_log WHERE seq = 5", []))
    result = audit.verify(settings)
    assert (result["ok"], result["bad_seq"]) == (False, 5) and "删除" in result["reason"]


def test_reordered_pair_is_detected(logged):
    settings, _, _ = logged
    rows = _rows(settings)
    a, b = rows[5], rows[6]  # seq 6 and 7 swap places (each keeps its seq number)
    cols = [c for c in a if c != "seq"]
    update = f"UPDATE audit_log SET {', '.join(f'{c} = ?' for c in cols)} WHERE seq = ?"
    _sql(settings, (update, [b[c] for c in cols] + [6]), (update, [a[c] for c in cols] + [7]))
    result = audit.verify(settings)
    assert (result["ok"], result["bad_seq"]) == (False, 6)


@pytest.mark.parametrize("guess", ["sha256", "hmac-token-key"])
def test_edit_with_the_chain_recomputed_without_the_key_is_detected(logged, guess):
    """The attacker turns a read into someone else's and rebuilds every later hash as the old unkeyed chain
    did, or keyed with the token key (which is not the audit key)."""
    import hmac

    settings, _, _ = logged
    rows = _rows(settings)
    rows[3]["department"] = "cgj"

    def digest(prev: str, rec: dict) -> str:
        body = json.dumps({k: rec[k] for k in audit.FIELDS}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        if guess == "sha256":
            return hashlib.sha256((prev + body).encode()).hexdigest()
        key = settings.token_key.encode()
        return hmac.new(key, (prev + body).encode(), hashlib.sha256).hexdigest()

    prev, updates = rows[2]["hash"], []
    for rec in rows[3:]:
        rec["prev_hash"], rec["hash"] = prev, digest(prev, rec)
        prev = rec["hash"]
        updates.append(("UPDATE audit_log SET department = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                        [rec["department"], rec["prev_hash"], rec["hash"], rec["seq"]]))
    _sql(settings, *updates)
    result = audit.verify(settings)
    assert (result["ok"], result["bad_seq"]) == (False, 4) and "篡改" in result["reason"]


def test_even_with_the_key_an_anchored_record_cannot_be_rewritten(logged):
    """Defence in depth: the anchor is signed with another key (Ed25519), so a rebuilt keyed chain still
    disagrees with the checkpoint taken at the export receipt."""
    settings, _, _ = logged
    rows = _rows(settings)
    rows[3]["status"] = 500
    prev, updates = rows[2]["hash"], []
    key = audit._key(settings)
    for rec in rows[3:]:
        rec["prev_hash"], rec["hash"] = prev, audit._digest(key, prev, rec)
        prev = rec["hash"]
        updates.append(("UPDATE audit_log SET status = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                        [rec["status"], rec["prev_hash"], rec["hash"], rec["seq"]]))
    _sql(settings, *updates)
    result = audit.verify(settings)
    assert not result["ok"] and result["bad_seq"] == len(rows) and "锚点" in result["reason"]


def test_rotating_the_token_key_keeps_the_log_verifiable(logged):
    settings, _, _ = logged
    assert audit.verify(dataclasses.replace(settings, token_key="k" * 43))["ok"]
    assert stat.S_IMODE((settings.data_dir / "keys" / "audit_chain.key").stat().st_mode) == 0o600


def test_anchor_file_is_signed_owner_only_and_written_daily(logged):
    settings, _, _ = logged
    path = settings.audit_anchor_dir / audit.ANCHORS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    lines = path.read_text().splitlines()
    assert len(lines) >= 2  # the day's first record and the export receipt
    audit._anchored_day.clear()  # a new day (or process): the next record anchors again
    audit.record(settings, None, "probe")
    assert len(path.read_text().splitlines()) == len(lines) + 1
    forged = json.loads(lines[-1])
    forged["checkpoint"]["records"] = 1
    with path.open("a") as fh:
        fh.write(json.dumps(forged) + "\n")
    result = audit.verify(settings)
    assert not result["ok"] and "签名无效" in result["reason"]


def test_raw_pii_in_logged_parameters_is_masked(logged):
    settings, client, headers = logged
    id_number, mobile = "500108199001011234", "13812345678"
    r = client.get(f"/api/tables/{OPEN}/rows", headers=headers,
                   params=[("filter", f"legal_person_id:eq:{id_number}"), ("filter", f"uscc:in:{mobile}|x")])
    assert r.status_code == 200
    detail = audit.entries(settings, 1)[0]["detail"]
    assert id_number not in detail and mobile not in detail
    assert "500108********1234" in detail and "138****5678" in detail
    assert audit.verify(settings)["ok"]
