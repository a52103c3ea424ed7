"""A whole city's catalogue on one installation: how each fixed-cost step grows with the number of sources.

For each N (default 18, 300, 3000 source contracts; bench/catalogue.py generates them for synthetic street
offices with real GB/T 2260 codes), in a fresh copy of the project, each step in its own process:

- ``lint``: ``cityshare contracts lint`` over every contract, the first process to read them (every YAML file
  parsed, the compiled catalogue written);
- ``lint_one_changed``: the lint again after one contract changed (the compiled catalogue re-parses that file);
- ``dag_file``: the DAG file's module body (Airflow's SDK already imported) with no parsing context (what
  the dag-processor parses);
- ``task_parse``: the same file in a task process (Airflow's parsing context names one ingestion DAG);
- ``dag_sync``: ``airflow dags reserialize`` into a fresh metadata DB (peak RSS of that process);
- ``first_build`` / ``noop_build``: ``cityshare build`` with no data, then again with nothing new;
- ``directory`` / ``directory_noop``: ``cityshare directory build`` (every entry new), then again with nothing
  changed (incremental: no entry rebuilt);
- ``search_p99``: ``GET /api/directory?q=…`` p99 over 200 queries (the share service in-process).

Writes ``bench/results/catalogue.md`` / ``.json`` with seconds, peak RSS and the growth exponent
log(t₂/t₁)/log(N₂/N₁) between consecutive sizes.

    .venv/bin/python bench/catalogue_bench.py [--sizes 18,300,3000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, machine
from catalogue import copy_project, generate

VENV_BIN = Path(sys.executable).parent
TIMED = '''
import json, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - t
if done.returncode != 0:
    sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:]); sys.exit(done.returncode)
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
'''
DAG_FILE = '''
import json, resource, runpy, sys, time
import airflow.sdk  # loaded before the DAG file in any Airflow process: the module body is what is timed
t = time.perf_counter()
g = runpy.run_path(sys.argv[1])
from airflow.sdk import DAG
print(json.dumps({"seconds": time.perf_counter() - t, "dags": sum(isinstance(v, DAG) for v in g.values()),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''
SEARCH = '''
import json, resource, statistics, time
from fastapi.testclient import TestClient
from cityshare.share.app import create_app
client = TestClient(create_app())
terms = ["案件", "停车", "街道", "桥梁", "老人", "许可", "渣土", "照明", "报装", "网格"]
client.get("/api/directory", params={"q": "预热"})
times, sizes = [], []
for i in range(200):
    t = time.perf_counter()
    r = client.get("/api/directory", params={"q": terms[i % len(terms)]})
    times.append(time.perf_counter() - t)
    sizes.append(len(r.content))
times.sort()
print(json.dumps({"seconds": times[int(len(times) * 0.99) - 1], "max_kb": max(sizes) / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def _run(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{args[:3]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(n: int, work: Path) -> dict[str, Any]:
    home, data = work / f"n{n}" / "home", work / f"n{n}" / "data"
    copy_project(home)
    generate(home, n)
    env = {**os.environ, "CITYSHARE_HOME": str(home), "CITYSHARE_DATA_DIR": str(data),
           "CITYSHARE_TOKEN_KEY": secrets.token_hex(32), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "PYTHONPATH": str(ROOT)}
    cli = str(VENV_BIN / "cityshare")
    dag_file = str(home / "dags" / "cityshare_dags.py")
    out: dict[str, Any] = {"n": len(list((home / "contracts").glob("*/*.odcs.yaml"))) - len(
        list((home / "contracts" / "shared").glob("*.odcs.yaml"))), "load_before": os.getloadavg()}
    out["lint"] = _run(["-c", TIMED, cli, "contracts", "lint"], env)
    one = home / "contracts" / "cgj" / "city_cases.odcs.yaml"
    one.write_text(one.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    out["lint_one_changed"] = _run(["-c", TIMED, cli, "contracts", "lint"], env)
    out["dag_file"] = _run(["-c", DAG_FILE, dag_file], env)
    task_env = {**env, "_AIRFLOW_PARSING_CONTEXT_DAG_ID": "ingest__cgj__city_cases",
                "_AIRFLOW_PARSING_CONTEXT_TASK_ID": "land"}
    out["task_parse"] = _run(["-c", DAG_FILE, dag_file], task_env)
    from cityshare.airflow_local import local_env
    from cityshare.settings import environment, get_settings

    with environment({"CITYSHARE_HOME": str(home), "CITYSHARE_DATA_DIR": str(data)}):  # restored: a test runs this
        airflow_env = {**env, **local_env(get_settings())}
    subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=airflow_env, capture_output=True, check=True)
    out["dag_sync"] = _run(["-c", TIMED, str(VENV_BIN / "airflow"), "dags", "reserialize"], airflow_env)
    out["first_build"] = _run(["-c", TIMED, cli, "build"], env)
    out["noop_build"] = _run(["-c", TIMED, cli, "build"], env)
    out["directory"] = _run(["-c", TIMED, cli, "directory", "build"], env)
    out["directory_noop"] = _run(["-c", TIMED, cli, "directory", "build"], env)
    out["search_p99"] = _run(["-c", SEARCH], env)
    out["load_after"] = os.getloadavg()  # other work on the 2 cores slows every step: keep it with the figures
    return out


STEPS = ("lint", "lint_one_changed", "dag_file", "task_parse", "dag_sync", "first_build", "noop_build", "directory",
         "directory_noop", "search_p99")


def render(results: list[dict[str, Any]], info: dict[str, Any]) -> str:
    head = "| step | " + " | ".join(f"N = {r['n']}" for r in results) + " | growth exponent |"
    when = f"{time.strftime('%Y-%m-%d')}, {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB, load {info['load_average']}"
    lines = [f"# Catalogue scale ({when})", "",
             "Seconds (peak RSS in MB) per step; the growth exponent is log(t₂/t₁)/log(N₂/N₁) between the last two "
             "sizes (1 = linear).", "", head, "|" + "---|" * (len(results) + 2)]
    for step in STEPS:
        if any(step not in r for r in results):
            continue
        cells = [f"{r[step]['seconds']:.3f} ({r[step]['peak_rss_mb']:.0f})" for r in results]
        a, b = results[-2:] if len(results) > 1 else (results[0], results[0])
        growth = (math.log(b[step]["seconds"] / a[step]["seconds"]) / math.log(b["n"] / a["n"])
                  if b["n"] != a["n"] and a[step]["seconds"] > 0 else float("nan"))
        lines.append(f"| {step} | " + " | ".join(cells) + f" | {growth:.2f} |")
    extra = [f"- N = {r['n']}: DAGs in the file {r['dag_file']['dags']}, in a task process {r['task_parse']['dags']}; "
             f"largest search answer {r['search_p99']['max_kb']:.0f} KB; load average (1/5/15 min) before "
             f"{_load(r.get('load_before'))}, after {_load(r.get('load_after'))}" for r in results]
    return "\n".join([*lines, "", *extra, ""])


def _load(value: Any) -> str:
    return "/".join(f"{v:.1f}" for v in value) if value else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="18,300,3000")
    args = parser.parse_args()
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="cityshare-catalogue-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            t = time.perf_counter()
            results.append(measure(n, Path(tmp)))
            print(f"N = {n}: {time.perf_counter() - t:.0f} s", flush=True)
            text = render(results, info)
            print(text, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "catalogue.json").write_text(json.dumps({"machine": info, "results": results}, indent=2), encoding="utf-8")
    (RESULTS / "catalogue.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
