"""Run DAGs with Airflow's own test runner (``dag.test``), many runs in one process.

Wiring only (like the DAG file): reads a JSON plan ``[[dag_id, "YYYY-MM-DD"], ...]`` on stdin and runs
each DAG run in order through Airflow, printing ``@@cityshare-run <json>`` markers so the caller can
split the log per run (and per task: ``cityshare.airflow_local.file_task_logs``). One process pays
Airflow's start-up (≈8 s) once instead of once per run.
Listed in .airflowignore: it defines no DAG.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

from airflow.dag_processing.dagbag import DagBag


def main() -> int:
    plan = json.load(sys.stdin)
    bag = DagBag(dag_folder=sys.argv[1])
    if bag.import_errors:
        print(f"@@cityshare-import-errors {json.dumps(bag.import_errors)}", flush=True)
        return 2
    failed = 0
    for dag_id, day in plan:
        print(f"@@cityshare-run {json.dumps({'dag_id': dag_id, 'date': day, 'event': 'start'})}", flush=True)
        start = time.monotonic()
        logical = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
        run_id, tries = None, []
        try:
            run = bag.dags[dag_id].test(logical_date=logical)
            state, run_id = str(run.state), run.run_id
            tries = [[ti.task_id, ti.map_index, ti.try_number] for ti in run.get_task_instances()]
        except Exception as exc:  # reported to the caller as a failed run, with its reason
            print(f"run error: {type(exc).__name__}: {exc}", flush=True)
            state = "failed"
        failed += state != "success"
        # run id and task tries let the caller file each task's log where the Airflow UI reads it
        result = {"dag_id": dag_id, "date": day, "event": "end", "state": state, "run_id": run_id,
                  "tries": tries, "seconds": round(time.monotonic() - start, 1)}
        print(f"@@cityshare-run {json.dumps(result)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
