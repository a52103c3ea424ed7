"""Run the real DAGs through Airflow (its CLI, as an operator would), for the demo and e2e tests.

The package never imports Airflow; it drives ``airflow dags test`` in a subprocess with the project's
settings, so every task runs as a real Airflow task instance recorded in Airflow's metadata DB.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from cityshare.processes import stop_group as _stop_group
from cityshare.settings import Settings, get_settings


@dataclass
class DagRun:
    dag_id: str
    logical_date: str
    ok: bool
    output: str
    seconds: float


def airflow_env(settings: Settings) -> dict[str, str]:
    """The embedded installation's Airflow environment (cityshare.airflow_local), for ``airflow`` subprocesses."""
    from cityshare.airflow_local import process_env

    return process_env(settings)


def celery_airflow_env(settings: Settings, *, database_url: str, broker_url: str, api_port: int,
                       log_port: int, jwt_secret: str, parallelism: int = 4) -> dict[str, str]:
    """``airflow_env`` for the distributed mode: CeleryExecutor, PostgreSQL metadata, Redis broker.

    Every Airflow process of one deployment needs the same environment: the scheduler signs task
    tokens with ``jwt_secret`` and the api-server's execution API checks them. The same variables
    appear in ``docker-compose.yml`` (x-airflow-env) and ``deploy/helm/values.yaml``.
    """
    env = airflow_env(settings)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
        # the async engine uses psycopg 3 (installed) instead of asyncpg (not a dependency)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": database_url.replace("+psycopg2", "+psycopg"),
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url.replace("+psycopg2", ""),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_port + 1),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    })
    return env


def init_airflow(settings: Settings | None = None) -> None:
    """Create Airflow's metadata DB (SQLite under the data dir) if needed."""
    from cityshare.airflow_local import migrate

    migrate(settings or get_settings())


def run_dags(plan: list[tuple[str, dt.date]], settings: Settings | None = None,
             on_result: Callable[[DagRun], None] | None = None) -> list[DagRun]:
    """Run DAGs in order through Airflow's ``dag.test`` in one subprocess (``dags/run_dags.py``).

    Each run's log (task logs included) is captured separately, so a caller can show why it failed, and
    each task's part is filed where the Airflow UI reads task logs.
    """
    settings = settings or get_settings()
    from cityshare.keys import require_token_key

    require_token_key(settings)  # the tasks would refuse one by one; refuse the whole run up front
    script = settings.project_root / "dags" / "run_dags.py"
    payload = json.dumps([[dag_id, day.isoformat()] for dag_id, day in plan])
    # its own process group, so stopping this process (SIGTERM, Ctrl-C) stops the runner and what it started
    proc = subprocess.Popen(
        [sys.executable, str(script), str(settings.project_root / "dags")], env=airflow_env(settings),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        return _collect(proc, payload, plan, settings, on_result)
    finally:
        _stop_group(proc)


def _collect(proc: subprocess.Popen[str], payload: str, plan: list[tuple[str, dt.date]], settings: Settings,
             on_result: Callable[[DagRun], None] | None) -> list[DagRun]:
    """Feed the runner its plan and turn its output into one ``DagRun`` per run, as each finishes."""
    from cityshare.airflow_local import file_task_logs

    assert proc.stdin and proc.stdout
    proc.stdin.write(payload)
    proc.stdin.close()
    runs: list[DagRun] = []
    lines: list[str] = []
    for line in proc.stdout:
        if line.startswith("@@cityshare-run "):
            event = json.loads(line.split(" ", 1)[1])
            if event["event"] == "start":
                lines = []
                continue
            run = DagRun(event["dag_id"], event["date"], event["state"] == "success", "".join(lines),
                         float(event["seconds"]))
            if event.get("run_id"):
                file_task_logs(settings, run.dag_id, event["run_id"], event["tries"], lines)
            runs.append(run)
            if on_result:
                on_result(run)
        else:
            lines.append(line)
    proc.wait()
    if len(runs) < len(plan):
        raise RuntimeError(f"Airflow runner stopped after {len(runs)} of {len(plan)} runs:\n{''.join(lines)[-3000:]}")
    return runs


def run_dag(dag_id: str, logical_date: dt.date, settings: Settings | None = None) -> DagRun:
    """One DAG run through Airflow (its task logs in ``.output``)."""
    return run_dags([(dag_id, logical_date)], settings)[0]
