"""Quality history per batch and rule (GB/T 36344 X = A/B) and the Data Docs page it links to."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityshare.errors import GateBlocked
from cityshare.gate.data_docs import build_data_docs
from cityshare.gate.gx_runner import rules_of
from cityshare.ingest import ingest
from tests.unit.test_gate import DAY, HEADER, _row, _sql, _write


def test_history_rows_carry_rate_threshold_verdict_duration_and_docs_link(settings):
    rows = [_row(i) for i in range(1, 20)] + [_row(20, **{"上报人电话": "123"})]
    rows.append(rows[0])  # duplicate case: counts towards 重复率
    _write(settings, rows)
    result = ingest("cgj/city_cases", DAY)
    assert (result["status"], result["quarantined"]) == ("accepted", 2)

    history = {r[0]: r[1:] for r in _sql(settings, """
        SELECT rule, level, evaluated, failed, x_rate, rate_kind, threshold, verdict, duration_ms, data_docs_url,
               dimension_zh
        FROM meta.quality_history WHERE stage = 'gate' AND load_id = ?""", [result["load_id"]])}
    _level, evaluated, failed, x_rate, kind, threshold, verdict, duration, docs, dim = history["case_id_unique"]
    assert (evaluated, failed, kind, verdict, dim) == (21, 1, "fail", "quarantined", "准确性")
    assert x_rate == pytest.approx(1 / 21)  # 重复率: A counts the duplicates
    assert threshold == pytest.approx(0.1) and duration > 0
    _, evaluated, failed, x_rate, kind, _, verdict, _, _, _ = history["reporter_phone_format"]
    assert (evaluated, failed, kind, verdict) == (21, 1, "pass", "quarantined")
    assert x_rate == pytest.approx(20 / 21)  # 合格率: A counts the conforming rows
    assert history["status_valid"][6] == "passed" and history["status_valid"][3] == 1.0
    assert history["column_present:case_id"][0] == "batch" and history["column_present:case_id"][5] == 0.0
    assert history["shop_uscc_registered"][6] == "skipped"  # no accepted registry batch yet
    assert history["volume_anomaly"][6] == "skipped"  # not enough history yet
    assert history["freshness:reported_at"][6] == "passed" and history["freshness:reported_at"][9] == "时效性"

    docs = {settings.data_dir / r[8] for r in history.values() if r[8]}  # kept relative to the data dir (movable)
    assert len(docs) == 2 and not any(p.exists() for p in docs)  # rendered later, off the hot path
    pages = build_data_docs("cgj/city_cases", result["load_id"], settings)
    assert set(pages) == docs
    row_page = next(p for p in pages if p.name == "row.html").read_text(encoding="utf-8")
    assert "case_id_unique" in row_page or "主键 case_id 不得重复" in row_page
    # the phone pattern is CityShare's own GX expectation, rendered with its description and the bad value
    assert "手机号格式" in row_page and "123" in row_page
    assert (settings.data_dir / "quality" / "data_docs" / "index.html").exists()


def test_blocked_batch_history_says_which_rule_blocked(settings):
    _write(settings, [_row(i)[:-1] for i in range(1, 4)], HEADER[:-1])
    with pytest.raises(GateBlocked, match=r"cgj/city_cases 2026-11-25 batch .*缺少字段 reporter_phone"):
        ingest("cgj/city_cases", DAY)
    failed = _sql(settings, "SELECT rule, verdict FROM meta.quality_history WHERE verdict = 'failed'")
    assert failed == [("column_present:reporter_phone", "failed")]


def test_data_docs_name_every_rule_by_its_contract_name_with_sample_bad_values(settings):
    """Issue #23: a governance officer finds each rule of the contract in Data Docs by its name (契约规则名), and
    under a failing rule its sample bad values and their source rows — for GX's column expectations: the phone
    pattern and the GB/T 2260 code-list check (CityShare's code-list expectation)."""
    import json

    rows = [_row(i) for i in range(1, 30)] + [_row(30, **{"上报人电话": "123"})]
    rows[4] = _row(5, **{"区县代码": "500199"})
    _write(settings, rows)
    result = ingest("cgj/city_cases", DAY)
    assert (result["status"], result["quarantined"]) == ("accepted", 2)
    pages = {p.stem: p.read_text(encoding="utf-8") for p in build_data_docs("cgj/city_cases", result["load_id"], settings)}
    stored = settings.data_dir / "quality" / "validations" / "cgj__city_cases" / f"{result['load_id']}.json"
    validations = json.loads(stored.read_text(encoding="utf-8"))["validations"]
    for level in ("batch", "row"):
        names = [n for r in validations[level]["results"] for n in rules_of(r["expectation_config"])]
        assert names and [n for n in names if f"[{n}]" not in pages[level]] == [], level
    assert {"column_present:case_id", "status_valid"} <= {n for level in validations for r in validations[level]["results"]
                                                          for n in rules_of(r["expectation_config"])}
    row = {r["expectation_config"]["meta"].get("rule"): r for r in validations["row"]["results"]}
    area = row["area_code_gbt2260"]
    # CityShare's code-list expectation: the code list by name and file (DuckDB reads its codes in the query)
    kwargs = area["expectation_config"]["kwargs"]
    assert area["expectation_config"]["type"] == "expect_column_values_to_be_in_code_list"
    assert kwargs["code_list"] == "chongqing_areas" and "value_set" not in kwargs
    assert kwargs["flag"].startswith("_f")  # it counts the gate's verdict of the rule (its one DuckDB pass)
    assert all("500108" in Path(f).read_text(encoding="utf-8") for f in kwargs["files"][:1])
    assert (area["result"]["unexpected_count"], area["result"]["partial_unexpected_list"]) == (1, ["500199"])
    assert area["result"]["partial_unexpected_index_list"] == [{"_source_row": 5, "area_code": "500199"}]
    page = pages["row"]
    assert "500199" in page and "123" in page  # the sample values, under their rules
    assert page.index("[area_code_gbt2260]") < page.index("500199")


def test_rules_no_row_fails_are_checked_together_and_each_keeps_its_history_row(settings):
    """GX's cost is per expectation, so rules the gate's DuckDB pass found no failing row for are checked together
    by one expectation counting each rule's flag (issue #24); a failing rule keeps its own expectation with samples
    and source rows. The stored run lists them in the contract's order, every rule by its name, and the quality
    history still has one row per rule with its own counts."""
    import json

    from cityshare.contracts.model import load_contract
    from cityshare.contracts.rules import compile_rules

    rows = [_row(i) for i in range(1, 30)] + [_row(30, **{"上报人电话": "123"})]
    _write(settings, rows)
    result = ingest("cgj/city_cases", DAY)
    assert (result["status"], result["quarantined"]) == ("accepted", 1)
    stored = settings.data_dir / "quality" / "validations" / "cgj__city_cases" / f"{result['load_id']}.json"
    run = json.loads(stored.read_text(encoding="utf-8"))["validations"]["row"]
    contract = load_contract(settings.contracts_dir / "cgj" / "city_cases.odcs.yaml")
    row_rules = [r.name for r in compile_rules(contract) if r.level in ("row", "warn") and r.skip_reason is None]
    assert len(run["results"]) == 2  # the failing rule's own expectation, and one for all the others
    together = next(r for r in run["results"] if "rules" in r["expectation_config"]["meta"])
    (failing,) = [r for r in run["results"] if r is not together]
    assert failing["expectation_config"]["meta"] == {"rule": "reporter_phone_format"}
    assert failing["result"]["partial_unexpected_list"] == ["123"]
    assert failing["result"]["partial_unexpected_counts"] == [{"value": "123", "count": 1}]
    assert failing["result"]["partial_unexpected_index_list"] == [{"_source_row": 30, "reporter_phone": "123"}]
    assert together["expectation_config"]["type"] == "expect_rules_to_find_no_failing_rows" and together["success"]
    clear = [n for n in row_rules if n != "reporter_phone_format"]
    assert together["expectation_config"]["meta"]["rules"] == clear  # in the contract's order
    assert together["result"]["details"]["unexpected_count_by_rule"] == dict.fromkeys(clear, 0)
    assert together["result"]["element_count"] == 30
    # GX's success honours `mostly` (one bad row of 30 is under the quarantine threshold): both expectations pass
    assert run["statistics"] == {"evaluated_expectations": 2, "successful_expectations": 2,
                                 "unsuccessful_expectations": 0, "success_percent": 100.0}
    # batch level: the columns the Parquet has in one expectation, the retyping counts in another
    batch = json.loads(stored.read_text(encoding="utf-8"))["validations"]["batch"]["results"]
    grouped = {r["expectation_config"]["type"]: r["expectation_config"]["meta"]["rules"] for r in batch
               if "rules" in r["expectation_config"]["meta"]}
    assert grouped["expect_table_columns_to_match_set"] == [f"column_present:{p.name}" for p in contract.properties]
    assert grouped["expect_rules_to_find_no_failing_rows"] == [
        r.name for r in compile_rules(contract, ctx=_ctx(settings, contract)) if r.kind == "retyped"] != []
    history = dict(_sql(settings, "SELECT rule, failed FROM meta.quality_history WHERE stage = 'gate' AND level <> 'batch'"
                                  " AND verdict <> 'skipped'"))
    assert history == dict.fromkeys(clear, 0) | {"reporter_phone_format": 1}
    evaluated = _sql(settings, "SELECT DISTINCT evaluated FROM meta.quality_history WHERE rule = ANY(?)", [clear])
    assert evaluated == [(30,)]


def test_a_rule_failing_inside_the_checked_together_expectation_is_named(settings):
    """Were the DuckDB pass and GX to disagree, the expectation checking rules together fails and names the rule."""
    from cityshare.contracts.model import load_contract
    from cityshare.contracts.rules import compile_rules
    from cityshare.gate.gx_runner import run_suite, session_connection

    contract = load_contract(settings.contracts_dir / "cgj" / "city_cases.odcs.yaml")
    rules = [r for r in compile_rules(contract) if r.name in ("status_valid", "reporter_phone_format")]
    with session_connection():
        results, stored = run_suite(rules, "SELECT * FROM (VALUES (1, false, true), (2, false, false)) t(_source_row, a, b)",
                                    2, together={"status_valid": "a", "reporter_phone_format": "b"})
    by_rule = {r.rule: r for r in results}
    assert (by_rule["status_valid"].failed, by_rule["status_valid"].verdict) == (0, "passed")
    assert (by_rule["reporter_phone_format"].failed, by_rule["reporter_phone_format"].verdict) == (1, "failed")
    assert stored is not None and stored["success"] is False


def _ctx(settings, contract):
    """A gate context with every contract column landed (the retyping rules exist for landed columns only)."""
    from cityshare.contracts.rules import GateContext

    return GateContext(DAY, [], {}, [p.name for p in contract.properties], {})


def test_cityshare_column_expectations_count_the_gate_verdict_instead_of_recomputing_it(settings):
    """A failing rule's CityShare column expectation asks three queries of the batch (count, samples, source rows);
    given the gate's flag it reads that verdict, computed once in the DuckDB pass, instead of evaluating the
    check-digit or code-list condition each time (issue #24). Without a flag it evaluates its own condition."""
    from cityshare.contracts.model import load_contract
    from cityshare.contracts.rules import compile_rules
    from cityshare.gate.gx_runner import run_suite, session_connection

    contract = load_contract(settings.contracts_dir / "cgj" / "city_cases.odcs.yaml")
    (rule,) = [r for r in compile_rules(contract) if r.name == "reporter_phone_format"]
    relation = ("SELECT * FROM (VALUES (1, '123', true), (2, '13800000000', false), (3, '13900000000', true))"
                " t(_source_row, reporter_phone, flag)")
    with session_connection():
        (computed,), _ = run_suite([rule], relation, 3, flags={}, index_column="_source_row")
        (read,), stored = run_suite([rule], relation, 3, flags={}, index_column="_source_row",
                                    verdicts={rule.name: "flag"})
    assert (computed.failed, computed.rows) == (1, [1])
    assert (read.failed, read.rows) == (2, [1, 3])  # the flag says row 3 fails too: GX counted the verdict
    assert stored is not None and stored["results"][0]["expectation_config"]["kwargs"]["flag"] == "flag"
