"""One dbt invocation vs a task per model (what Astronomer Cosmos generates), measured on the same data.

    .venv/bin/python bench/dbt_invocation_bench.py [--days 2] [--scale 3] [--sample 4]

Issue #5 asks to choose between Cosmos (an Airflow task per dbt model) and one dbt invocation by
measurement. Cosmos itself is not installed (it would add a dependency tree to the lock only for this
comparison), so the bench reproduces what its local execution mode does per task: one `dbt build
--select <node>` (the model and its tests), run

- in-process one after another (a lower bound: no process start, dbt imported once), for every model
  and seed in dependency order, and
- in a fresh Python process for ``--sample`` models, as an Airflow worker runs each task; the
  difference per task is added for every node to estimate the per-task total.

Airflow's own scheduling cost per task (≈ seconds on these machines, see bench/run.py's orchestration
figure) comes on top of the per-model side and is not included. Writes
bench/results/dbt_invocation.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import RESULTS, StageMeter, machine, median
from cityshare.ports import free_port

START = dt.date(2026, 11, 1)
EXCLUDE = ["--exclude-resource-type", "unit_test"]


def _prepare(root: Path, days: int, scale: float) -> Any:
    """A private project copy and data dir with every source landed, gated and built once."""
    from bench.run import _ours_stages, make_home

    port = free_port()
    make_home(root / "home", port)
    os.environ.update(CITYSHARE_HOME=str(root / "home"), CITYSHARE_SIM_API_PORT=str(port),
                      CITYSHARE_DATA_DIR=str(root / "data"))
    from cityshare.settings import get_settings
    from cityshare.simulate import simulate
    from cityshare.simulate.api import start_api_server

    settings = get_settings()
    simulate(settings, days=days, start=START, scale=scale, seed=11)
    with start_api_server(settings):
        counts = _ours_stages(StageMeter(), [START + dt.timedelta(days=i) for i in range(days)], settings)
    return settings, counts


def _nodes_in_order(settings: Any) -> list[str]:
    """Seeds and models (no tests) in dependency order, as Cosmos would lay out its tasks."""
    from bench.run import _toposort

    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text(encoding="utf-8"))
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] in ("model", "seed")}
    return [nodes[uid]["name"] for uid in _toposort(nodes) if uid in nodes]


def _one_task_in_a_process(settings: Any, name: str) -> float:
    code = ("import time; t = time.perf_counter(); from cityshare.transform import run_dbt; "
            f"run_dbt(['build', '--select', {name!r}, *{EXCLUDE!r}]); print(time.perf_counter() - t)")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--sample", type=int, default=4, help="models also timed in a fresh process each")
    parser.add_argument("--out", default=str(RESULTS / "dbt_invocation"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cityshare-dbt-bench-") as tmp:
        settings, counts = _prepare(Path(tmp), args.days, args.scale)
        from cityshare.transform import build, run_dbt

        one = []
        for _ in range(2):
            t = time.perf_counter()
            build(settings)
            one.append(time.perf_counter() - t)
        names = _nodes_in_order(settings)
        per_node: dict[str, float] = {}
        t_all = time.perf_counter()
        for name in names:
            t = time.perf_counter()
            run_dbt(["build", "--select", name, *EXCLUDE], settings)
            per_node[name] = time.perf_counter() - t
        in_process = time.perf_counter() - t_all
        step = max(1, len(names) // max(1, args.sample))
        sample = names[step // 2::step][: args.sample]
        fresh = {name: _one_task_in_a_process(settings, name) for name in sample}
        start_cost = median([fresh[n] - per_node[n] for n in sample])
    report = {
        "measured_at": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
        "source_rows": counts["rows"], "nodes": len(names),
        "one_invocation_s": round(median(one), 2), "one_invocation_runs_s": [round(x, 2) for x in one],
        "task_per_model_in_process_s": round(in_process, 2),
        "per_task_process_start_s": round(start_cost, 2),
        "task_per_model_estimated_s": round(in_process + len(names) * start_cost, 2),
        "sample_fresh_process_s": {k: round(v, 2) for k, v in fresh.items()},
    }
    report["ratio_in_process"] = round(report["task_per_model_in_process_s"] / report["one_invocation_s"], 1)
    report["ratio_estimated"] = round(report["task_per_model_estimated_s"] / report["one_invocation_s"], 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    md = render(report)
    out.with_suffix(".md").write_text(md, encoding="utf-8")
    print(md)


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    return "\n".join([
        "# dbt: one invocation vs a task per model (Cosmos-style) 单次调用与逐模型任务对比", "",
        f"Measured {r['measured_at']} on {m['cpu']}, {m['cores']} cores; {r['source_rows']:,} source rows, "
        f"{r['nodes']} seeds + models.", "",
        "| way | seconds | × one invocation |", "|---|---|---|",
        f"| one `dbt build` (what `build_and_publish` runs) | {r['one_invocation_s']} | 1.0 |",
        f"| `dbt build --select <node>` per node, in one process (lower bound) | {r['task_per_model_in_process_s']} "
        f"| {r['ratio_in_process']} |",
        f"| the same with a fresh process per task (+{r['per_task_process_start_s']} s each, measured on "
        f"{len(r['sample_fresh_process_s'])} nodes) | {r['task_per_model_estimated_s']} | {r['ratio_estimated']} |",
        "", "Airflow's scheduling cost per task comes on top of the per-node rows.", ""])


if __name__ == "__main__":
    main()
