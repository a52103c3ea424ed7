"""The embedded installation's own Airflow 3: its environment, its login and its processes.

Everything Airflow needs is derived from the CityShare settings at call time and passed as environment
variables (never baked into a generated ``airflow.cfg``), so a moved or copied data folder keeps working
and a shell gets the same view with ``eval "$(cityshare airflow env)"``:

- ``AIRFLOW_HOME`` = ``<data>/airflow``; metadata in ``<data>/airflow/airflow.db`` (SQLite, with a long busy
  timeout so concurrent components and CLI calls queue for its single writer);
- the DAGs folder is the project's ``dags/``; no example DAGs; LocalExecutor (the executor that runs on
  the embedded SQLite database) with a small parallelism for a 2-core machine;
- the api-server (REST API v2 and the UI) on 127.0.0.1 and a free port; the scheduler and triggerer serve
  no log port (``--skip-serve-logs``: the api-server reads task logs from ``<data>/airflow/logs``);
- a login ``admin`` with a random password, and the API's JWT secret, generated once into owner-only files.

``cityshare airflow up`` starts the scheduler, dag-processor, triggerer and api-server and prints the URL and
login. The package still never imports Airflow: it runs Airflow's own CLI.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.ports import free_port
from cityshare.settings import Settings

ADMIN = "admin"
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
SQLITE_BUSY_TIMEOUT_S = 120


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    """Read an owner-only secret file, creating it (0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(make())
    return path.read_text(encoding="utf-8")


def admin_password(settings: Settings) -> tuple[str, bool]:
    """The UI/API login's password and whether it was created just now (to print it once)."""
    path = passwords_file(settings)
    created = not path.exists()
    doc = json.loads(_secret_file(path, lambda: json.dumps({ADMIN: secrets.token_urlsafe(12)})))
    return doc[ADMIN], created


def passwords_file(settings: Settings) -> Path:
    return settings.airflow_home / "passwords.json"


def local_env(settings: Settings, port: int | None = None) -> dict[str, str]:
    """The variables every Airflow process of the embedded installation needs (not the rest of os.environ)."""
    home = settings.airflow_home
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.project_root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # SQLite has one writer: a CLI call (``airflow backfill create``) waits for the scheduler's write
        # transaction instead of failing with "database is locked" after sqlite3's default 5 s.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout={SQLITE_BUSY_TIMEOUT_S}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(settings)),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__WORKERS": "1",
        "CITYSHARE_DATA_DIR": str(settings.data_dir),
        "CITYSHARE_HOME": str(settings.project_root),
    }
    if port is not None:
        env["AIRFLOW__API__PORT"] = str(port)
        env["AIRFLOW__API__BASE_URL"] = f"http://127.0.0.1:{port}"
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    return env


def process_env(settings: Settings, port: int | None = None) -> dict[str, str]:
    """``local_env`` on top of this process's environment, with the venv's ``airflow`` first on PATH."""
    env = dict(os.environ)
    env.update(local_env(settings, port))
    env["AIRFLOW__API_AUTH__JWT_SECRET"] = _secret_file(settings.airflow_home / "jwt_secret",
                                                        lambda: secrets.token_urlsafe(32))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def shell_exports(settings: Settings, port: int | None = None) -> str:
    """``export …`` lines for a shell, so plain ``airflow dags list`` sees the embedded installation."""
    import shlex

    env = local_env(settings, port)
    env["PATH"] = f"{Path(sys.executable).parent}:$PATH"
    return "\n".join(f"export {k}={shlex.quote(v) if k != 'PATH' else v}" for k, v in env.items())


_TASK_START = re.compile(r"\[DAG TEST\] starting task_id=(\S+) map_index=(-?\d+)")
_TASK_END = re.compile(r"\[DAG TEST\] end task task_id=(\S+) map_index=(-?\d+)")


def task_log_path(settings: Settings, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> Path:
    """Where the api-server looks for a task try's log (Airflow 3's default ``log_filename_template``)."""
    path = settings.airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        path = path / f"map_index={map_index}"
    return path / f"attempt={try_number}.log"


def file_task_logs(settings: Settings, dag_id: str, run_id: str, tries: list[list[Any]], lines: list[str]) -> None:
    """File each task's lines of a ``dag.test`` run under its task log path, so the UI shows them.

    ``dag.test`` runs every task in one process and writes no task log files; its output marks each task's
    start and end. A task that ran more than once in the run keeps only its last try's lines.
    """
    sections: dict[tuple[str, int], list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        if start := _TASK_START.search(line):
            current = sections.setdefault((start[1], int(start[2])), [])
            current.clear()
        if current is not None:
            current.append(line)
        if _TASK_END.search(line):
            current = None
    for task_id, map_index, try_number in tries:
        section = sections.get((task_id, int(map_index)))
        if not section or not try_number:
            continue
        path = task_log_path(settings, dag_id, run_id, task_id, int(map_index), int(try_number))
        if not path.exists():  # never replace a log a real worker wrote
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(section), encoding="utf-8")


def airflow_bin() -> str:
    return str(Path(sys.executable).parent / "airflow")


def migrate(settings: Settings) -> None:
    """Create or upgrade Airflow's metadata database, and set the pools the DAGs use (from the contracts)."""
    from cityshare.dag_specs import pool_specs

    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    _airflow(settings, ["db", "migrate"])
    pools = {p.name: {"slots": p.slots, "description": p.description, "include_deferred": False} for p in pool_specs()}
    if pools:
        path = settings.airflow_home / "pools.json"
        path.write_text(json.dumps(pools, ensure_ascii=False), encoding="utf-8")
        _airflow(settings, ["pools", "import", str(path)])


def _airflow(settings: Settings, args: list[str]) -> None:
    done = subprocess.run([airflow_bin(), *args], env=process_env(settings), capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        from cityshare.errors import CityShareError

        raise CityShareError(f"airflow {' '.join(args)} failed: {(done.stderr or done.stdout).strip()[-800:]}")


@dataclass
class LocalAirflow:
    """The running components of the embedded Airflow (``start`` … ``stop``)."""

    settings: Settings
    port: int
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> dict[str, int | None]:
        """Component → exit code (None while running)."""
        return {name: p.poll() for name, p in self.procs.items()}

    def stop(self, grace: float = 20.0) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def start(settings: Settings, port: int | None = None, components: tuple[str, ...] = COMPONENTS) -> LocalAirflow:
    """Migrate the metadata DB and start the components, each in its own process group, logging to
    ``<data>/airflow/processes/<component>.log``."""
    migrate(settings)
    port = port or free_port()
    env = process_env(settings, port)
    logs = settings.airflow_home / "processes"
    logs.mkdir(parents=True, exist_ok=True)
    running = LocalAirflow(settings, port, logs)
    for name in components:
        args = [airflow_bin(), name]
        if name in ("scheduler", "triggerer"):
            args.append("--skip-serve-logs")
        if name == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(port)]
        out = (logs / f"{name}.log").open("ab")
        running.procs[name] = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True)
    return running
