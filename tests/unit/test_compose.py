"""docker-compose.yml, validated by Debian's docker-compose (no engine needed for ``config``).

Checks what an operator relies on: every platform service is there with a health check, ports bind
loopback only, data sits in named volumes, and no secret value is written in the compose file. The profile
``spark`` (docs/spark.md) adds a Spark standalone master and two workers, and the settings of .env.example's
Spark block make the Airflow workers build the layers on them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SERVICES = {
    "airflow-db", "redis", "minio", "minio-init", "airflow-init", "airflow-api-server", "airflow-scheduler",
    "airflow-dag-processor", "airflow-triggerer", "airflow-worker-1", "airflow-worker-2", "portal",
    "openmetadata-db", "opensearch", "openmetadata-migrate", "openmetadata-server",
}
ONE_SHOT = {"minio-init", "airflow-init", "openmetadata-migrate"}
SPARK = {"spark-master", "spark-worker-1", "spark-worker-2"}
# .env.example's Spark block, set as it says
SPARK_SETTINGS = {"COMPOSE_PROFILES": "spark", "CITYSHARE_IMAGE_EXTRAS": "spark", "CITYSHARE_ENGINE": "spark",
                  "CITYSHARE_SPARK_MASTER": "spark://spark-master:7077", "CITYSHARE_SPARK_SHARED_DATA": "1",
                  "CITYSHARE_LAKE_URL": ""}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|KEY_ID")


def _compose(*args: str, env_file: Path | None = ENV_EXAMPLE, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (Debian package docker-compose; make system-deps)")
    extra = ["--env-file", str(env_file)] if env_file else []
    return subprocess.run([exe, "-f", str(COMPOSE), *extra, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={"PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def config() -> dict:
    proc = _compose("config")
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


@pytest.fixture(scope="module")
def spark_config(tmp_path_factory) -> dict:
    """The stack's configuration with .env.example's Spark block set (profile spark)."""
    env = tmp_path_factory.mktemp("compose") / "spark.env"
    env.write_text("\n".join(f"{k}={v}" for k, v in {**_env_example(), **SPARK_SETTINGS}.items()) + "\n")
    proc = _compose("--profile", "spark", "config", env_file=env)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def _mounts(service: dict) -> set[tuple[str, str]]:
    """(volume, path in the container) of a service's mounts (docker-compose 1 prints them as strings)."""
    return {(v["source"], v["target"]) if isinstance(v, dict) else tuple(v.split(":")[:2])
            for v in service.get("volumes", [])}


def _env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def test_every_platform_service_is_defined_with_a_health_check(config):
    services = config["services"]
    assert services.keys() >= SERVICES
    missing = sorted(n for n in SERVICES - ONE_SHOT if "healthcheck" not in services[n])
    assert not missing, f"services without a health check: {missing}"
    for name in ("airflow-scheduler", "airflow-worker-1", "airflow-worker-2", "airflow-dag-processor"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert env["CITYSHARE_LAKE_URL"].startswith("s3://")
    # the two workers are distinct Celery nodes
    hostnames = {" ".join(services[f"airflow-worker-{n}"]["command"]) for n in (1, 2)}
    assert len(hostnames) == 2
    assert services["airflow-scheduler"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    # the directory DAG (run by the workers) pushes to the stack's OpenMetadata
    assert services["airflow-worker-1"]["environment"]["CITYSHARE_OPENMETADATA_URL"].startswith(
        "http://openmetadata-server:8585")


def test_openmetadata_server_is_the_release_of_the_locked_client(config):
    """openmetadata-ingestion refuses a server of another major.minor; compose runs the client's release."""
    from importlib.metadata import version

    client = ".".join(version("openmetadata-ingestion").split(".")[:3])  # 2.0.7.0 → 2.0.7
    for name in ("openmetadata-server", "openmetadata-migrate"):
        image = config["services"][name]["image"]
        assert image.rsplit(":", 1)[1] == client, f"{name} runs {image}, the locked client is {client}"
    assert _env_example()["OPENMETADATA_VERSION"] == client


@pytest.mark.parametrize("profile", ["default", "spark"])
def test_published_ports_bind_loopback_only(profile, config, spark_config):
    published = []
    for name, svc in (spark_config if profile == "spark" else config)["services"].items():
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).rsplit(":", 2)[0]
            published.append((name, host_ip))
    assert published, "the portal, Airflow UI, MinIO console and OpenMetadata should be reachable locally"
    assert all(ip == "127.0.0.1" for _, ip in published), published
    assert {"portal", "airflow-api-server", "openmetadata-server"} <= {n for n, _ in published}


def test_state_lives_in_named_volumes(config):
    named = set(config["volumes"])
    for name in ("airflow-db", "redis", "minio", "openmetadata-db", "opensearch", "airflow-scheduler", "portal"):
        sources = {v["source"] if isinstance(v, dict) else v.split(":")[0] for v in config["services"][name]["volumes"]}
        assert sources <= named, (name, sources)


def test_no_secret_value_is_committed():
    text = COMPOSE.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    found = []

    def walk(node, path=""):  # type: ignore[no-untyped-def]
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str | int) and SECRET_NAME.search(str(k)) and not str(v).startswith("${") \
                        and "${" not in str(v):
                    found.append(f"{path}.{k}")
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(raw)
    assert not found, f"literal secret values in docker-compose.yml: {found}"
    # every secret the stack needs is required (no silent default) and documented in .env.example
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = _env_example()
    assert required and required <= example.keys(), required - example.keys()
    for name in required:
        if SECRET_NAME.search(name):
            assert example[name].startswith("change-me"), f".env.example {name} must be a placeholder"


def test_every_variable_is_in_env_example():
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))  # $${X} is the container's
    assert used <= _env_example().keys(), sorted(used - _env_example().keys())


def test_a_missing_secret_stops_compose_with_its_name(tmp_path):
    env = tmp_path / "partial.env"
    env.write_text("\n".join(f"{k}={v}" for k, v in _env_example().items() if k != "REDIS_PASSWORD"))
    proc = _compose("config", env_file=env, cwd=tmp_path)
    assert proc.returncode != 0
    assert "REDIS_PASSWORD" in proc.stderr


def test_the_spark_profile_is_a_master_and_two_workers_only_on_demand(config):
    services = config["services"]
    assert services.keys() >= SPARK
    # in the profile only: `docker-compose up` without it starts none of them, and nothing else is in it
    assert {n for n, svc in services.items() if "spark" in svc.get("profiles", [])} == SPARK
    assert all(services[n].get("profiles") == ["spark"] for n in SPARK)
    # by default the layers build on DuckDB, the lake in the bucket
    env = services["airflow-worker-1"]["environment"]
    assert (env["CITYSHARE_ENGINE"], env["CITYSHARE_SPARK_SHARED_DATA"]) == ("duckdb", "0")
    assert env["CITYSHARE_LAKE_URL"] == f"s3://{_env_example()['CITYSHARE_LAKE_BUCKET']}/lake"
    assert services["airflow-worker-1"]["build"]["args"]["CITYSHARE_EXTRAS"] == ""


def test_the_spark_profile_builds_the_layers_on_its_cluster(spark_config, monkeypatch):
    from cityshare.settings import get_settings
    from cityshare.spark_engine import check_master

    services = spark_config["services"]
    master = services["spark-master"]
    assert master["command"][:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert master["command"][master["command"].index("--port") + 1] == "7077"
    for name in ("spark-worker-1", "spark-worker-2"):
        worker = services[name]
        assert worker["command"][:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
        assert worker["command"][-1] == "spark://spark-master:7077"
        assert worker["depends_on"]["spark-master"]["condition"] == "service_healthy"
        assert "healthcheck" in worker and not worker.get("ports")
        # the executors run the image's Python (the masking UDFs) and see the data folder where the driver does
        assert worker["environment"]["PYSPARK_PYTHON"].startswith("/opt/cityshare/.venv/")
        assert _mounts(worker) == {("cityshare-data", "/data")}
    assert "healthcheck" in master and "volumes" not in master
    # one image with Java and the spark extra, for the daemons and for the Airflow workers driving the builds
    for name in (*SPARK, "airflow-worker-1", "airflow-worker-2"):
        assert services[name]["build"]["args"]["CITYSHARE_EXTRAS"] == "spark", name
        assert services[name]["image"] == services["airflow-worker-1"]["image"]
    for n in (1, 2):
        worker = services[f"airflow-worker-{n}"]
        env = worker["environment"]
        # the build task (the Spark driver) targets the profile's master, the lake on the volume both mount at /data
        assert env["CITYSHARE_ENGINE"] == "spark" and env["CITYSHARE_SPARK_MASTER"] == "spark://spark-master:7077"
        assert env["CITYSHARE_SPARK_SHARED_DATA"] == "1" and env["CITYSHARE_LAKE_URL"] == ""
        assert env["SPARK_LOCAL_HOSTNAME"] == f"airflow-worker-{n}"  # where the executors reach the driver
        assert _mounts(worker) == {("cityshare-data", "/data")}
        # and cityshare, in that environment, builds on Spark against that master (a remote one, accepted with the
        # shared data folder) from a lake on the local volume
        for key, value in env.items():
            if key.startswith("CITYSHARE_"):
                monkeypatch.setenv(key, str(value))
        settings = get_settings()
        assert (settings.engine, settings.lake_url, str(settings.data_dir)) == ("spark", "", "/data")
        assert check_master(settings.spark_master, settings) == "spark://spark-master:7077"
    # the Spark daemons get no secret: the token key stays with the driver (in the Airflow workers)
    for name in SPARK:
        assert not [k for k in services[name].get("environment", {}) if SECRET_NAME.search(k)], name
