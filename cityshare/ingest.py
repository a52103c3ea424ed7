"""Ingestion of one source window: extract → land a raw batch → gate → commit to the warehouse.

``land_batch`` and ``gate_batch`` are the two Airflow task bodies; ``ingest`` runs both for the CLI.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from cityshare import journal
from cityshare.contracts.model import Contract, get_contract
from cityshare.errors import CityShareError, FileRejected, GateBlocked, UnusableInput
from cityshare.faults import crash_point
from cityshare.gate.data_docs import page_path
from cityshare.gate.run import GateOutcome, gate_context, run_gate
from cityshare.keys import require_token_key
from cityshare.lake import LandedBatch, batch_dir, content_hash_sql, delivered_at, land_delivery, watermark
from cityshare.meta.batches import batch_status, record_batch, record_content
from cityshare.meta.quality import record_history, replace_results
from cityshare.meta.watermarks import record_window
from cityshare.raw_views import refresh_raw_view
from cityshare.settings import Settings, get_settings
from cityshare.sources import extract, load_id_for
from cityshare.storage import is_remote_path, stored_path
from cityshare.vocabulary import QUALITY_DIMENSION_ZH, BatchStatus
from cityshare.warehouse import connect, transaction

log = logging.getLogger("cityshare.ingest")


def check_load_date(load_date: dt.date, settings: Settings) -> None:
    """Refuse a load date beyond today (Asia/Shanghai) plus the configured tolerance.

    Registries keep the latest row per key by load date: one batch dated in the future would outrank
    every real delivery until that day, so it must never land.
    """
    from cityshare.workcal import today_beijing

    today = today_beijing()
    latest = today + dt.timedelta(days=settings.load_date_tolerance_days)
    if load_date > latest:
        raise CityShareError(
            f"load date {load_date} is in the future: today is {today} (Asia/Shanghai) and load dates may lie at "
            f"most {settings.load_date_tolerance_days} day(s) ahead (CITYSHARE_LOAD_DATE_TOLERANCE_DAYS); nothing "
            f"was landed — check --date or the scheduler's logical date")


def land_batch(key: str, load_date: dt.date, settings: Settings | None = None) -> dict[str, Any]:
    """Extract one window of a source and land it as an immutable raw batch (never for a future load date).

    A delivered file that fails its integrity check (truncated, undecodable) is recorded as a blocked
    batch and raises GateBlocked (exit 1); a missing delivery raises NoDelivery (exit 2, task skipped).
    """
    settings = settings or get_settings()
    check_load_date(load_date, settings)
    require_token_key(settings)  # fail closed before touching a department's data
    contract = get_contract(key, settings)
    try:
        landed = land_delivery(contract, load_date, extract(contract, load_date, settings), settings)
    except FileRejected as exc:
        load_id = reject_file(contract, load_date, exc, settings)
        log.error("GATE BLOCKED %s %s batch %s: %s", key, load_date, load_id, exc)
        raise GateBlocked(f"gate blocked {key} {load_date} batch {load_id}: {exc}") from None
    log.info("landed %s %s: batch %s, %d rows by the %s reader%s%s", key, load_date, landed.load_id, landed.rows,
             landed.reader, f" ({landed.reader_reason})" if landed.reader_reason else "",
             " (same content as an earlier run: reused)" if landed.reused else "")
    return {"dataset": key, "load_date": load_date.isoformat(), "load_id": landed.load_id,
            "rows": landed.rows, "source": landed.source_uri, "reused": landed.reused,
            "reader": landed.reader, "reader_reason": landed.reader_reason}


def gate_batch(key: str, load_date: dt.date, load_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Gate a landed batch and commit the decision; raises GateBlocked (exit 1) if it is blocked."""
    import pyarrow.parquet as pq

    settings = settings or get_settings()
    contract = get_contract(key, settings)
    path = batch_dir(settings, "raw", contract, load_date, load_id) / "part-0.parquet"
    if not path.exists():
        raise UnusableInput(f"{path}: no landed batch {load_id} for {key} {load_date}")
    try:
        parquet = pq.ParquetFile(path.open("rb") if is_remote_path(path) else path)
        rows = parquet.metadata.num_rows
        source = parquet.read_row_group(0, columns=["_source"]).column(0)[0].as_py() if rows else ""
        columns = parquet.schema_arrow.names
        delivered, window = delivered_at(parquet.metadata.metadata), watermark(parquet.metadata.metadata)
    except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError; a damaged footer an OSError
        raise UnusableInput(f"{path}: landed batch {load_id} is not readable Parquet ({str(exc).strip()[:200]}); "
                          "delete the batch folder and land the delivery again") from None
    batch = LandedBatch(key, load_date, load_id, path, rows, source, reused=False, delivered_at=delivered,
                        watermark=window)
    ctx = None if is_remote_path(path) else gate_context(contract, batch, settings, columns)
    outcome = run_gate(contract, batch, settings, ctx)
    crash_point("gate.mid_gate")
    commit_gate(outcome, batch, settings, contract)
    summary = {
        "dataset": key, "load_date": load_date.isoformat(), "load_id": load_id, "status": outcome.status,
        "rows": outcome.rows, "accepted": outcome.rows_accepted, "quarantined": outcome.rows_quarantined,
        "reason": outcome.reason,
    }
    if outcome.blocked:
        log.error("GATE BLOCKED %s %s batch %s: %s", key, load_date, load_id, outcome.reason)
        raise GateBlocked(f"gate blocked {key} {load_date} batch {load_id}: {outcome.reason}")
    log.info("gate accepted %s %s batch %s: %d accepted, %d quarantined. %s", key, load_date, load_id,
             outcome.rows_accepted, outcome.rows_quarantined, outcome.reason)
    return summary


def reject_file(contract: Contract, load_date: dt.date, exc: FileRejected, settings: Settings) -> str:
    """Record a file that failed its integrity check as a blocked batch of 0 rows, like a gate verdict.

    The load id derives from the rejected file's content, so a re-run of the same file replaces the
    record; ``raw_path`` names the delivered file (nothing reached the lake). Returns the load id.
    """
    from cityshare.gate.gx_runner import RuleResult
    from cityshare.sources.cityshare_peer import RECEIPT_INVALID, VERSION_GAP
    from cityshare.sources.csv_inbox import file_digest
    from cityshare.sources.integrity import FILE_TRUNCATED

    path = Path(str(exc.path))
    load_id = load_id_for(load_date, file_digest(path))
    dimension, label = {FILE_TRUNCATED: ("completeness", "文件被截断（传输不完整）"),
                        RECEIPT_INVALID: ("conformity", "交付回执校验失败（签名、哈希或表不符）"),
                        VERSION_GAP: ("consistency", "交付版本不符或不连续")}.get(
                            exc.rule, ("conformity", "文件编码无效（无法严格解码）"))
    result = RuleResult(exc.rule, "batch", dimension, QUALITY_DIMENSION_ZH[dimension], None, f"{label}：{exc.where}",
                        1, 1, False, verdict="failed", threshold=0.0, kind="file")
    outcome = GateOutcome(contract.key, load_id, "blocked", str(exc), 0, results=[result])
    commit_gate(outcome, LandedBatch(contract.key, load_date, load_id, path, 0, str(path), reused=False),
                settings, contract)
    return load_id


def commit_gate(outcome: GateOutcome, batch: LandedBatch, settings: Settings, contract: Contract | None = None) -> None:
    """Record the batch, its quality results and (if accepted) make it visible — one transaction.

    The batch row takes the next commit sequence in the same transaction: a re-delivery of a load date
    supersedes the earlier batch by that order, not by this worker's clock (``gated_at`` is for people).
    """
    contract = contract or get_contract(outcome.dataset, settings)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with connect(settings) as con:
        with transaction(con):
            _record_decision(con, outcome, batch, settings, contract, now)
        journal.write(con, settings, outcome.dataset, batch.load_id)  # after the commit (cityshare.journal)


def _record_decision(con: Any, outcome: GateOutcome, batch: LandedBatch, settings: Settings, contract: Contract,
                     now: dt.datetime) -> None:
    """The rows of one gate decision, inside the caller's transaction."""
    status = outcome.status
    retracted = batch_status(con, outcome.dataset, batch.load_id) == BatchStatus.RETRACTED
    if retracted and status == BatchStatus.ACCEPTED:  # a rerun of the same delivery
        status = BatchStatus.RETRACTED
        log.warning("batch %s of %s was retracted and stays so: `cityshare batches restore %s` brings it back",
                    batch.load_id, outcome.dataset, batch.load_id)
    record_batch(con, {
        "dataset": outcome.dataset, "load_id": batch.load_id, "load_date": batch.load_date,
        "source": batch.source_uri, "raw_path": stored_path(settings, batch.path),
        "accepted_path": stored_path(settings, outcome.accepted_path),
        "quarantine_path": stored_path(settings, outcome.quarantine_path), "rows_landed": outcome.rows,
        "rows_accepted": outcome.rows_accepted, "rows_quarantined": outcome.rows_quarantined, "status": status,
        "reason": outcome.reason, "gated_at": now, "delivered_at": batch.delivered_at})
    content = None
    if outcome.accepted_path and outcome.rows_accepted:
        content = con.execute(content_hash_sql("read_parquet(?)"), [str(outcome.accepted_path)]).fetchone()[0]
    record_content(con, outcome.dataset, batch.load_id, content)
    if batch.watermark is not None:
        w = batch.watermark
        record_window(con, outcome.dataset, batch.load_date, batch.load_id, w.column, w.low, w.high, w.rows, now)
    crash_point("gate.mid_commit")
    replace_results(con, "gate", outcome.dataset, batch.load_id, outcome.results, now)
    docs = {level: stored_path(settings, page_path(settings, contract.raw_table, batch.load_id, batch.load_date, level))
            or "" for level, v in outcome.validations.items() if v}
    record_history(con, "gate", outcome.dataset, batch.load_id, outcome.results, now, docs)
    refresh_raw_view(con, contract, settings)


def ingest(key: str, load_date: dt.date, settings: Settings | None = None) -> dict[str, Any]:
    """Extract, land and gate one window (what `cityshare ingest` runs, showing each step)."""
    settings = settings or get_settings()
    landed = land_batch(key, load_date, settings)
    return {**landed, **gate_batch(key, load_date, landed["load_id"], settings)}
