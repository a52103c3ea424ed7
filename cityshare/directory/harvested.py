"""Entries harvested from lower instances (下级平台汇聚, cityshare.federation.harvest) as the directory lists them.

The directory build and a harvest both write ``directory.json`` = this instance's own entries + the active
harvested ones, each with its 汇聚状态 (正常, or 过期 with the last successful harvest).
"""

from __future__ import annotations

import json
from typing import Any

from cityshare.settings import Settings
from cityshare.warehouse import connect

DDL = """
CREATE SCHEMA IF NOT EXISTS directory;
CREATE TABLE IF NOT EXISTS directory.harvest_sources (name VARCHAR PRIMARY KEY, endpoint VARCHAR, level VARCHAR,
    area VARCHAR, instance_name VARCHAR, watermark TIMESTAMP, last_success TIMESTAMP, last_attempt TIMESTAMP,
    last_error VARCHAR);
CREATE TABLE IF NOT EXISTS directory.harvested (resource_code VARCHAR PRIMARY KEY, source VARCHAR,
    original_code VARCHAR, modified TIMESTAMP, withdrawn BOOLEAN, entry JSON, harvested_at TIMESTAMP);
"""


def harvested_entries(con: Any) -> list[dict[str, Any]]:
    """The active harvested entries with their 汇聚状态 (正常, or 过期 with the last successful harvest)."""
    con.execute(DDL)
    status = {name: (success, error) for name, success, error in con.execute(
        "SELECT name, last_success, last_error FROM directory.harvest_sources").fetchall()}
    out = []
    for source, entry in con.execute("SELECT source, entry FROM directory.harvested WHERE NOT withdrawn "
                                     "ORDER BY resource_code").fetchall():
        success, error = status.get(source, (None, None))
        entry = json.loads(entry)
        entry["汇聚状态"] = {"状态": "过期（下级平台不可达）" if error else "正常", "过期": bool(error),
                         "最近成功汇聚": success.isoformat(sep=" ") if success else None,
                         **({"原因": error} if error else {})}
        out.append(entry)
    return out


def write_directory(settings: Settings) -> None:
    """directory.json = this instance's own entries (directory.entries) + the active harvested ones."""
    import duckdb

    from cityshare.directory.document import export_json

    with connect(settings) as con:
        con.execute(DDL)
        try:  # in the order the build wrote them
            local = [json.loads(r[0]) for r in con.execute("SELECT entry FROM directory.entries ORDER BY rowid").fetchall()]
        except duckdb.CatalogException:  # no directory built yet: only what was harvested
            local = []
        entries = local + harvested_entries(con)
    export_json(entries, settings.directory_dir / "directory.json")
