"""Airflow 3 with CeleryExecutor on PostgreSQL + Redis, as separate processes, gives the same published
tables as the embedded run on the same simulated data.

Processes: ``airflow db migrate``, then api-server, scheduler, dag-processor and two
``airflow celery worker`` processes (concurrency 1 each, so two concurrent tasks must use both).
Every ingestion DAG is triggered through the REST API for every load date at once. Cron and
asset scheduling are switched off (``[scheduler] use_job_schedule = False``): with them on, the
scheduler would also start runs for the wall-clock date, which the simulator has no delivery for.
So the test checks that each accepted gate emitted its source Asset event (what the scheduler turns
into a ``build_and_publish`` run in production) and then triggers ``build_and_publish`` itself once
every ingestion run has finished.

Needs 127.0.0.1:8765 (the 市场监管局 API's contract URL): do not run beside tests/e2e.
"""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_cluster import Processes, Services, free_port, wait_for

pytestmark = pytest.mark.distributed

START = dt.date(2026, 11, 20)
DAYS = [START + dt.timedelta(days=i) for i in range(2)]
RUNS_TIMEOUT = 1800  # seconds for all ingestion runs (measured 687 s: 18 sources × 2 days × 3 tasks)
BUILD_TIMEOUT = 600
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def _published(settings) -> dict[str, list[tuple]]:
    """Every table in ``shared``, all rows in a stable order."""
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'shared' ORDER BY 1"
        ).fetchall()]
        return {t: con.execute(f'SELECT * FROM shared."{t}" ORDER BY ALL').fetchall() for t in tables}


def _batches(settings) -> list[tuple]:
    from cityshare.warehouse import connect

    with connect(settings, read_only=True) as con:
        # not load_id: it fingerprints the source file's bytes, and the simulator's .xlsx deliveries
        # embed their creation time, so two simulations of the same day differ there (and only there)
        return con.execute(
            """SELECT dataset, load_date, rows_landed, rows_accepted, rows_quarantined, status, reason
               FROM meta.batches ORDER BY ALL"""
        ).fetchall()


class Api:
    """The Airflow REST API (v2) of the api-server process."""

    def __init__(self, port: int) -> None:
        import httpx

        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def get(self, path: str, **params):  # type: ignore[no-untyped-def]
        resp = self.client.get(path, params=params)
        resp.raise_for_status()
        return resp.json()

    def trigger(self, dag_id: str, run_id: str, day: dt.date) -> None:
        resp = self.client.post(f"/api/v2/dags/{dag_id}/dagRuns",
                                json={"dag_run_id": run_id, "logical_date": f"{day.isoformat()}T00:00:00Z"})
        assert resp.status_code in (200, 201), f"trigger {dag_id} {day}: {resp.status_code} {resp.text}"

    def run_states(self, run_ids: set[str]) -> dict[tuple[str, str], str]:
        runs = self.get("/api/v2/dags/~/dagRuns", limit=1000)["dag_runs"]
        return {(r["dag_id"], r["dag_run_id"]): r["state"] for r in runs if r["dag_run_id"] in run_ids}


def _wait_runs(api: Api, procs: Processes, expected: set[tuple[str, str]], timeout: float) -> dict:
    run_ids = {run_id for _, run_id in expected}

    def finished():  # type: ignore[no-untyped-def]
        procs.check_alive()
        states = api.run_states(run_ids)
        done = {k: v for k, v in states.items() if k in expected and v in ("success", "failed")}
        return states if len(done) == len(expected) else None

    return wait_for(finished, f"{len(expected)} DAG runs to finish", timeout, interval=3)


def test_celery_cluster_publishes_the_same_tables_as_the_embedded_run(
    tmp_path: Path, processes: Processes, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cityshare.dag_specs import source_specs
    from cityshare.demo import run_pipeline
    from cityshare.orchestrate import celery_airflow_env
    from cityshare.settings import get_settings
    from cityshare.simulate import simulate
    from cityshare.simulate.api import start_api_server

    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "embedded"))
    timings: dict[str, float] = {}

    # 1. the reference: the embedded run (dag.test in one process) on the same simulated data
    t0 = time.monotonic()
    embedded = get_settings()
    simulate(embedded, days=len(DAYS), start=START, seed=7)
    runs = run_pipeline(DAYS, embedded)
    # a gate may legitimately block a simulated defect: the cluster must reach the same verdicts
    reference_ok = {(r.dag_id, dt.date.fromisoformat(r.logical_date[:10])): r.ok for r in runs}
    assert reference_ok[("build_and_publish", DAYS[-1])], [r.output[-1500:] for r in runs if not r.ok]
    timings["embedded run"] = time.monotonic() - t0

    # 2. the cluster
    t0 = time.monotonic()
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "distributed"))
    dist = get_settings()
    simulate(dist, days=len(DAYS), start=START, seed=7)
    dist.airflow_home.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    env = celery_airflow_env(dist, database_url=services.database_url, broker_url=services.broker_url,
                             api_port=api_port, log_port=free_port(), jwt_secret=secrets.token_urlsafe(32))
    env.update({
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # loopback test cluster only
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
    })
    migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    timings["db migrate"] = time.monotonic() - t0
    processes.start("api-server", [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(api_port)], env)
    processes.start("scheduler", [AIRFLOW, "scheduler"], env)
    processes.start("dag-processor", [AIRFLOW, "dag-processor"], env)
    for n in (1, 2):
        processes.start(f"worker{n}", [AIRFLOW, "celery", "worker", "--concurrency", "1",
                                       "--celery-hostname", f"worker{n}@%h", "--skip-serve-logs"], env)
    api = Api(api_port)
    try:
        wait_for(lambda: processes.check_alive() or api.get("/api/v2/monitor/health"), "the api-server", 180)
        ingestion = [s.dag_id for s in source_specs()]
        wanted = {*ingestion, "build_and_publish", "directory"}
        wait_for(lambda: processes.check_alive() or wanted <= {
            d["dag_id"] for d in api.get("/api/v2/dags", limit=100)["dags"]}, "the dag-processor to parse the DAGs", 240)
        timings["cluster up"] = time.monotonic() - t0

        # 3. every ingestion DAG for every load date, all triggered at once
        t1 = time.monotonic()
        with start_api_server(dist):
            expected = set()
            for day in DAYS:
                for dag_id in ingestion:
                    api.trigger(dag_id, f"dist__{day}", day)
                    expected.add((dag_id, f"dist__{day}"))
            states = _wait_runs(api, processes, expected, RUNS_TIMEOUT)
        timings["ingestion runs"] = time.monotonic() - t1
        verdicts = {(dag_id, dt.date.fromisoformat(run_id.removeprefix("dist__"))): states[(dag_id, run_id)] == "success"
                    for dag_id, run_id in expected}
        assert verdicts == {k: v for k, v in reference_ok.items() if k[0] in ingestion}, processes.tails(
            ["worker1", "worker2"])

        # the accepted gates emitted their source Assets: what schedules build_and_publish in production
        events = api.get("/api/v2/assets/events", limit=1000)["asset_events"]
        by_uri: dict[str, int] = {}
        for e in events:
            by_uri[e["uri"]] = by_uri.get(e["uri"], 0) + 1
        assert {s.asset_uri: by_uri.get(s.asset_uri, 0) for s in source_specs()} == {
            s.asset_uri: sum(verdicts[(s.dag_id, day)] for day in DAYS) for s in source_specs()}

        t1 = time.monotonic()
        api.trigger("build_and_publish", "dist__build", DAYS[-1])
        states = _wait_runs(api, processes, {("build_and_publish", "dist__build")}, BUILD_TIMEOUT)
        timings["build_and_publish"] = time.monotonic() - t1
        assert states[("build_and_publish", "dist__build")] == "success", processes.tails(["worker1", "worker2"])
    except BaseException:
        print(processes.tails())
        raise
    timings["distributed total"] = time.monotonic() - t0

    # both workers executed tasks
    received = {n: (processes.log_dir / f"{n}.log").read_text(errors="replace").count("execute_workload")
                for n in ("worker1", "worker2")}
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()}, "tasks per worker:", received)
    assert all(received.values()), received

    # 4. same gate verdicts per batch and same published tables
    assert _batches(dist) == _batches(embedded)
    ours, reference = _published(dist), _published(embedded)
    assert reference and all(reference.values()), "the embedded run published nothing to compare"
    assert ours.keys() == reference.keys()
    for table in reference:
        assert ours[table] == reference[table], f"shared.{table} differs between Celery and embedded runs"
