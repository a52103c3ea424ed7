"""Blocked and quarantined loads (阻断批次 / 隔离数据) and the masked quarantine browser.

The browser reads the quarantine Parquet file recorded for the batch in ``meta.batches`` — the path is
looked up by (dataset, load id), never built from what the viewer typed. Raw values of columns the
source contract marks as personal information (``customProperties.pii``) are masked with the project's
masking rules unless the caller says the viewer may see them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from cityshare.errors import CityShareError
from cityshare.meta.batches import quarantine_of
from cityshare.quality import history
from cityshare.quality.history import Period
from cityshare.settings import Settings
from cityshare.storage import resolved_path
from cityshare.vocabulary import BatchStatus

MAX_PAGE_SIZE = 500
HIDDEN_COLUMNS = ("_load_id", "_loaded_at", "_source", "_row_hash", "_load_date", "batch", "load_date")


class NotFound(CityShareError):
    """No such batch or no quarantined rows for it."""

    exit_code = 2


def _maskers() -> dict[str, Any]:
    from cityshare import privacy

    return {"mobile": privacy.mask_mobile, "phone": privacy.mask_mobile, "id_number": privacy.mask_id_number,
            "person_name": privacy.mask_person_name, "name": privacy.mask_person_name,
            "address": privacy.truncate_address}


def mask_value(kind: str, value: Any) -> Any:
    """Mask one value by PII kind; an unknown kind hides the value entirely."""
    if value is None:
        return None
    fn = _maskers().get(kind)
    return fn(str(value)) if fn else "*" * len(str(value))


def _split(text: str | None) -> list[str]:
    """The gate joins rule names with ',' and reasons with '；' (older batches used ';')."""
    return [part.strip() for part in re.split(r"[,;；]", text or "") if part.strip()]


def sample_rows(settings: Settings, dataset: str, load_id: str) -> dict[str, list[int]]:
    """Rule → source rows (源文件行号) of its sample unexpected values, from the batch's stored GX results."""
    import json

    from cityshare.gate.gx_runner import sample_rows as rows_of

    path = settings.data_dir / "quality" / "validations" / dataset.replace("/", "__") / f"{load_id}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {r["expectation_config"]["meta"]["rule"]: rows_of(r)
            for v in doc.get("validations", {}).values() for r in v.get("results", [])
            if (r.get("expectation_config") or {}).get("meta", {}).get("rule")}


def failed_rules(settings: Settings) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Failing gate rules per (dataset, load id), worst first, with the source rows of sample bad values."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    samples: dict[tuple[str, str], dict[str, list[int]]] = {}
    for r in history.quality_results(settings):
        if r["stage"] == "gate" and (r["success"] is False or (r["failed"] or 0) > 0 or r["error"]):
            key = (r["dataset"], r["load_id"])
            if key not in samples:
                samples[key] = sample_rows(settings, *key)
            out[key].append(
                {"rule": r["rule"], "description": r["description"], "dimension": r["dimension_zh"],
                 "level": r["level"], "failed": r["failed"], "evaluated": r["evaluated"], "error": r["error"],
                 "rows": samples[key].get(r["rule"], [])})
    for rules in out.values():
        rules.sort(key=lambda x: -(x["failed"] or 0))
    return out


def problem_loads(settings: Settings, period: Period) -> dict[str, Any]:
    """Blocked batches and batches with quarantined rows in the period, with the rules they broke."""
    known = history.resources(settings)
    depts = history.departments(settings)
    rules = failed_rules(settings)
    rows = []
    for b in history.batches(settings, period):
        if b["status"] != BatchStatus.BLOCKED and not b["rows_quarantined"]:
            continue
        dept = history.department_of(b["dataset"], known)
        res = known.get(b["dataset"])
        rows.append({
            "dataset": b["dataset"], "name": res.name if res else b["dataset"], "department": dept,
            "department_name": depts.get(dept, {}).get("short_name", dept), "load_id": b["load_id"],
            "load_date": b["load_date"], "status": b["status"], "rows_landed": b["rows_landed"],
            "rows_accepted": b["rows_accepted"], "rows_quarantined": b["rows_quarantined"],
            "reason": b["reason"], "rules": rules.get((b["dataset"], b["load_id"]), []),
            "has_quarantine": bool(b["quarantine_path"]),
        })
    blocked = [r for r in rows if r["status"] == BatchStatus.BLOCKED]
    quarantined = [r for r in rows if r["status"] != BatchStatus.BLOCKED]
    return {"blocked": blocked, "quarantined": quarantined,
            "totals": {"blocked_batches": len(blocked), "quarantined_batches": len(quarantined),
                       "rows_quarantined": sum(r["rows_quarantined"] or 0 for r in quarantined)}}


def quarantine_rows(settings: Settings, dataset: str, load_id: str, *, raw_allowed: bool = False,
                    page: int = 1, size: int = 100) -> dict[str, Any]:
    """One page of a batch's quarantined rows with the failed rules and reasons, PII masked."""
    import duckdb

    from cityshare.contracts.model import ContractError, get_contract

    size = max(1, min(int(size), MAX_PAGE_SIZE))
    page = max(1, int(page))
    batch = history.read(settings, lambda con: quarantine_of(con, dataset, load_id), ("meta.batches",), None)
    if batch is None:
        raise NotFound(f"no batch {load_id} of {dataset} in meta.batches")
    path = resolved_path(settings, batch["quarantine_path"])
    if not path or not Path(path).exists():
        raise NotFound(f"batch {load_id} of {dataset} has no quarantined rows")
    try:
        contract = get_contract(dataset, settings)
        pii = {p.name: p.pii for p in contract.properties if p.pii}
        labels = {"_source_row": "源文件行号", **{p.name: p.business_name or p.name for p in contract.properties}}
    except ContractError:  # the contract was retired: hide every value rather than guess
        contract, pii, labels = None, {}, {"_source_row": "源文件行号"}
    con = duckdb.connect()
    try:
        rel = con.execute("SELECT * FROM read_parquet(?) ORDER BY _source_row", [path])
        cols = [d[0] for d in rel.description]
        all_rows = rel.fetchall()
    finally:
        con.close()
    shown = [c for c in cols if c not in HIDDEN_COLUMNS and not c.startswith("_failed")]
    data = []
    for row in all_rows[(page - 1) * size: page * size]:
        rec = dict(zip(cols, row, strict=True))
        values = {}
        for c in shown:
            v = rec[c]
            if not raw_allowed and ((contract is None and not c.startswith("_")) or c in pii):
                v = mask_value(pii.get(c, ""), v)
            values[c] = v
        data.append({"values": values, "failed_rules": _split(rec.get("_failed_rules")),
                     "failed_reasons": _split(rec.get("_failed_reasons"))})
    return {"dataset": dataset, "load_id": load_id, "load_date": batch["load_date"], "status": batch["status"],
            "total": len(all_rows), "page": page, "size": size, "masked": not raw_allowed,
            "masked_columns": sorted(pii) if contract else shown,
            "columns": [{"name": c, "label": labels.get(c, c)} for c in shown], "rows": data}
