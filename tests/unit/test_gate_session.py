"""The gate keeps one GX datasource and DuckDB connection per process: batches must not leak into each other.

An Airflow worker or ``make bench`` gates many batches in one process. Each verdict must depend on
its own batch only — not on the batch before it, a rule that failed to run, or whether the batch was
small enough to be read into memory once.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from cityshare.gate import run as gate
from cityshare.gate.gx_runner import rules_of, session_connection
from tests.unit.test_rules import DAY, ROW_CASES, _contract, _gate, _rows


def _temp_objects() -> set[str]:
    with session_connection() as con:
        tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()
    return {r[0] for r in tables + views}


def test_consecutive_batches_of_the_same_load_are_judged_on_their_own_rows(settings, tmp_path):
    contract = _contract(tmp_path, ROW_CASES["kind_valid"][0])
    outcome, results = _gate(settings, contract, _rows(**{"1": {"kind": "Z"}, "4": {"kind": "Q"}}))
    assert (outcome.status, outcome.rows_quarantined, results["kind_valid"].failed) == ("accepted", 2, 2)
    # the same load id and path, new content: nothing of the first batch may be remembered
    outcome, results = _gate(settings, contract, _rows(12))
    assert (outcome.status, outcome.rows, outcome.rows_quarantined) == ("accepted", 12, 0)
    assert results["kind_valid"].verdict == "passed" and results["kind_valid"].failed == 0
    assert pq.read_table(outcome.accepted_path).num_rows == 12 and outcome.quarantine_path is None
    assert _temp_objects() == set()


def test_a_rule_that_cannot_run_blocks_and_the_next_batch_is_unaffected(settings, tmp_path, caplog):
    broken = _contract(tmp_path, table_quality=[{"type": "sql", "name": "no_such_column",
                                                 "mustBe": 0,
                                                 "query": "SELECT COUNT(*) FROM ${table} WHERE colour = 'red'"}])
    with caplog.at_level("DEBUG", logger="cityshare.gate"):
        outcome, results = _gate(settings, broken, _rows())
    assert outcome.status == "blocked" and results["no_such_column"].verdict == "error"
    # one clean line naming rule and column; the driver's text and the SQL only in the debug log
    assert "[no_such_column: batch of" in outcome.reason and "column colour is not in the batch" in outcome.reason
    assert "\n" not in outcome.reason
    assert not any(t in outcome.reason for t in ("SELECT", "Binder", "[SQL", "duckdb", "transaction"))
    assert any("Binder Error" in r.getMessage() and "no_such_column" in r.getMessage() for r in caplog.records)
    assert _temp_objects() == set()

    contract = _contract(tmp_path, ROW_CASES["amount_range"][0])
    outcome, results = _gate(settings, contract, _rows(**{"2": {"amount": "-5"}}))
    assert (outcome.status, outcome.rows_quarantined) == ("accepted", 1)
    assert results["amount_range"].verdict == "quarantined" and not any(r.error for r in results.values())


@pytest.mark.parametrize("materialize_rows", [0, 10_000])
def test_large_and_small_batches_get_the_same_verdicts_and_files(settings, tmp_path, monkeypatch, materialize_rows):
    """Batches above MATERIALIZE_ROWS are scanned from Parquet per query, smaller ones read once; above
    NATIVE_ROWS GX counts the gate's flags instead of running each rule's column expectation."""
    monkeypatch.setattr(gate, "MATERIALIZE_ROWS", materialize_rows)
    monkeypatch.setattr(gate, "NATIVE_ROWS", materialize_rows)
    contract = _contract(tmp_path, ROW_CASES["item_id_part_unique"][0] | ROW_CASES["kind_valid"][0])
    outcome, results = _gate(settings, contract, _rows(20, **{"3": {"item_id": "T0001"}, "5": {"kind": "Z"}}))
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("accepted", 18, 2)
    assert results["item_id_part_unique"].failed == 1 and results["kind_valid"].failed == 1
    quarantined = pq.read_table(outcome.quarantine_path).to_pylist()
    assert [(r["_source_row"], r["_failed_rules"]) for r in quarantined] == [(4, "item_id_part_unique"),
                                                                             (6, "kind_valid")]
    assert pq.read_table(outcome.accepted_path).column("_source_row").to_pylist() == [
        i for i in range(1, 21) if i not in (4, 6)]
    assert [results[r].rows for r in ("item_id_part_unique", "kind_valid")] == [[4], [6]]
    stored = json.loads((settings.data_dir / "quality" / "validations" / "test__things" / "20261125-test.json")
                        .read_text(encoding="utf-8"))
    kinds = {rule: r["expectation_config"]["type"] for r in stored["validations"]["row"]["results"]
             for rule in rules_of(r["expectation_config"])}
    assert kinds["kind_valid"] == "expect_column_values_to_be_in_set"  # cheap native rules stay native
    assert kinds["item_id_part_unique"] == ("expect_compound_columns_to_be_unique" if materialize_rows
                                            else "unexpected_rows_with_samples_expectation")


def test_stored_validation_names_the_batch_file_and_the_run(settings, tmp_path):
    contract = _contract(tmp_path, ROW_CASES["kind_valid"][0])
    _gate(settings, contract, _rows(**{"1": {"kind": "Z"}}))
    stored = settings.data_dir / "quality" / "validations" / "test__things" / "20261125-test.json"
    batch = json.loads(stored.read_text(encoding="utf-8"))["validations"]["batch"]
    assert "part-0.parquet" in batch["meta"]["batch_spec"]["query"] and "load_date=2026-11-25" in \
        batch["meta"]["batch_spec"]["query"]
    assert batch["meta"]["run_id"]["run_time"] and batch["meta"]["validation_time"] and batch["meta"]["validation_id"]
    assert all(r["expectation_config"]["id"] for r in batch["results"])


def test_gate_context_opens_the_warehouse_only_for_rules_that_read_it(settings, tmp_path, monkeypatch):
    from cityshare import warehouse
    from cityshare.lake import LandedBatch

    with warehouse.connect(settings) as con:  # a warehouse exists, with one earlier accepted batch
        con.execute("INSERT INTO meta.batches (dataset, load_id, load_date, rows_landed, status, gated_at) "
                    "VALUES ('test/things', 'old', DATE '2026-11-20', 42, 'accepted', now())")
    opened = []
    real = warehouse.connect
    monkeypatch.setattr(warehouse, "connect", lambda *a, **k: opened.append(k) or real(*a, **k))
    batch = LandedBatch("test/things", DAY, "new", tmp_path / "x.parquet", 1, "test", reused=False)

    plain = _contract(tmp_path)
    ctx = gate.gate_context(plain, batch, settings, columns=["item_id"])
    assert (opened, ctx.history, ctx.columns) == ([], [], ["item_id"])

    volume = _contract(tmp_path, table_quality=[{"type": "custom", "engine": "cityshare", "name": "volume",
                                                 "implementation": {"metric": "volumeAnomaly"}}])
    ctx = gate.gate_context(volume, batch, settings, columns=["item_id"])
    assert opened == [{"read_only": True}] and ctx.history == [42]


def test_consecutive_runs_on_different_tables_see_their_own_columns_and_rows():
    """GX keeps metrics and reflected columns per engine, keyed by a batch id that is the same every run."""
    from cityshare.contracts.rules import Rule
    from cityshare.gate.gx_runner import run_rules

    for cols, bad in ((["a", "b"], 2), (["c", "d"], 3), (["a", "e"], 1), (["f", "g"], 4)):
        rules = [Rule(f"column_present:{c}", "batch", "conformity", c, c, "column_exists") for c in cols]
        rules.append(Rule("big", "row", "accuracy", "big", cols[1], "sql",
                          bad_rows_sql=f"SELECT * FROM {{batch}} WHERE {cols[1]} >= {5 - bad}"))
        relation = "SELECT " + ", ".join(f"range AS {c}" for c in cols) + " FROM range(5)"
        results = {r.rule: r for r in run_rules(rules, relation, 5)}
        assert all(results[f"column_present:{c}"].success for c in cols), cols
        assert (results["big"].failed, results["big"].error) == (bad, None), cols


def test_gates_share_an_engine_while_each_leaves_it_as_it_found_it(monkeypatch):
    """A new engine costs ≈ 20 ms per gate; it is rebuilt only after an error, a leftover temp object, or
    GATES_PER_ENGINE gates (which bounds GX's per-engine metric cache)."""
    from cityshare.gate import gx_runner

    with session_connection() as con:
        first = con
    with session_connection() as con:
        assert con is first
        con.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS x")
        con.execute("DROP TABLE scratch")
    with session_connection() as con:
        assert con is first and _temp_objects() == set()
    with pytest.raises(RuntimeError), session_connection():
        raise RuntimeError("a gate failed")
    with session_connection() as con:
        assert con is not first
        second = con
        con.execute("CREATE TEMP TABLE leftover AS SELECT 1 AS x")
        con.commit()
    with session_connection() as con:
        assert con is not second and _temp_objects() == set()
        third = con
    monkeypatch.setattr(gx_runner, "GATES_PER_ENGINE", 1)
    with session_connection():
        pass
    with session_connection() as con:
        assert con is not third
