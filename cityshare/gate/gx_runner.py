"""Run compiled rules as a Great Expectations 1.x suite, SQL pushed down to DuckDB.

GX 1.24 on duckdb-engine loses results when a pooled connection is returned before fetching (GX issue
#10738); the gate's datasource, ``gx_duckdb.DuckDBDatasource``, keeps one connection open instead, with
GX's public API only (no GX private name is used: ``tests/unit/test_gx_public_api.py``). The batch under
test lives in a private in-memory DuckDB (a query over Parquet), so gates never take the warehouse's
write lock.

Fixed cost: registering a datasource, asset, suite and validation definition in a GX context
re-serialises the whole project config each time (~0.2 s per suite, more than validating a small
batch). So each process registers one DuckDB datasource with one query asset per relation name
once; a run points the asset at a temp view of the batch, builds the suite's expectations and
validates them with GX's ``Validator`` directly, adding the same result metadata
``ValidationDefinition.run`` adds. GX's store is never written. Consecutive gates share the
execution engine and its in-memory database while each leaves it as it found it; after an error or a
leftover object (and every ``GATES_PER_ENGINE`` gates) ``session_connection`` names a new in-memory
database in the datasource's connection string, and GX builds a new engine for the changed config.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cityshare.contracts.rules import Rule
from cityshare.sqlquote import q

log = logging.getLogger("cityshare.gate")
_counter = itertools.count()
_lock = threading.RLock()  # one DuckDB connection per process: runs take turns


@dataclass
class RuleResult:
    """The outcome of one rule on one batch (a row of the quality history).

    ``x_rate`` is GB/T 36344's X = A/B with B = ``evaluated``: for ``rate_kind == "pass"`` A counts the
    items meeting the rule (合格率, 完整率 …); for ``"fail"`` A counts the bad ones (重复率). ``verdict``
    is passed | failed (blocks) | quarantined | warned | skipped | error.
    """

    rule: str
    level: str
    dimension: str
    dimension_zh: str
    column: str | None
    description: str
    evaluated: int
    failed: int
    success: bool
    error: str | None = None
    verdict: str = ""
    rate_kind: str = "pass"
    threshold: float | None = None
    duration_ms: float = 0.0
    kind: str = ""
    rows: list[int] = field(default_factory=list)  # source rows (_source_row) of sample failing values

    @property
    def x_rate(self) -> float | None:
        if not self.evaluated:
            return None
        bad = min(self.failed, self.evaluated) / self.evaluated
        return round(bad if self.rate_kind == "fail" else 1.0 - bad, 6)


def skipped(rule: Rule) -> RuleResult:
    """A rule that cannot be evaluated yet (no history, no reference data): recorded, never blocks."""
    return RuleResult(rule.name, rule.level, rule.dimension, rule.dimension_zh, rule.column,
                      f"{rule.description}（{rule.skip_reason}）", 0, 0, True, verdict="skipped",
                      rate_kind=rule.rate_kind, kind=rule.kind)


def _exception(info: Any) -> str | None:
    """The first raised exception in GX's exception_info (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:500]
    for value in info.values():
        found = _exception(value) if isinstance(value, dict) else None
        if found:
            return found
    return None


def user_error(rule: str, raw: str | None) -> str | None:
    """What a user reads when a rule could not run: no SQL, no driver text (that goes to the debug log).

    A column the rule reads that is not in the batch is named; an error caused by an earlier failed
    query in the same transaction says so; anything else points at the log.
    """
    if raw is None:
        return None
    log.debug("rule %s could not run: %s", rule, raw)
    if column := re.search(r'Referenced column "([^"]+)" not found', raw):
        return f"字段 {column.group(1)} 不在批次中 (column {column.group(1)} is not in the batch)"
    if "aborted" in raw.lower() and "transaction" in raw.lower():
        return "未评估：同一批次中先前的规则查询失败 (not evaluated: an earlier rule's query failed)"
    return "规则查询在此批次上失败，详见调试日志 (the rule's query failed on this batch; see the debug log)"


@cache
def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@dataclass
class _Session:
    """The process's GX datasource (registered once) and the DuckDB connection its engine holds."""

    source: Any
    batch_definitions: dict[str, Any] = field(default_factory=dict)
    con: Any = None  # duckdb connection GX validates on (None: the next gate builds a new engine)
    depth: int = 0
    gates: int = 0  # gates run on the current engine


# An engine, its in-memory DuckDB and what GX caches per engine, serves this many gates, then a new one is
# built. GX's per-engine metric cache is only a fallback for metrics a run did not compute (every run
# computes its whole metric graph), so reuse is safe; the limit bounds that cache's growth in a worker
# gating many contracts. A new engine costs ≈ 10–25 ms (DuckDB connection, dialect initialisation).
GATES_PER_ENGINE = 200

_sessions: dict[int, _Session] = {}


def _session() -> _Session:
    """This process's session (a forked child builds its own: DuckDB connections do not survive fork)."""
    from cityshare.gate.gx_duckdb import DuckDBDatasource

    pid = os.getpid()
    if pid not in _sessions:
        # No SQLAlchemy statement cache: the same text means another batch every run.
        source = DuckDBDatasource(name=f"cityshare_{pid}", connection_string=_database(pid),
                                  kwargs={"query_cache_size": 0})
        _sessions[pid] = _Session(_context().add_datasource(datasource=source))
    return _sessions[pid]


def _database(pid: int) -> str:
    """A new private in-memory DuckDB database (named, so each gate's differs from the last)."""
    return f"duckdb:///:memory:cityshare_{pid}_{next(_counter)}"


def _batch_definition(session: _Session, name: str, view: str) -> Any:
    """The whole-table batch of asset ``name``, pointed at the temp view ``view`` for this run.

    The asset's query is changed in memory only (no store write); every run gets a new view name.
    """
    if name not in session.batch_definitions:
        asset = session.source.add_query_asset(name=name, query=f"SELECT * FROM {view}")
        session.batch_definitions[name] = asset.add_batch_definition_whole_table("whole")
    definition = session.batch_definitions[name]
    definition.data_asset.query = f"SELECT * FROM {view}"
    return definition


@contextmanager
def session_connection() -> Iterator[Any]:
    """The DuckDB connection GX validates on, held exclusively for the block (re-entrant).

    The gate computes its rule flags there, so GX counts them without a round trip through Parquet.
    Consecutive gates share the engine (and its in-memory DuckDB) while a gate leaves it as it found it:
    the outermost block rolls back whatever is uncommitted and checks that no temp table or view is
    left; otherwise (an error, a leftover object, ``GATES_PER_ENGINE`` reached) the engine is closed and
    the next gate gets a fresh one. GX builds a new engine whenever the datasource's config differs from
    the one its engine was built from (``SQLDatasource.get_execution_engine``), so the next gate gives the
    datasource a new database name.
    """
    with _lock:
        session = _session()
        if session.depth == 0 and session.con is None:
            session.source.connection_string = _database(os.getpid())
            with session.source.get_execution_engine().get_connection() as held:
                session.con = held.connection.driver_connection  # the one connection GX queries on
        session.depth += 1
        clean = False
        try:
            yield session.con
            clean = True
        finally:
            session.depth -= 1
            if session.depth == 0:
                session.gates += 1
                if not (clean and session.gates < GATES_PER_ENGINE and _reset(session)):
                    _retire(session)


def _reset(session: _Session) -> bool:
    """Roll back what the gate left uncommitted; whether the engine is as a new one would be (no temp object)."""
    try:
        with session.source.get_execution_engine().get_connection() as held:
            held.rollback()
        (left,) = session.con.execute(
            "SELECT (SELECT count(*) FROM duckdb_tables() WHERE temporary)"
            " + (SELECT count(*) FROM duckdb_views() WHERE temporary AND NOT internal)").fetchone()
    except Exception:  # e.g. a transaction DuckDB aborted: the next gate gets a new engine
        log.debug("gate engine not reusable", exc_info=True)
        return False
    return not left


def _retire(session: _Session) -> None:
    """Close the session's engine (and its in-memory DuckDB); the next gate builds a new one."""
    if session.con is not None:
        session.source.get_execution_engine().close()
    session.con, session.gates = None, 0


def _retire_before_fork() -> None:
    """A forked child must not inherit an open DuckDB database: close an idle engine before forking."""
    if _lock.acquire(blocking=False):
        try:
            session = _sessions.get(os.getpid())
            if session is not None and session.depth == 0:
                _retire(session)
        finally:
            _lock.release()


os.register_at_fork(before=_retire_before_fork)


def settle(con: Any) -> None:
    """Commit what the gate just created or dropped on GX's connection.

    The DuckDB connection is shared with SQLAlchemy, which leaves a transaction open; GX reflecting a
    table's columns (column expectations) checks out and returns a pooled connection, and that return
    rolls the open transaction back — temp tables and views created inside it would vanish mid-run.
    """
    con.commit()


def run_rules(rules: list[Rule], relation_sql: str, row_count: int) -> list[RuleResult]:
    """Validate ``relation_sql`` (a SELECT) against ``rules``; one GX validation run (the publish audit).

    The audit reports counts, never samples, so every row rule with a predicate is checked together in one
    expectation (one query), and the column-presence rules of the relation's columns in another."""
    with session_connection() as con:
        columns = {name for (name, *_rest) in con.execute(f"DESCRIBE {relation_sql}").fetchall()}
    together = {r.name: r.predicate for r in rules if r.predicate is not None and r.level != "batch"}
    return run_suite(rules, relation_sql, row_count, together=together, present=columns)[0]


def run_suite(rules: list[Rule], relation_sql: str, row_count: int, flags: dict[str, str] | None = None,
              name: str = "cityshare", described_as: str | None = None,
              mostly: float | None = None,
              index_column: str | None = None,
              together: dict[str, str] | None = None,
              present: set[str] | None = None,
              verdicts: dict[str, str] | None = None,
              sample_columns: bool = True) -> tuple[list[RuleResult], dict[str, Any] | None]:
    """One GX validation run; returns the rule results and the GX validation result as JSON.

    With ``flags`` (rule name → boolean column of ``relation_sql``) a rule is evaluated as "rows whose
    flag is set": the gate computes every row rule's flag in one DuckDB pass and GX counts them. Rules
    not in ``flags`` run as their own expectation — native column expectations (``Rule.native``) with
    ``mostly`` for row-level rules, on the columns ``relation_sql`` carries; their results (SUMMARY) hold
    up to 20 unexpected values and their counts, which Data Docs show under the rule.
    ``relation_sql`` may use temp objects of ``session_connection()`` (held by the caller);
    ``described_as`` is the query the stored result names (e.g. the Parquet file a temp copy holds);
    ``index_column`` (the gate's ``_source_row``) makes column expectations report the source rows of their
    sample unexpected values (``partial_unexpected_index_list``).

    Rules with nothing to sample are checked together, since GX's cost is per expectation, not per row:
    ``together`` (rule name → SQL condition true on a failing row, e.g. its flag) — in the gate the rules its
    DuckDB pass found no failing row for — are counted by one ``ExpectRulesToFindNoFailingRows`` in one query;
    ``present`` (the relation's columns) puts the column-presence rules of present columns in one GX
    ``ExpectTableColumnsToMatchSet`` (at least these columns). Each rule still gets its own result row, a
    failing one by name and count. ``verdicts`` (rule name → boolean column of the relation, true where the row
    fails): CityShare's own column expectations read it instead of evaluating their condition again.
    ``sample_columns``: the relation carries the flag-counted rules' columns too (their samples show the value
    beside the row).
    """
    import time

    pending = [r for r in rules if r.skip_reason is None]
    results = [skipped(r) for r in rules if r.skip_reason is not None]
    order = {r.name: i for i, r in enumerate(rules)}
    validation_json: dict[str, Any] | None = None
    if pending:
        started = time.perf_counter()
        grouped = [r for r in pending if together and r.name in together]
        columns = [r for r in pending if present is not None and r.kind == "column_exists" and r.column in present]
        own = [r for r in pending if r not in grouped and r not in columns]
        expectations = [_own_expectation(r, flags, mostly, sample_columns, (verdicts or {}).get(r.name)) for r in own]
        if grouped:
            expectations.append(_checked_together(grouped, together or {}))
        if columns:
            expectations.append(_columns_present(columns))
        outcome = _validate(_suite(expectations, name), _result_format(index_column), relation_sql, name,
                            described_as or relation_sql)
        elapsed = (time.perf_counter() - started) * 1000
        validation_json = outcome.to_json_dict()
        for stored in validation_json.get("results", []):
            stored["result"] = _clip(stored.get("result"))
        validation_json["results"] = sorted(  # Data Docs list the rules in the contract's order
            validation_json.get("results", []), key=lambda stored: order[rules_of(stored["expectation_config"])[0]])
        by_name = {r.name: r for r in pending}
        for res in outcome.results:
            for rule in rules_of(res.expectation_config):
                results.append(_result(by_name[rule], res, row_count, elapsed))
    return sorted(results, key=lambda r: order[r.rule]), validation_json


def rules_of(config: Any) -> list[str]:
    """The contract rules one expectation checks (its ``meta``: ``rule``, or ``rules`` when checked together)."""
    meta = config["meta"] if isinstance(config, dict) else config.meta
    return list(meta.get("rules") or [meta["rule"]])


def _listing(rules: list[Rule]) -> str:
    """The description of an expectation checking several rules: each as ``[name] meaning``, so Data Docs
    readers find every contract rule by its name."""
    return f"{len(rules)} 条规则一并检查 (rules checked together)：" + "；".join(r.gx_description for r in rules)


def _checked_together(rules: list[Rule], conditions: dict[str, str]) -> Any:
    from cityshare.contracts.gx_expectations import ExpectRulesToFindNoFailingRows

    names = [r.name for r in rules]
    return ExpectRulesToFindNoFailingRows(rules=names, conditions=[conditions[n] for n in names],
                                          description=_listing(rules), meta={"rules": names})


def _columns_present(rules: list[Rule]) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectTableColumnsToMatchSet(column_set=[r.column for r in rules], exact_match=False,
                                            description=_listing(rules),
                                            meta={"rules": [r.name for r in rules]})


def _own_expectation(rule: Rule, flags: dict[str, str] | None, mostly: float | None, sample_columns: bool,
                     verdict: str | None) -> Any:
    if flags and rule.name in flags:
        return rule.flag_expectation(flags[rule.name], sample_columns)
    return rule.expectation(mostly if rule.level == "row" else None, copies=flags is not None, flag=verdict)


def _suite(expectations: list[Any], name: str) -> Any:
    """The GX suite of one run. Built per batch: caching it per contract saved nothing measurable
    (bench/gate_fixed_bench.py), as GX's validator rebuilds every expectation from its configuration anyway."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=f"{name}_{next(_counter)}", expectations=expectations)
    for expectation in suite.expectations:  # ids as the suite store would assign them
        expectation.id = str(uuid.uuid4())
    return suite


SAMPLE_CHARS = 200  # a sample value longer than this is stored (and shown in Data Docs) cut, with its length


def _clip(value: Any) -> Any:
    """An expectation result with long sample values cut: a hostile 1 MB cell must not become a 1 MB page."""
    if isinstance(value, str) and len(value) > SAMPLE_CHARS:
        return f"{value[:SAMPLE_CHARS]}…（共 {len(value)} 个字符）"
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v) for v in value]
    return value


def _result_format(index_column: str | None) -> Any:
    """SUMMARY: counts, percentages and up to 20 sample unexpected values (and their rows, by ``index_column``)."""
    if index_column is None:
        return "SUMMARY"
    return {"result_format": "SUMMARY", "unexpected_index_column_names": [index_column],
            "partial_unexpected_count": 20, "return_unexpected_index_query": False}


def _validate(suite: Any, result_format: Any, relation_sql: str, name: str, described_as: str) -> Any:
    """Validate ``suite`` on ``relation_sql`` through the session's asset ``name``.

    The result carries what ``ValidationDefinition.run`` would add (validation id, run id, time), and its
    batch spec names the relation actually validated, not the stand-in view.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.validator.v1_validator import Validator

    run = next(_counter)
    with session_connection() as con:
        session = _session()
        view = q(f"cityshare_{name}_{run}")
        con.execute(f"CREATE TEMP VIEW {view} AS {relation_sql}")
        settle(con)
        try:
            validator = Validator(batch_definition=_batch_definition(session, name, view),
                                  result_format=result_format)
            outcome: Any = validator.validate_expectation_suite(suite)  # its meta is GX's TypedDict, extended below
        finally:
            con.execute(f"DROP VIEW IF EXISTS {view}")
            settle(con)
    run_id = RunIdentifier(run_time=dt.datetime.now(dt.UTC))
    outcome.meta.update(validation_id=str(uuid.uuid4()), checkpoint_id=None, run_id=run_id,
                        validation_time=run_id.run_time, batch_parameters=None)
    if isinstance(outcome.meta.get("batch_spec"), dict):
        outcome.meta["batch_spec"]["query"] = described_as
    return outcome


def sample_rows(result: dict[str, Any], index_column: str = "_source_row") -> list[int]:
    """The source rows of the sample unexpected values in one stored GX expectation result (column
    expectations: ``partial_unexpected_index_list``; the gate's flag-counted rules: their sample rows)."""
    info = result.get("result") or {}
    samples = info.get("partial_unexpected_index_list") or (info.get("details") or {}).get("unexpected_rows") or []
    return sorted({int(s[index_column]) for s in samples if isinstance(s, dict) and s.get(index_column) is not None})


def _result(rule: Rule, res: Any, row_count: int, elapsed_ms: float) -> RuleResult:
    """Translate one GX expectation result into a quality-history row."""
    info = res.result or {}
    error = user_error(rule.name, _exception(res.exception_info))
    success = bool(res.success)
    failed = info.get("unexpected_count")
    evaluated = info.get("element_count") or row_count
    if "unexpected_count_by_rule" in (info.get("details") or {}):  # checked together: this rule's own count
        failed = int(info["details"]["unexpected_count_by_rule"][rule.name])
        success = not failed
    elif rule.kind == "extra_columns":  # missing columns are reported by column_present:*
        extra = (info.get("details") or {}).get("mismatched", {}).get("unexpected") or []
        failed, evaluated, success = len(extra), len(rule.params["expected"]) + len(extra), not extra
    elif rule.kind == "column_exists" and "column_set" in res.expectation_config.kwargs:  # checked together
        missing = {str(c) for c in (info.get("details") or {}).get("mismatched", {}).get("missing") or []}
        success = rule.column not in missing
        failed, evaluated = (0 if success else 1), 1
    elif rule.kind in ("column_exists", "row_count_min", "volume", "freshness"):
        failed, evaluated = (0 if success else 1), 1
    elif rule.kind == "retyped" or failed is None:  # retyped: failing values count only above the tolerated share
        failed = int(info.get("observed_value") or 0)
    if rule.native:  # GX's success honours `mostly`; the gate's verdict is per row (quarantine any failure)
        success = not failed
    success = success and error is None
    return RuleResult(
        rule=rule.name, level=rule.level, dimension=rule.dimension, dimension_zh=rule.dimension_zh,
        column=rule.column, description=rule.description, evaluated=int(evaluated), failed=int(failed),
        success=success, error=error, verdict="error" if error else ("passed" if success else "failed"),
        rate_kind=rule.rate_kind, duration_ms=round(elapsed_ms, 1), kind=rule.kind,
        rows=sample_rows({"result": info}) if failed else [],
    )
