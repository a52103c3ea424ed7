"""dbt: render sources and published-model contracts from the ODCS contracts, then build in-process.

The rendered YAML lives in ``dbt_project/models/_generated/`` (git-ignored): contracts stay the only
place where a column is declared.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml

from cityshare import scenarios
from cityshare.build_state import RENDERED_STAMP
from cityshare.contracts.model import Contract, load_contracts
from cityshare.errors import BuildFailed
from cityshare.faults import crash_point
from cityshare.settings import Settings, get_settings

log = logging.getLogger("cityshare.transform")

# The partition column of the incremental models' Spark tables (dbt_project/macros/cross_engine.sql,
# cs_partition_name): engine-internal — left out wherever a table's rows are compared, exported or traced —, but a
# column of the table, so on Spark a published model's enforced dbt contract lists it (render_dbt_files)
PARTITION_COLUMN = "_cs_part"

_DBT_TYPES = {"string": "varchar", "date": "date", "timestamp": "timestamp", "integer": "bigint",
              "number": "double", "boolean": "boolean"}


def render_dbt_files(settings: Settings | None = None, out: Path | None = None, engine: str = "duckdb") -> list[Path]:
    """Write ``sources.yml`` (source contracts), ``published.yml`` (published contracts), the derived standard
    models and the scenarios' task list (:mod:`cityshare.scenarios`).

    ``engine``: the adapter the column types and literals are written for (Spark's text type is ``string``)."""
    types = {**_DBT_TYPES, "string": "string"} if engine == "spark" else _DBT_TYPES
    settings = settings or get_settings()
    out = out or settings.dbt_project_dir / "models" / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    key = _render_key(settings)
    if (done := _rendered(out, key)) is not None:
        return done
    meta_cols = ["_load_id", "_loaded_at", "_source", "_source_row", "_row_hash", "_load_date", "_batch_seq"]
    sources = {
        "version": 2,
        "sources": [{
            "name": "raw", "schema": "raw",
            "description": "Accepted batches of department sources (贴源, all columns VARCHAR).",
            "tables": [
                {"name": c.raw_table, "description": f"{c.name} — {c.id}",
                 "columns": [{"name": p.name, "description": p.business_name} for p in c.properties]
                 + [{"name": m} for m in meta_cols]}
                for c in load_contracts(settings, kind="source")
            ],
        }],
    }
    published = {
        "version": 2,
        "models": [
            {"name": c.model_name, "description": f"{c.name}（{c.sharing_type}）— {c.id}",
             "access": "public",
             "config": {"contract": {"enforced": True}, "meta": {"contract_id": c.id}},
             "columns": [
                 {"name": p.name, "description": p.business_name,
                  "data_type": types.get(p.logical_type, p.physical_type.lower())}
                 for p in c.properties
             ] + _partition_columns(settings, c.model_name, engine)}
            for c in load_contracts(settings, kind="shared")
        ],
    }
    files = {out / "sources.yml": _yaml(sources), out / "published.yml": _yaml(published),
             out / "collaboration" / f"{scenarios.MODEL}.sql": scenarios.render_tasks_model(settings, types, engine)}
    files.update(derived_models(settings, out))
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for stale in [*out.rglob("*.sql"), *out.rglob("_derived.yml")]:  # a contract removed or overridden by SQL
        if stale not in files:
            stale.unlink()
    (out / RENDERED_STAMP).write_text(json.dumps({"key": key, "files": [str(p.relative_to(out)) for p in files]}),
                                 encoding="utf-8")
    return list(files)


# RENDERED_STAMP is written last by render_dbt_files: what the files were rendered from and which they are.
# Rendering 3,000 sources (YAML and SQL) costs seconds; a build whose contracts, hand-written models and
# rendering code are unchanged skips it.


def _render_key(settings: Settings) -> str:
    """The inputs of the rendered files: the compiled contracts' content hash, the hand-written models, the
    scenarios (catalog/scenarios.yml) and the rendering code."""
    import hashlib

    from cityshare.contracts.compiled import catalogue

    digest = hashlib.sha256(catalogue(settings).content_hash.encode())
    digest.update("\n".join(sorted(hand_written_models(settings))).encode())
    path = scenarios.scenarios_path(settings)
    digest.update(path.read_bytes() if path.exists() else b"")
    package = Path(__file__).resolve().parent
    for name in ("transform.py", "standard_model.py", "scenarios.py", "contracts/document.py"):
        digest.update((package / name).read_bytes())
    return digest.hexdigest()


def _rendered(out: Path, key: str) -> list[Path] | None:
    """The rendered files, if they were rendered from ``key`` and are all still there; else None."""
    try:
        done = json.loads((out / RENDERED_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or done.get("key") != key:
        return None
    files = [out / rel for rel in done.get("files", [])]
    return files if files and all(p.exists() for p in files) else None


def _partition_columns(settings: Settings, model: str, engine: str) -> list[dict[str, str]]:
    """The contract column of a model's Spark partition column, read from its SQL (none on DuckDB): the day of a
    day model (cs_partition_column) or of a keyed model's time (cs_merge_latest's ``partition``), else the key's
    hash bucket."""
    if engine != "spark":
        return []
    sql = next((p.read_text(encoding="utf-8") for p in (settings.dbt_project_dir / "models").rglob(f"{model}.sql")), "")
    if "cs_partition_by()" not in sql:
        return []
    kind = "date" if "cs_partition_column(" in sql or re.search(r"cs_merge_latest\([^)]*partition=", sql) else "bigint"
    return [{"name": PARTITION_COLUMN, "description": "Spark 分区列 partition column (engine-internal)",
             "data_type": kind}]


def _yaml(doc: dict[str, Any]) -> str:
    text = "# Generated from contracts/ by `cityshare contracts compile`. Do not edit.\n"
    # libyaml's emitter when present (same text, ~5× faster: this runs on every build)
    return text + yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True, sort_keys=False)


def hand_written_models(settings: Settings) -> set[str]:
    """Names of the models written by hand (every ``.sql`` under models/ outside ``_generated``)."""
    models = settings.dbt_project_dir / "models"
    names: set[str] = set()
    for _folder, dirs, files in os.walk(models):  # not into _generated: thousands of derived models at city scale
        dirs[:] = [d for d in dirs if d != "_generated"]
        names.update(f.removesuffix(".sql") for f in files if f.endswith(".sql"))
    return names


def derived_models(settings: Settings, out: Path) -> dict[Path, str]:
    """Standard models derived from source contracts (unless written by hand), and the views of published
    contracts that publish a source's standard model (``sourceDataset``): path → SQL."""
    from cityshare.standard_model import (
        model_doc,
        published_source,
        render_published_model,
        render_standard_model,
        standard_model_name,
    )

    own = hand_written_models(settings)
    sources: dict[str, Contract] = {c.key: c for c in load_contracts(settings, kind="source")}
    files: dict[Path, str] = {}
    docs = []
    for c in sources.values():
        if standard_model_name(c) not in own:
            files[out / "staging" / c.department / f"{standard_model_name(c)}.sql"] = render_standard_model(c)
            docs.append(model_doc(c))
    if docs:
        files[out / "staging" / "_derived.yml"] = _yaml({"version": 2, "models": docs})
    for c in load_contracts(settings, kind="shared"):
        key = published_source(c)
        if key in sources and c.model_name not in own:
            files[out / "published" / f"{c.model_name}.sql"] = render_published_model(c, sources[key])
    return files


# A build's progress, node by node: (nodes finished, nodes planned, the node's name) for a caller's display (the
# CLI's bar). dbt announces the planned total with each node's start line and reports every node's end, tests and
# seeds included; its threads call back concurrently.
NodeProgress = Callable[[int, int, str], None]


def progress_callback(on_node: NodeProgress) -> Callable[[Any], None]:
    import threading

    lock, state = threading.Lock(), {"total": 0, "done": 0}

    def callback(msg: Any) -> None:
        name = msg.info.name
        if name == "LogStartLine":
            with lock:
                state["total"] = max(state["total"], int(msg.data.total))
        elif name == "NodeFinished":
            with lock:
                state["done"] += 1
                done, total = state["done"], max(state["total"], state["done"])
            on_node(done, total, str(msg.data.node_info.node_name))

    return callback


def run_dbt(args: list[str], settings: Settings | None = None, rendered: bool = False,
            allow_failed_nodes: bool = False, on_node: NodeProgress | None = None) -> Any:
    """Invoke dbt in-process against the warehouse; raises BuildFailed naming failed nodes.

    The sources/contracts YAML is rendered from the contracts first, unless the caller just did (``rendered``).
    With ``allow_failed_nodes`` a run whose nodes ran but some failed returns normally (see failed_nodes):
    dbt has built everything not downstream of them.
    """
    from dbt.cli.main import dbtRunner

    from cityshare.code_lists import received_lists

    settings = settings or get_settings()
    if not rendered:
        render_dbt_files(settings)
    if code_lists := received_lists(settings):  # code lists received from a higher instance replace their seeds' rows
        args = [*args, "--vars", json.dumps({"cs_code_lists": code_lists})]
    os.environ["CITYSHARE_WAREHOUSE"] = str(settings.warehouse_path)
    project = str(settings.dbt_project_dir)
    target = settings.dbt_target_dir
    keep_open = os.environ.get("CITYSHARE_DBT_KEEP_OPEN")
    os.environ["CITYSHARE_DBT_KEEP_OPEN"] = "True"  # one DuckDB instance for this run, closed below (profiles.yml)
    # On a full or read-only disk every write of dbt's file log fails, and Python's logging prints a traceback
    # for each (51,561 lines for one build): dropped here; the build's own error names the fault once.
    raise_exceptions, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        result = dbtRunner(callbacks=[progress_callback(on_node)] if on_node else []).invoke([
            *args, "--project-dir", project, "--profiles-dir", project,
            "--target-path", str(target), "--log-path", str(target / "logs"), "--quiet",
        ])
    finally:
        logging.raiseExceptions = raise_exceptions
        if keep_open is None:  # other dbt callers in this process keep the default
            del os.environ["CITYSHARE_DBT_KEEP_OPEN"]
        else:
            os.environ["CITYSHARE_DBT_KEEP_OPEN"] = keep_open
        _release_warehouse()
    if "--no-write-json" in args and hasattr(result.result, "write"):  # this run's results still go on record
        result.result.write(str(target / "run_results.json"))  # type: ignore[union-attr]  # hasattr checked it
    if args and args[0] == "build":
        archive_artifacts(target, settings.dbt_artifact_runs)
    if not result.success and not (allow_failed_nodes and result.exception is None and failed_nodes(result)):
        failures = []
        for r in getattr(result.result, "results", None) or []:
            if str(r.status) in ("error", "fail"):
                # whitespace collapsed: dbt's messages are indented blocks, and the detail (a failing column,
                # the out-of-sync column list) comes after several lines of advice
                failures.append(f"{r.node.name}: {' '.join(str(r.message).split())[:800]}")
        detail = "; ".join(failures) or str(result.exception)
        raise BuildFailed(f"dbt {' '.join(args)} failed: {detail}")
    return result


def _release_warehouse() -> None:
    """Close the DuckDB instance dbt-duckdb keeps open for the run (profiles.yml ``keep_open``), so the
    warehouse file is free for the next step, whatever configuration it opens it with."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    try:
        env = DuckDBConnectionManager.env()
    except Exception:  # no environment was created (dbt failed before connecting)
        return
    DuckDBConnectionManager.close_all_connections()
    env.close()


def archive_artifacts(target: Path, keep: int | None = None) -> Path | None:
    """Keep this build's ``run_results.json`` and ``manifest.json`` under ``runs/<UTC time>/`` (the next build
    overwrites the top-level ones): an audit trail of every build and what the catalog's dbt ingestion reads.
    The newest ``keep`` runs stay (``CITYSHARE_DBT_ARTIFACT_RUNS``, default 30)."""
    import datetime as dt
    import shutil

    keep = keep if keep is not None else get_settings().dbt_artifact_runs  # a caller with settings passes theirs
    if not (target / "run_results.json").exists() or keep <= 0:
        return None
    runs = target / "runs"
    run = runs / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    run.mkdir(parents=True)
    for name in ("run_results.json", "manifest.json"):
        if (target / name).exists():
            shutil.copy2(target / name, run / name)
    for old in sorted(runs.iterdir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return run


def failed_nodes(result: Any) -> dict[str, str]:
    """Model/test name → why it did not build: its error, or ``skipped`` behind a failed upstream node."""
    out = {}
    for r in getattr(result.result, "results", None) or []:
        if str(r.status) in ("error", "fail", "skipped"):
            out[r.node.name] = " ".join(str(r.message or r.status).split())[:800]
    return out


def node_results(result: Any) -> list[Any]:
    """The results of the selected nodes, without the project's run hooks (on-run-start)."""
    return [r for r in result.result.results if r.node.resource_type != "operation"]


def _refresh_raw_views(settings: Settings, con: Any = None) -> tuple[dict[str, str], int]:
    """Every source gets its raw view (empty but typed until a batch is accepted), so a contract added
    today never breaks the build of the others; views already current (the gate pointed them at their batches,
    or an earlier build created them) are left as they are. Returns contract key → raw table, and how many views
    were (re)created. Uses ``con`` when given (one warehouse open per build step)."""
    from cityshare.raw_views import refresh_raw_view, stale_raw_views
    from cityshare.warehouse import connect, transaction

    contracts = load_contracts(settings, kind="source")
    with (nullcontext(con) if con is not None else connect(settings)) as con, transaction(con):
        stale = stale_raw_views(con, contracts, settings)
        for contract in stale:
            refresh_raw_view(con, contract, settings)
    return {c.key: c.raw_table for c in contracts}, len(stale)


def build(settings: Settings | None = None, full_refresh: bool = False,
          on_node: NodeProgress | None = None) -> dict[str, Any]:
    """dbt build (seeds, models, data tests) into the internal layer schemas, of what new data reaches.

    Only the models downstream of sources with new non-empty batches since the last successful build are
    built, with their data tests (see cityshare.build_state). The big event and registry models in
    ``standard`` are incremental as well (they read only batches they don't hold yet). A changed project
    (SQL, seeds, masking code, token key) or ``full_refresh`` rebuilds everything, incremental models from
    every accepted batch.
    """
    from cityshare import build_state
    from cityshare.warehouse import connect, transaction

    settings = settings or get_settings()
    render_dbt_files(settings)  # the plan fingerprints the generated sources/contracts too
    with connect(settings) as con:
        raw_tables, refreshed = _refresh_raw_views(settings, con)
        plan = build_state.plan(con, settings, raw_tables, full_refresh)
    summary = {"nodes": 0, "models": 0, "failed": {}, "selected": "all" if plan.full else list(plan.changed_sources),
               "reason": plan.reason, "raw_views_refreshed": refreshed, "nothing_built": plan.nothing_to_do}
    if plan.nothing_to_do:
        return summary
    crash_point("dbt.mid_build")
    # Unit tests (hand-made fixtures, models/collaboration/**/_*unit_tests.yml) check model logic, not data: they run
    # in CI through unit_test(), so a production build does not pay for them.
    args = ["build", "--exclude-resource-type", "unit_test", *(["--full-refresh"] if plan.refresh else [])]
    if not plan.full:
        # Same project as the last build, so the manifest on disk is still right: not rewriting it (twice, 1.4 MB of
        # JSON) saves ≈ 0.7 s of a next-day build; run_dbt still writes this build's run_results.json. Views are
        # left as they are for the same reason: a view holds no rows, and its SQL changes only with the project.
        args += ["--select", *plan.select, "--exclude", "config.materialized:view", "--no-write-json"]
    try:
        result = run_dbt(args, settings, rendered=True, allow_failed_nodes=True, on_node=on_node)
    except BuildFailed as exc:
        if "out of sync" in str(exc):  # an incremental model's columns changed since the table was built
            raise BuildFailed(f"{exc} — run `cityshare build --full-refresh` once to rebuild the incremental models") from None
        raise
    failed = failed_nodes(result)
    if failed:  # the rest is built; these sources stay "changed", so the next build tries them again
        log.error("dbt: %d node(s) failed or skipped: %s", len(failed), "; ".join(f"{k}: {v}" for k, v in failed.items()))
    else:
        with connect(settings) as con, transaction(con):
            build_state.record(con, settings, plan)
    nodes = node_results(result)
    return {**summary, "nodes": len(nodes), "models": sum(1 for r in nodes if r.node.resource_type == "model"),
            "failed": failed}


def unit_test(settings: Settings | None = None, select: str = "test_type:unit",
              work_dir: Path | None = None) -> dict[str, Any]:
    """Run the dbt unit tests: each model's logic on hand-made fixtures against hand-computed expected rows.

    dbt reads the column types of a unit test's inputs from their relations, so seeds and models are first built
    ``--empty`` (zero rows, no data tests) into a throw-away warehouse under ``work_dir`` (default: a temporary
    folder, removed afterwards) — never the settings' warehouse. Raises BuildFailed naming the failing tests;
    returns the counts and the dbt target folder (manifest, run results: kept only with ``work_dir``).
    """
    settings = settings or get_settings()
    with tempfile.TemporaryDirectory(prefix="cityshare-unit-tests-") as tmp:
        scratch = dataclasses.replace(settings, data_dir=Path(work_dir or tmp), lake_url="")
        _refresh_raw_views(scratch)
        run_dbt(["build", "--empty", "--exclude-resource-type", "test", "unit_test"], scratch)
        results = node_results(run_dbt(["test", "--select", select], scratch))
    return {"unit_tests": len(results), "passed": sum(1 for r in results if str(r.status) == "pass"),
            "target_dir": str(scratch.dbt_target_dir)}
