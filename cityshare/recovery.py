"""Recovery as commands (docs/recovery.md): ``cityshare check``, ``backup``, ``restore`` and ``recover``.

- ``check`` compares ``meta.publications`` with the snapshot folders and the served-version pointers
  (cityshare.snapshots), repairs what a crash can leave (a lagging pointer, the current version's missing
  snapshot, an unpublished folder) and names what it cannot repair. ``serve`` runs it on start.
- ``backup`` copies what the lake cannot give back — the warehouse (under DuckDB's shared lock, so no writer
  commits while it is copied), the access and audit database (SQLite's online backup API), the audit
  anchors, the snapshots, the last build's dbt artifacts and the key metadata (fingerprints; the secret
  files only when asked) — with a manifest of checksums; ``restore`` checks the manifest and puts the files back.
- ``recover`` rebuilds a lost warehouse from the lake: the journaled batch decisions with their verdicts
  and sequences (cityshare.journal), a new gate run for landed batches the journal lacks, the published
  versions from the snapshot folders, then a full build whose unchanged tables keep their versions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from cityshare import snapshots
from cityshare.errors import CityShareError
from cityshare.meta.publications import publications, replace_publication
from cityshare.settings import Settings
from cityshare.storage import resolved_path, stored_path
from cityshare.warehouse import connect, transaction

MANIFEST = "manifest.json"
FORMAT = "cityshare-backup/1"


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _contracts(settings: Settings) -> dict[str, Any]:
    from cityshare.contracts.model import load_contracts

    return {c.model_name: c for c in load_contracts(settings, kind="shared")}


# ---------------------------------------------------------------------------------------------- check


def check(settings: Settings, repair: bool = True, con: Any = None) -> dict[str, list[str]]:
    """Published versions against the exports volume: ``{"repaired": [...], "problems": [...]}``, one line each.

    Holds the warehouse (read-only: a shared lock, so no publish runs meanwhile) while it looks and repairs."""
    out: dict[str, list[str]] = {"repaired": [], "problems": []}
    if con is None:
        if not settings.warehouse_path.exists():
            return out
        with connect(settings, read_only=True) as held:
            return check(settings, repair, held)
    pubs = publications(con)
    latest: dict[str, tuple[int, str, Path]] = {}
    for table, version, digest, path in pubs:
        latest[table] = (version, digest, Path(resolved_path(settings, path) or ""))
    for table, version, _digest, path in pubs:
        file = Path(resolved_path(settings, path) or "")
        if not file.exists() and latest[table][0] != version:
            out["problems"].append(f"{file}: the snapshot of shared.{table} v{version} is missing and only the current "
                                   "version can be written again: restore it from a backup (`cityshare restore <backup>`)")
    for table, (version, digest, file) in latest.items():
        if not file.exists():
            if repair and _rewrite_current(settings, con, table, version, digest):
                out["repaired"].append(f"shared.{table} v{version}: wrote its missing snapshot again from the warehouse")
            else:
                out["problems"].append(f"{file}: the snapshot of the current version of shared.{table} (v{version}) is "
                                       "missing and the warehouse no longer holds those rows: restore it from a backup "
                                       "(`cityshare restore <backup>`) or run `cityshare build`")
                continue
        served = snapshots.pointer(settings, table)
        if served is not None and served > version:
            out["problems"].append(f"shared.{table}: the service shows v{served} but the warehouse knows only v{version} "
                                   "(a warehouse older than the snapshots): run `cityshare recover --force`")
        elif served != version and (served is not None or snapshots.sidecar(file.parent) is not None):
            if repair:
                snapshots.set_pointer(settings, table, version)
                out["repaired"].append(f"shared.{table}: now served at v{version} (its publish stopped before the "
                                       f"pointer moved from v{served})")
            else:
                out["problems"].append(f"shared.{table}: served at v{served}, published v{version}")
    for table in sorted(p.name for p in (settings.exports_dir / "shared").glob("*") if p.is_dir()):
        top = latest.get(table, (0, "", Path()))[0]
        for version, folder in sorted(snapshots.versions(settings, table).items()):
            if version <= top or snapshots.sidecar(folder) is None:
                continue
            if table not in latest and snapshots.pointer(settings, table) is not None:
                out["problems"].append(f"{folder}: shared.{table} has published snapshots the warehouse does not know "
                                       "(a lost or replaced warehouse): run `cityshare recover --force`")
                break
            if repair:  # written by a publish that died before its commit: never served, kept aside
                aside = settings.exports_dir / ".orphaned" / table / f"{folder.name}-{_stamp()}"
                aside.parent.mkdir(parents=True, exist_ok=True)
                os.rename(folder, aside)
                out["repaired"].append(f"{folder}: never published (its publish stopped before the commit); "
                                       f"moved to {aside}")
    return out


def _rewrite_current(settings: Settings, con: Any, table: str, version: int, digest: str) -> bool:
    """Write the current version's snapshot from ``shared.<table>`` if it still holds exactly those rows."""
    from cityshare.publish import _order, content_digest
    from cityshare.sqlquote import lit

    contract = _contracts(settings).get(table)
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'shared' AND table_name = ?",
                         [table]).fetchone()[0]
    if contract is None or not exists:
        return False
    tmp = settings.exports_dir / ".staging" / f"check-{uuid.uuid4().hex[:8]}-{table}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        con.execute(f'COPY (SELECT * FROM shared."{table}" ORDER BY {_order(contract)}) TO {lit(tmp)} (FORMAT parquet)')
        rows, found = content_digest(con, tmp, contract)
        if found != digest:
            return False
        snapshots.write_version(settings, table, version, tmp, {"rows": rows, "content_hash": digest,
                                                                "published_at": dt.datetime.now(dt.UTC)})
        return True
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- backup


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_tree(src: Path, dst: Path, skip_existing: bool = False) -> None:
    """Copy a folder, leaving out temp and scratch entries (``.tmp-*``, ``.staging``, ``.scratch``)."""
    if not src.is_dir():
        return
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith((".tmp-", ".staging", ".scratch")) for part in rel.parts) or not path.is_file():
            continue
        target = dst / rel
        if skip_existing and target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite database (its online backup API; writers may go on meanwhile)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(src, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _key_metadata(settings: Settings) -> list[dict[str, Any]]:
    from cityshare.keys import keys_dir

    folder = keys_dir(settings)
    return [{"name": p.name, "sha256": _sha256(p), "bytes": p.stat().st_size}
            for p in sorted(folder.glob("*")) if p.is_file() and not p.name.startswith(".")] if folder.is_dir() else []


def backup(settings: Settings, dest: Path, include_secrets: bool = False, include_lake: bool = False) -> dict[str, Any]:
    """Write a backup folder ``dest`` (new or empty); consistent while pipelines and the service run."""
    from cityshare.share import store

    dest = dest.resolve()
    if dest.is_relative_to(settings.data_dir):
        raise CityShareError(f"{dest}: a backup inside the data dir would be copied into the next backup; "
                             "choose a folder outside it")
    if dest.exists() and any(dest.iterdir()):
        raise CityShareError(f"{dest}: not empty; back up into a new folder")
    work = dest.parent / f".tmp-{dest.name}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True, mode=0o700)
    try:
        if settings.warehouse_path.exists():
            with connect(settings, read_only=True):  # DuckDB's shared lock: no writer commits while we copy
                for src in (settings.warehouse_path, settings.warehouse_path.with_name(settings.warehouse_path.name + ".wal")):
                    if src.exists():
                        shutil.copy2(src, work / src.name)
        if store.db_path(settings).exists():
            _sqlite_copy(store.db_path(settings), work / "access" / store.db_path(settings).name)
        _copy_tree(settings.audit_anchor_dir, work / settings.audit_anchor_dir.name)
        _copy_tree(settings.exports_dir / "shared", work / "exports" / "shared")
        for artifact in sorted(settings.dbt_target_dir.glob("*.json")):  # the last build's manifest: lineage checks
            (work / "dbt_target").mkdir(exist_ok=True)
            shutil.copy2(artifact, work / "dbt_target" / artifact.name)
        if include_secrets:
            _copy_tree(settings.data_dir / "keys", work / "keys")
        if include_lake:
            _copy_tree(settings.lake_dir, work / "lake")
        files = {str(p.relative_to(work)): _sha256(p) for p in sorted(work.rglob("*")) if p.is_file()}
        manifest = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "data_dir": str(settings.data_dir), "secrets": include_secrets, "lake": include_lake,
                    "keys": _key_metadata(settings), "files": files}
        snapshots.write_json_atomic(work / MANIFEST, manifest)
        if dest.exists():
            dest.rmdir()
        os.rename(work, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"backup": str(dest), "files": len(files), "bytes": sum((dest / f).stat().st_size for f in files),
            "secrets": include_secrets, "lake": include_lake}


def restore(settings: Settings, src: Path, force: bool = False) -> dict[str, Any]:
    """Put a backup back into the data dir (possibly another one than it was taken from); then ``check``."""
    from cityshare.keys import keys_dir
    from cityshare.share import store

    src = src.resolve()
    try:
        manifest = json.loads((src / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        raise CityShareError(f"{src}: not a complete CityShare backup (no readable {MANIFEST})") from None
    if manifest.get("format") != FORMAT:
        raise CityShareError(f"{src / MANIFEST}: format {manifest.get('format')!r} is not {FORMAT!r}")
    for rel, digest in manifest["files"].items():
        if not (src / rel).is_file() or _sha256(src / rel) != digest:
            raise CityShareError(f"{src / rel}: missing or changed since the backup (checksum); nothing was restored")
    warehouse = settings.warehouse_path
    if warehouse.exists() and not force:
        raise CityShareError(f"{warehouse} exists: restoring replaces it — stop the scheduler and the service, then "
                             "pass --force (the current files are kept beside it as *.before-restore-<time>)")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stamp = _stamp()
    access = store.db_path(settings)
    replaced = [p for p in (warehouse, warehouse.with_name(warehouse.name + ".wal"), access,
                            access.with_name(access.name + "-wal"), access.with_name(access.name + "-shm")) if p.exists()]
    for path in replaced:
        os.rename(path, path.with_name(f"{path.name}.before-restore-{stamp}"))
    for name in (warehouse.name, warehouse.name + ".wal"):
        if (src / name).exists():
            shutil.copy2(src / name, warehouse.with_name(name))
    if (src / "access" / access.name).exists():
        access.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(src / "access" / access.name, access)
        access.chmod(0o600)
    _copy_tree(src / settings.audit_anchor_dir.name, settings.audit_anchor_dir)
    _copy_tree(src / "exports" / "shared", settings.exports_dir / "shared", skip_existing=True)  # versions never rewritten
    _copy_tree(src / "lake", settings.lake_dir, skip_existing=True)  # batches are immutable
    _copy_tree(src / "dbt_target", settings.dbt_target_dir)
    notes = []
    if (src / "keys").is_dir():
        _copy_tree(src / "keys", keys_dir(settings), skip_existing=not force)
    for key in manifest.get("keys", []):
        here = keys_dir(settings) / key["name"]
        if not here.exists():
            notes.append(f"{here}: missing — put the key from your key store there (the backup holds its fingerprint "
                         "only)")
        elif _sha256(here) != key["sha256"]:
            notes.append(f"{here}: differs from the backup's key (sha256 {key['sha256'][:12]}…): tokens, pseudonyms or "
                         "receipt signatures will not match the restored data")
    result = check(settings) if warehouse.exists() else {"repaired": [], "problems": []}
    return {"restored": str(src), "into": str(settings.data_dir), "kept_aside": [str(p) for p in replaced],
            "notes": notes, **result}


# ---------------------------------------------------------------------------------------------- recover


def _landed(settings: Settings) -> list[tuple[str, dt.date, str]]:
    """Every committed raw batch in the (local) lake: (dataset key, load date, load id)."""
    found = []
    for part in settings.lake_dir.glob("raw/*/*/load_date=*/batch=*/part-0.parquet"):
        batch, day, dataset, dept = part.parts[-2], part.parts[-3], part.parts[-4], part.parts[-5]
        found.append((f"{dept}/{dataset}", dt.date.fromisoformat(day.split("=", 1)[1]), batch.split("=", 1)[1]))
    return sorted(found, key=lambda b: (b[1], b[0], b[2]))


def register_snapshots(con: Any, settings: Settings) -> list[str]:
    """``meta.publications`` rows for the published snapshot folders (those up to each table's pointer)."""
    contracts = _contracts(settings)
    done = []
    for folder in sorted(p for p in (settings.exports_dir / "shared").glob("*") if p.is_dir()):
        table, served = folder.name, snapshots.pointer(settings, folder.name)
        for version, vdir in sorted(snapshots.versions(settings, table).items()):
            if served is not None and version > served:
                continue  # written by a publish that never committed
            file = vdir / f"{table}.parquet"
            record = snapshots.sidecar(vdir)
            if record is None:  # a folder from before publication records: measured
                if table not in contracts:
                    continue
                from cityshare.publish import content_digest

                rows, digest = content_digest(con, file, contracts[table])
                record = {"rows": rows, "content_hash": digest,
                          "published_at": dt.datetime.fromtimestamp(file.stat().st_mtime, dt.UTC).replace(tzinfo=None)}
            replace_publication(con, table, version, rows=record["rows"], content_hash=record["content_hash"],
                                snapshot_path=stored_path(settings, file), published_at=record["published_at"])
            done.append(f"{table} v{version}")
    return done


def recover(settings: Settings, force: bool = False) -> dict[str, Any]:
    """Rebuild the warehouse from the lake and the snapshots, then build and publish (unchanged tables keep their
    versions). An existing warehouse is replaced only with ``force`` (kept beside it)."""
    from cityshare import journal
    from cityshare.contracts.model import load_contracts
    from cityshare.engine import build
    from cityshare.errors import GateBlocked
    from cityshare.ingest import gate_batch
    from cityshare.publish import audit_and_publish

    warehouse = settings.warehouse_path
    kept = []
    if warehouse.exists():
        if not force:
            raise CityShareError(f"{warehouse} exists: `cityshare recover` rebuilds it from the lake — pass --force to "
                                 "set the current one aside (kept as *.before-recover-<time>)")
        stamp = _stamp()
        for path in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
            if path.exists():
                os.rename(path, path.with_name(f"{path.name}.before-recover-{stamp}"))
                kept.append(str(path.with_name(f"{path.name}.before-recover-{stamp}")))
    entries = journal.entries(settings)
    with connect(settings) as con, transaction(con):
        for doc in entries:
            journal.replay(con, doc)
        published = register_snapshots(con, settings)
    known = {(doc["dataset"], doc["load_id"]) for doc in entries}
    sources = {c.key for c in load_contracts(settings, kind="source")}
    regated, skipped = [], []
    for key, day, load_id in _landed(settings):
        if (key, load_id) in known:
            continue
        if key not in sources:
            skipped.append(f"{key} {load_id}: no contract any more")
            continue
        try:
            status = gate_batch(key, day, load_id, settings)["status"]
        except GateBlocked:
            status = "blocked"
        regated.append(f"{key} {day} {load_id}: {status}")
    built = build(settings, full_refresh=True)
    outcome = audit_and_publish(settings, not_built=built["failed"])
    problems = check(settings)
    return {"journaled_batches": len(entries), "regated": regated, "skipped": skipped,
            "versions_registered": len(published), "kept_aside": kept,
            "published": [f"{r['table']} v{r['version']}{'' if r['changed'] else ' (unchanged)'}"
                          for r in outcome["published"]],
            "blocked": outcome["blocked"], **problems}
