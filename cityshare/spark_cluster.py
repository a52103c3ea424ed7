"""A Spark standalone cluster (独立集群) on this machine: one master and N workers on 127.0.0.1.

Started from the pyspark distribution itself (``bin/spark-class org.apache.spark.deploy.master.Master`` and
``…deploy.worker.Worker``; pyspark ships no ``sbin/start-master.sh``), each in its own process group, logging
under ``<data>/spark/cluster/``. The workers run on the machine whose local filesystem holds the landed Parquet
lake and the Spark warehouse, so every executor reads and writes the same paths as the driver
(:func:`cityshare.spark_engine.check_master`). Used by the Spark test tier (``make test-spark``) and for trying
the cluster path by hand; a production cluster is started by its own operators.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.errors import BuildFailed
from cityshare.ports import HOST, free_port
from cityshare.processes import stop_group
from cityshare.settings import Settings


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package (its ``bin/`` and ``jars/``)."""
    try:
        import pyspark
    except ImportError:
        raise BuildFailed("Spark 引擎未安装（pyspark）：请运行 `uv sync --extra spark` 或 `make test-spark`") from None
    return Path(pyspark.__file__).parent


@dataclass
class StandaloneCluster:
    """A running master and its workers (``start_standalone`` … ``stop``)."""

    home: Path
    port: int
    webui_port: int
    worker_webui_ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    def status(self) -> dict[str, Any]:
        """The master's JSON status (``/json/``): workers, active and completed applications."""
        return _get_json(self.webui_port)

    def worker_status(self, index: int) -> dict[str, Any]:
        """Worker ``index``'s JSON status (``/json/``): its executors, running and finished."""
        return _get_json(self.worker_webui_ports[index])

    def stop(self) -> None:
        """Stop the workers, then the master (SIGTERM to each process group, SIGKILL after a grace period)."""
        for proc in reversed(self.procs):
            stop_group(proc)


def _get_json(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{HOST}:{port}/json/", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
    return data


def _spawn(cluster: StandaloneCluster, name: str, args: list[str], env: dict[str, str]) -> None:
    log = (cluster.home / f"{name}.log").open("ab")
    try:
        cluster.procs.append(subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], env=env,
                                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    finally:
        log.close()


def start_standalone(settings: Settings, workers: int = 2, cores: int = 1, memory: str = "1g",
                     timeout: float = 180.0) -> StandaloneCluster:
    """A master and ``workers`` workers (``cores`` cores and ``memory`` each for executors) bound to 127.0.0.1,
    returned once every worker has registered with the master; stopped again when that does not happen."""
    from cityshare.spark_engine import require_spark, spark_dir

    require_spark()
    home = spark_dir(settings) / "cluster"
    home.mkdir(parents=True, exist_ok=True)
    # every daemon, and the executors the workers launch, bind to the loopback address only
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST, "SPARK_LOG_DIR": str(home)}
    cluster = StandaloneCluster(home, port=free_port(), webui_port=free_port())
    try:
        _spawn(cluster, "master", ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port",
                                   str(cluster.port), "--webui-port", str(cluster.webui_port)], env)
        for i in range(workers):
            cluster.worker_webui_ports.append(free_port())
            _spawn(cluster, f"worker-{i}", [
                "org.apache.spark.deploy.worker.Worker", "--host", HOST, "--port", str(free_port()),
                "--webui-port", str(cluster.worker_webui_ports[-1]), "--cores", str(cores), "--memory", memory,
                "--work-dir", str(home / f"worker-{i}"), cluster.master_url], env)
        _wait_for_workers(cluster, workers, timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_for_workers(cluster: StandaloneCluster, workers: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    alive = 0
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in cluster.procs):
            break
        try:
            alive = int(cluster.status().get("aliveworkers", 0))
        except OSError:  # the master's web UI is not listening yet
            alive = 0
        if alive >= workers:
            return
        time.sleep(1.0)
    raise BuildFailed(f"Spark 独立集群未就绪：{alive}/{workers} 个 worker 已注册（日志见 {cluster.home}）")
