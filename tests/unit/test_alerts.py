"""Alerts reach a data engineer: the failed task names department, dataset and rule; late deliveries are
flagged on working days only; a webhook gets the same JSON; dbt artifacts are kept per build."""

from __future__ import annotations

import datetime as dt
import json
import stat
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from cityshare.alerts import check_deliveries, read_alerts, task_failed
from cityshare.contracts.model import load_contracts
from cityshare.settings import get_settings
from cityshare.transform import archive_artifacts
from cityshare.warehouse import connect, insert_rows

WEDNESDAY = dt.date(2026, 11, 25)
NATIONAL_DAY = dt.date(2026, 10, 2)  # 国庆节: no working day, no delivery is due


def test_a_blocked_gate_alert_names_department_dataset_and_rule(settings):
    reason = "gate blocked cgj/city_cases 2026-11-25: 批次不得为空 [batch_not_empty: 1/1]"
    alert = task_failed("ingest__cgj__city_cases", "gate", "scheduled__2026-11-25", reason, settings)
    assert (alert["department"], alert["dataset"], alert["task_id"]) == ("cgj", "cgj/city_cases", "gate")
    assert "batch_not_empty" in alert["message"] and "数字城管" in alert["message"]
    assert read_alerts(settings) == [alert]
    path = settings.data_dir / "alerts" / "alerts.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_webhook_receives_the_alert(settings, monkeypatch):
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    monkeypatch.setenv("CITYSHARE_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    alert = task_failed("build_and_publish", "all_published", "manual__1", "not published: shared.x", get_settings())
    thread.join(10)
    server.server_close()
    assert received == [alert]


def test_a_dead_webhook_never_fails_the_alert(settings, monkeypatch):
    monkeypatch.setenv("CITYSHARE_ALERT_WEBHOOK", "http://127.0.0.1:9/nothing-listens")
    settings = get_settings()  # as an Airflow worker with the variable set reads it
    assert settings.alert_webhook
    task_failed("ingest__cgj__city_cases", "land", "r", "source down", settings)
    assert len(read_alerts(settings)) == 1


def _accepted(settings, rows: list[tuple[str, dt.date]]) -> None:
    with connect(settings) as con:
        insert_rows(con, "meta.batches", [[ds, f"{day:%Y%m%d}-x", day, "accepted", 1]
                                          for ds, day in rows],
                    columns=("dataset", "load_id", "load_date", "status", "rows_accepted"))


def test_late_deliveries_are_alerted_on_working_days_only(settings):
    _accepted(settings, [("cgj/city_cases", WEDNESDAY - dt.timedelta(days=1)),
                         ("mzj/elderly_living_alone", WEDNESDAY - dt.timedelta(days=3))])
    alerts = check_deliveries(WEDNESDAY, settings)
    late = {a["dataset"] for a in alerts}
    daily = {c.key for c in load_contracts(settings, kind="source") if c.update_cycle in ("每日", "实时")}
    assert "cgj/city_cases" not in late  # delivered yesterday
    assert "mzj/elderly_living_alone" in late  # three days behind a daily cycle
    assert late == daily - {"cgj/city_cases"}  # the rest never delivered
    assert all(a["kind"] == "delivery_late" and a["department"] == a["dataset"].split("/")[0] for a in alerts)
    assert check_deliveries(NATIONAL_DAY, settings) == []


def test_every_build_keeps_its_artifacts_up_to_the_retention(tmp_path):
    target = tmp_path / "dbt_target"
    target.mkdir()
    kept = []
    for i in range(3):
        (target / "run_results.json").write_text(json.dumps({"run": i}), encoding="utf-8")
        (target / "manifest.json").write_text("{}", encoding="utf-8")
        kept.append(archive_artifacts(target, keep=2))
    runs = sorted((target / "runs").iterdir())
    assert runs == kept[1:]
    assert [json.loads((r / "run_results.json").read_text())["run"] for r in runs] == [1, 2]

