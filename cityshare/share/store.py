"""The access-control store (令牌、申请、授权、纠错、交付、审计): one SQLite file in WAL mode.

Why not the DuckDB warehouse: DuckDB admits one writing process per file, and Airflow's build holds it
for minutes, while every API read must append an audit record at once and `cityshare token issue`
must work while the portal runs. SQLite in WAL mode gives many readers plus short serialized writers
across processes, which is exactly this small transactional workload. The warehouse stays read-only
for the service.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cityshare.keys import owner_only_dir
from cityshare.settings import Settings
from cityshare.warehouse import transaction
from cityshare.workcal import now_beijing

DDL = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, token_hash TEXT UNIQUE NOT NULL, department TEXT NOT NULL, user_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('consumer', 'approver', 'governance')),
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS access_requests (
    id TEXT PRIMARY KEY, table_name TEXT NOT NULL, provider TEXT NOT NULL, department TEXT NOT NULL,
    user_name TEXT NOT NULL, purpose TEXT NOT NULL, columns TEXT NOT NULL, row_filter TEXT NOT NULL,
    period_days INTEGER NOT NULL, status TEXT NOT NULL, submitted_at TEXT NOT NULL, deadline TEXT NOT NULL,
    decided_at TEXT, decided_by TEXT, reason TEXT, grant_id TEXT, escalated_at TEXT);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, request_id TEXT, table_name TEXT NOT NULL, provider TEXT NOT NULL,
    department TEXT NOT NULL, columns TEXT NOT NULL, row_filter TEXT NOT NULL, valid_from TEXT NOT NULL,
    valid_until TEXT NOT NULL, approved_by TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT);
CREATE INDEX IF NOT EXISTS grants_by_department ON grants (department, table_name);
CREATE TABLE IF NOT EXISTS corrections (
    id TEXT PRIMARY KEY, table_name TEXT NOT NULL, provider TEXT NOT NULL, department TEXT NOT NULL,
    user_name TEXT NOT NULL, row_key TEXT NOT NULL, column_name TEXT NOT NULL, current_value TEXT,
    proposed_value TEXT, description TEXT NOT NULL, created_at TEXT NOT NULL, deadline TEXT NOT NULL,
    status TEXT NOT NULL, resolved_at TEXT, resolved_by TEXT, resolution TEXT);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, table_name TEXT NOT NULL, version INTEGER, format TEXT NOT NULL,
    department TEXT NOT NULL, user_name TEXT NOT NULL, grant_id TEXT, rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL, sha256 TEXT NOT NULL, receipt TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, csrf TEXT NOT NULL, created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, revoked_at TEXT);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, department TEXT, user_name TEXT, role TEXT, token_id TEXT,
    action TEXT NOT NULL, target TEXT, grant_id TEXT, rows INTEGER, status INTEGER, detail TEXT,
    prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
"""

_ready: set[Path] = set()
_local = threading.local()
# Writers of this process queue here: SQLite's own busy handler sleeps in growing steps, which under
# many concurrent API threads costs far more than the write itself. Other processes still use it.
_write_lock = threading.Lock()


def db_path(settings: Settings) -> Path:
    return settings.data_dir / "access" / "access.sqlite3"


def now() -> dt.datetime:
    """Wall-clock time in China (deadlines and grants are counted on Chinese dates)."""
    return now_beijing()


def today() -> dt.date:
    return now().date()


@contextmanager
def connect(settings: Settings, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection kept per thread (closing the last one forces a WAL checkpoint on every request);
    ``write=True`` holds the write lock (BEGIN IMMEDIATE) until commit."""
    path = db_path(settings)
    pool: dict[Path, sqlite3.Connection] = _local.__dict__.setdefault("pool", {})
    con = pool.get(path)
    if con is None or not path.exists():
        owner_only_dir(path.parent)  # tokens' hashes, grants, the audit log: the owner only
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite's -wal/-shm copy this mode
        con = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        con.row_factory = sqlite3.Row
        if path not in _ready or not path.exists():
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(DDL)
            _ready.add(path)
        con.execute("PRAGMA synchronous=NORMAL")
        pool[path] = con
    if not write:
        yield con
        return
    with _write_lock, transaction(con, "BEGIN IMMEDIATE"):
        yield con
