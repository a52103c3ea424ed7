"""What the last successful dbt build saw, so the next one builds only what new data reaches.

A daily run lands a batch for every source, but many are empty (an API with nothing new, a registry
unchanged) and hourly sensor feeds land far more often than the registries. Rebuilding all layers each
time costs dbt's per-node work (≈ 50 ms of Python per model and test) on every model and test, however
little changed. So each successful build records, per raw source, a fingerprint of the non-empty
accepted batches its raw view reads, plus a fingerprint of everything that shapes the models' SQL and
results (the dbt project, the generated sources/contracts, the masking code and the city-held token
key). The next build then selects ``source:raw.<table>+`` for the sources whose fingerprint changed:
their models, everything downstream of them and those models' data tests. Anything else — no state yet,
a model table missing from the warehouse — builds everything; a changed project or ``--full-refresh``
also rebuilds the incremental models from every batch, since their rows were made by the old SQL.

The state lives in the warehouse itself (``meta.build_state``, created with the other meta tables), so
a warehouse restored from a backup carries the state of its own tables. It is written only after a build
succeeded: a failed build's sources stay "changed" and are selected again next time.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityshare.keys import require_token_key
from cityshare.meta.batches import content_fingerprints
from cityshare.meta.publications import build_fingerprints, record_build_state
from cityshare.settings import Settings

_PROJECT = "__project__"
_MODELS = "__models__"
_SKIP_DIRS = {"target", "logs", "dbt_packages", "__pycache__"}
# What the generated dbt files were rendered from (written by cityshare.transform beside them): not an input
# of any model, so not part of the project fingerprint (a contract comment changes it, no model).
RENDERED_STAMP = ".rendered.json"
_CODE = ("transform_udfs.py", "privacy.py", "transform.py", "build_state.py", "standard_model.py")


@dataclass(frozen=True)
class Plan:
    """The build to run: everything (``refresh``: incremental models too, from every batch), nothing, or
    the subgraphs of the changed sources."""

    full: bool
    refresh: bool
    changed_sources: tuple[str, ...]
    reason: str
    fingerprints: dict[str, str]

    @property
    def select(self) -> list[str]:
        return [f"source:raw.{table}+" for table in self.changed_sources]

    @property
    def nothing_to_do(self) -> bool:
        return not self.full and not self.changed_sources


def project_fingerprint(settings: Settings) -> str:
    """SHA-256 over the dbt project's files (models, macros, seeds, generated YAML), the Python code the
    models call, dbt's versions, a hash of the token key and the received code lists: any of them changes what a
    model holds."""
    from cityshare.code_lists import received_digests

    digest = hashlib.sha256()
    root = settings.dbt_project_dir
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not _SKIP_DIRS & set(p.relative_to(root).parts)):
        if path.name in (".user.yml", RENDERED_STAMP):  # dbt's own, and what the generated files were rendered from
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    package = Path(__file__).resolve().parent
    for name in _CODE:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes() + b"\0")
    for dist in ("dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{dist}={importlib.metadata.version(dist)}\0".encode())
    digest.update(hashlib.sha256(require_token_key(settings).encode()).digest())
    for received in received_digests(settings):  # a code list received from a higher instance replaces a seed
        digest.update(received.encode() + b"\0")
    return digest.hexdigest()


def source_fingerprints(con: Any, raw_tables: dict[str, str]) -> dict[str, str]:
    """raw table → md5 of the non-empty accepted batches its view reads (an empty batch adds no row, so
    it changes nothing; a load date gated again changes the path and so the fingerprint).

    A batch whose rows are exactly those of the dataset's previous non-empty batch (by load date) is left out:
    a registry delivered as a daily snapshot that did not change. Every standard model keeps the latest row per
    key, so such a batch changes no value in any layer, and a build for it would only re-stamp the rows' load
    metadata. Its model reads it, unseen, with the next batch that does change something."""
    rows = content_fingerprints(con)
    empty = hashlib.md5(b"").hexdigest()
    return {table: rows.get(key, empty) for key, table in raw_tables.items()}


def _model_tables(settings: Settings) -> str | None:
    """The layer tables of the last build, as ``schema.table`` lines (from its manifest)."""
    import json

    manifest = settings.dbt_target_dir / "manifest.json"
    if not manifest.exists():
        return None
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    return "\n".join(sorted(f"{n['schema']}.{n['alias']}" for n in nodes if n["resource_type"] in ("model", "seed")
                            and n.get("config", {}).get("materialized") != "ephemeral"))


def plan(con: Any, settings: Settings, raw_tables: dict[str, str], full_refresh: bool = False) -> Plan:
    """Compare the warehouse's recorded state with now; say what to build and why."""
    now = {**source_fingerprints(con, raw_tables), _PROJECT: project_fingerprint(settings)}
    before = build_fingerprints(con)
    if full_refresh:
        return Plan(True, True, (), "full refresh requested", now)
    if not before:
        return Plan(True, False, (), "first build of this warehouse", now)
    if before.get(_PROJECT) != now[_PROJECT]:
        # the incremental models' rows were computed by the old SQL (or key): they are rebuilt from every batch
        return Plan(True, True, (), "the dbt project, masking code or token key changed since the last build", now)
    tables = before.get(_MODELS, "").splitlines()
    present = {f"{s}.{t}" for s, t in con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
    missing = [t for t in tables if t not in present]
    if not tables or missing:
        return Plan(True, False, (), f"model tables missing from the warehouse: {', '.join(missing[:5]) or 'unknown'}", now)
    changed = tuple(sorted(t for t in raw_tables.values() if before.get(t) != now[t]))
    reason = f"new batches in {len(changed)} of {len(raw_tables)} sources" if changed else "no new batches since the last build"
    return Plan(False, False, changed, reason, now)


def record(con: Any, settings: Settings, built: Plan) -> None:
    """After a successful build: remember what it saw (and which tables it left) for the next plan."""
    import datetime as dt

    items = dict(built.fingerprints)
    if built.full:  # a partial build runs the same project, so the table list recorded last time still holds
        items[_MODELS] = _model_tables(settings) or ""
    when = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    record_build_state(con, items, when)
