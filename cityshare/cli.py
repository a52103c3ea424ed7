"""``cityshare`` command line: one subcommand per pipeline step (docs/architecture.md).

Exit codes: 0 ok; 1 a gate or audit blocked data; 2 bad usage or bad input; 3 the machine, not the data
(disk full, read-only volume, a held lock, out of memory, state needing an operator); 143 stopped on SIGTERM
at a safe point. Errors print one clear line naming the file/row/field and rule, or what to do — never a
traceback for bad input.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="CityShare — the data-sharing platform of a city operations and governance center "
                       "(城市运行和治理中心数据共享平台)", no_args_is_help=True,
                  pretty_exceptions_enable=False)
contracts_app = typer.Typer(help="Data contracts (数据契约): lint, compile and diff ODCS contracts",
                            no_args_is_help=True)
directory_app = typer.Typer(help="The shared data resource directory (共享数据资源目录): build, export, publish",
                            no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(directory_app, name="directory")
report_app = typer.Typer(help="Governance reports (报告): the quality report", no_args_is_help=True)
app.add_typer(report_app, name="report")
token_app = typer.Typer(help="Department API tokens (部门令牌): issue, list, revoke",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The audit log (审计日志): verify its hash chain, anchor it, show records",
                        no_args_is_help=True)
receipt_app = typer.Typer(help="Delivery receipts (交付回执): verify an export against its signed receipt",
                          no_args_is_help=True)
access_app = typer.Typer(help="Access requests and grants (共享申请与授权): overdue requests, revoke a grant",
                         no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(audit_app, name="audit")
app.add_typer(receipt_app, name="receipt")
app.add_typer(access_app, name="access")
airflow_app = typer.Typer(help="The embedded Airflow 3: scheduler, dag-processor, triggerer, api-server + UI.",
                          no_args_is_help=True)
app.add_typer(airflow_app, name="airflow")


# Every list, status and report command takes --json: one JSON document on stdout for scripts, no table.
JsonOut = Annotated[bool, typer.Option("--json", help="print one JSON document (for scripts) instead of a table")]


def _json(value: Any) -> None:
    """Plain stdout, never wrapped or cut at the terminal's width."""
    typer.echo(json.dumps(value, ensure_ascii=False, default=str, indent=2))


@app.callback()
def _owner_only() -> None:
    """Every file the platform writes (data, keys, logs; Airflow's too, a child process) is the owner's only."""
    os.umask(0o077)


federation_app = typer.Typer(help="Federation (三级平台互联互通): identity, directory harvest from lower instances, "
                             "code lists from higher ones",
                             no_args_is_help=True)
app.add_typer(federation_app, name="federation")
keys_app = typer.Typer(help="Keys (密钥): create the city-held token key", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
console = Console()
err = Console(stderr=True)


def _bar() -> Any:
    """A rich progress display on stderr (stdout stays clean for JSON), shown only on a terminal (or with
    ``TTY_COMPATIBLE=1``): a log, a pipe or an Airflow task gets no bar, so a failure there stays the one error
    line it is meant to be."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, disable=not err.is_terminal)


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[str], None]]:
    """A bar of ``total`` steps; yields ``step(name)`` to advance it."""
    with _bar() as bar:
        task = bar.add_task(label, total=total)
        yield lambda name: bar.update(task, advance=1, description=f"{label}: {name}")


@contextmanager
def _node_progress(label: str) -> Iterator[Callable[[int, int, str], None]]:
    """A bar whose total is known only once the work is planned: dbt's nodes (cityshare.transform.NodeProgress),
    each finished model, seed or test advancing it; the tables audited and published (cityshare.publish.StepProgress)."""
    with _bar() as bar:
        task = bar.add_task(label, total=None)
        yield lambda index, total, name: bar.update(task, total=total, completed=index,
                                                    description=f"{label}: {name}")


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn CityShare's own errors, and infrastructure faults (a full disk, a read-only volume, a held lock, no
    memory), into one red line and the documented exit code (module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cityshare.contracts.model import ContractError
        from cityshare.errors import CityShareError, infrastructure_error

        try:
            return fn(*args, **kwargs)
        except (CityShareError, ContractError) as exc:
            _error_line(str(exc))
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None
        except Exception as exc:  # MemoryError and OSError included
            from cityshare.settings import get_settings

            infra = infrastructure_error(exc, get_settings().data_dir)
            if infra is None:
                raise
            _error_line(str(infra))
            raise typer.Exit(infra.exit_code) from None

    return wrapper


def _error_line(message: str) -> None:
    err.print("[bold red]error:[/] ", end="")
    err.print(message, markup=False, highlight=False, soft_wrap=True)  # rule names look like markup


def _date(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        err.print(f"[bold red]error:[/] --date {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


@app.command()
@friendly
def simulate(
    days: Annotated[int, typer.Option(help="days of data to generate")] = 3,
    start: Annotated[str | None, typer.Option(help="first day (YYYY-MM-DD); default: today − days")] = None,
    scale: Annotated[float, typer.Option(help="volume multiplier")] = 1.0,
    defect_rate: Annotated[float, typer.Option(help="share of rows with realistic defects")] = 0.02,
    seed: Annotated[int, typer.Option(help="random seed (same seed → same files)")] = 7,
    serve_api: Annotated[bool, typer.Option(help="then serve the 市场监管局 API until interrupted")] = False,
    departments: Annotated[str | None, typer.Option(help="only these extra departments (slugs: zjw,jtj,…)")] = None,
    file_defects: Annotated[bool, typer.Option(help="also inject batch-blocking file defects")] = False,
) -> None:
    """Generate the Chongqing departments' simulated deliveries (部门数据) — files, APIs and databases for
    every simulated source in contracts/, from 城管局 cases to the 市场监管局 registry (--departments narrows)."""
    from cityshare.settings import get_settings
    from cityshare.simulate import simulate as run
    from cityshare.simulate import steps
    from cityshare.simulate.api import serve_forever

    settings = get_settings()
    first = _date(start) if start else dt.date.today() - dt.timedelta(days=days)
    only = [d.strip() for d in departments.split(",") if d.strip()] if departments else None
    with _progress("simulate 模拟", steps(only)) as step:
        summary = run(settings, days=days, start=first, scale=scale, defect_rate=defect_rate, seed=seed,
                      departments=only, file_defects=file_defects, progress=step)
    console.print_json(json.dumps(summary, ensure_ascii=False, default=str))
    if serve_api:
        console.print(f"市场监管局 API on http://127.0.0.1:{settings.sim_api_port} (Ctrl-C to stop)")
        serve_forever(settings, settings.sim_api_port)


@app.command()
@friendly
def ingest(
    dataset: Annotated[str, typer.Argument(help="<department>/<dataset>, e.g. cgj/city_cases")],
    date: Annotated[str | None, typer.Option(help="load date (YYYY-MM-DD), default today")] = None,
) -> None:
    """Extract → land → gate one batch of a department source."""
    from cityshare.ingest import gate_batch, land_batch
    from cityshare.keys import require_token_key
    from cityshare.settings import get_settings

    settings = get_settings()
    require_token_key(settings)
    load_date = _date(date)
    with _progress(f"ingest 入库 {dataset}", 2) as step:
        landed = land_batch(dataset, load_date, settings)
        step(f"landed 已落地 {landed['rows']} rows")
        gated = gate_batch(dataset, load_date, landed["load_id"], settings)
        step("gated 已检查")
    console.print_json(json.dumps({**landed, **gated}, ensure_ascii=False, default=str))


@app.command()
@friendly
def build(
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="rebuild every model (incremental ones from every batch), not only what new batches reach"),
) -> None:
    """dbt build (标准库 → 基础库/主题库 → 协同专题库) → audit → publish to ``shared``; on Spark with
    ``CITYSHARE_ENGINE=spark`` (docs/spark.md).

    SIGTERM (a service manager's stop) ends the dbt step at once — it writes only the internal layers — and waits
    for a publish under way to finish; either way the command says where it stopped and exits 143."""
    import signal

    stop = {"phase": "dbt", "asked": False}

    def on_term(_signum: int, _frame: Any) -> None:
        stop["asked"] = True
        if stop["phase"] == "dbt":
            raise KeyboardInterrupt  # dbt cancels its queries on this, and nothing is published

    signal.signal(signal.SIGTERM, on_term)
    from cityshare.errors import AuditFailed, Stopped
    from cityshare.keys import require_token_key
    from cityshare.publish import audit_and_publish
    from cityshare.settings import get_settings

    require_token_key(get_settings())
    from cityshare.engine import build as dbt_build  # on DuckDB or Spark (CITYSHARE_ENGINE)

    try:
        with _node_progress("dbt build 加工") as on_node:
            built = dbt_build(full_refresh=full_refresh, on_node=on_node)
        stop["phase"] = "publish"  # from here a SIGTERM waits for the publish to complete
        with _node_progress("audit + publish 审核与发布") as on_step:
            outcome = audit_and_publish(not_built=built["failed"], nothing_built=built["nothing_built"], on_step=on_step)
    except (Exception, KeyboardInterrupt):
        if stop["asked"] and stop["phase"] == "dbt":
            raise Stopped("stopped on SIGTERM 已停止 during the dbt build, a safe point: nothing was published and the "
                          "shared tables are unchanged; run `cityshare build` to build again") from None
        raise
    scope = "全部 all" if built["selected"] == "all" else ", ".join(built["selected"]) or "无 none"
    console.print(f"加工 build: {built['reason']}; sources 源: {scope}; {built['models']} models, {built['nodes']} nodes; "
                  f"{built['raw_views_refreshed']} raw views 原始视图 (re)created")
    if outcome.get("unchanged"):
        console.print("已发布 published: unchanged since the last audit 自上次审核以来无变化")
    else:
        _table("已发布 published", outcome["published"])
    if stop["asked"]:
        raise Stopped("stopped on SIGTERM 已停止 after the publish completed (a safe point): every table listed above "
                      "is published")
    if outcome["blocked"]:  # the others are published; these keep their previous version
        raise AuditFailed("not published 未发布 (previous version kept): " + "; ".join(
            f"{table}: {' | '.join(reasons)}" for table, reasons in outcome["blocked"].items()))


batches_app = typer.Typer(help="Batches (批次): retract a batch from the layers, restore it, list actions",
                          no_args_is_help=True)
app.add_typer(batches_app, name="batches")


@batches_app.command("retract")
@friendly
def batches_retract(
    load_id: Annotated[str, typer.Argument(help="the batch's load id (YYYYMMDD-…)")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit log)")],
    dataset: Annotated[str | None, typer.Option(help="<department>/<dataset>, if the load id is in several")] = None,
) -> None:
    """Hide an accepted batch from the layers (audited, reversible); the next `cityshare build` republishes."""
    from cityshare.batches import change
    from cityshare.settings import get_settings

    console.print_json(json.dumps(change(get_settings(), "retract", load_id, reason, dataset), ensure_ascii=False))


@batches_app.command("restore")
@friendly
def batches_restore(
    load_id: Annotated[str, typer.Argument(help="the retracted batch's load id")],
    reason: Annotated[str, typer.Option(help="why (kept in the audit log)")] = "",
    dataset: Annotated[str | None, typer.Option(help="<department>/<dataset>, if the load id is in several")] = None,
) -> None:
    """Make a retracted batch accepted again; the next `cityshare build` republishes."""
    from cityshare.batches import change
    from cityshare.settings import get_settings

    console.print_json(json.dumps(change(get_settings(), "restore", load_id, reason, dataset), ensure_ascii=False))


@batches_app.command("actions")
@friendly
def batches_actions(limit: Annotated[int, typer.Option(help="actions, newest first")] = 50,
                    as_json: JsonOut = False) -> None:
    """List retractions and restores (who, when, why)."""
    from cityshare.batches import actions
    from cityshare.settings import get_settings

    _table("批次操作 batch actions", actions(get_settings(), limit), as_json)


@app.command()
@friendly
def check(
    no_repair: Annotated[bool, typer.Option("--no-repair", help="only report")] = False,
) -> None:
    """Compare published versions with the snapshot files; repair what a crash left, name what it cannot (exit 3)."""
    from cityshare.recovery import check as run
    from cityshare.settings import get_settings

    _state_report(run(get_settings(), repair=not no_repair))


def _state_report(result: dict[str, Any]) -> None:
    """Print repairs and notes; unrepaired problems raise (exit 3, docs/recovery.md)."""
    from cityshare.errors import InfrastructureError

    for line in result.get("repaired", []):
        console.print(f"[green]repaired 已修复[/] {line}", highlight=False)
    for line in result.get("notes", []):
        err.print(f"[yellow]note 注意[/] {line}", highlight=False)
    if result.get("problems"):
        raise InfrastructureError(" | ".join(result["problems"]))
    if not result.get("repaired"):
        console.print("ok: every published version has its snapshot and is the one served")


@app.command()
@friendly
def backup(
    dest: Annotated[Path, typer.Argument(help="a new (or empty) folder outside the data dir")],
    include_secrets: Annotated[bool, typer.Option("--include-secrets", help="also copy the key files (store the "
                                                  "backup as securely as the keys)")] = False,
    lake: Annotated[bool, typer.Option("--lake", help="also copy the lake (immutable batches; else back it up "
                                       "with rsync)")] = False,
) -> None:
    """Back up the warehouse, access/audit database, audit anchors, snapshots and key metadata (while running)."""
    from cityshare.recovery import backup as run
    from cityshare.settings import get_settings

    with console.status("backing up 备份中…"):
        result = run(get_settings(), dest, include_secrets, lake)
    console.print_json(json.dumps(result, ensure_ascii=False))


@app.command()
@friendly
def restore(
    src: Annotated[Path, typer.Argument(help="a folder written by `cityshare backup`")],
    force: Annotated[bool, typer.Option("--force", help="replace an existing warehouse (kept beside it)")] = False,
) -> None:
    """Restore a backup into the data dir (CITYSHARE_DATA_DIR, which may be another place), then check it."""
    from cityshare.recovery import restore as run
    from cityshare.settings import get_settings

    result = run(get_settings(), src, force)
    console.print(f"restored {result['restored']} into {result['into']}", highlight=False)
    _state_report(result)


@app.command()
@friendly
def recover(
    force: Annotated[bool, typer.Option("--force", help="set an existing warehouse aside and rebuild it")] = False,
) -> None:
    """Rebuild the warehouse from the lake (journaled verdicts and sequences) and the snapshots; build; publish."""
    from cityshare.keys import require_token_key
    from cityshare.recovery import recover as run
    from cityshare.settings import get_settings

    require_token_key(get_settings())
    with console.status("recovering 恢复中…"):
        result = run(get_settings(), force)
    console.print_json(json.dumps({k: v for k, v in result.items() if k not in ("repaired", "problems")},
                                  ensure_ascii=False, default=str))
    _state_report(result)


@contracts_app.command("lint")
@friendly
def contracts_lint(as_json: JsonOut = False) -> None:
    """Validate every contract against the ODCS JSON Schema and the sharing rules (exit 2 on any error)."""
    from cityshare.contracts.compiled import catalogue
    from cityshare.lint import lint_all, lint_warnings

    problems = 0
    results = lint_all()
    contracts = {c.path: c for c in catalogue().contracts}  # parsed by lint_all: no YAML read again
    if as_json:
        def finding(e: Any) -> dict[str, str]:
            return {"field": e.field_path, "message": e.message}

        _json([{"contract": str(path), "errors": [finding(e) for e in errors],
                "warnings": [] if errors else [finding(w) for w in lint_warnings(contracts[path])]}
               for path, errors in results.items()])
        if any(results.values()):
            raise typer.Exit(2)
        return
    for path, errors in results.items():
        for e in errors:
            err.print(f"[red]{path}[/]: {e.field_path}: {e.message}", highlight=False)
        problems += len(errors)
        if not errors:
            if console.is_terminal:
                console.print(f"[green]ok[/] {path}")
            else:  # the same line without rich's rendering (≈ 1 ms a line: seconds for a city's catalogue)
                console.file.write(f"ok {path}\n")
            for w in lint_warnings(contracts[path]):
                err.print(f"[yellow]warning 告警[/] {path}: {w.field_path}: {w.message}", highlight=False)
    if problems:
        raise typer.Exit(2)


@contracts_app.command("compile")
@friendly
def contracts_compile(
    out: Annotated[Path | None, typer.Option(help="also write each GX suite as JSON here")] = None,
) -> None:
    """Compile the contracts (the catalogue every process reads), render dbt sources/contracts from them
    (and optionally the GX suites)."""
    from cityshare.contracts.compiled import cache_file, catalogue
    from cityshare.contracts.model import load_contracts
    from cityshare.contracts.rules import compile_rules
    from cityshare.settings import get_settings
    from cityshare.transform import render_dbt_files

    compiled = catalogue(rebuild=True)
    if error := compiled.first_error():
        raise error
    console.print(f"compiled {len(compiled.contracts)} contracts ({compiled.content_hash[:12]}) → "
                  f"{cache_file(get_settings())}", highlight=False)
    for path in render_dbt_files():
        console.print(f"wrote {path}")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        for c in load_contracts():
            suite = [{"rule": r.name, "level": r.level, "dimension": r.dimension,
                      "expectation": type(r.expectation()).__name__,
                      "sql": r.bad_rows_sql} for r in compile_rules(c, None if c.kind == "shared" else "_source_row")]
            target = out / f"{c.key.replace('/', '__')}.suite.json"
            target.write_text(json.dumps(suite, ensure_ascii=False, indent=2), encoding="utf-8")
            console.print(f"wrote {target}")


@contracts_app.command("diff")
@friendly
def contracts_diff(
    old: Annotated[Path, typer.Argument(help="the previous contract file")],
    new: Annotated[Path, typer.Argument(help="the changed contract file")],
    as_json: JsonOut = False,
) -> None:
    """Classify every change as breaking or not; exit 1 if a breaking change keeps the major version."""
    from cityshare.contracts.diff import diff_files

    result = diff_files(old, new)
    if as_json:
        _json({"old_version": result.old_version, "new_version": result.new_version, "version_ok": result.version_ok,
               "changes": [{"where": c.where, "change": c.message, "breaking": c.breaking} for c in result.changes]})
        raise typer.Exit(0 if result.version_ok else 1)
    for c in result.changes:
        tag = "[bold red]breaking[/]" if c.breaking else "[green]compatible[/]"
        console.print(f"{tag}  {c.where}: {c.message}", highlight=False)
    console.print(f"version {result.old_version} → {result.new_version}: {len(result.changes)} change(s), "
                  f"{len(result.breaking)} breaking", highlight=False)
    if not result.version_ok:
        err.print(f"[bold red]error:[/] {new}: breaking change(s) need a new major version "
                  f"(still {result.new_version})", highlight=False)
        raise typer.Exit(1)


CHANGED_SHOWN = 50  # changed entries listed by `directory build`


@directory_app.command("build")
@friendly
def directory_build(
    full: bool = typer.Option(False, "--full", help="build every entry again, not only those whose inputs changed"),
) -> None:
    """Bring the directory up to date with the contracts, dbt artifacts and quality history (only entries whose
    inputs changed are built again); lists the entries that changed."""
    from cityshare.directory.builder import update_directory

    done = update_directory(incremental=not full)
    changed = set(done.changed)
    rows = [{"信息资源代码": e["信息资源代码"], "信息资源名称": e["信息资源名称"], "共享类型": e["共享属性"]["共享类型"],
             "rows": e["rows"], "条目版本": e["条目版本"]} for e in done.entries if e["信息资源代码"] in changed]
    _table("共享数据资源目录 变更条目 changed entries", rows[:CHANGED_SHOWN])
    if len(rows) > CHANGED_SHOWN:  # a city's first build changes thousands: the table would take seconds to draw
        console.print(f"… 另有 {len(rows) - CHANGED_SHOWN} 条变更 more changed entries "
                      "(全部 all: cityshare directory export --format csv)", highlight=False)
    console.print(f"目录 directory: {len(done.entries)} 条目 entries, {done.rebuilt} 重新生成 rebuilt, "
                  f"{len(changed)} 变更 changed", highlight=False)


@directory_app.command("export")
@friendly
def directory_export(
    format: Annotated[str, typer.Option(
        "--format", help="json | csv (编制指南 template, UTF-8 BOM) | dcat (DCAT-AP JSON-LD) | dcat-ttl (Turtle)")] = "json",
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
    base_url: Annotated[str, typer.Option(help="portal URL used in DCAT identifiers")] = "http://127.0.0.1:8000",
) -> None:
    """Export the directory as JSON, CSV (编制指南 column order) or DCAT-AP 3.0.1 (JSON-LD or Turtle)."""
    from cityshare.directory.document import load_entries
    from cityshare.directory.exporters import export

    try:
        text, encoding = export(load_entries(), format, base_url)
    except ValueError as exc:
        err.print("[bold red]error:[/] ", end="")
        err.print(str(exc), markup=False, highlight=False, soft_wrap=True)  # one line, whatever the terminal width
        raise typer.Exit(2) from None
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding=encoding, newline="")
        console.print(f"wrote {out}")
    else:
        sys.stdout.write(text.removeprefix("\ufeff") + "\n")


@directory_app.command("publish")
@friendly
def directory_publish(
    openmetadata: Annotated[str | None, typer.Option(
        "--openmetadata", help="OpenMetadata server URL, e.g. http://localhost:8585/api")] = None,
    token: Annotated[str | None, typer.Option(help="OpenMetadata bot JWT (or CITYSHARE_OPENMETADATA_TOKEN)")] = None,
    dry_run: Annotated[Path | None, typer.Option("--dry-run", help="write one JSON file per request here instead")] = None,
    workflow_file: Annotated[Path | None, typer.Option(
        "--workflow-file", help="write the `metadata ingest -c` workflow YAML here instead (token read from env)")] = None,
) -> None:
    """Publish the directory, lineage and quality results to OpenMetadata via its ingestion workflow."""
    from cityshare.directory.sinks import openmetadata as om
    from cityshare.settings import get_settings

    settings = get_settings()
    url = openmetadata or settings.openmetadata_url
    if dry_run:
        files = om.dry_run(dry_run)
        console.print(f"wrote {len(files)} request(s) to {dry_run}")
        return
    if workflow_file:
        path = om.write_workflow(workflow_file, url or "http://localhost:8585/api")
        console.print(f"wrote {path}; run: {om.TOKEN_VARIABLE}=<bot JWT> metadata ingest -c {path}")
        return
    token = token or settings.openmetadata_token
    if not url or not token:
        err.print("[bold red]error:[/] give --openmetadata URL and --token T (or --dry-run DIR / --workflow-file F)")
        raise typer.Exit(2)
    console.print_json(json.dumps(om.run_workflow(url, token), ensure_ascii=False))


def _day(option: str, value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        err.print(f"[bold red]error:[/] {option} {value!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


@report_app.command("quality")
@friendly
def report_quality(
    out: Annotated[Path | None, typer.Option(help="HTML file (default: data/reports/quality_<start>_<end>.html)")] = None,
    start: Annotated[str | None, typer.Option(help="period start (YYYY-MM-DD); default: 28 days before --end")] = None,
    end: Annotated[str | None, typer.Option(help="period end (YYYY-MM-DD); default: today")] = None,
    as_json: JsonOut = False,
) -> None:
    """数据质量与时效考核报告: a self-contained HTML file (scorecards, timeliness, loads, evaluation, charts)."""
    from cityshare.quality.report import write_report

    if as_json:
        _json({"path": str(write_report(out, _day("--start", start), _day("--end", end)))})
        return
    with console.status("rendering quality report…"):
        path = write_report(out, _day("--start", start), _day("--end", end))
    console.print(f"wrote {path}")


@federation_app.command("identity")
@friendly
def federation_identity() -> None:
    """This instance's level, GB/T 2260 area, name and receipt key id (what peers pin)."""
    from cityshare.settings import get_settings
    from cityshare.share.federation import identity_doc

    doc = identity_doc(get_settings())
    console.print(f"{doc['name']} · {doc['level']}级 · {doc['area_name']}（{doc['area']}） · receipt key id {doc['key_id']}",
                  soft_wrap=True)


@federation_app.command("harvest")
@friendly
def federation_harvest(name: Annotated[str, typer.Argument(help="a harvest entry of catalog/federation.yml")]) -> None:
    """Harvest a lower instance's directory (incremental by modification time; exit 2 if unreachable)."""
    from cityshare.federation.harvest import harvest

    r = harvest(name)
    console.print(f"harvest {r['source']} ({r['endpoint']}): {r['received']} entries received, {r['changed']} changed, "
                  f"{r['withdrawn']} withdrawn, {r['new_versions']} new entry versions, {r['entries']} entries there",
                  soft_wrap=True)
    for problem in r["refused"]:
        err.print(f"[yellow]not taken:[/] {problem}", soft_wrap=True, markup=True, highlight=False)


@federation_app.command("status")
@friendly
def federation_status(as_json: JsonOut = False) -> None:
    """Every harvested lower instance: last successful harvest, last error, entries kept."""
    from cityshare.federation.harvest import status

    rows = status()
    _table("下级平台汇聚", rows if as_json else [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows],
           as_json)


@federation_app.command("pull-reference")
@friendly
def federation_pull_reference(
    name: Annotated[str, typer.Argument(help="a reference entry of catalog/federation.yml")],
) -> None:
    """Receive the code lists a higher instance passes down (下发参考数据); the next build uses them (exit 1 if one
    is refused: the list in use stays)."""
    from cityshare.federation.reference import pull, raise_if_refused

    r = pull(name)
    for item in r["lists"]:
        if item["status"] == "new":
            console.print(f"{item['code_list']}: v{item['local_version']} (content {item['version']}), {item['rows']} "
                          f"codes: {item['added']} added, {item['removed']} removed, {item['changed']} changed",
                          soft_wrap=True)
        elif item["status"] == "unchanged":
            console.print(f"{item['code_list']}: unchanged, v{item['local_version']} (content {item['version']})",
                          soft_wrap=True)
    raise_if_refused(r)


@federation_app.command("code-lists")
@friendly
def federation_code_lists(as_json: JsonOut = False) -> None:
    """The code lists this instance builds with: its seed or the list received from above, with versions."""
    from cityshare.code_lists import status

    rows = status()
    _table("参考数据（代码表）", rows if as_json else [{k: ("" if v is None else str(v)) for k, v in r.items()}
                                              for r in rows], as_json)


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the portal and its API."""
    from cityshare.keys import require_token_key
    from cityshare.settings import get_settings
    from cityshare.share.app import serve as run

    require_token_key(get_settings())
    _startup_check(get_settings())
    console.print(f"portal: http://{host}:{port}/")
    run(host, port)


def _startup_check(settings: Any) -> None:
    """Before serving: the served versions must be the published ones (cityshare.recovery.check). A warehouse
    busy with a build is not waited for: the pointers the service reads move only after a commit."""
    import duckdb

    from cityshare.recovery import check as run
    from cityshare.warehouse import connect

    if not settings.warehouse_path.exists():
        return
    try:
        with connect(settings, read_only=True, wait=5) as con:
            result = run(settings, con=con)
    except duckdb.IOException as exc:  # a held lock: skipped; serving stays consistent (pointers follow commits)
        if "lock" not in str(exc).lower():
            raise
        err.print("[yellow]note 注意[/] the warehouse is busy (a build is running): startup check skipped")
        return
    _state_report(result)


@app.command()
@friendly
def demo(
    days: Annotated[int, typer.Option(help="days to simulate")] = 3,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="stop after the summary")] = False,
    port: Annotated[int | None, typer.Option(help="portal port (default 8000, or any free port if 8000 is taken)")] = None,
    federation: Annotated[bool, typer.Option(
        "--federation", help="instead: a national, a city and two district instances on free loopback ports, "
                             "wired by directory harvest and code lists (no Airflow)")] = False,
) -> None:
    """simulate → every DAG through Airflow → summary → serve the portal."""
    import signal

    if federation:
        from cityshare.demo_federation import run
        from cityshare.settings import get_settings

        run(get_settings().data_dir / "federation-demo", console, serve=not no_serve)
        return

    from cityshare.demo import run_demo
    from cityshare.errors import Stopped
    from cityshare.ports import pick_port, port_is_free

    if port is not None and not port_is_free(port):
        err.print(f"[red]port 端口 {port} on 127.0.0.1 is in use[/]: choose another with --port, or leave it out "
                  "to take a free one")
        raise typer.Exit(2)
    port = pick_port(8000) if port is None else port

    def on_term(_signum: int, _frame: Any) -> None:  # a service manager's stop: the Airflow runner goes with us
        raise Stopped("stopped on SIGTERM 已停止: the demo and the Airflow runs it started were stopped; "
                      "run `cityshare demo` again (finished loads are reused)")

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        summary = run_demo(days=days, console=console, port=port)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if summary["failed_runs"]:
        raise typer.Exit(1)
    if not no_serve:
        serve(host="127.0.0.1", port=port)


@keys_app.command("init")
@friendly
def keys_init(
    force: Annotated[bool, typer.Option("--force", help="replace an existing key (every token changes)")] = False,
) -> None:
    """Write a random token key to <data>/keys/token.key (0600); CITYSHARE_TOKEN_KEY still wins when set."""
    from cityshare.keys import TOKEN_KEY_ENV, init_token_key
    from cityshare.settings import get_settings

    path = init_token_key(get_settings(), force=force)
    console.print(f"wrote {path} (mode 0600)")
    if os.environ.get(TOKEN_KEY_ENV):
        err.print(f"[yellow]note:[/] {TOKEN_KEY_ENV} is set and takes precedence over the file")


@token_app.command("issue")
@friendly
def token_issue(
    department: Annotated[str, typer.Option(help="department slug from catalog/departments.yml, e.g. cgj")],
    user: Annotated[str, typer.Option(help="user name within the department")],
    role: Annotated[str, typer.Option(help="consumer | approver (审批人) | governance (治理管理员)")] = "consumer",
    days: Annotated[int, typer.Option(help="days until the token expires")] = 30,
) -> None:
    """Issue a token; it is printed once and stored only as an HMAC."""
    from cityshare.settings import get_settings
    from cityshare.share.tokens import issue

    token_id, token = issue(get_settings(), department, user, role, days)
    err.print(f"issued {token_id} for {department}/{user} ({role}), valid {days} days — store it now, it is not shown again")
    sys.stdout.write(token + "\n")


@token_app.command("revoke")
@friendly
def token_revoke(token_id: Annotated[str, typer.Argument(help="token id (tk_…)")]) -> None:
    """Revoke a token by id."""
    from cityshare.errors import CityShareError
    from cityshare.settings import get_settings
    from cityshare.share.tokens import revoke

    if not revoke(get_settings(), token_id):
        raise CityShareError(f"token {token_id}: no such live token")
    console.print(f"revoked {token_id}")


@token_app.command("list")
@friendly
def token_list(as_json: JsonOut = False) -> None:
    """List tokens (ids, departments, roles, expiry — never the tokens)."""
    from cityshare.settings import get_settings
    from cityshare.share.tokens import list_tokens

    _table("令牌 tokens", list_tokens(get_settings()), as_json)


@audit_app.command("verify")
@friendly
def audit_verify(as_json: JsonOut = False) -> None:
    """Recompute the keyed audit chain and check its signed anchors; exit 1 naming the first bad record."""
    from cityshare.settings import get_settings
    from cityshare.share.audit import verify

    result = verify(get_settings())
    if as_json:
        _json(result)
        raise typer.Exit(0 if result["ok"] else 1)
    if not result["ok"]:
        err.print(f"[bold red]audit chain broken[/] at record {result['bad_seq']}: ", end="")
        err.print(result["reason"], markup=False, highlight=False)
        raise typer.Exit(1)
    console.print(f"audit chain ok: {result['records']} records, head {result['head']}; "
                  f"{result['anchors']} signed anchors, the latest covering {result['anchored_records']} records "
                  "(records after it are protected by the chain, not yet by an anchor)")


@audit_app.command("anchor")
@friendly
def audit_anchor() -> None:
    """Sign the audit chain's current head into the anchors file (run at least daily, e.g. from cron)."""
    from cityshare.settings import get_settings
    from cityshare.share.audit import anchor

    cp = anchor(get_settings())
    console.print(f"anchored {cp['records']} records, head {cp['head']}")


@audit_app.command("show")
@friendly
def audit_show(limit: Annotated[int, typer.Option(help="records, newest first")] = 20, as_json: JsonOut = False) -> None:
    """Show the latest audit records."""
    from cityshare.settings import get_settings
    from cityshare.share.audit import entries

    _table("审计日志 audit", [{k: r[k] for k in ("seq", "at", "department", "user_name", "action", "target", "status",
                                                  "rows", "grant_id")} for r in entries(get_settings(), limit)],
           as_json)


@receipt_app.command("verify")
@friendly
def receipt_verify(
    file: Annotated[Path, typer.Argument(help="the exported data file", exists=True, dir_okay=False)],
    receipt: Annotated[Path, typer.Argument(help="its receipt JSON (/api/receipts/<id>)", exists=True, dir_okay=False)],
    public_key: Annotated[Path | None, typer.Option(help="platform public key PEM (/api/keys/receipt); "
                                                         "default: this installation's key")] = None,
    as_json: JsonOut = False,
) -> None:
    """Check the receipt's Ed25519 signature and that the file's SHA-256 and size match it."""
    from cityshare.settings import get_settings
    from cityshare.share import receipts

    pem = public_key.read_text(encoding="utf-8") if public_key else receipts.public_key_pem(get_settings())
    result = receipts.verify(receipt, file, pem)
    r = result["receipt"]
    if as_json:
        _json(result)
        raise typer.Exit(0 if result["ok"] else 1)
    if not result["ok"]:
        for problem in result["problems"]:
            err.print(f"[bold red]invalid:[/] {problem}")
        raise typer.Exit(1)
    console.print(f"receipt ok: {r.get('delivery_id')} {r.get('table')} v{r.get('version')} {r.get('format')}, "
                  f"{r.get('rows')} rows, {r.get('bytes')} bytes, to {r.get('department')}/{r.get('user')}, "
                  f"grant {r.get('grant_id') or '—'}, signed {r.get('issued_at')}")


@access_app.command("overdue")
@friendly
def access_overdue(as_json: JsonOut = False) -> None:
    """List requests past their 10-working-day deadline and escalate them to governance."""
    from cityshare.settings import get_settings
    from cityshare.share.grants import sweep_overdue

    rows = sweep_overdue(get_settings())
    _table("超期申请 overdue", [{k: r[k] for k in ("id", "table_name", "provider", "department", "deadline",
                                                  "overdue_days")} for r in rows], as_json)


@access_app.command("revoke-grant")
@friendly
def access_revoke_grant(grant_id: Annotated[str, typer.Argument(help="grant id (GRT-…)")]) -> None:
    """Withdraw a grant early."""
    from cityshare.errors import CityShareError
    from cityshare.settings import get_settings
    from cityshare.share.grants import revoke_grant

    if not revoke_grant(get_settings(), None, grant_id):
        raise CityShareError(f"grant {grant_id}: no such grant")
    console.print(f"revoked {grant_id}")


def _table(title: str, rows: list[dict[str, Any]], as_json: bool = False) -> None:
    """Rows as a table whose cells fold rather than cut (ids stay whole at 80 columns), or as JSON."""
    if as_json:
        _json(rows)
        return
    if not rows:
        console.print(f"{title}: (none)")
        return
    table = Table(title=title)
    for col in rows[0]:
        whole = col == "id" or str(col).endswith("_id")  # ids are copied into other commands: never cut them
        width = max(len(str(r[col])) for r in rows) if whole else None
        table.add_column(str(col), overflow="fold", no_wrap=whole, min_width=width)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@airflow_app.command("env")
@friendly
def airflow_env_cmd(
    port: Annotated[int | None, typer.Option(help="the api-server's port (as given to `airflow up`)")] = None,
) -> None:
    """Print ``export`` lines: ``eval "$(cityshare airflow env)"`` makes plain ``airflow …`` commands use this installation."""
    from cityshare.airflow_local import shell_exports
    from cityshare.settings import get_settings

    print(shell_exports(get_settings(), port))


@airflow_app.command("up")
@friendly
def airflow_up(
    port: Annotated[int | None, typer.Option(help="api-server port on 127.0.0.1 (default: a free one)")] = None,
) -> None:
    """Start the embedded Airflow (scheduler, dag-processor, triggerer, api-server + UI) until Ctrl-C."""
    import signal
    import time
    import urllib.request

    from cityshare.airflow_local import ADMIN, admin_password, passwords_file, start
    from cityshare.settings import get_settings

    settings = get_settings()
    password, created = admin_password(settings)

    def stop_on_term(_signum: int, _frame: Any) -> None:  # a service manager's stop: shut the components down too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    with console.status("starting Airflow 启动调度…"):
        running = start(settings, port)
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{running.url}/api/v2/monitor/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or any(code is not None for code in running.alive().values()):
                    running.stop()
                    raise typer.Exit(_airflow_failed(running)) from None
                time.sleep(1)
    console.print(f"Airflow UI: {running.url}/  login 登录: {ADMIN} / "
                  + (password if created else f"(password in {passwords_file(settings)})"), highlight=False)
    console.print(f"logs 日志: {settings.airflow_home / 'logs'}; processes: {running.logs}; "
                  "shell: eval \"$(cityshare airflow env" + (f" --port {running.port}" if port else "") + ")\"",
                  highlight=False)
    try:
        while all(code is None for code in running.alive().values()):
            time.sleep(2)
        raise typer.Exit(_airflow_failed(running))
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


def _airflow_failed(running: Any) -> int:
    dead = [name for name, code in running.alive().items() if code is not None]
    err.print(f"[bold red]error:[/] Airflow did not start: {', '.join(dead) or 'api-server not healthy'}; "
              f"see {running.logs}", highlight=False)
    return 1


if __name__ == "__main__":
    app()
