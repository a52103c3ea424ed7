"""Alerts (告警) for data engineers: a failed task (a blocked gate names its rule) and a late delivery.

Every alert is appended to ``<data>/alerts/alerts.jsonl`` (owner-only; the default target, which the
quality report and tests read) and logged; with ``CITYSHARE_ALERT_WEBHOOK`` set it is also POSTed there as
JSON (an IM robot, an on-call system). A webhook that fails is logged, never raised: an alert must not turn a
task's outcome into another failure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import urllib.request
from typing import Any

from cityshare.settings import Settings, get_settings

log = logging.getLogger("cityshare.alerts")


def alerts_path(settings: Settings) -> Any:
    return settings.data_dir / "alerts" / "alerts.jsonl"


def notify(alert: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Record one alert (and send it to the webhook when configured); returns the alert as recorded."""
    settings = settings or get_settings()
    alert = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **alert}
    path = alerts_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(alert, ensure_ascii=False) + "\n")
    log.warning("告警 alert: %s", alert.get("message"))
    webhook = settings.alert_webhook
    if webhook:
        request = urllib.request.Request(webhook, data=json.dumps(alert, ensure_ascii=False).encode("utf-8"),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5):
                pass
        except OSError as exc:
            log.error("alert webhook %s failed: %s", webhook, exc)
    return alert


def read_alerts(settings: Settings | None = None) -> list[dict[str, Any]]:
    path = alerts_path(settings or get_settings())
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def task_failed(dag_id: str, task_id: str, run_id: str, reason: str, settings: Settings | None = None) -> dict[str, Any]:
    """The alert of a failed task: which department's dataset, which step, and why (a gate names its rule)."""
    from cityshare.contracts.model import ContractError, get_contract

    settings = settings or get_settings()
    department, dataset, name = "cyzx", "", dag_id
    if dag_id.startswith("ingest__"):
        department, _, dataset = dag_id.removeprefix("ingest__").partition("__")
        with contextlib.suppress(ContractError):
            name = get_contract(f"{department}/{dataset}", settings).name
    return notify({"kind": "task_failed", "department": department, "dataset": f"{department}/{dataset}" if dataset else "",
                   "dag_id": dag_id, "task_id": task_id, "run_id": run_id, "reason": reason[:2000],
                   "message": f"{name} {task_id} 失败: {reason[:300]}"}, settings)


def check_deliveries(day: dt.date, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Alert for every source without an accepted batch within its update cycle before ``day``'s deadline.

    Judged on working days only (national holidays and 调休 from the Chinese calendar): a daily source is late
    on a working day when its newest accepted load date is more than one day behind."""
    from cityshare.contracts.model import load_contracts
    from cityshare.freshness import CYCLE_DAYS
    from cityshare.meta.batches import newest_accepted_load_dates
    from cityshare.warehouse import connect
    from cityshare.workcal import is_workday

    settings = settings or get_settings()
    if not is_workday(day):
        return []
    with connect(settings, read_only=True) as con:
        latest = newest_accepted_load_dates(con)
    alerts = []
    for c in load_contracts(settings, kind="source"):
        cycle = CYCLE_DAYS.get(c.update_cycle)
        newest = latest.get(c.key)
        if cycle is None or (newest is not None and (day - newest).days <= cycle):
            continue
        alerts.append(notify({
            "kind": "delivery_late", "department": c.department, "dataset": c.key, "dag_id": f"ingest__{c.raw_table}",
            "reason": f"no accepted batch since {newest or 'ever'} (更新周期 {c.update_cycle})",
            "message": f"{c.name}（{c.department}）未按更新周期报送：最新接收批次 {newest or '无'}，截至 {day}"}, settings))
    return alerts
