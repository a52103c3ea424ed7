"""The gate on real GX + DuckDB: bad rows quarantined with their rules, bad batches blocked, CLI codes."""

from __future__ import annotations

import csv
import datetime as dt

import duckdb
import pytest
from typer.testing import CliRunner

from cityshare.cli import app
from cityshare.errors import GateBlocked
from cityshare.ingest import ingest

DAY = dt.date(2026, 11, 25)
HEADER = ["案件编号", "事件小类代码", "事件小类名称", "区县代码", "街道代码", "事发地址", "问题描述",
          "涉事商户统一社会信用代码", "上报时间", "结案时间", "案件状态", "上报渠道", "上报人电话"]


def _row(i: int, **changes: str) -> list[str]:
    row = {"案件编号": f"CG20261125{i:06d}", "事件小类代码": "0502", "事件小类名称": "店外经营", "区县代码": "500108",
           "街道代码": "500108003", "事发地址": "南岸区南坪街道南坪西路1号", "问题描述": "占道经营",
           "涉事商户统一社会信用代码": "", "上报时间": "2026-11-25 09:00:00", "结案时间": "2026-11-25 10:30:00",
           "案件状态": "结案", "上报渠道": "信息采集员", "上报人电话": "13812345678"}
    row.update(changes)
    return [row[h] for h in HEADER]


def _write(settings, rows: list[list[str]], header: list[str] = HEADER) -> None:
    path = settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{DAY}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def _sql(settings, query: str, params=()):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def test_bad_rows_are_quarantined_with_their_rules_and_the_rest_accepted(settings):
    rows = [_row(i) for i in range(1, 31)]
    rows.append(_row(31, **{"上报人电话": "1381234567"}))  # 10 digits
    rows.append(_row(32, **{"街道代码": "500108999", "结案时间": "2026-11-24 09:00:00"}))
    rows.append(rows[0])  # an exact duplicate of the first case
    _write(settings, rows)

    result = ingest("cgj/city_cases", DAY)

    assert (result["status"], result["rows"], result["accepted"], result["quarantined"]) == ("accepted", 33, 30, 3)
    quarantined = duckdb.connect().sql(
        f"SELECT case_id, _source_row, _failed_rules FROM read_parquet('{settings.lake_dir}/quarantine/**/*.parquet') "
        "ORDER BY _source_row"
    ).fetchall()
    assert quarantined == [
        ("CG20261125000031", 31, "reporter_phone_format"),
        ("CG20261125000032", 32, "closed_after_reported,street_code_valid"),
        ("CG20261125000001", 33, "case_id_unique"),
    ]
    assert _sql(settings, "SELECT count(*), count(DISTINCT case_id) FROM raw.cgj__city_cases") == [(30, 30)]
    history = dict(_sql(settings, "SELECT rule, failed FROM meta.quality_results WHERE stage = 'gate' AND NOT success"))
    assert history == {"reporter_phone_format": 1, "street_code_valid": 1, "closed_after_reported": 1, "case_id_unique": 1}
    # where the bad rows are in the delivery: in the one-line reason and in the quality report (源文件行号)
    assert "reporter_phone_format: 1 of 33 rows; 源文件行号 source rows 31]" in result["reason"]
    assert "case_id_unique: 1 of 33 rows; 源文件行号 source rows 33]" in result["reason"]
    from cityshare.quality.loads import failed_rules

    rows = {r["rule"]: r["rows"] for r in failed_rules(settings)[("cgj/city_cases", result["load_id"])]}
    # GX's unique expectation names both rows of the duplicated key; the gate quarantines the later one
    assert rows == {"reporter_phone_format": [31], "street_code_valid": [32], "closed_after_reported": [32],
                    "case_id_unique": [1, 33]}


def test_rerun_of_the_same_file_reuses_the_batch(settings):
    _write(settings, [_row(i) for i in range(1, 6)])
    first = ingest("cgj/city_cases", DAY)
    second = ingest("cgj/city_cases", DAY)
    assert second["load_id"] == first["load_id"] and second["reused"]
    assert _sql(settings, "SELECT count(*) FROM meta.batches") == [(1,)]
    assert _sql(settings, "SELECT count(*) FROM raw.cgj__city_cases") == [(5,)]


def test_a_header_only_delivery_is_blocked_by_its_row_count_rule_with_a_reason(settings):
    """城管 cases are never empty in a day: the contract says so, and the reason names that rule."""
    _write(settings, [])
    with pytest.raises(GateBlocked, match=r"批次不得为空 \[batch_not_empty: batch of 0 rows\]"):
        ingest("cgj/city_cases", DAY)
    assert _sql(settings, "SELECT status, rows_landed FROM meta.batches") == [("blocked", 0)]


def test_missing_column_blocks_the_whole_batch_and_nothing_becomes_visible(settings):
    header = [h for h in HEADER if h != "上报人电话"]
    _write(settings, [_row(i)[:-1] for i in range(1, 6)], header)
    with pytest.raises(GateBlocked, match=r"缺少字段 reporter_phone.*column_present:reporter_phone"):
        ingest("cgj/city_cases", DAY)
    assert _sql(settings, "SELECT status FROM meta.batches") == [("blocked",)]
    assert _sql(settings, "SELECT count(*) FROM raw.cgj__city_cases") == [(0,)]
    assert not (settings.lake_dir / "accepted").exists()


def test_too_many_bad_rows_block_the_batch(settings):
    _write(settings, [_row(i, **{"案件状态": "未知"}) for i in range(1, 6)] + [_row(9)])
    with pytest.raises(GateBlocked, match="above the contract threshold"):
        ingest("cgj/city_cases", DAY)
    assert _sql(settings, "SELECT count(*) FROM raw.cgj__city_cases") == [(0,)]


def test_cli_exit_codes_and_messages(settings):
    runner = CliRunner()
    unknown = runner.invoke(app, ["ingest", "cgj/nope", "--date", str(DAY)])
    assert unknown.exit_code == 2 and "no such contract" in unknown.output and "cgj/city_cases" in unknown.output
    missing = runner.invoke(app, ["ingest", "cgj/city_cases", "--date", str(DAY)])
    assert missing.exit_code == 2 and f"city_cases_{DAY}.csv" in missing.output and "file missing" in missing.output
    bad_date = runner.invoke(app, ["ingest", "cgj/city_cases", "--date", "2026-13-01"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.output
    _write(settings, [_row(i)[:-1] for i in range(1, 6)], HEADER[:-1])
    blocked = runner.invoke(app, ["ingest", "cgj/city_cases", "--date", str(DAY)])
    assert blocked.exit_code == 1 and "column_present:reporter_phone" in blocked.output
    assert "Traceback" not in unknown.output + missing.output + blocked.output


def test_text_longer_than_the_contract_declares_is_quarantined_not_landed(settings):
    """问题描述 is VARCHAR(500) in the city_cases contract: 500 characters land, a 1 MB cell does not."""
    rows = [_row(i) for i in range(1, 30)]
    rows.append(_row(30, **{"问题描述": "占" * 500}))  # 500 characters (1500 bytes) is within the declared length
    rows.append(_row(31, **{"问题描述": "占" * 350_000}))  # ~1 MB
    _write(settings, rows)

    result = ingest("cgj/city_cases", DAY)

    assert (result["status"], result["accepted"], result["quarantined"]) == ("accepted", 30, 1)
    quarantined = duckdb.connect().sql(
        f"SELECT case_id, _failed_rules, _failed_reasons FROM read_parquet('{settings.lake_dir}/quarantine/**/*.parquet')"
    ).fetchall()
    assert quarantined == [("CG20261125000031", "description_max_length",
                            "问题描述（description）长度 350000 个字符，超过契约上限 500 个字符")]
    assert _sql(settings, "SELECT max(length(description)) FROM raw.cgj__city_cases") == [(500,)]
    assert _sql(settings, "SELECT dimension, failed FROM meta.quality_results WHERE rule = 'description_max_length'") == [
        ("conformity", 1)]
