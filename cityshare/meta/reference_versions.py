"""``meta.reference_versions``: every code list received from a higher instance (下发参考数据), one row per local
version — what cityshare.federation.reference records and ``cityshare federation code-lists`` reports."""

from __future__ import annotations

from typing import Any

from cityshare.sqlexec import insert_rows

COLUMNS = ("code_list", "version", "sha256", "rows", "source", "provider", "origin", "key_id", "added", "removed",
           "changed", "received_at")


def record_version(con: Any, row: dict[str, Any]) -> int:
    """Record a received list as the next local version of its code list (1, 2, …); returns that version."""
    version = int(con.execute("SELECT coalesce(max(version), 0) + 1 FROM meta.reference_versions WHERE code_list = ?",
                              [row["code_list"]]).fetchone()[0])
    insert_rows(con, "meta.reference_versions", [[{**row, "version": version}[c] for c in COLUMNS]], COLUMNS)
    return version
