"""Write-audit-publish: audit the built tables against their published contracts, then swap them
into the ``shared`` schema in one transaction and keep a Parquet snapshot per version.

dbt builds into the internal layer schemas (standard/base/theme/collab), which consumers never see:
they are the audit area. A failed audit leaves every previously published version in place.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityshare import snapshots
from cityshare.contracts.model import Contract, load_contracts
from cityshare.contracts.rules import compile_rules
from cityshare.engine import audit_source
from cityshare.errors import AuditFailed
from cityshare.faults import crash_point
from cityshare.gate.gx_runner import RuleResult, run_rules
from cityshare.lake import write_parquet_atomic
from cityshare.meta.batches import accepted_datasets
from cityshare.meta.publications import (
    audited_inputs,
    build_fingerprints,
    latest_publication,
    publish_status,
    record_audit_outcome,
    record_publication,
)
from cityshare.settings import Settings, get_settings
from cityshare.sqlquote import lit
from cityshare.storage import stored_path
from cityshare.warehouse import connect, transaction

# (steps done, steps in all, what was just done): the audit of each table, then the publish of each that passed
StepProgress = Callable[[int, int, str], None]

log = logging.getLogger("cityshare.publish")


@dataclass
class Audited:
    contract: Contract
    source: str  # what it was staged from (cityshare.engine.audit_source)
    staged: Path
    rows: int
    content_hash: str
    results: list[RuleResult]


def _order(contract: Contract) -> str:
    return ", ".join(f'"{k}"' for k in contract.primary_key) or "ALL"


def content_digest(con: Any, parquet: Path, contract: Contract) -> tuple[int, str]:
    """Rows and content hash of a published table's Parquet file (in key order): what ``meta.publications`` keeps,
    so a rebuilt table with the same rows keeps its version."""
    # hive_partitioning off: a published snapshot lives under ``…/version=N/``, which DuckDB would otherwise add to
    # every row as a ``version`` column, so the same file would hash differently staged and published
    rows, digest = con.execute(
        f"SELECT count(*), coalesce(md5(string_agg(md5(CAST(t AS VARCHAR)), '' ORDER BY {_order(contract)})), '')"
        f" FROM read_parquet({lit(parquet)}, hive_partitioning = false) t"
    ).fetchone()
    return int(rows), str(digest)


def audit_each(settings: Settings | None = None, not_built: dict[str, str] | None = None,
               on_step: StepProgress | None = None) -> tuple[list[Audited], dict[str, list[str]], dict[str, list[str]]]:
    """Stage each built table as Parquet and run its published contract on it, one table at a time.

    Returns the tables that passed; per table that did not (``shared.<model>``), the reasons: a missing
    model, a leaking lineage path (共享属性沿血缘传递) or a failed rule; and the tables still waiting for their
    sources' first delivery (not audited, not a failure). One table's failure never holds back the others."""
    settings = settings or get_settings()
    staging = settings.exports_dir / ".staging"
    from cityshare.policy import check_policy_by_contract, current_lineage

    contracts = load_contracts(settings)  # once: the policy check and the audit read the same contracts
    graph = current_lineage(settings, contracts)
    waiting = waiting_tables(settings, contracts, graph)
    shared = [c for c in contracts if c.kind == "shared" and c.model_name not in waiting]
    blocked: dict[str, list[str]] = {}
    for key, messages in check_policy_by_contract(settings, contracts, graph).items():
        for c in shared if key is None else [c for c in shared if c.key == key]:
            blocked.setdefault(f"shared.{c.model_name}", []).extend(messages)
    for c in shared:  # this build's dbt run failed on the model or skipped it behind a failed upstream model
        if not_built and c.model_name in not_built:
            blocked.setdefault(f"shared.{c.model_name}", []).append(f"{c.model_name}: dbt {not_built[c.model_name]}")
    audited: list[Audited] = []
    with connect(settings) as con:
        for contract in (c for c in shared if f"shared.{c.model_name}" not in blocked):
            source = audit_source(con, settings, contract.model_name)  # the DuckDB table, or Spark's Parquet files
            if source is None:
                blocked[f"shared.{contract.model_name}"] = [f"{contract.model_name}: not built (run `cityshare build`)"]
                continue
            staged = staging / f"{contract.model_name}.parquet"
            write_parquet_atomic(con, f"SELECT * FROM {source} ORDER BY {_order(contract)}", staged)
            rows, digest = content_digest(con, staged, contract)
            audited.append(Audited(contract, source, staged, rows, digest, []))
    for done, item in enumerate(audited, start=1):
        item.results = run_rules(compile_rules(item.contract, order_column=None),
                                 f"SELECT * FROM read_parquet({lit(item.staged)})", item.rows)
        if on_step:
            on_step(done, 2 * len(audited), f"审核 audit {item.contract.model_name}")
        bad = [f"{item.contract.model_name}: {r.description} [{r.rule}: {r.failed}/{r.evaluated}]"
               f"{' ' + r.error if r.error else ''}" for r in item.results if not r.success]
        if bad:
            blocked[f"shared.{item.contract.model_name}"] = bad
    _record_audit(audited, settings)
    passed = [a for a in audited if f"shared.{a.contract.model_name}" not in blocked]
    for item in audited:
        if item not in passed:
            item.staged.unlink(missing_ok=True)
    return passed, blocked, {f"shared.{t}": ups for t, ups in waiting.items()}


def waiting_tables(settings: Settings, contracts: list[Contract], graph: Any) -> dict[str, list[str]]:
    """Published tables none of whose sources has delivered an accepted batch yet (a dataset onboarded
    today): model name → its sources. Not a failure: they are published with the first delivery."""
    if graph is None:
        return {}
    from cityshare.policy import upstream_sources

    with connect(settings) as con:
        delivered = accepted_datasets(con)
    out = {}
    for c in (c for c in contracts if c.kind == "shared"):
        ups = upstream_sources(c, contracts, graph)
        if ups and not delivered.intersection(ups):
            out[c.model_name] = ups
    return out


def audit(settings: Settings | None = None) -> list[Audited]:
    """All or nothing: every published table audited, AuditFailed naming every failure if any failed."""
    passed, blocked, _waiting = audit_each(settings)
    if blocked:
        for item in passed:
            item.staged.unlink(missing_ok=True)
        raise AuditFailed("audit failed, nothing published: " + "; ".join(m for ms in blocked.values() for m in ms))
    return passed


_AUDIT_CODE = ("publish.py", "engine.py", "contracts/rules.py", "contracts/predicates.py", "gate/gx_runner.py",
               "gate/gx_duckdb.py",
               "contracts/gx_expectations.py", "policy.py", "lineage.py", "snapshots.py")


def audit_inputs(con: Any, settings: Settings) -> str:
    """What an audit's outcome follows from: the layer tables (the build state recorded by the last successful
    build: every source's batches and the project), the contracts (rules, sharing attributes) and the audit code."""
    import hashlib

    from cityshare.contracts.compiled import catalogue

    digest = hashlib.sha256(catalogue(settings).content_hash.encode())
    for item, fingerprint in build_fingerprints(con).items():
        digest.update(f"{item}={fingerprint}\n".encode())
    package = Path(__file__).resolve().parent
    for name in _AUDIT_CODE:
        digest.update((package / name).read_bytes())
    return digest.hexdigest()


def _previous_outcome(con: Any, inputs: str) -> dict[str, Any] | None:
    """The outcome of the last audit, if it audited exactly these inputs (see audit_and_publish)."""
    if audited_inputs(con) != inputs:
        return None
    outcome: dict[str, Any] = {"published": [], "blocked": {}, "waiting": {}, "unchanged": True}
    for table, (status, reason, _checked_at) in publish_status(con).items():
        if status == "blocked":
            outcome["blocked"][table] = [reason]
        elif status == "waiting":
            outcome["waiting"][table] = reason.split(", ") if reason else []
    return outcome


def audit_and_publish(settings: Settings | None = None, not_built: dict[str, str] | None = None,
                      nothing_built: bool = False, on_step: StepProgress | None = None) -> dict[str, Any]:
    """Publish every table whose audit passed; a table that failed keeps its previous version.

    Returns ``{"published": [...], "blocked": {table: reasons}, "waiting": {table: sources}}``; the outcome of each
    table is kept in ``meta.publish_status`` for the directory and the quality report. ``nothing_built``: the
    build before this changed no table (a no-op build); if the last audit saw these same tables, contracts and
    audit code, its outcome stands (``"unchanged": True``) and nothing is staged, checked or swapped again."""
    settings = settings or get_settings()
    with connect(settings) as con:
        inputs = audit_inputs(con, settings)
        previous = _previous_outcome(con, inputs) if nothing_built else None
    if previous is not None:
        return previous
    audited = [0]  # the audit steps reported: the publish steps continue from there

    def audit_step(done: int, total: int, name: str) -> None:
        audited[0] = done
        if on_step:
            on_step(done, total, name)

    def publish_step(done: int, total: int, name: str) -> None:
        if on_step:
            on_step(audited[0] + done, audited[0] + total, name)

    passed, blocked, waiting = audit_each(settings, not_built, audit_step)
    report = publish(passed, settings, publish_step)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = [[r["table"], "published", "", now] for r in report]
    rows += [[table, "blocked", "; ".join(reasons)[:4000], now] for table, reasons in blocked.items()]
    rows += [[table, "waiting", ", ".join(ups), now] for table, ups in waiting.items()]
    with connect(settings) as con, transaction(con):
        record_audit_outcome(con, rows, inputs, now)
    for table, reasons in blocked.items():
        log.error("not published %s (previous version kept): %s", table, "; ".join(reasons))
    for table, ups in waiting.items():
        log.info("not yet published %s: waiting for the first accepted batch of %s", table, ", ".join(ups))
    return {"published": report, "blocked": blocked, "waiting": waiting}


def _record_audit(audited: list[Audited], settings: Settings) -> None:
    """Audit results join the gate's in the quality history (per published version's content hash)."""
    from cityshare.meta.quality import add_results, record_history

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with connect(settings) as con, transaction(con):
        add_results(con, "audit", [(item.contract.key, item.content_hash[:12], item.results) for item in audited], now)
        for item in audited:
            record_history(con, "audit", item.contract.key, item.content_hash[:12], item.results, now)


def _next_version(settings: Settings, name: str, last: int, content_hash: str) -> int:
    """A changed table's version number, never one used before: one more than the larger of the last published
    version and the highest folder on the exports volume (which outlives a lost or restored warehouse) —
    except a folder above the last published version holding these very rows, left by a publish that died
    before its commit: it is reused."""
    top = snapshots.highest(settings, name)
    if top > last:
        found = snapshots.versions(settings, name).get(top)
        record = snapshots.sidecar(found) if found else None
        if record and record.get("content_hash") == content_hash:
            return top
    return max(last, top) + 1


def publish(audited: list[Audited], settings: Settings | None = None,
            on_step: StepProgress | None = None) -> list[dict[str, Any]]:
    """Publish every audited table: snapshot folders first (fsynced), then one transaction swapping the tables
    into ``shared`` and recording the versions, then the pointers the share service reads (cityshare.snapshots).
    A crash at any step leaves the previous versions served; a rerun completes the publish."""
    settings = settings or get_settings()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    report: list[dict[str, Any]] = []
    with connect(settings) as con:
        plans: list[tuple[Audited, int, bool, Path]] = []
        for item in audited:
            name = item.contract.model_name
            last = latest_publication(con, name)
            changed = last is None or last[1] != item.content_hash
            version = (last[0] if last is not None and not changed
                       else _next_version(settings, name, last[0] if last else 0, item.content_hash))
            # written before the commit (an unchanged version whose folder was lost is written again)
            snapshot = snapshots.write_version(settings, name, version, item.staged, {
                "rows": item.rows, "content_hash": item.content_hash, "published_at": now})
            plans.append((item, version, changed, snapshot))
            if on_step:
                on_step(len(plans), len(audited), f"发布 publish {name} v{version}")
        crash_point("publish.before_commit")
        with transaction(con):
            for item, version, changed, snapshot in plans:
                name = item.contract.model_name
                con.execute(f'CREATE OR REPLACE TABLE shared."{name}" AS SELECT * FROM read_parquet({lit(item.staged)})')
                crash_point("publish.mid_swap")
                if changed:
                    record_publication(con, name, version, rows=item.rows, content_hash=item.content_hash,
                                       snapshot_path=stored_path(settings, snapshot), published_at=now)
                report.append({"table": f"shared.{name}", "rows": item.rows, "version": version,
                               "changed": changed, "sharing_type": item.contract.sharing_type})
    crash_point("publish.before_pointers")
    for item, version, _changed, _snapshot in plans:  # the pointer swap: only now does the service see them
        if snapshots.pointer(settings, item.contract.model_name) != version:
            snapshots.set_pointer(settings, item.contract.model_name, version)
    for item in audited:
        item.staged.unlink(missing_ok=True)
    for r in report:
        log.info("published %(table)s v%(version)s: %(rows)s rows%(note)s",
                 {**r, "note": "" if r["changed"] else " (unchanged)"})
    return report
