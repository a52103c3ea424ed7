"""``cityshare`` command line: one subcommand per pipeline step (see DESIGN.md, Interfaces).

Exit codes: 0 ok; 1 a gate or audit blocked data; 2 bad usage or bad input. Errors print one clear
line naming the file/row/field and rule — never a traceback for bad input.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="CityShare — 城市运行和治理中心数据共享平台", no_args_is_help=True,
                  pretty_exceptions_enable=False)
contracts_app = typer.Typer(help="数据契约: lint and compile ODCS contracts", no_args_is_help=True)
directory_app = typer.Typer(help="共享数据资源目录: build and export", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
app.add_typer(directory_app, name="directory")
console = Console()
err = Console(stderr=True)


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn CityShare's own errors into one red line and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from cityshare.contracts.model import ContractError
        from cityshare.errors import CityShareError

        try:
            return fn(*args, **kwargs)
        except (CityShareError, ContractError) as exc:
            err.print("[bold red]error:[/] ", end="")
            err.print(str(exc), markup=False, highlight=False, soft_wrap=True)  # rule names look like markup
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None

    return wrapper


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
) -> None:
    """Generate Chongqing department data: 城管局 case files and the 市场监管局 registry API."""
    from cityshare.settings import get_settings
    from cityshare.simulate import simulate as run
    from cityshare.simulate.api import serve_forever

    settings = get_settings()
    first = _date(start) if start else dt.date.today() - dt.timedelta(days=days)
    summary = run(settings, days=days, start=first, scale=scale, defect_rate=defect_rate, seed=seed)
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
    from cityshare.ingest import ingest as run

    result = run(dataset, _date(date))
    console.print_json(json.dumps(result, ensure_ascii=False, default=str))


@app.command()
@friendly
def build() -> None:
    """dbt build (标准库 → 基础库/主题库 → 协同专题库) → audit → publish to ``shared``."""
    from cityshare.publish import audit, publish
    from cityshare.transform import build as dbt_build

    with console.status("dbt build…"):
        dbt_build()
    report = publish(audit())
    _table("已发布 published", report)


@contracts_app.command("lint")
@friendly
def contracts_lint() -> None:
    """Validate every contract against the ODCS JSON Schema and the sharing rules."""
    from cityshare.contracts.lint import lint_all

    problems = 0
    for path, errors in lint_all().items():
        for e in errors:
            err.print(f"[red]{path}[/]: {e.field_path}: {e.message}", highlight=False)
        problems += len(errors)
        if not errors:
            console.print(f"[green]ok[/] {path}")
    if problems:
        raise typer.Exit(2)


@contracts_app.command("compile")
@friendly
def contracts_compile(
    out: Annotated[Path | None, typer.Option(help="also write each GX suite as JSON here")] = None,
) -> None:
    """Render dbt sources/contracts from the ODCS contracts (and optionally the GX suites)."""
    from cityshare.contracts.model import load_contracts
    from cityshare.contracts.rules import compile_rules
    from cityshare.transform import render_dbt_files

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


@directory_app.command("build")
@friendly
def directory_build() -> None:
    """Rebuild the directory from contracts, dbt artifacts and quality history."""
    from cityshare.directory.builder import build_directory

    entries = build_directory()
    _table("共享数据资源目录", [{"信息资源代码": e["信息资源代码"], "信息资源名称": e["信息资源名称"],
                              "共享类型": e["共享属性"]["共享类型"], "rows": e["rows"]} for e in entries])


@directory_app.command("export")
@friendly
def directory_export(
    format: Annotated[str, typer.Option("--format", help="json")] = "json",
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Export the directory (JSON; CSV and DCAT-AP follow in the directory issue)."""
    from cityshare.directory.builder import load_entries

    if format != "json":
        err.print(f"[bold red]error:[/] --format {format!r}: only json is available so far")
        raise typer.Exit(2)
    text = json.dumps({"共享数据资源目录": load_entries()}, ensure_ascii=False, indent=2)
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the portal and its API."""
    from cityshare.share.app import serve as run

    console.print(f"portal: http://{host}:{port}/")
    run(host, port)


@app.command()
@friendly
def demo(
    days: Annotated[int, typer.Option(help="days to simulate")] = 3,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="stop after the summary")] = False,
    port: Annotated[int, typer.Option(help="portal port")] = 8000,
) -> None:
    """simulate → every DAG through Airflow → summary → serve the portal."""
    from cityshare.demo import run_demo

    summary = run_demo(days=days, console=console)
    if summary["failed_runs"]:
        raise typer.Exit(1)
    if not no_serve:
        serve(host="127.0.0.1", port=port)


def _table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print(f"{title}: (none)")
        return
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(str(col))
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


if __name__ == "__main__":
    app()
