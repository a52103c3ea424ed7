"""No compiled rule may raise on any cell: every contract's rules run over a hostile batch in DuckDB.

A department can send anything in any column: NULL, empty, 10 kB, control characters, emoji,
full-width digits, 15-digit old ID numbers. Each value lands in every column of every contract (raw
columns are text); the row rules' one-pass flag query and every batch rule's query must evaluate
without a DuckDB error. The end-to-end case proves the consequence: one bad cell quarantines one row.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from cityshare.contracts.model import load_contracts
from cityshare.contracts.rules import CASTS, META_COLUMNS, GateContext, compile_rules
from cityshare.gate.run import _flag_select
from cityshare.sqlquote import q
from tests.unit.test_rules import _contract, _gate, _rows

DAY = dt.date(2026, 11, 25)
FUZZ: list[str | None] = [
    None, "", " ", "   \t ", "a" * 10_240, "占" * 10_240, "\x00", "占道\x00经营\x1b[31m\x7f", "\t\r\n", "\r",
    "😀" * 18, "👨‍👩‍👧‍👦", "１２３４５６７８９０１２３４５６７Ｘ", "１３８００１３８０００", "１２３",
    "110105491231002",  # 15-digit ID number (pre-1999)
    "11010519491231002x", "110105 19491231002X", "11010519491331002X", "91350100M000100Y4３",
    "٣٤٥", "\u202e12345", "\ufeff2026-11-25", "e\u0301", "'; DROP TABLE raw.x; --", "\\", "%", "_", "{batch}",
    "NaN", "inf", "-inf", "-0", "1e309", "9" * 40, "-9223372036854775809", "0x1F", "1,000", "12.5.3",
    "2026-02-30", "0000-00-00", "2026-11-25 25:61:61", "9999-12-31 23:59:59", "-infinity", "294247-01-10",
    "true", "null", "=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(1+1)", "-1+1",
]
SOURCES = load_contracts(kind="source")
SHARED = load_contracts(kind="shared")


def _fuzz_table(con: duckdb.DuckDBPyConnection, names: list[str], types: dict[str, str]) -> None:
    """Table ``batch``: row r holds FUZZ[(r + j) % n] in column j, so every value meets every column.

    ``types`` casts a column (with TRY_CAST, as a published table holds typed values); raw columns stay text.
    """
    n = len(FUZZ)
    con.execute("CREATE TABLE fuzz AS SELECT unnest(?) AS v, generate_subscripts(?, 1) AS i", [FUZZ, FUZZ])
    cols = []
    for j, name in enumerate(names):
        value = f"(SELECT v FROM fuzz WHERE i = ((r + {j}) % {n}) + 1)"
        cols.append(f"try_cast({value} AS {types[name]}) AS {q(name)}" if name in types else f"{value} AS {q(name)}")
    meta = ("'fuzz' AS _load_id, TIMESTAMP '2026-11-25 08:00:00' AS _loaded_at, 'fuzz' AS _source, "
            "r + 1 AS _source_row, 'h' || r AS _row_hash, DATE '2026-11-25' AS _load_date")
    con.execute(f"CREATE TABLE batch AS SELECT {', '.join(cols)}, {meta} FROM range({n}) t(r)")


def _evaluate(contract, types: dict[str, str]) -> int:
    names = [p.name for p in contract.properties]
    rules = compile_rules(contract, ctx=GateContext(DAY, columns=[*names, *META_COLUMNS]))
    con = duckdb.connect()
    _fuzz_table(con, names, types)
    row = [r for r in rules if r.level != "batch" and r.skip_reason is None and r.kind != "extra_columns"
           and (r.predicate is not None or r.bad_rows_sql)]
    flagged = con.execute(f"SELECT count(*) FROM ({_flag_select(row)}) WHERE "
                          f"{' OR '.join(f'_f{i}' for i in range(len(row))) or 'false'}").fetchone()[0]
    for rule in rules:
        if rule.level == "batch" and rule.bad_rows_sql and rule.skip_reason is None:
            con.execute(f"SELECT count(*) FROM ({rule.bad_rows_sql.format(batch='batch')})").fetchone()
    return flagged


@pytest.mark.parametrize("contract", SOURCES, ids=lambda c: c.key)
def test_source_rules_evaluate_on_hostile_text_without_error(contract):
    flagged = _evaluate(contract, {})
    assert flagged >= 1  # the hostile values are caught by the rules, not by an exception


@pytest.mark.parametrize("contract", SHARED, ids=lambda c: c.key)
def test_published_rules_evaluate_on_hostile_values_without_error(contract):
    types = {p.name: CASTS.get(p.logical_type, "BOOLEAN" if p.logical_type == "boolean" else "VARCHAR")
             for p in contract.properties}
    _evaluate(contract, {k: v for k, v in types.items() if v != "VARCHAR"})


@pytest.mark.parametrize("value", ["１２３４５６７８９０１２３４５６７Ｘ", "110105491231002", "abc", "", "😀" * 18,
                                   "110105 19491231002X", "\x00" * 18, "1" * 10_240])
def test_one_malformed_id_number_quarantines_one_row_and_keeps_the_load(settings, tmp_path, value):
    check = {"type": "library", "metric": "invalidValues", "name": "person_check", "arguments": {"checkDigit": "id_number"}}
    contract = _contract(tmp_path, {"person": {"quality": [check]}})
    outcome, results = _gate(settings, contract, _rows(**{"4": {"person": value}}))
    assert (outcome.status, outcome.rows_accepted, outcome.rows_quarantined) == ("accepted", 9, 1), outcome.reason
    assert results["person_check"].verdict == "quarantined" and results["person_check"].error is None


def test_contract_sql_rule_with_a_bare_cast_is_refused(tmp_path):
    from cityshare.contracts.model import ContractError

    bare = {"type": "sql", "name": "x", "mustBe": 0,
            "query": "SELECT COUNT(*) FROM ${table} WHERE CAST(closed AS TIMESTAMP) < now()"}
    contract = _contract(tmp_path, {"closed": {"quality": [bare]}})
    with pytest.raises(ContractError, match=r"quality\[0\]\.query: use try_cast"):
        compile_rules(contract)
    colons = {"type": "sql", "name": "y", "mustBe": 0,
              "query": "SELECT COUNT(*) FROM ${table} WHERE amount::DOUBLE < 0"}
    with pytest.raises(ContractError, match="use try_cast"):
        compile_rules(_contract(tmp_path, {"amount": {"quality": [colons]}}))


def test_a_bad_range_literal_is_a_contract_error_not_a_load_failure(tmp_path):
    from cityshare.contracts.model import ContractError

    bad = {"type": "library", "metric": "invalidValues", "name": "d", "arguments": {"minimum": "2020-13-01"}}
    with pytest.raises(ContractError, match="range bound '2020-13-01' is not an ISO date"):
        compile_rules(_contract(tmp_path, {"day": {"quality": [bad]}}))


def test_unknown_cast_target_is_a_contract_error(tmp_path):
    from cityshare.contracts.model import ContractError

    bad = {"type": "library", "metric": "invalidValues", "name": "d", "arguments": {"castTo": "DATE); DROP TABLE x; --"}}
    with pytest.raises(ContractError, match="castTo must be one of"):
        compile_rules(_contract(tmp_path, {"day": {"quality": [bad]}}))
