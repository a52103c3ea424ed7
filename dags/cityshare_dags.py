"""CityShare DAGs — wiring only. One ingestion DAG per source contract, plus build_and_publish and
directory, each scheduled on the Assets the previous stage emits. Every task body calls one function
of the ``cityshare`` package; a blocked gate or audit, or an unusable delivery (empty, not CSV, ragged …), fails
the task without retries, and a window with no delivery skips its land task (and so its gate) with the reason,
without retries; a source that is down is retried.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, Asset, get_parsing_context, task, teardown
from airflow.sdk.exceptions import AirflowFailException

from cityshare.dag_specs import (
    ANY_RAW_BATCH,
    ANY_SHARED_TABLE,
    START_DATE,
    harvest_specs,
    reference_specs,
    shared_asset_uris,
    source_specs,
)
from cityshare.task_outcomes import run_task


def _alert(context):  # type: ignore[no-untyped-def]
    """on_failure_callback: the alert names the department, dataset, task and reason (cityshare.alerts)."""
    from cityshare.alerts import task_failed

    ti = context["ti"]
    task_failed(ti.dag_id, ti.task_id, ti.run_id, str(context.get("exception") or "failed"))


DEFAULTS = {"retries": 1, "retry_delay": dt.timedelta(minutes=1), "on_failure_callback": _alert}


def _ingestion_dag(spec):  # type: ignore[no-untyped-def]
    with DAG(
        dag_id=spec.dag_id, schedule=spec.schedule, start_date=START_DATE, catchup=False,
        max_active_runs=1, tags=list(spec.tags), doc_md=spec.doc,
        default_args={**DEFAULTS, "owner": spec.owner},
    ) as dag:

        # a source that is down or slow is retried with growing delays; a verdict (blocked gate) never is
        @task(retries=3, retry_exponential_backoff=True, pool=spec.pool or "default_pool")
        def land(ds: str | None = None) -> dict:
            from cityshare.ingest import land_batch

            return run_task(land_batch, spec.key, dt.date.fromisoformat(ds))

        @task(outlets=[Asset(spec.asset_uri), Asset(ANY_RAW_BATCH)])
        def gate(landed: dict) -> dict:
            from cityshare.ingest import gate_batch

            day = dt.date.fromisoformat(landed["load_date"])
            return run_task(gate_batch, spec.key, day, landed["load_id"])

        @teardown
        def data_docs(landed: dict) -> int:
            """GX Data Docs for the batch, after the gate whatever its verdict (never changes the run state)."""
            from cityshare.gate.data_docs import build_data_docs

            if not landed:  # land skipped (no delivery) or blocked: no batch, no docs
                return 0
            return len(build_data_docs(spec.key, landed["load_id"]))

        landed = land()
        gate(landed) >> data_docs(landed)
    return dag


# A task process needs only the DAG it runs (Airflow's parsing context names it): with hundreds of sources,
# building every DAG again in every task would cost more than the task. The dag-processor sees all of them.
CURRENT = get_parsing_context().dag_id
SOURCES = source_specs(CURRENT)
for _spec in SOURCES:
    globals()[_spec.dag_id] = _ingestion_dag(_spec)


def _harvest(key: str) -> dict:
    """目录汇聚 from a lower instance: a down instance fails only its harvest DAG."""
    from cityshare.federation.harvest import harvest

    return harvest(key)


def _pull_reference(key: str) -> dict:
    """下发参考数据 from a higher instance: a refused list fails the task without retry, the list in use stays."""
    from cityshare.federation.reference import pull, raise_if_refused

    result = pull(key)
    run_task(lambda: raise_if_refused(result))
    return result


def _federation_dag(spec, task_id, run):  # type: ignore[no-untyped-def]
    """One federation entry of catalog/federation.yml: one task calling ``run(spec.key)``, emitting the spec's asset."""
    with DAG(
        dag_id=spec.dag_id, schedule=spec.schedule, start_date=START_DATE, catchup=False, max_active_runs=1,
        tags=list(spec.tags), doc_md=spec.doc, default_args={**DEFAULTS, "owner": spec.owner},
    ) as dag:
        task(run, task_id=task_id, outlets=[Asset(spec.asset_uri)])(spec.key)
    return dag


for _spec in harvest_specs(CURRENT):
    globals()[_spec.dag_id] = _federation_dag(_spec, "harvest", _harvest)
for _spec in reference_specs(CURRENT):
    globals()[_spec.dag_id] = _federation_dag(_spec, "pull_reference", _pull_reference)


def _wanted(dag_id: str) -> bool:
    return CURRENT is None or dag_id == CURRENT


# Any source's accepted batch triggers a build (not all sources together): a department that delivers nothing
# one day never holds back the tables that do not depend on it; the build reads each source's latest accepted
# data, and the directory flags tables whose inputs are late. See cityshare.dag_specs.ANY_RAW_BATCH.
if _wanted("build_and_publish"):
    with DAG(
        dag_id="build_and_publish", schedule=[Asset(ANY_RAW_BATCH)], start_date=START_DATE,
        catchup=False, max_active_runs=1, tags=["cityshare", "publish"],
        doc_md="dbt build of 标准库 → 基础库/主题库 → 协同专题库, audit against published contracts, atomic publish "
               "of every table that passed (a failed one keeps its previous version and fails the run's last task).",
        default_args={**DEFAULTS, "owner": "cyzx"},
    ) as build_and_publish:

        @task
        def dbt_build() -> dict:
            from cityshare.engine import build  # on DuckDB or Spark (CITYSHARE_ENGINE)

            return run_task(build)

        @task(outlets=[*(Asset(uri) for uri in shared_asset_uris()), Asset(ANY_SHARED_TABLE)])
        def audit_and_publish(built: dict) -> dict:
            from cityshare.publish import audit_and_publish as run

            return run_task(lambda: run(not_built=built["failed"], nothing_built=built.get("nothing_built", False)))

        @task
        def all_published(outcome: dict) -> int:
            """Fails (no retry) naming the tables that were not published, after the others were."""
            if outcome["blocked"]:
                raise AirflowFailException("not published (previous version kept): " + "; ".join(
                    f"{table}: {' | '.join(reasons)}" for table, reasons in outcome["blocked"].items()))
            return len(outcome["published"])

        all_published(audit_and_publish(dbt_build()))


if _wanted("directory"):
    with DAG(
        dag_id="directory", schedule=[Asset(ANY_SHARED_TABLE)], start_date=START_DATE,
        catchup=False, max_active_runs=1, tags=["cityshare", "directory"],
        doc_md="Rebuild the 共享数据资源目录 from contracts, dbt artifacts and the quality history.",
        default_args={**DEFAULTS, "owner": "cyzx"},
    ) as directory:

        @task
        def build_directory() -> int:
            from cityshare.directory.builder import build_directory as build

            return len(build())

        @task
        def export_directory(_built: int) -> list:
            from cityshare.directory.exporters import write_exports

            return write_exports()

        @task
        def push_openmetadata(_exported: list) -> dict:
            from cityshare.directory.sinks.openmetadata import push_if_configured

            return push_if_configured()

        push_openmetadata(export_directory(build_directory()))


if _wanted("delivery_watch"):
    with DAG(
        dag_id="delivery_watch", schedule="0 2 * * *", start_date=START_DATE, catchup=False, max_active_runs=1,
        tags=["cityshare", "quality"],
        doc_md="Daily at 10:00 Beijing: an alert for every source with no accepted batch within its 更新周期 "
               "(working days on the Chinese calendar).",
        default_args={**DEFAULTS, "owner": "cyzx"},
    ) as delivery_watch:

        @task
        def check_deliveries(ds: str | None = None) -> int:
            from cityshare.alerts import check_deliveries as check

            return len(check(dt.date.fromisoformat(ds)))

        check_deliveries()


if _wanted("quality_report"):
    with DAG(
        dag_id="quality_report", schedule="0 0 * * 1", start_date=START_DATE, catchup=False, max_active_runs=1,
        tags=["cityshare", "quality"],
        doc_md="Weekly 数据质量与时效考核报告 for the previous ISO week, written to data/reports/ (Mondays 08:00 Beijing).",
        default_args={**DEFAULTS, "owner": "cyzx"},
    ) as quality_report:

        @task
        def write_quality_report(ds: str | None = None) -> str:
            from cityshare.quality.report import weekly_report

            return weekly_report(ds)

        write_quality_report()
