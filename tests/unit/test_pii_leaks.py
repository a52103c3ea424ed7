"""PII leak scan: the raw ID numbers and mobile numbers the departments delivered must appear in no
shared table, snapshot, API export, directory export, log or audit record — only masked or tokenized.
"""

from __future__ import annotations

import logging
import re
import sqlite3

import duckdb
import pytest
from reliability_support import SOURCES, world
from test_directory_support import DAYS

from cityshare.identifiers import is_valid_id_number

ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def _tokens(text: str) -> set[str]:
    return {m.upper() for m in ID.findall(text) if is_valid_id_number(m)} | set(MOBILE.findall(text))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A full run (ingest → build → publish → directory), exports over the API, with logs captured."""
    from fastapi.testclient import TestClient

    from cityshare.directory.builder import build_directory
    from cityshare.ingest import ingest
    from cityshare.publish import audit, publish
    from cityshare.share.app import create_app
    from cityshare.share.tokens import issue
    from cityshare.transform import build

    settings = world(tmp_path_factory.mktemp("pii") / "home")
    # every file the departments delivered or hold (IDs and phones are ASCII whatever the encoding)
    delivered = "\n".join(p.read_bytes().decode("latin-1") for folder in (settings.inbox_dir, settings.departments_dir)
                          for p in sorted(folder.rglob("*")) if p.is_file())
    records: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda rec: records.append(rec.getMessage())  # type: ignore[method-assign]
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        for day in DAYS:
            for key in SOURCES:
                ingest(key, day, settings)
        build(settings)
        publish(audit(settings), settings)
        build_directory(settings)
        client = TestClient(create_app(settings))
        _, token = issue(settings, "zjw", "scan", "governance")
        headers = {"Authorization": f"Bearer {token}"}
        exports = {}
        for t in client.get("/api/tables", headers=headers).json():
            if not t["access"]:  # 不予共享 tables are refused even to governance; their snapshots are scanned
                continue
            for fmt in ("csv", "jsonl"):
                r = client.get(f"/api/tables/{t['table']}/export", params={"format": fmt}, headers=headers)
                exports[f"{t['table']}.{fmt}"] = (r.status_code, r.text)
            r = client.get(f"/api/tables/{t['table']}/rows", params={"limit": 1000}, headers=headers)
            exports[f"{t['table']}/rows"] = (r.status_code, r.text)
        exports["audit"] = (200, client.get("/api/audit", headers=headers, params={"limit": 1000}).text)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return settings, _tokens(delivered), exports, records


def _artifacts(settings, exports, records) -> dict[str, str]:
    from cityshare.directory.document import load_entries
    from cityshare.directory.exporters import export

    found: dict[str, str] = {}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'shared'").fetchall():
            found[f"shared.{name}"] = str(con.execute(f'SELECT * FROM shared."{name}"').fetchall())
    finally:
        con.close()
    for part in (settings.exports_dir / "shared").rglob("*.parquet"):
        found[str(part)] = str(duckdb.connect().execute(f"SELECT * FROM read_parquet('{part}')").fetchall())
    for fmt in ("json", "csv", "dcat"):
        found[f"directory.{fmt}"] = export(load_entries(settings), fmt)[0]
    for path in [*settings.directory_dir.rglob("*"), *settings.dbt_target_dir.rglob("*.log"),
                 *settings.data_dir.glob("**/logs/**/*.log")]:
        if path.is_file():
            found[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    con = sqlite3.connect(settings.data_dir / "access" / "access.sqlite3")
    try:
        for table in ("audit_log", "deliveries", "corrections", "access_requests"):
            found[f"access.{table}"] = str(con.execute(f"SELECT * FROM {table}").fetchall())
    finally:
        con.close()
    found["log records"] = "\n".join(records)
    found |= {f"api {k}": v for k, (_, v) in exports.items()}
    return found


def test_no_raw_id_or_phone_in_any_shared_layer_export_log_or_audit(pipeline):
    settings, raw, exports, records = pipeline
    assert len(raw) > 50  # the deliveries really carry IDs and phones to look for
    assert {status for status, _ in exports.values()} == {200} and len(exports) > 5
    artifacts = _artifacts(settings, exports, records)
    assert any(k.startswith("shared.") for k in artifacts) and any(k.startswith("api ") for k in artifacts)
    leaks = {name: sorted(_tokens(text) & raw)[:3] for name, text in artifacts.items() if _tokens(text) & raw}
    print(f"\nPII scan: {len(raw)} raw ID/phone values searched in {len(artifacts)} artifacts "
          f"({sum(len(t) for t in artifacts.values()) // 1024} KiB); leaks: {len(leaks)}")
    assert leaks == {}


def test_the_scan_finds_a_planted_leak(pipeline):
    """The scan is not blind: a raw value copied into text is found."""
    _, raw, _, _ = pipeline
    value = sorted(raw)[0]
    assert _tokens(f"备注：联系人 {value}，已核实") & raw == {value}
