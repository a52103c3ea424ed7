"""File connectors on real files: CSV (encodings, delimiters, truncation), Excel (title row, merged
cells, several sheets), JSONL feeds (nested fields, late rows, truncation), landed and gated for real."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from cityshare.contracts.model import get_contract
from cityshare.errors import FileRejected, GateBlocked, NoDelivery, SourceError
from cityshare.ingest import ingest
from cityshare.settings import get_settings
from cityshare.sources import extract

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 25)
HEADERS = ["线索编号", "线索来源", "区县代码", "街道代码", "违建地址", "违建面积", "结构类型", "发现日期", "规划许可证号",
           "处置状态",
           "经度", "纬度"]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A private copy of the project's contracts, catalog and seeds, with its own data folder."""
    home = tmp_path / "home"
    for part in ("contracts", "catalog", "dbt_project/seeds"):
        shutil.copytree(ROOT / part, home / part)
    monkeypatch.setenv("CITYSHARE_HOME", str(home))
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(tmp_path / "data"))
    return get_settings()


def _report(i: int, **changes: str) -> list[str]:
    row = dict(zip(HEADERS, [f"WJ20261125{i:04d}", "群众举报", "500108", "500108003", "南岸区南坪街道南坪西路1号", "35.5",
                             "彩钢瓦",
                             "2026-11-25", "", "核查中", "106.570000", "29.530000"], strict=True))
    row.update(changes)
    return [row[h] for h in HEADERS]


def _write_csv(settings, rows, encoding="gb18030", header=HEADERS, tail=b"") -> Path:
    path = settings.inbox_dir / "ghzrj" / "illegal_construction_reports" / f"illegal_construction_reports_{DAY}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    path.write_bytes(text.encode(encoding) + tail)
    return path


def _visible_batches(settings, dataset: str) -> list[Path]:
    root = settings.lake_dir / "raw" / dataset
    return sorted(p for p in root.glob("load_date=*/*") if p.is_dir()) if root.exists() else []


def test_gbk_csv_is_detected_and_lands_with_contract_names(project):
    _write_csv(project, [_report(i) for i in range(1, 21)] + [_report(21, **{"违建面积": "-3"})])
    result = ingest("ghzrj/illegal_construction_reports", DAY)
    assert (result["status"], result["rows"], result["accepted"], result["quarantined"]) == ("accepted", 21, 20, 1)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    rows = con.execute("SELECT report_id, source, address FROM raw.ghzrj__illegal_construction_reports "
                       "ORDER BY 1 LIMIT 1").fetchall()
    con.close()
    assert rows == [("WJ202611250001", "群众举报", "南岸区南坪街道南坪西路1号")]  # Chinese text decoded from GBK


def test_gbk_file_under_a_utf8_contract_fails_naming_file_and_encoding(project):
    path = _write_csv(project, [_report(1)])
    contract = get_contract("ghzrj/illegal_construction_reports")
    contract.raw["servers"][0]["customProperties"] = [{"property": "encoding", "value": "UTF-8"}]
    with pytest.raises(FileRejected) as err:
        extract(contract, DAY, project)
    assert err.value.rule == "encoding_invalid" and str(path) in str(err.value) and "GBK" in str(err.value)
    assert "line 1, byte offset 0" in str(err.value)
    assert _visible_batches(project, "ghzrj/illegal_construction_reports") == []


def _blocked(settings, dataset: str) -> tuple:
    """The batch record and the failed rules of the quality history, as a governance officer reads them."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        batch = con.execute("SELECT status, rows_landed, reason FROM meta.batches WHERE dataset = ?", [dataset]).fetchone()
        rules = con.execute("SELECT rule, verdict FROM meta.quality_history WHERE dataset = ? AND verdict = 'failed'",
                            [dataset]).fetchall()
    finally:
        con.close()
    return batch, rules


def test_truncated_csv_is_blocked_naming_the_line_and_leaves_no_batch(project):
    path = _write_csv(project, [_report(i) for i in range(1, 5)], tail="WJ202611250099,群众举报,5001".encode("gb18030"))
    with pytest.raises(GateBlocked) as err:
        ingest("ghzrj/illegal_construction_reports", DAY)
    assert f"{path}: line 6: the last row has 3 of 12 fields [file_truncated]" in str(err.value)
    assert err.value.exit_code == 1
    assert _visible_batches(project, "ghzrj/illegal_construction_reports") == []
    staged = list((project.lake_dir / "raw").rglob("*.parquet")) + list((project.lake_dir / "raw").rglob(".tmp-*"))
    assert staged == []
    batch, rules = _blocked(project, "ghzrj/illegal_construction_reports")
    assert batch[:2] == ("blocked", 0) and "file_truncated" in batch[2]
    assert rules == [("file_truncated", "failed")]


def test_csv_cut_inside_its_last_field_is_blocked(project):
    """Every field present, the last one short: only the missing line break tells (issue #23)."""
    path = _write_csv(project, [_report(i) for i in range(1, 4)])
    path.write_bytes(path.read_bytes()[:-4])  # "29.530000\n" → "29.530"
    with pytest.raises(GateBlocked, match=r"line 4: the last row has no line break.*\[file_truncated\]"):
        ingest("ghzrj/illegal_construction_reports", DAY)
    assert _visible_batches(project, "ghzrj/illegal_construction_reports") == []


def test_gbk_file_cut_mid_character_is_blocked_not_mojibake(project):
    """An `encoding: auto` contract: the cut GBK file is neither UTF-8 nor GB18030 — no exotic codec guessed."""
    path = _write_csv(project, [_report(i) for i in range(1, 4)] + [_report(4, **{"违建地址": "南岸区南坪街道"})])
    body = path.read_bytes()
    cut = body.rindex("道".encode("gb18030")) + 1
    path.write_bytes(body[:cut])
    with pytest.raises(GateBlocked) as err:
        ingest("ghzrj/illegal_construction_reports", DAY)
    message = str(err.value)
    assert f"{path}: line 5, byte offset {cut - 1}: neither UTF-8" in message
    assert "the file ends inside a character" in message and message.endswith("[encoding_invalid]")
    assert _blocked(project, "ghzrj/illegal_construction_reports")[1] == [("encoding_invalid", "failed")]


def test_a_short_row_inside_the_file_is_bad_input_naming_its_line(project):
    rows = [_report(i) for i in range(1, 6)]
    rows[2] = rows[2][:5]
    path = _write_csv(project, rows)
    with pytest.raises(SourceError) as err:
        ingest("ghzrj/illegal_construction_reports", DAY)
    assert not isinstance(err.value, GateBlocked)
    assert f"{path}: line 4: 5 fields where the header has 12" in str(err.value)


def test_missing_delivery_is_no_delivery(project):
    with pytest.raises(NoDelivery, match="no delivery from ghzrj for 2026-11-25"):
        ingest("ghzrj/illegal_construction_reports", DAY)
    assert not project.warehouse_path.exists() or _blocked(project, "ghzrj/illegal_construction_reports")[0] is None


def test_tab_separated_csv_with_bom(project):
    contract = get_contract("sdqx/installation_applications")
    headers = [p.business_name for p in contract.properties]
    row = ["LHBZ202611250001", "供电", "国网重庆市电力公司", "重庆某某有限公司", "", "500108", "500108003", "南坪西路1号",
           "2026-11-25 09:00:00", "2026-11-25 10:00:00", "", "", "", "", "已受理"]
    path = project.inbox_dir / "sdqx" / "installation_applications" / f"installation_applications_{DAY}.tsv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xef\xbb\xbf" + ("\t".join(headers) + "\n" + "\t".join(row) + "\n").encode("utf-8"))
    batches = list(extract(contract, DAY, project).batches)
    assert batches[0].schema.names == [p.name for p in contract.properties]
    assert batches[0].column("application_id").to_pylist() == ["LHBZ202611250001"]
    assert batches[0].column("surveyed_at").to_pylist() == [None]


def _workbook(path: Path, footer: bool = True) -> None:
    from cityshare.simulate._framework import write_xlsx

    headers = ["故障单号", "路灯编号", "街道代码", "道路名称", "故障类型", "报修时间", "修复时间", "处理状态"]
    sheets = {
        "南岸区": [["LDGZ202611250001", "LD080030001", "500108003", "南坪西路", "灯不亮", "2026-11-25 01:00:00", None, "待修"],
                  ["LDGZ202611250002", "LD080030002", "500108003", "南坪西路", "闪烁", "2026-11-25 02:00:00", None, "维修中"],
                  ["LDGZ202611250003", "LD080030003", "500108003", "响水路", "灯不亮", "2026-11-25 03:00:00",
                   "2026-11-25 09:00:00", "已修复"]],
        "渝中区": [["LDGZ202611250004", "LD030030001", "500103003", "民族路", "线路故障", "2026-11-25 04:00:00", None, "待修"]],
    }
    write_xlsx(path, "城市照明路灯故障报修日报（2026年11月25日）", headers, sheets, merge_column=3,
               footer="填报单位：重庆市城市照明管理中心" if footer else None)


def test_excel_title_row_merged_cells_sheets_and_footer(project):
    contract = get_contract("cgj/street_lamp_faults")
    path = project.inbox_dir / "cgj" / "street_lamp_faults" / f"street_lamp_faults_{DAY}.xlsx"
    _workbook(path)
    import openpyxl

    assert openpyxl.load_workbook(path)["南岸区"].merged_cells.ranges  # really merged, as clerks do
    rows = [r for b in extract(contract, DAY, project).batches for r in b.to_pylist()]
    assert [(r["fault_id"], r["road"], r["district_name"]) for r in rows] == [
        ("LDGZ202611250001", "南坪西路", "南岸区"), ("LDGZ202611250002", "南坪西路", "南岸区"),
        ("LDGZ202611250003", "响水路", "南岸区"), ("LDGZ202611250004", "民族路", "渝中区")]
    assert rows[2]["repaired_at"] == "2026-11-25 09:00:00"
    result = ingest("cgj/street_lamp_faults", DAY)
    assert (result["status"], result["accepted"]) == ("accepted", 4)


def test_truncated_workbook_fails_clearly(project):
    path = project.inbox_dir / "cgj" / "street_lamp_faults" / f"street_lamp_faults_{DAY}.xlsx"
    _workbook(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SourceError) as err:
        ingest("cgj/street_lamp_faults", DAY)
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    assert _visible_batches(project, "cgj/street_lamp_faults") == []


def _reading(sensor: str, ts: str, value: float | None) -> dict:
    return {"sensor": {"id": sensor, "type": "应变", "unit": "με"}, "bridge": {"id": "QL500108001", "name": "东水门长江大桥"},
            "ts": ts, "value": value, "alarm": False}


def test_jsonl_feed_flattens_nested_fields_takes_all_parts_and_judges_lateness(project):
    folder = project.inbox_dir / "zjw" / "bridge_sensor_readings"
    folder.mkdir(parents=True)
    part1 = [_reading("S1", "2026-11-25 10:00:00", 120.5), _reading("S1", "2026-11-24 23:30:00", 118.0)]  # one day late
    part2 = [_reading("S2", "2026-11-25 09:30:00", 1.5), _reading("S2", "2026-11-20 08:00:00", 2.0)]  # five days late
    part2 += [_reading("S3", f"2026-11-25 0{h}:00:00", 3.0) for h in range(6)]
    (folder / f"bridge_sensor_readings_{DAY}_part1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part1))
    (folder / f"bridge_sensor_readings_{DAY}_part2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part2))
    result = ingest("zjw/bridge_sensor_readings", DAY)
    assert (result["rows"], result["accepted"], result["quarantined"]) == (10, 9, 1)
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    got = con.execute("SELECT sensor_id, bridge_name, reading_time, value FROM raw.zjw__bridge_sensor_readings "
                      "ORDER BY _source_row LIMIT 3").fetchall()
    quarantine = f"{project.lake_dir}/quarantine/**/*.parquet"
    quarantined = duckdb.connect().sql(f"SELECT reading_time, _failed_rules FROM read_parquet('{quarantine}')").fetchall()
    con.close()
    assert got == [("S1", "东水门长江大桥", "2026-11-25 10:00:00", "120.5"),
                   ("S1", "东水门长江大桥", "2026-11-24 23:30:00", "118"),
                   ("S2", "东水门长江大桥", "2026-11-25 09:30:00", "1.5")]
    assert quarantined == [("2026-11-20 08:00:00", "reading_time_timely")]


def test_jsonl_truncated_last_line_is_blocked_and_leaves_no_batch(project):
    folder = project.inbox_dir / "zjw" / "bridge_sensor_readings"
    folder.mkdir(parents=True)
    whole, cut = (json.dumps(_reading("S1", f"2026-11-25 10:{m}:00", 1.0)) for m in ("00", "30"))
    text = whole + "\n" + cut[:40]
    path = folder / f"bridge_sensor_readings_{DAY}.jsonl"
    path.write_text(text)
    with pytest.raises(GateBlocked) as err:
        ingest("zjw/bridge_sensor_readings", DAY)
    assert f"{path}: line 2: partial JSON record (40 characters" in str(err.value)
    assert str(err.value).endswith("[file_truncated]")
    assert _visible_batches(project, "zjw/bridge_sensor_readings") == []
    assert _blocked(project, "zjw/bridge_sensor_readings")[1] == [("file_truncated", "failed")]


def test_jsonl_last_record_whole_without_newline_is_accepted(project):
    folder = project.inbox_dir / "zjw" / "bridge_sensor_readings"
    folder.mkdir(parents=True)
    lines = [json.dumps(_reading("S1", f"2026-11-25 10:{m}:00", 1.0)) for m in ("00", "30")]
    (folder / f"bridge_sensor_readings_{DAY}.jsonl").write_text("\n".join(lines))
    assert ingest("zjw/bridge_sensor_readings", DAY)["accepted"] == 2


def test_rerunning_a_file_window_three_times_leaves_one_batch(project):
    _write_csv(project, [_report(i) for i in range(1, 6)])
    ids = {ingest("ghzrj/illegal_construction_reports", DAY)["load_id"] for _ in range(3)}
    assert len(ids) == 1
    assert len(_visible_batches(project, "ghzrj/illegal_construction_reports")) == 1
    con = duckdb.connect(str(project.warehouse_path), read_only=True)
    assert con.execute("SELECT count(*) FROM meta.batches").fetchone() == (1,)
    assert con.execute("SELECT count(*) FROM raw.ghzrj__illegal_construction_reports").fetchone() == (5,)
    con.close()


def _utf8_cases() -> list[bytes]:
    """Files around every way UTF-8 fails (and a few ways it does not), cut at awkward places."""
    text = "桥梁 S1 μ 😀 \u3000 é\r\n第二行\n\ufeff末行".encode()
    broken = [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80",
              b"\xe4\xb8", b"\xff", b"\xf0\x9f\x98"]
    cases = [b"", b"\n", b"\r", b"\xef\xbb\xbf", b"\xef\xbb\xbf\n", b"\xef", b"\xef\xbb", text, b"\xef\xbb\xbf" + text,
             text + b"\n", text[:-1], text[:5], text * 9]
    for bad in broken:
        cases += [bad, text + bad, bad + text, text[:7] + bad + text[7:], text * 3 + bad]
    return cases


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8, 64])
def test_the_fast_utf8_scan_agrees_with_the_decoder(block, tmp_path, monkeypatch):
    """_scan_utf8 (Arrow validates the bytes) gives exactly what decoding gives, or None — never a file the
    decoder refuses; blocks of a few bytes cut characters every way, a 3-character tail trims long last lines."""
    from cityshare.sources import integrity

    monkeypatch.setattr(integrity, "_BLOCK", block)
    monkeypatch.setattr(integrity, "_TAIL", 3)
    for i, data in enumerate(_utf8_cases()):
        path = tmp_path / f"{i}.jsonl"
        path.write_bytes(data)
        decoded, fast = integrity._scan(path, "utf-8-sig"), integrity._scan_utf8(path)
        if isinstance(decoded, integrity._Stop):
            assert fast is None, data
        else:  # a partial BOM alone: Python's utf-8-sig decoder reads it as empty text, the fast scan leaves it
            assert fast == decoded or (fast is None and data in (b"\xef", b"\xef\xbb")), data
