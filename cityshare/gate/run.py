"""The load gate: a landed batch against its contract's GX suite.

Batch-level rules (schema drift, volume, freshness) block the whole batch. Row-level rules move failing
rows, with the names of the rules they broke, to quarantine; the batch is accepted only while the
failing share stays at or under the contract's ``quarantineThreshold``. Advisory (``warn``) rules are
measured and stored but stop nothing. Only accepted rows are written where dbt reads.

Hot path: one GX run over the raw Parquet for the batch rules; then every row rule's verdict is
computed once, in one DuckDB pass, into a boolean flag per rule; GX evaluates the suite over those
flags and the same flags select the quarantined and accepted rows. A rule with failing rows runs as its own
GX column expectation (``mostly`` = 1 − quarantineThreshold) on a copy of its column made in that same pass,
so Data Docs show the rule on its column with sample unexpected values; the rules no row fails are counted
together by one expectation over their flags (GX's cost is per expectation, not per row). The GX validation
results are kept as JSON so Data Docs can be rendered later, off the hot path (``data_docs.py``).

The flags live in the DuckDB connection GX validates on (``gx_runner.session_connection``), so GX
counts them in place; the process keeps that connection and its GX datasource between batches.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.contracts.model import Contract
from cityshare.contracts.rules import GateContext, Rule, compile_rules, volume_anomaly
from cityshare.gate.gx_runner import RuleResult, run_suite, session_connection, settle
from cityshare.lake import LandedBatch, batch_dir, write_parquet_atomic
from cityshare.settings import Settings
from cityshare.sqlquote import lit, q
from cityshare.storage import is_remote_path, local_copy
from cityshare.vocabulary import BatchStatus

# Batches up to this many rows are read into memory once for all the gate's queries (a few MB);
# larger ones are scanned from Parquet per query, which DuckDB does in parallel without the copy.
MATERIALIZE_ROWS = 250_000
# Up to this many rows every row rule with failing rows runs as its own GX column expectation (counts, samples,
# source rows in Data Docs; the rules no row fails are counted together). Above it GX would recompute each rule
# over the whole batch several times (count, samples, row numbers; a GROUP BY per uniqueness rule): 3.3× the
# hand-written checks at 5 M rows instead of 1.1×. So a large batch keeps GX's own expectations for not-null and
# in-set only, and GX counts the other rules' flags from the one DuckDB pass (with up to 20 sample source rows each).
NATIVE_ROWS = 250_000
_CHEAP_NATIVE = ("not_null", "in_set")


@dataclass
class GateOutcome:
    """What the gate decided about one batch, and why."""

    dataset: str
    load_id: str
    status: str  # accepted | blocked
    reason: str
    rows: int
    rows_accepted: int = 0
    rows_quarantined: int = 0
    accepted_path: Path | None = None
    quarantine_path: Path | None = None
    results: list[RuleResult] = field(default_factory=list)
    validations: dict[str, Any] = field(default_factory=dict)  # level → GX validation result JSON

    @property
    def blocked(self) -> bool:
        return self.status == BatchStatus.BLOCKED


def describe(result: RuleResult, rows: int) -> str:
    """One rule failure in plain words: what, which rule, how many rows."""
    if result.kind == "extra_columns":
        count = f"{result.failed} extra column(s)"
    elif result.kind == "retyped":
        count = f"{result.failed} of {rows} rows"
    elif result.level == "batch":
        count = f"batch of {rows} rows"
    else:
        count = f"{result.failed} of {result.evaluated} rows"
        if result.rows:  # where they are in the delivery: 源文件行号, a sample of up to 5
            more = " …" if result.failed > min(len(result.rows), 5) else ""
            count += f"; 源文件行号 source rows {', '.join(map(str, result.rows[:5]))}{more}"
    error = f" could not run: {result.error}" if result.error else ""
    return f"{result.description} [{result.rule}: {count}]{error}"


def _describe(results: list[RuleResult], rows: int) -> str:
    return "; ".join(describe(r, rows) for r in results)


def validations_path(settings: Settings, contract: Contract, load_id: str) -> Path:
    """Where the gate keeps the GX validation results of a batch (input of the Data Docs step)."""
    return settings.data_dir / "quality" / "validations" / contract.raw_table / f"{load_id}.json"


def gate_context(contract: Contract, batch: LandedBatch, settings: Settings,
                 columns: list[str] | None = None) -> GateContext:
    """History (recent accepted volumes), reference data (accepted batches of referenced sources, code lists
    received from a higher instance) and landed columns for one batch.

    The warehouse is opened only for a contract whose rules read it (a volume anomaly rule, a
    reference dataset): opening the DuckDB file is a fixed cost per batch. ``columns`` spares a
    second read of the Parquet footer when the caller has it.
    """
    import pyarrow.parquet as pq

    from cityshare.code_lists import received_lists
    from cityshare.gate.earlier_batches import accepted_paths
    from cityshare.meta.batches import recent_volumes

    references = sorted({
        str(check.get("arguments", {}).get("referenceDataset"))
        for p in contract.properties for check in p.quality
        if isinstance(check.get("arguments"), dict) and check["arguments"].get("referenceDataset")
    })
    needs_history = any(volume_anomaly(check) is not None for check in contract.table_quality())
    history: list[int] = []
    paths: dict[str, list[str]] = {}
    if (needs_history or references) and settings.warehouse_path.exists():
        from cityshare.warehouse import connect

        with connect(settings, read_only=True) as con:
            history = recent_volumes(con, contract.key, batch.load_id, batch.load_date) if needs_history else []
            paths = {ref: accepted_paths(con, ref, settings) for ref in references}
    if columns is None:
        columns = pq.read_schema(batch.path).names
    return GateContext(batch.load_date, history, paths, list(columns), received_lists(settings))


def run_gate(contract: Contract, batch: LandedBatch, settings: Settings,
             ctx: GateContext | None = None) -> GateOutcome:
    """Validate a landed batch, write quarantine and accepted files, return the decision."""
    if is_remote_path(batch.path):  # object-storage lake: gate scratch copies (GX's connections read local files)
        from contextlib import ExitStack
        from dataclasses import replace

        with ExitStack() as stack:
            local = replace(batch, path=stack.enter_context(local_copy(settings, batch.path)))
            ctx = ctx or gate_context(contract, local, settings)
            ctx.references = {ref: [str(stack.enter_context(local_copy(settings, p))) for p in paths]
                              for ref, paths in ctx.references.items()}
            return run_gate(contract, local, settings, ctx)
    ctx = ctx or gate_context(contract, batch, settings)
    rules = compile_rules(contract, ctx=ctx)
    parquet = f"SELECT * FROM read_parquet({lit(batch.path)}, hive_partitioning = false)"
    outcome = GateOutcome(contract.key, batch.load_id, "accepted", "", batch.rows)
    try:
        with session_connection() as con:
            relation = parquet
            if batch.rows <= MATERIALIZE_ROWS:  # read the Parquet once, not once per rule query
                con.execute(f"CREATE OR REPLACE TEMP TABLE gate_raw AS {parquet}")
                relation = "SELECT * FROM gate_raw"
            try:
                _run(contract, batch, settings, rules, relation, outcome, parquet, set(ctx.columns or ()))
            finally:
                con.execute("DROP TABLE IF EXISTS gate_raw")
    finally:
        _keep_validations(settings, contract, batch, outcome)
    return outcome


def _run(contract: Contract, batch: LandedBatch, settings: Settings, rules: list[Rule], relation: str,
         outcome: GateOutcome, parquet: str, columns: set[str]) -> None:
    batch_rules = [r for r in rules if r.level == "batch" or (r.kind == "extra_columns")]
    # a column present in the Parquet and a retyping rule (a count) have nothing to sample: GX checks them together
    retyped = {r.name: r.predicate for r in batch_rules if r.kind == "retyped" and r.predicate}
    results, outcome.validations["batch"] = run_suite(batch_rules, relation, batch.rows, name="batch",
                                                      described_as=parquet, present=columns, together=retyped)
    for r in results:
        r.threshold = 0.0 if r.level == "batch" else None
        if r.verdict == "failed" and r.level == "warn":
            r.verdict = "warned"
    outcome.results = results
    failed_batch = [r for r in results if r.level == "batch" and not r.success]
    if failed_batch:
        outcome.status, outcome.reason = BatchStatus.BLOCKED, _describe(failed_batch, batch.rows)
        return
    row_rules = [r for r in rules if r not in batch_rules]
    if not row_rules:
        _write_accepted(None, contract, batch, settings, outcome, relation)
        return
    _run_row_rules(contract, batch, settings, row_rules, relation, outcome)


def _flag_select(rules: list[Rule], native: set[str] | None = None, small: bool = True) -> str:
    """One pass over the batch: a boolean per rule, true when the row fails it, and a copy of each column a
    rule checks (``Rule.gx_columns``) — for the ``native`` rules, whose GX column expectations count and
    sample it there, and in a ``small`` batch also for the flag-counted rules, whose samples show it beside
    the row number. The flag still drives the quarantine. By default every native rule's copy is made."""
    native = {r.name for r in rules if r.native} if native is None else native
    cols = []
    for i, rule in enumerate(rules):
        if rule.predicate is not None:
            expr = f"coalesce({rule.predicate}, false)"
        else:  # a contract `sql` rule: the rows its query selects
            expr = f"_source_row IN (SELECT _source_row FROM ({(rule.bad_rows_sql or '').format(batch='batch')}))"
        cols.append(f"{expr} AS _f{i}")
    copies = {name: sql for r in rules if r.column and (r.name in native or small)
              for name, sql in r.gx_columns.items()}
    if small:  # the batch's own columns too, for contract sql rules run as their own query (Rule.own_query_expectation)
        cols += [f"{sql} AS {q(name)}" for name, sql in copies.items() if sql != q(name)]
        return f"SELECT *, {', '.join(cols)} FROM batch"
    cols += [f"{sql} AS {q(name)}" for name, sql in copies.items()]
    return f"SELECT _source_row, {', '.join(cols)} FROM batch"


def _run_row_rules(contract: Contract, batch: LandedBatch, settings: Settings, row_rules: list[Rule],
                   relation: str, outcome: GateOutcome) -> None:
    pending = [r for r in row_rules if r.skip_reason is None]
    flags = {r.name: f"_f{i}" for i, r in enumerate(pending)}
    by_name = {r.name: r for r in pending}
    small = batch.rows <= NATIVE_ROWS
    native = {r.name for r in pending if r.native and (small or r.kind in _CHEAP_NATIVE)}
    with session_connection() as con:
        try:
            started = time.perf_counter()
            con.execute(f"CREATE OR REPLACE TEMP VIEW batch AS {relation}")
            if pending:
                con.execute(f"CREATE OR REPLACE TEMP TABLE flags AS {_flag_select(pending, native, small)}")
            else:
                con.execute("CREATE OR REPLACE TEMP TABLE flags AS SELECT _source_row FROM batch")
            settle(con)
            counts = dict(zip(flags, con.execute(
                f"SELECT {', '.join(f'coalesce(count_if({f}), 0)' for f in flags.values()) or '0'} FROM flags").fetchone(),
                strict=False))
            flag_ms = (time.perf_counter() - started) * 1000
            # a small batch's flag table carries its columns: contract sql rules run their own query there
            own = {r.name for r in pending if small and r.kind == "sql" and "condition" in r.params}
            counted = {name: flag for name, flag in flags.items() if name not in native and name not in own}
            # a rule no row fails has nothing to sample: GX checks those together, by their flags, in one query
            results, outcome.validations["row"] = run_suite(row_rules, "SELECT * FROM flags", batch.rows,
                                                            flags=counted, name="row",
                                                            mostly=1.0 - contract.quarantine_threshold,
                                                            index_column="_source_row",
                                                            together={n: flags[n] for n, c in counts.items() if not c},
                                                            verdicts=flags, sample_columns=small)
            _count_duplicates(con, results, flags, by_name, counts, native)
            _decide_rows(con, contract, batch, settings, row_rules, relation, outcome, results, flags, flag_ms)
        finally:
            con.execute("DROP TABLE IF EXISTS flags")
            con.execute("DROP VIEW IF EXISTS batch")
            settle(con)


def _count_duplicates(con: Any, results: list[RuleResult], flags: dict[str, str], rules: dict[str, Rule],
                      counts: dict[str, int], native: set[str]) -> None:
    """A uniqueness rule counts the later copies it quarantines (重复率), while GX's unique expectation
    counts every row of a duplicated key (shown in Data Docs): the quality history and the message keep the
    gate's count and rows."""
    for r in results:
        if r.kind != "unique" or r.rule not in rules or r.rule not in native or r.error:
            continue
        r.failed = int(counts[r.rule])
        r.success = not r.failed
        r.verdict = "passed" if r.success else "failed"
        r.rows = [row for (row,) in con.execute(
            f"SELECT _source_row FROM flags WHERE {flags[r.rule]} ORDER BY _source_row LIMIT 20").fetchall()] \
            if r.failed else []


def _decide_rows(con: Any, contract: Contract, batch: LandedBatch, settings: Settings, row_rules: list[Rule],
                 relation: str, outcome: GateOutcome, results: list[RuleResult], flags: dict[str, str],
                 flag_ms: float) -> None:
    """Row rule verdicts → quarantine file, threshold decision, accepted file."""
    for r in results:
        r.duration_ms = round(r.duration_ms + flag_ms, 1)
        r.threshold = contract.quarantine_threshold if r.level == "row" else None
    outcome.results += results
    broken = [r for r in results if r.level == "row" and not r.success]
    warned = [r for r in results if r.level == "warn" and not r.success and not r.error]
    for r in warned:
        r.verdict = "warned"
    errored = [r for r in results if r.error]
    if errored:  # a rule that could not be evaluated proves nothing: block rather than guess
        outcome.status, outcome.reason = BatchStatus.BLOCKED, _describe(errored, batch.rows)
        return
    quarantine_flags = [flags[r.rule] for r in broken]
    any_bad = " OR ".join(quarantine_flags) or "false"
    outcome.rows_quarantined = con.execute(f"SELECT count(*) FROM flags WHERE {any_bad}").fetchone()[0]
    if outcome.rows_quarantined:
        _write_quarantine(con, contract, batch, settings, outcome, broken, flags, any_bad, row_rules)
    share = outcome.rows_quarantined / batch.rows if batch.rows else 0.0
    notes = f"; advisory: {_describe(warned, batch.rows)}" if warned else ""
    if share > contract.quarantine_threshold:
        for r in broken:
            r.verdict = "failed"
        outcome.status = BatchStatus.BLOCKED
        outcome.reason = (
            f"{outcome.rows_quarantined} of {batch.rows} rows ({share:.1%}) failed row rules, above the "
            f"contract threshold {contract.quarantine_threshold:.1%}: {_describe(broken, batch.rows)}{notes}"
        )
        return
    for r in broken:
        r.verdict = "quarantined"
    _write_accepted(con, contract, batch, settings, outcome, relation, any_bad)
    if broken:
        outcome.reason = (f"{outcome.rows_quarantined} of {batch.rows} row(s) quarantined: "
                          f"{_describe(broken, batch.rows)}{notes}")
    elif warned:
        outcome.reason = notes.removeprefix("; ")


def _write_quarantine(con: Any, contract: Contract, batch: LandedBatch, settings: Settings,
                      outcome: GateOutcome, broken: list[RuleResult], flags: dict[str, str], any_bad: str,
                      row_rules: list[Rule]) -> None:
    by_rule = {r.name: r for r in row_rules}
    ordered = sorted(broken, key=lambda r: r.rule)
    names = ", ".join(f"CASE WHEN f.{flags[r.rule]} THEN {lit(r.rule)} END" for r in ordered)
    reasons = ", ".join(f"CASE WHEN f.{flags[r.rule]} THEN {by_rule[r.rule].reason_sql('b')} END"
                        for r in sorted(ordered, key=lambda r: by_rule[r.rule].description))
    outcome.quarantine_path = (
        batch_dir(settings, "quarantine", contract, batch.load_date, batch.load_id) / "part-0.parquet"
    )
    write_parquet_atomic(
        con,
        f"""SELECT b.*, concat_ws(',', {names}) AS _failed_rules, concat_ws('；', {reasons}) AS _failed_reasons
            FROM batch b JOIN (SELECT * FROM flags WHERE {any_bad}) f
            USING (_source_row) ORDER BY _source_row""",
        outcome.quarantine_path,
    )


def _write_accepted(con: Any, contract: Contract, batch: LandedBatch, settings: Settings,
                    outcome: GateOutcome, relation: str, any_bad: str = "false") -> None:
    if con is None:
        with session_connection() as own:
            _write_accepted(own, contract, batch, settings, outcome, relation, any_bad)
        return
    outcome.rows_accepted = batch.rows - outcome.rows_quarantined
    outcome.accepted_path = (
        batch_dir(settings, "accepted", contract, batch.load_date, batch.load_id) / "part-0.parquet"
    )
    if any_bad == "false":
        query = f"SELECT * FROM ({relation}) ORDER BY _source_row"
    else:
        query = (f"SELECT b.* FROM batch b JOIN flags f USING (_source_row) "
                 f"WHERE NOT ({any_bad}) ORDER BY _source_row")
    write_parquet_atomic(con, query, outcome.accepted_path)


def _keep_validations(settings: Settings, contract: Contract, batch: LandedBatch, outcome: GateOutcome) -> None:
    """Store the GX validation results of the batch for the Data Docs step (small JSON, no rendering)."""
    if not any(outcome.validations.values()):
        return
    path = validations_path(settings, contract, batch.load_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"dataset": contract.key, "load_id": batch.load_id, "load_date": batch.load_date.isoformat(),
           "validations": {k: v for k, v in outcome.validations.items() if v}}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)


