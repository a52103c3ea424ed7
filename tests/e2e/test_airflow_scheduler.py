"""The embedded Airflow as a data engineer uses it: ``cityshare.airflow_local`` starts the scheduler,
dag-processor and api-server on loopback; a DAG is unpaused and the scheduler runs it; everything is
checked through the REST API v2 with the generated login, as the UI shows it.

- the scheduled run succeeds, its gate task's log holds the gate's summary line, durations are positive;
- a run whose delivery is empty fails at the gate with the rule in its log, and the alert names it;
- ``airflow backfill create`` over three days, twice: the same load ids, no new batch the second time;
- a run made as the demo makes it (``dag.test`` in one process) shows in the API/UI with its task logs;
- the UI in Chromium lists the DAGs with the department tags.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
DAG = "ingest__cgj__city_cases"
CHROMIUM = Path("/usr/bin/chromium")


class Api:
    """REST API v2 with a JWT from the simple auth manager's login."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        token = self._call("POST", "/auth/token", {"username": "admin", "password": password}, auth=False)
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True):  # type: ignore[no-untyped-def]
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json", **(self.headers if auth else {})})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def get(self, path: str):  # type: ignore[no-untyped-def]
        return self._call("GET", path)

    def send(self, method: str, path: str, body: dict):  # type: ignore[no-untyped-def]
        return self._call(method, path, body)


def _wait(check, what: str, timeout: float, running=None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running is not None and any(code is not None for code in running.alive().values()):
            raise AssertionError(f"an Airflow component died while waiting for {what}: {running.alive()}")
        try:
            value = check()
        except (OSError, urllib.error.URLError, KeyError):
            value = None
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def _runs(api: Api) -> list[dict]:
    return api.get(f"/api/v2/dags/{DAG}/dagRuns?limit=100")["dag_runs"]


def _finished(api: Api, run_ids: set[str]) -> dict[str, str] | None:
    states = {r["dag_run_id"]: r["state"] for r in _runs(api) if r["dag_run_id"] in run_ids}
    return states if len(states) == len(run_ids) and all(s in ("success", "failed") for s in states.values()) else None


def _log(api: Api, run_id: str, task: str) -> str:
    doc = api.get(f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task}/logs/1?full_content=true")
    content = doc.get("content")
    return json.dumps(content, ensure_ascii=False) if not isinstance(content, str) else content


def _load_ids(settings) -> list[tuple]:
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        return con.execute("SELECT load_date, load_id, status FROM meta.batches WHERE dataset = 'cgj/city_cases' "
                           "ORDER BY ALL").fetchall()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    from cityshare.airflow_local import admin_password, process_env, start
    from cityshare.settings import get_settings
    from cityshare.simulate import cases_path, simulate

    old = os.environ.get("CITYSHARE_DATA_DIR")
    os.environ["CITYSHARE_DATA_DIR"] = str(tmp_path_factory.mktemp("airflow") / "data")
    settings = get_settings()
    today = dt.datetime.now(dt.UTC).date()
    # deliveries for the last days up to today, whichever interval the scheduler picks first
    simulate(settings, days=6, start=today - dt.timedelta(days=5), scale=0.2, defect_rate=0.0, seed=3, departments=[])
    running = start(settings, components=("scheduler", "dag-processor", "api-server"))
    try:
        password, _ = admin_password(settings)
        api = _wait(lambda: Api(running.url, password), "the api-server", 240, running)
        _wait(lambda: api.get(f"/api/v2/dags/{DAG}"), "the dag-processor to parse the DAGs", 240, running)
        yield {"settings": settings, "api": api, "running": running, "today": today, "password": password,
               "env": process_env(settings, running.port), "cases_path": cases_path}
    finally:
        running.stop()
        if old is None:
            os.environ.pop("CITYSHARE_DATA_DIR", None)
        else:
            os.environ["CITYSHARE_DATA_DIR"] = old


def test_the_scheduler_runs_an_unpaused_dag_with_logs_and_durations(airflow):
    api, running = airflow["api"], airflow["running"]
    api.send("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
    run = _wait(lambda: next((r for r in _runs(api) if r["state"] in ("success", "failed")), None),
                "the scheduled run", 420, running)
    assert run["state"] == "success", _log(api, run["dag_run_id"], "gate")[-3000:]
    tis = api.get(f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
    assert {t["task_id"]: t["state"] for t in tis} == {"land": "success", "gate": "success", "data_docs": "success"}
    assert all(t["duration"] and t["duration"] > 0 for t in tis)
    assert "gate accepted cgj/city_cases" in _log(api, run["dag_run_id"], "gate")
    api.send("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": True})  # no more scheduled runs during the next tests


def test_a_blocked_gate_fails_names_the_rule_and_alerts(airflow):
    from cityshare.alerts import read_alerts

    api, settings, running = airflow["api"], airflow["settings"], airflow["running"]
    day = airflow["today"] - dt.timedelta(days=20)
    good = airflow["cases_path"](settings, airflow["today"])
    empty = airflow["cases_path"](settings, day)
    empty.write_text(good.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")  # header only
    api.send("POST", f"/api/v2/dags/{DAG}/dagRuns", {"dag_run_id": "empty_delivery", "logical_date": f"{day}T00:00:00Z"})
    api.send("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
    states = _wait(lambda: _finished(api, {"empty_delivery"}), "the blocked run", 300, running)
    api.send("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": True})
    assert states == {"empty_delivery": "failed"}
    tis = {t["task_id"]: t for t in api.get(f"/api/v2/dags/{DAG}/dagRuns/empty_delivery/taskInstances")["task_instances"]}
    assert tis["gate"]["state"] == "failed" and tis["gate"]["try_number"] == 1  # a verdict is not retried
    assert "batch_not_empty" in _log(api, "empty_delivery", "gate")
    alerts = [a for a in read_alerts(settings) if a.get("run_id") == "empty_delivery"]
    assert [(a["department"], a["dataset"], a["task_id"]) for a in alerts] == [("cgj", "cgj/city_cases", "gate")]
    assert "batch_not_empty" in alerts[0]["reason"]


@pytest.mark.slow  # ≈ 80 s: two whole backfills; test_idempotency reruns every task in the default run
def test_a_backfill_twice_gives_the_same_batches(airflow):
    from cityshare.airflow_local import airflow_bin

    api, settings, running = airflow["api"], airflow["settings"], airflow["running"]
    first = airflow["today"] - dt.timedelta(days=5)
    last = first + dt.timedelta(days=2)
    api.send("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
    rounds = []

    def backfills() -> dict[int, dict]:
        return {b["id"]: b for b in api.get(f"/api/v2/backfills?dag_id={DAG}")["backfills"]}

    for _ in range(2):
        before = set(backfills())
        for _attempt in range(4):  # the embedded SQLite metadata DB: rerun when the scheduler held it (docs/airflow.md)
            done = subprocess.run([airflow_bin(), "backfill", "create", "--dag-id", DAG, "--from-date",
                                   f"{first}T00:00:00+00:00", "--to-date", f"{last}T00:00:00+00:00",
                                   "--reprocess-behavior", "completed"],
                                  env=airflow["env"], capture_output=True, text=True, timeout=300)
            if done.returncode == 0 or "database is locked" not in done.stdout + done.stderr:
                break
            time.sleep(5)
            if set(backfills()) - before:  # the locked attempt committed the backfill after all: don't ask twice
                break
        else:
            pytest.fail("backfill create kept meeting a locked metadata DB")
        assert done.returncode == 0 or set(backfills()) - before, done.stdout[-2000:] + done.stderr[-2000:]
        new = _wait(lambda b=before: set(backfills()) - b or None, "the backfill", 120, running)
        _wait(lambda n=new: all(backfills()[i]["completed_at"] for i in n), "the backfill to finish", 600, running)

        def in_range() -> dict[str, str] | None:  # the range's runs once each reached a final state
            states = {r["logical_date"][:10]: r["state"] for r in _runs(api)
                      if first.isoformat() <= r["logical_date"][:10] <= last.isoformat()}
            return states if len(states) == 3 and set(states.values()) <= {"success", "failed"} else None

        runs = _wait(in_range, "the backfilled runs to finish", 300, running)
        assert runs == {(first + dt.timedelta(days=i)).isoformat(): "success" for i in range(3)}, runs
        rounds.append(_load_ids(settings))
    api.send("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": True})
    backfilled = [row for row in rounds[0] if first <= row[0] <= last]
    assert len(backfilled) == 3 and {row[2] for row in backfilled} == {"accepted"}
    assert rounds[1] == rounds[0]  # the second backfill reused every batch: same load ids, nothing new


def test_a_demo_style_run_shows_its_task_logs(airflow):
    from cityshare.orchestrate import run_dag

    api, settings = airflow["api"], airflow["settings"]
    day = airflow["today"] - dt.timedelta(days=2)  # a delivery no other test of this module runs
    run = run_dag(DAG, day, settings)
    assert run.ok, run.output[-2000:]
    mine = [r for r in _runs(api) if r["logical_date"][:10] == day.isoformat() and r["run_type"] == "manual"]
    assert len(mine) == 1 and mine[0]["state"] == "success"
    tis = api.get(f"/api/v2/dags/{DAG}/dagRuns/{mine[0]['dag_run_id']}/taskInstances")["task_instances"]
    assert all(t["duration"] and t["duration"] > 0 for t in tis)
    gate_log = _log(api, mine[0]["dag_run_id"], "gate")
    assert "gate accepted cgj/city_cases" in gate_log and "starting task_id=land" not in gate_log


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
def test_the_ui_lists_the_dags_with_department_tags(airflow):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(f"{airflow['running'].url}/dags?tags=cgj")
            page.get_by_text("Sign into Airflow").wait_for(timeout=60_000)  # the simple auth manager's login page
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(airflow["password"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "login" not in url, timeout=60_000)
            page.goto(f"{airflow['running'].url}/dags?tags=cgj")
            page.get_by_text(DAG).first.wait_for(timeout=60_000)
            text = page.inner_text("body")
            Path(airflow["settings"].data_dir / "airflow_dags.png").parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(airflow["settings"].data_dir / "airflow_dags.png"))
        finally:
            browser.close()
    assert DAG in text and "ingest__scjgj__business_registry" not in text  # filtered by the department tag
