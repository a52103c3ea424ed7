"""Published tables as the service sees them: contract facts plus the latest Parquet snapshot.

Rows are served from the snapshot under ``exports/shared/<table>/version=N/`` that publish writes (the
version the table's pointer names, moved after the publishing commit), so the service never takes the
warehouse lock that Airflow's builds hold.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.settings import Settings

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class SharedTable:
    """One published table (共享数据表)."""

    name: str
    title: str
    provider: str
    sharing_type: str
    sharing_condition: str
    version: int | None
    snapshot: Path | None
    columns: dict[str, str] = field(default_factory=dict)  # name → DuckDB type
    business_names: dict[str, str] = field(default_factory=dict)
    masked: dict[str, str] = field(default_factory=dict)  # column → masking rule

    @property
    def published(self) -> bool:
        return self.snapshot is not None


_cache: dict[Path, tuple[tuple[Any, ...], dict[str, SharedTable]]] = {}
_lock = threading.Lock()


def snapshots(settings: Settings, name: str) -> dict[int, Path]:
    """Every published version of a table and its immutable Parquet snapshot, oldest first: the folders up to
    the served one (a higher folder belongs to a publish that never committed, cityshare.snapshots)."""
    from cityshare.snapshots import current, versions

    served, _ = current(settings, name)
    if served is None:
        return {}
    return {v: folder / f"{name}.parquet" for v, folder in sorted(versions(settings, name).items()) if v <= served}


def latest_snapshot(settings: Settings, name: str) -> tuple[int | None, Path | None]:
    """The published version the service serves: the table's pointer (cityshare.snapshots)."""
    from cityshare.snapshots import current

    return current(settings, name)


def pinned(settings: Settings, table: SharedTable, version: int) -> SharedTable | None:
    """The table as it was published in ``version`` (its own snapshot and columns), None if no such version."""
    import dataclasses

    if version == table.version:
        return table
    snapshot = snapshots(settings, table.name).get(version)
    if snapshot is None:
        return None
    return dataclasses.replace(table, version=version, snapshot=snapshot, columns=_schema(snapshot))


def _fingerprint(settings: Settings) -> tuple[Any, ...]:
    """Cheap change detector: contract files' mtimes and the snapshot folders' mtimes."""
    parts: list[Any] = []
    for p in sorted((settings.contracts_dir / "shared").glob("*.odcs.yaml")):
        parts.append((p.name, p.stat().st_mtime_ns))
    base = settings.exports_dir / "shared"
    if base.is_dir():
        for d in sorted(base.iterdir()):
            parts.append((d.name, d.stat().st_mtime_ns))
    return tuple(parts)


def _schema(snapshot: Path) -> dict[str, str]:
    from cityshare.share.snapshot_reader import cursor

    cur = cursor()
    try:
        rows = cur.execute("DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(snapshot)]).fetchall()
    finally:
        cur.close()
    return {r[0]: r[1] for r in rows}


def shared_tables(settings: Settings) -> dict[str, SharedTable]:
    """Every published contract's table, cached until a contract or snapshot folder changes."""
    from cityshare.contracts.model import load_contracts

    key = settings.exports_dir
    fingerprint = _fingerprint(settings)
    with _lock:
        hit = _cache.get(key)
        if hit and hit[0] == fingerprint:
            return hit[1]
    tables: dict[str, SharedTable] = {}
    for c in load_contracts(settings, kind="shared"):
        version, snapshot = latest_snapshot(settings, c.model_name)
        tables[c.model_name] = SharedTable(
            name=c.model_name, title=c.name, provider=c.department, sharing_type=c.sharing_type,
            sharing_condition=str(c.custom.get("sharingCondition", "")), version=version, snapshot=snapshot,
            columns=_schema(snapshot) if snapshot else {p.name: p.physical_type for p in c.properties},
            business_names={p.name: p.business_name for p in c.properties},
            masked={p.name: p.masking for p in c.properties if p.masking},
        )
    with _lock:
        _cache[key] = (fingerprint, tables)
    return tables
