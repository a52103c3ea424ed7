"""The layers' full build on Spark (a standalone cluster of 1 and of 2 workers) beside DuckDB (issue #30).

    make spark-deps                                  # the `spark` extra and Java 17
    .venv/bin/python bench/spark_bench.py [--rows 1e7] [--days 30] [--workers 1,2] [--folder DIR]

Prepared once and kept in ``--folder`` (a re-run with the same folder reuses it): a private copy of the project
(``bench/run.py``'s ``make_home``), ``--days`` simulated days sized to ``--rows`` source rows, landed and gated
by CityShare as production does. Then each build runs in a fresh child process, from the same gated batches:

- ``duckdb``: ``cityshare.engine.build(full_refresh=True)`` on the default engine (dbt-duckdb, one process);
- ``spark-N``: a Spark standalone cluster of N workers on 127.0.0.1 (``cityshare.spark_cluster``: one core and
  ``--worker-memory`` each), then ``cityshare.engine.build(full_refresh=True)`` with ``engine="spark"`` — every model and data
  test on the cluster, and the published models written to the audit area as Parquet.

Both are full builds of every model and data test of the four layers (``full_refresh``: on Spark too, the
incremental models would otherwise read only the batches an earlier run left unprocessed). Reported per build:
wall seconds, source rows per second, and the peak memory of the child's whole process tree (the driver, and for
Spark the master, workers and executors: the sum of their RSS, sampled every 0.2 s). Writes
``bench/results/spark_build.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, ROOT, machine
from run import START, _keys, make_home, simulate_scale


def prepare(folder: Path, rows: int, days: int) -> dict[str, Any]:
    """The gated home the builds read (kept: ``prepared.json`` marks it done)."""
    marker = folder / "prepared.json"
    if marker.exists():
        return json.loads(marker.read_text())
    from cityshare.ports import free_port

    home, port = folder / "home", free_port()
    make_home(home, port)
    os.environ["CITYSHARE_HOME"] = str(home)
    sim = simulate_scale(folder, rows, days)
    started = time.perf_counter()
    env = {"CITYSHARE_HOME": str(home), "CITYSHARE_DATA_DIR": str(folder / "full"), "CITYSHARE_SIM_API_PORT": str(port),
           "CITYSHARE_TOKEN_KEY": _token_key(folder),  # the simulated department APIs' tokens, any value:
           "CITYSHARE_SCJGJ_API_TOKEN": secrets.token_urlsafe(16), "CITYSHARE_JTJ_API_TOKEN": secrets.token_urlsafe(16)}
    gated = subprocess.run([sys.executable, __file__, "--child", "gate", "--days", str(days)], check=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=subprocess.PIPE, text=True)
    counts = json.loads(gated.stdout.strip().splitlines()[-1])
    if not counts["accepted_rows"]:
        raise SystemExit(f"nothing was accepted: {counts}")
    info = {**sim, **counts, "home": str(home), "data": str(folder / "full"),
            "gate_seconds": round(time.perf_counter() - started)}
    marker.write_text(json.dumps(info))
    return info


def _token_key(folder: Path) -> str:
    """This bench home's token key (a random one, kept beside it so a re-run builds the same tokens)."""
    path = folder / "token.key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def gate_child(days: int) -> dict[str, Any]:
    """Land and gate every source's days (as bench/run.py's CityShare side does); the batches' counts."""
    import logging

    from cityshare.errors import CityShareError
    from cityshare.ingest import gate_batch, land_batch
    from cityshare.settings import get_settings
    from cityshare.simulate.api import start_api_server

    logging.disable(logging.INFO)
    settings = get_settings()
    keys, counts = _keys(), {"accepted_batches": 0, "accepted_rows": 0, "not_accepted": []}
    with start_api_server(settings):
        for day in (START + dt.timedelta(days=i) for i in range(days)):
            for key in keys:
                try:
                    item = land_batch(key, day, settings)
                    out = gate_batch(item["dataset"], day, item["load_id"], settings)
                    counts["accepted_batches"] += 1
                    counts["accepted_rows"] += out["accepted"]
                except CityShareError as exc:
                    counts["not_accepted"].append(f"{key} {day}: {str(exc)[:200]}")
    return counts


def build_child(workers: int, worker_memory: str) -> dict[str, Any]:
    """One full build; ``workers`` 0 = DuckDB."""
    import logging

    from cityshare import engine
    from cityshare.settings import get_settings

    logging.disable(logging.INFO)
    settings = get_settings()
    if not workers:
        started = time.perf_counter()
        built = engine.build(settings, full_refresh=True)
        return {"seconds": round(time.perf_counter() - started, 2), "models": built["models"],
                "failed": sorted(built.get("failed") or {})}
    from cityshare import spark_cluster, spark_engine

    cluster = spark_cluster.start_standalone(settings, workers=workers, cores=1, memory=worker_memory)
    try:
        spark = dataclasses.replace(settings, engine="spark", spark_master=cluster.master_url)
        started = time.perf_counter()
        built = engine.build(spark, full_refresh=True)
        seconds = time.perf_counter() - started
        tasks = spark_engine.executor_tasks(spark_engine.spark_session(spark))
    finally:
        spark_engine.stop_session()
        cluster.stop()
    return {"seconds": round(seconds, 2), "models": built["models"], "failed": sorted(built.get("failed") or {}),
            "executor_tasks": {k: v[1] for k, v in tasks.items()}}


def _tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def run_build(info: dict[str, Any], workers: int, worker_memory: str = "4g", executor_memory: str = "3g",
              settings: dict[str, str] | None = None) -> dict[str, Any]:
    """One full build in a child process (``settings``: extra ``CITYSHARE_*`` variables); its time and peak memory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CITYSHARE_HOME": info["home"], "CITYSHARE_DATA_DIR": info["data"],
           "CITYSHARE_SPARK_EXECUTOR_MEMORY": executor_memory,
           "CITYSHARE_TOKEN_KEY": _token_key(Path(info["data"]).parent), **(settings or {})}
    proc = subprocess.Popen([sys.executable, __file__, "--child", "build", "--workers", str(workers),
                             "--worker-memory", worker_memory], env=env, stdout=subprocess.PIPE, text=True)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"build with {workers} worker(s) failed (exit {proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(peak_tree_rss_mb=round(peak[0]), rows_per_s=round(info["source_rows"] / result["seconds"]))
    return result


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Full build on Spark beside DuckDB 分布式构建基准 (`bench/spark_bench.py`)", "",
        f"Measured {report['measured_at']} on {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; load average at "
        f"start {report['load_start']}, at the end {report['load_end']}. {report['source_rows']:,} source rows "
        f"({report['days']} simulated days of every department), landed and gated once; every build runs every "
        "model and data test of the four layers from those batches, in a fresh process. Peak memory = the sum of "
        "the RSS of the build's whole process tree (driver; Spark master, workers and executors).", "",
        "| engine | build s | source rows/s | vs DuckDB | peak memory MB | models | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    duck = report["builds"]["duckdb"]["seconds"]
    for name, b in report["builds"].items():
        lines.append(f"| {name} | {b['seconds']:.1f} | {b['rows_per_s']:,} | {b['seconds'] / duck:.1f}× | "
                     f"{b['peak_tree_rss_mb']:,} | {b['models']} | {len(b['failed'])} |")
    lines += ["", f"Spark: workers of 1 core and {report['worker_memory']} each, executors of "
              f"{report['executor_memory']}; tasks per executor: "
              + "; ".join(f"{name}: {b.get('executor_tasks')}" for name, b in report["builds"].items()
                          if name != "duckdb"), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--worker-memory", default="4g")
    parser.add_argument("--executor-memory", default="3g")
    parser.add_argument("--folder", default="/tmp/cityshare-spark-bench")
    parser.add_argument("--out", default=str(RESULTS / "spark_build"))
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child == "gate":
        print(json.dumps(gate_child(args.days)))
        return
    if args.child == "build":
        print(json.dumps(build_child(int(args.workers), args.worker_memory)))
        return
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    load_start = [round(x, 2) for x in os.getloadavg()]
    info = prepare(folder, int(args.rows), args.days)
    print(f"prepared {info['source_rows']:,} rows in {folder}", flush=True)
    builds: dict[str, Any] = {"duckdb": run_build(info, 0, args.worker_memory, args.executor_memory)}
    print(f"duckdb: {builds['duckdb']}", flush=True)
    for n in (int(w) for w in args.workers.split(",") if w.strip()):
        builds[f"spark, {n} worker{'s' * (n > 1)}"] = run_build(info, n, args.worker_memory, args.executor_memory)
        print(f"spark {n}: {builds[f'spark, {n} worker' + 's' * (n > 1)]}", flush=True)
    report = {"source_rows": info["source_rows"], "days": args.days, "builds": builds, "machine": machine(),
              "worker_memory": args.worker_memory, "executor_memory": args.executor_memory,
              "measured_at": dt.datetime.now().isoformat(timespec="seconds"), "load_start": load_start,
              "load_end": [round(x, 2) for x in os.getloadavg()]}
    Path(args.out + ".json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    Path(args.out + ".md").write_text(render(report), encoding="utf-8")
    print(render(report))


if __name__ == "__main__":
    main()
