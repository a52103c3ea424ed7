"""``meta.publications``, ``meta.publish_status`` and ``meta.build_state``: what was published, in which version,
why a table is held back, and what the last build saw.

cityshare.publish records versions and each table's audit outcome here; cityshare.build_state the fingerprints of
the last successful build; recovery, the directory and the demo read them through these functions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityshare.sqlexec import insert_rows

PUBLICATION_COLUMNS = ("table_name", "version", "rows", "content_hash", "snapshot_path", "published_at")
BUILD_STATE_COLUMNS = ("item", "fingerprint", "built_at")

# The meta.build_state item cityshare.publish keeps the inputs of the last audit under: not part of a build's state,
# so left out of build_fingerprints (a build never compares it) and written only by record_audit_outcome.
AUDITED = "__audited__"


# ---------------------------------------------------------------------------------------------- publications


def latest_publication(con: Any, table: str) -> tuple[int, str] | None:
    """(version, content hash) of a table's latest published version, None before its first: a rebuilt table with
    the same content hash keeps its version."""
    row = con.execute("SELECT version, content_hash FROM meta.publications WHERE table_name = ? "
                      "ORDER BY version DESC LIMIT 1", [table]).fetchone()
    return (row[0], row[1]) if row else None


def latest_publications(con: Any) -> dict[str, tuple[int, int, dt.datetime]]:
    """table → (version, rows, published_at) of its latest published version, by table name: what the directory
    shows and the demo sums up."""
    return {table: (version, rows, published_at) for table, version, rows, published_at in con.execute(
        "SELECT table_name, version, rows, published_at FROM meta.publications "
        "QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY version DESC) = 1 ORDER BY table_name").fetchall()}


def publications(con: Any) -> list[tuple[str, int, str, str]]:
    """Every published version as (table, version, content hash, snapshot path as stored), by table then version:
    what recovery's check holds against the snapshot folders."""
    return [(table, version, digest, path) for table, version, digest, path in con.execute(
        "SELECT table_name, version, content_hash, snapshot_path FROM meta.publications "
        "ORDER BY table_name, version").fetchall()]


def record_publication(con: Any, table: str, version: int, *, rows: int, content_hash: str, snapshot_path: str | None,
                       published_at: dt.datetime) -> None:
    """Record a newly published version (in the transaction that swaps the table into ``shared``); a version
    recorded before is an error, never overwritten."""
    insert_rows(con, "meta.publications", [[table, version, rows, content_hash, snapshot_path, published_at]],
                PUBLICATION_COLUMNS)


def replace_publication(con: Any, table: str, version: int, *, rows: int, content_hash: str, snapshot_path: str | None,
                        published_at: dt.datetime) -> None:
    """Record a published version from its snapshot folder, replacing any row the warehouse had for it (recovery
    registers the folders of a lost warehouse again, and may run more than once)."""
    con.execute("DELETE FROM meta.publications WHERE table_name = ? AND version = ?", [table, version])
    record_publication(con, table, version, rows=rows, content_hash=content_hash, snapshot_path=snapshot_path,
                       published_at=published_at)


# ---------------------------------------------------------------------------------------------- publish status


def publish_status(con: Any) -> dict[str, tuple[str, str, dt.datetime]]:
    """``shared.<table>`` → (status: published, blocked or waiting; reason; checked_at) of the last audit: the
    directory says why a table keeps its previous version, and a no-op build repeats the outcome."""
    return {table: (status, reason, checked_at) for table, status, reason, checked_at in con.execute(
        "SELECT table_name, status, reason, checked_at FROM meta.publish_status").fetchall()}


def record_audit_outcome(con: Any, statuses: list[list[Any]], inputs: str, when: dt.datetime) -> None:
    """Each table's outcome (``[table, status, reason, checked_at]``, replacing its last) and the inputs the audit
    followed from (see cityshare.publish.audit_inputs), so an audit of the same inputs can be skipped. Call it in
    one transaction: an outcome without its inputs would be repeated for other inputs."""
    for row in statuses:
        con.execute("INSERT OR REPLACE INTO meta.publish_status (table_name, status, reason, checked_at) "
                    "VALUES (?, ?, ?, ?)", row)
    con.execute("INSERT OR REPLACE INTO meta.build_state (item, fingerprint, built_at) VALUES (?, ?, ?)",
                [AUDITED, inputs, when])


def audited_inputs(con: Any) -> str | None:
    """The inputs of the last recorded audit (record_audit_outcome), None when none was recorded."""
    row = con.execute("SELECT fingerprint FROM meta.build_state WHERE item = ?", [AUDITED]).fetchone()
    return None if row is None or row[0] is None else str(row[0])


# ---------------------------------------------------------------------------------------------- build state


def build_fingerprints(con: Any) -> dict[str, str]:
    """item → fingerprint recorded by the last successful build (sources, project, model tables), by item; the
    audit's inputs (AUDITED) are not a build's and are left out."""
    return dict(con.execute("SELECT item, fingerprint FROM meta.build_state WHERE item <> ? ORDER BY item",
                            [AUDITED]).fetchall())


def record_build_state(con: Any, items: dict[str, str], when: dt.datetime) -> None:
    """After a successful build: its fingerprints, replacing those of the same items (items not given keep theirs:
    a partial build leaves the model table list of the last full one)."""
    con.execute("DELETE FROM meta.build_state WHERE item IN (SELECT unnest(?::VARCHAR[]))", [list(items)])
    insert_rows(con, "meta.build_state", [[item, value, when] for item, value in items.items()], BUILD_STATE_COLUMNS)
