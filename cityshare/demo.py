"""``make demo``: simulate departments, run every DAG through Airflow in dependency order, summarise."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from cityshare.dag_specs import source_specs
from cityshare.meta.batches import dataset_totals
from cityshare.meta.publications import latest_publications
from cityshare.orchestrate import DagRun, init_airflow, run_dags
from cityshare.settings import Settings, environment, get_settings
from cityshare.warehouse import connect


def run_pipeline(days: list[dt.date], settings: Settings, console: Console | None = None) -> list[DagRun]:
    """Each ingestion DAG for each day, then build_and_publish, then directory — all via Airflow."""
    from cityshare.simulate import simulated_sources
    from cityshare.simulate.api import start_api_server

    init_airflow(settings)

    def show(result: DagRun) -> None:
        if console:
            mark = "[green]success[/]" if result.ok else "[red]failed[/]"
            console.print(f"  {result.dag_id} {result.logical_date} … {mark} ({result.seconds:.1f} s)")

    simulated = simulated_sources()
    specs = [spec for spec in source_specs() if spec.key in simulated]
    plan = [(spec.dag_id, day) for day in days for spec in specs]
    plan += [("build_and_publish", days[-1]), ("directory", days[-1])]
    # any free port: the department APIs' contracts keep their endpoints and are pointed at it by environment
    with start_api_server(settings, port=0) as api, environment(simulator_endpoints(settings, api.url)):
        return run_dags(plan, settings, on_result=show)


def simulator_endpoints(settings: Settings, base_url: str) -> dict[str, str]:
    """``CITYSHARE_SERVER_<SERVER>_LOCATION`` for every simulated department API contract, pointing its
    endpoint's path at the simulator on ``base_url`` (the Airflow task processes inherit them)."""
    from cityshare.contracts.model import load_contracts, server_override_env
    from cityshare.simulate import simulated_sources

    simulated = simulated_sources()
    return {server_override_env(str(c.server.get("server") or "")): base_url + urlsplit(str(c.server["location"])).path
            for c in load_contracts(settings, kind="source")
            if c.key in simulated and c.server.get("type") == "api"}


def unsimulated_sources() -> list[str]:
    """Source contracts the simulator has no data for (onboarded departments): the demo does not load them."""
    from cityshare.simulate import simulated_sources

    return sorted(spec.key for spec in source_specs() if spec.key not in simulated_sources())


def summary(settings: Settings) -> dict[str, Any]:
    with connect(settings, read_only=True) as con:
        sources = dataset_totals(con)
        published = [(f"shared.{table}", version, rows)
                     for table, (version, rows, _published_at) in latest_publications(con).items()]
        entries = con.execute("SELECT count(*) FROM directory.entries").fetchone()[0]
    return {"sources": sources, "published": published, "directory_entries": entries}


# The demo's ready-to-use logins (演示账号): a consuming street office, the 城管局 approver of its 有条件共享
# tables, and governance staff. Role → (department, user); issued anew on every demo run, printed once.
DEMO_LOGINS = {"consumer 使用部门": ("jd_nanping", "nanping_clerk", "consumer"),
               "approver 提供部门审批人": ("cgj", "cgj_approver", "approver"),
               "governance 治理管理员": ("cyzx", "cyzx_governance", "governance")}


def demo_logins(settings: Settings) -> list[tuple[str, str, str]]:
    """Issue the demo's three logins (7-day tokens): (role, department, token)."""
    from cityshare.share.tokens import issue

    return [(role, dept, issue(settings, dept, user, kind, days=7)[1]) for role, (dept, user, kind) in DEMO_LOGINS.items()]


def run_demo(days: int = 3, console: Console | None = None, settings: Settings | None = None,
             port: int = 8000) -> dict[str, Any]:
    from cityshare.keys import mark_demo
    from cityshare.simulate import simulate

    settings = settings or get_settings()
    settings = mark_demo(settings)  # an explicit demo: its own random key and simulator tokens in its data dir
    console = console or Console()
    start = dt.date.today() - dt.timedelta(days=days)
    console.rule("1. simulate 模拟部门数据")
    simulate(settings, days=days, start=start, seed=7, defect_rate=0.02)
    console.print(f"  {days} days from {start} into {settings.inbox_dir} and the department APIs")
    console.rule("2. Airflow DAGs")
    runs = run_pipeline([start + dt.timedelta(days=i) for i in range(days)], settings, console)
    failed = [r for r in runs if not r.ok]
    console.rule("3. summary 汇总")
    info = summary(settings)
    table = Table(title="数据采集 loads")
    for col in ("source", "batches", "rows landed", "accepted", "quarantined", "blocked"):
        table.add_column(col)
    for row in info["sources"]:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    table = Table(title="已发布 published tables")
    for col in ("table", "version", "rows"):
        table.add_column(col)
    for row in info["published"]:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(f"共享数据资源目录 directory entries: {info['directory_entries']}")
    if missing := unsimulated_sources():
        console.print(f"无模拟数据 no simulated data (not loaded by the demo; run `cityshare ingest` with their "
                      f"deliveries): {', '.join(missing)}")
    console.print(f"directory JSON: {settings.directory_dir / 'directory.json'}")
    console.print(f"portal 门户: http://127.0.0.1:{port}/  — log in (登录) with one of these tokens:")
    table = Table(title="演示账号 demo logins (valid 7 days)")
    for col in ("role 角色", "department 部门", "token 令牌"):
        table.add_column(col, overflow="fold")
    for row in demo_logins(settings):
        table.add_row(*row)
    console.print(table)
    console.print("Try it: log in as the consumer, open 城市管理案件主题库 (有条件共享), request access; log in as the approver, "
                  "approve it under 待我审批; the consumer then reads rows and downloads the export.")
    for r in failed:
        console.print(f"[red]DAG run failed: {r.dag_id} {r.logical_date}[/]\n{r.output[-1500:]}")
    return {**info, "failed_runs": [f"{r.dag_id} {r.logical_date}" for r in failed], "no_data": missing}
