"""The load gate: a landed batch against its contract's GX suite.

Batch-level rules (schema, volume) block the whole batch. Row-level rules move failing rows, with the
names of the rules they broke, to quarantine; the batch is accepted only while the failing share stays
at or under the contract's ``quarantineThreshold``. Only accepted rows are written where dbt reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cityshare.contracts.gx_runner import RuleResult, run_rules
from cityshare.contracts.model import Contract
from cityshare.contracts.rules import compile_rules, lit
from cityshare.lake import LandedBatch, batch_dir, write_parquet_atomic
from cityshare.settings import Settings


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

    @property
    def blocked(self) -> bool:
        return self.status == "blocked"


def _describe(results: list[RuleResult]) -> str:
    return "; ".join(f"{r.description} [{r.rule}: {r.failed}/{r.evaluated}]" for r in results)


def run_gate(contract: Contract, batch: LandedBatch, settings: Settings) -> GateOutcome:
    """Validate a landed batch, write quarantine and accepted files, return the decision."""
    import duckdb

    rules = compile_rules(contract)
    relation = f"SELECT * FROM read_parquet({lit(batch.path)})"
    batch_rules = [r for r in rules if r.level == "batch"]
    results = run_rules(batch_rules, relation, batch.rows)
    failed_batch = [r for r in results if not r.success]
    if failed_batch:
        return GateOutcome(contract.key, batch.load_id, "blocked", _describe(failed_batch), batch.rows,
                           results=results)

    row_rules = [r for r in rules if r.level == "row"]
    row_results = run_rules(row_rules, relation, batch.rows)
    results += row_results
    broken = [r for r in row_results if not r.success]
    errored = [r for r in broken if r.error]
    if errored:  # a rule that could not be evaluated proves nothing: block rather than guess
        reason = "; ".join(f"{r.description} [{r.rule}] could not run: {r.error}" for r in errored)
        return GateOutcome(contract.key, batch.load_id, "blocked", reason, batch.rows, results=results)
    outcome = GateOutcome(contract.key, batch.load_id, "accepted", "", batch.rows, results=results)
    con = duckdb.connect()
    try:
        con.execute(f"CREATE TEMP TABLE batch AS {relation}")
        by_name = {r.name: r for r in row_rules}
        bad_parts = [
            f"SELECT _source_row, {lit(res.rule)} AS rule, {lit(res.description)} AS reason "
            f"FROM ({by_name[res.rule].bad_rows_sql.format(batch='batch')})"
            for res in broken
        ]
        if bad_parts:
            con.execute(f"CREATE TEMP TABLE bad AS {' UNION ALL '.join(bad_parts)}")
        else:
            con.execute("CREATE TEMP TABLE bad (_source_row BIGINT, rule VARCHAR, reason VARCHAR)")
        outcome.rows_quarantined = con.execute("SELECT count(DISTINCT _source_row) FROM bad").fetchone()[0]
        if outcome.rows_quarantined:
            outcome.quarantine_path = (
                batch_dir(settings, "quarantine", contract, batch.load_date, batch.load_id) / "part-0.parquet"
            )
            write_parquet_atomic(
                con,
                """SELECT b.*, r.rules AS _failed_rules, r.reasons AS _failed_reasons
                   FROM batch b JOIN (SELECT _source_row, string_agg(DISTINCT rule, ',' ORDER BY rule) AS rules,
                                             string_agg(DISTINCT reason, '；' ORDER BY reason) AS reasons
                                      FROM bad GROUP BY _source_row) r USING (_source_row)
                   ORDER BY _source_row""",
                outcome.quarantine_path,
            )
        share = outcome.rows_quarantined / batch.rows if batch.rows else 0.0
        if share > contract.quarantine_threshold:
            outcome.status = "blocked"
            outcome.reason = (
                f"{share:.1%} of rows failed row rules, above the contract threshold "
                f"{contract.quarantine_threshold:.1%}: {_describe(broken)}"
            )
            return outcome
        outcome.rows_accepted = batch.rows - outcome.rows_quarantined
        outcome.accepted_path = (
            batch_dir(settings, "accepted", contract, batch.load_date, batch.load_id) / "part-0.parquet"
        )
        write_parquet_atomic(
            con,
            "SELECT * FROM batch WHERE _source_row NOT IN (SELECT _source_row FROM bad) ORDER BY _source_row",
            outcome.accepted_path,
        )
        if broken:
            outcome.reason = f"{outcome.rows_quarantined} row(s) quarantined: {_describe(broken)}"
        return outcome
    finally:
        con.close()
