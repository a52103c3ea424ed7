"""Paths and settings, read from the environment with embedded defaults.

Everything that differs between the embedded mode, the tests and a production deployment is a
setting here; code never hard-codes a path. Settings are read at call time (not import time) so
tests can point a whole run at a temporary folder with one environment variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# `cityshare keys init` writes the token key here (under the data dir, 0600); cityshare.keys checks it.
TOKEN_KEY_FILE = Path("keys") / "token.key"


def _secret_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run."""

    project_root: Path
    data_dir: Path
    token_key: str
    sim_api_token: str
    sim_api_port: int
    # Object-storage lake (see cityshare/storage.py): empty lake_url = the local folder ``lake_dir``.
    lake_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = field(default="", repr=False)
    s3_secret_access_key: str = field(default="", repr=False)
    # Requests per minute (bursting up to that) per API token / portal session and per client address.
    rate_per_token: int = 600
    rate_per_address: int = 1200
    # Days a load date may lie beyond today on the Asia/Shanghai calendar (cityshare.ingest.check_load_date).
    load_date_tolerance_days: int = 1
    # Instance identity (平台身份) in the 国家/市/区县 federation (cityshare.instance validates it);
    # the defaults are the city platform every single-instance install has always been.
    instance_level: str = "市"
    instance_area: str = "500000"
    instance_name: str = "重庆市城市运行和治理中心"
    # Seconds a connection waits while another process holds the warehouse's write lock (cityshare.warehouse).
    lock_wait_seconds: float = 120.0
    # The OpenMetadata server the directory DAG pushes to (both empty: no push); the bot JWT only from the environment.
    openmetadata_url: str = ""
    openmetadata_token: str = field(default="", repr=False)
    # Failure and late-delivery alerts are also POSTed here when set (cityshare.alerts).
    alert_webhook: str = ""
    # dbt run artifacts kept per build under the data folder (cityshare.transform.archive_artifacts).
    dbt_artifact_runs: int = 30
    # The engine that builds the layers: duckdb (default) or spark (CITYSHARE_ENGINE, see cityshare.engine).
    engine: str = "duckdb"
    # The Spark engine (cityshare.spark_engine): master URL, shuffle partitions, executor memory on a cluster, and
    # whether a remote standalone cluster's workers see the data folder at the same path (a shared mount).
    spark_master: str = "local[2]"
    spark_partitions: int = 4
    spark_executor_memory: str = "512m"
    spark_shared_data: bool = False
    # DuckDB inside dbt (cityshare.resources): threads and memory limit; 0 / empty = derived from the machine.
    duckdb_threads: int = 0
    dbt_memory_limit: str = ""

    @property
    def contracts_dir(self) -> Path:
        return self.project_root / "contracts"

    @property
    def catalog_dir(self) -> Path:
        return self.project_root / "catalog"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_root / "dbt_project"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def departments_dir(self) -> Path:
        """Where the simulator keeps the departments' own systems (their databases, API data)."""
        return self.data_dir / "departments"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def directory_dir(self) -> Path:
        return self.data_dir / "directory"

    @property
    def dbt_target_dir(self) -> Path:
        return self.data_dir / "dbt_target"

    @property
    def audit_anchor_dir(self) -> Path:
        """Signed checkpoints of the audit chain's head, apart from the log (copy them off-host)."""
        return self.data_dir / "audit_anchors"

    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"


def get_settings() -> Settings:
    """Settings from the environment (``CITYSHARE_*``), defaults for the embedded mode."""
    root = Path(os.environ.get("CITYSHARE_HOME", PROJECT_ROOT)).resolve()
    data = Path(os.environ.get("CITYSHARE_DATA_DIR", root / "data")).resolve()
    return Settings(
        project_root=root,
        data_dir=data,
        # The keyed-token secret is city-held: the environment, else the key file; no default (cityshare.keys).
        token_key=os.environ.get("CITYSHARE_TOKEN_KEY") or _secret_file(data / TOKEN_KEY_FILE),
        sim_api_token=os.environ.get("CITYSHARE_SCJGJ_API_TOKEN", ""),
        sim_api_port=int(os.environ.get("CITYSHARE_SIM_API_PORT", "8765")),
        lake_url=os.environ.get("CITYSHARE_LAKE_URL", "").rstrip("/"),
        s3_endpoint_url=os.environ.get("CITYSHARE_S3_ENDPOINT_URL", ""),
        s3_region=os.environ.get("CITYSHARE_S3_REGION", "us-east-1"),
        # Credentials only from the environment (or the instance role when empty), never from a file.
        s3_access_key_id=os.environ.get("CITYSHARE_S3_ACCESS_KEY_ID", ""),
        s3_secret_access_key=os.environ.get("CITYSHARE_S3_SECRET_ACCESS_KEY", ""),
        rate_per_token=int(os.environ.get("CITYSHARE_RATE_PER_TOKEN") or 600),  # requests/min (a limit, not a secret)
        rate_per_address=int(os.environ.get("CITYSHARE_RATE_PER_ADDRESS", "1200")),
        load_date_tolerance_days=int(os.environ.get("CITYSHARE_LOAD_DATE_TOLERANCE_DAYS", "1")),
        instance_level=os.environ.get("CITYSHARE_INSTANCE_LEVEL", "市").strip(),
        instance_area=os.environ.get("CITYSHARE_INSTANCE_AREA", "500000").strip(),
        instance_name=os.environ.get("CITYSHARE_INSTANCE_NAME", "重庆市城市运行和治理中心").strip(),
        lock_wait_seconds=float(os.environ.get("CITYSHARE_LOCK_WAIT_SECONDS") or 120),
        openmetadata_url=os.environ.get("CITYSHARE_OPENMETADATA_URL", "").strip(),
        openmetadata_token=os.environ.get("CITYSHARE_OPENMETADATA_TOKEN", ""),
        alert_webhook=os.environ.get("CITYSHARE_ALERT_WEBHOOK", "").strip(),
        dbt_artifact_runs=int(os.environ.get("CITYSHARE_DBT_ARTIFACT_RUNS") or 30),
        engine=(os.environ.get("CITYSHARE_ENGINE") or "duckdb").strip().lower(),
        spark_master=os.environ.get("CITYSHARE_SPARK_MASTER") or "local[2]",
        spark_partitions=int(os.environ.get("CITYSHARE_SPARK_PARTITIONS") or 4),
        spark_executor_memory=os.environ.get("CITYSHARE_SPARK_EXECUTOR_MEMORY") or "512m",
        spark_shared_data=os.environ.get("CITYSHARE_SPARK_SHARED_DATA") == "1",
        duckdb_threads=int(os.environ.get("CITYSHARE_DUCKDB_THREADS") or 0),
        dbt_memory_limit=os.environ.get("CITYSHARE_DBT_MEMORY_LIMIT", "").strip(),
    )


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in this process's environment for the block, then restored (the demos point what reads the
    environment — dbt, its plugin, a contract's ``${VAR}`` — at one instance or endpoint)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
