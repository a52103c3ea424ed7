"""Regenerate the bad-input corpus files (run once; the files and cases.yml are committed).

``python tests/corpus/make_corpus.py`` writes ``tests/corpus/files/``. Each file is small except the
1 MB cell case. The manifest ``cases.yml`` is hand-written and names each file's expected outcome.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

HERE = Path(__file__).parent / "files"
HEADER = ["案件编号", "事件小类代码", "事件小类名称", "区县代码", "街道代码", "事发地址", "问题描述",
          "涉事商户统一社会信用代码", "上报时间", "结案时间", "案件状态", "上报渠道", "上报人电话"]


def row(i: int, **changes: str) -> list[str]:
    r = {"案件编号": f"CG20261125{i:06d}", "事件小类代码": "0502", "事件小类名称": "店外经营", "区县代码": "500108",
         "街道代码": "500108003", "事发地址": "南岸区南坪街道南坪西路1号", "问题描述": "占道经营",
         "涉事商户统一社会信用代码": "", "上报时间": "2026-11-25 09:00:00", "结案时间": "2026-11-25 10:30:00",
         "案件状态": "结案", "上报渠道": "信息采集员", "上报人电话": f"138{i:08d}"}
    r.update(changes)
    return [r[h] for h in HEADER]


def text(rows: list[list[str]], header: list[str] = HEADER, lineterminator: str = "\n") -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=lineterminator)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def good(n: int = 30, start: int = 1) -> list[list[str]]:
    return [row(i) for i in range(start, start + n)]


def put(name: str, data: str | bytes, encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(data if isinstance(data, bytes) else data.encode(encoding))


def one_bad(i: int = 7, **changes: str) -> list[list[str]]:
    rows = good()
    rows[i - 1] = row(i, **changes)
    return rows


REPORT_HEADER = ["线索编号", "线索来源", "区县代码", "街道代码", "违建地址", "违建面积", "结构类型", "发现日期",
                 "规划许可证号", "处置状态", "经度", "纬度"]


def report(i: int, **changes: str) -> list[str]:
    """A 规划自然资源局 illegal-construction report (its contract says ``encoding: auto``; GBK exports)."""
    r = dict(zip(REPORT_HEADER, [f"WJ20261125{i:04d}", "群众举报", "500108", "500108003", "南岸区南坪街道南坪西路1号",
                                 "35.5", "彩钢瓦", "2026-11-25", "", "核查中", "106.570000", "29.530000"], strict=True))
    r.update(changes)
    return [r[h] for h in REPORT_HEADER]


def reading(i: int, **changes: object) -> str:
    """One 住建委 bridge sensor record as a JSON line (nested, as the gateway writes it)."""
    rec: dict = {"sensor": {"id": f"S{i}", "type": "应变", "unit": "με"},
                 "bridge": {"id": "QL500108001", "name": "东水门长江大桥"},
                 "ts": f"2026-11-25 {i % 24:02d}:00:00", "value": 120.5, "alarm": False}
    rec.update(changes)
    return json.dumps(rec, ensure_ascii=False)


def feed(n: int = 10) -> list[str]:
    return [reading(i) for i in range(1, n + 1)]


def registry(n: int = 20, **bad: dict[str, str]) -> dict:
    """A 市场监管局 registry API page; ``bad`` maps record index → changed fields."""
    from cityshare.identifiers import complete_uscc, id_check_digit

    recs = []
    for i in range(n):
        uscc16 = f"91500108MA{i:06d}"
        id17 = f"50010819800101{i:03d}"
        rec = {"uscc": complete_uscc(uscc16), "entity_name": f"重庆市南岸区测试商贸有限公司{i}",
               "entity_type": "有限责任公司", "industry": "批发和零售业", "legal_person_name": "张三",
               "legal_person_id": id17 + id_check_digit(id17), "area_code": "500108",
               "street_code": "500108003", "address": "南岸区南坪街道", "registered_on": "2015-03-01",
               "status": "存续", "updated_at": "2026-11-25 08:00:00"}
        rec.update(bad.get(str(i), {}))
        recs.append(rec)
    return {"data": recs, "total": n}


def wrong_last(code: str) -> str:
    """The same code with a check character that cannot be right."""
    return code[:-1] + ("1" if code[-1] != "1" else "2")


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    put("good.csv", text(good()))
    put("utf8_bom.csv", "\ufeff" + text(good()))
    put("crlf_line_endings.csv", text(good(), lineterminator="\r\n"))
    put("quoted_newline_in_cell.csv", text(one_bad(问题描述="第一行\n第二行，含逗号,和\"引号\"")))
    put("gbk_encoded.csv", text(good()), "gb18030")
    mixed = text(good()).encode() + ",".join(row(31, 问题描述="店外经营占道")).encode("gb18030") + b"\n"
    put("mixed_utf8_gbk_rows.csv", mixed)
    put("utf16_with_bom.csv", text(good()), "utf-16")
    put("zero_bytes.csv", b"")
    put("header_only.csv", text([]))
    full = text(good()).encode()
    put("truncated_mid_row.csv", full[: full.rfind(b"\n", 0, len(full) - 1) + 40])
    put("truncated_open_quote.csv", text(good(5)) + '"CG20261125000099,0502,"店外经营')
    put("binary_garbage.csv", bytes(range(256)) * 8)
    put("xlsx_renamed_as_csv.csv", b"PK\x03\x04\x14\x00\x06\x00" + bytes(200))
    put("duplicated_header.csv", text([[*r, "x"] for r in good()], header=[*HEADER, "案件编号"]))
    put("renamed_column.csv", text(good(), header=[*HEADER[:-1], "联系电话"]))
    put("missing_column.csv", text([r[:-1] for r in good()], header=HEADER[:-1]))
    put("extra_column.csv", text([[*r, "备注"] for r in good()], header=[*HEADER, "备注"]))
    put("semicolon_delimited.csv", text(good()).replace(",", ";"))
    put("retyped_timestamp_column.csv", text([row(i, 上报时间=f"第{i}天上午") for i in range(1, 31)]))
    rows = good()
    rows.append(row(3))
    put("duplicate_key.csv", text(rows))
    put("null_required_case_id.csv", text(one_bad(案件编号="")))
    put("null_required_street.csv", text(one_bad(街道代码="")))
    put("invalid_date_feb30.csv", text(one_bad(上报时间="2026-02-30 09:00:00", 结案时间="")))
    put("future_timestamp.csv", text(one_bad(上报时间="2027-06-01 09:00:00", 结案时间="")))
    put("too_old_timestamp.csv", text(one_bad(上报时间="1999-12-31 09:00:00", 结案时间="")))
    put("closed_before_reported.csv", text(one_bad(结案时间="2026-11-24 08:00:00")))
    put("invalid_area_code_gbt2260.csv", text(one_bad(区县代码="500199")))
    put("invalid_street_code.csv", text(one_bad(街道代码="500108999")))
    put("invalid_status_value.csv", text(one_bad(案件状态="未知")))
    put("bad_phone_10_digits.csv", text(one_bad(上报人电话="1381234567")))
    put("bad_case_id_format.csv", text(one_bad(案件编号="CG2026-11-25-7")))
    put("one_megabyte_cell.csv", text(one_bad(问题描述="占" * ((1 << 20) // 3 + 1))))
    put("formula_injection_cells.csv", text(one_bad(问题描述="=cmd|' /C calc'!A0", 事发地址="@SUM(1+1)*cmd|' /C calc'!A0")))
    put("sql_injection_in_data.csv", text(one_bad(案件编号="CG'); DROP TABLE raw.cgj__city_cases; --",
                                                  问题描述="' OR '1'='1'; DELETE FROM meta.batches; --")))
    put("path_traversal_in_cell.csv", text(one_bad(事发地址="../../../../etc/passwd", 问题描述="..\\..\\windows\\win.ini")))
    put("all_rows_bad_status.csv", text([row(i, 案件状态="未知") for i in range(1, 31)]))
    put("control_chars_nul_in_cell.csv", text(one_bad(问题描述="占道\x00经营\x1b[31m")))
    for d in range(20, 25):  # five normal days of history for the spike case
        put(f"history_2026-11-{d}.csv", text([row(i, 上报时间=f"2026-11-{d} 09:00:00", 结案时间="")
                                               for i in range(1, 31)]).replace("CG20261125", f"CG202611{d}"))
    put("volume_spike_10x.csv", text(good(300)))
    # 市场监管局 registry API responses (JSON unless said otherwise)
    put("api_good.json", json.dumps(registry(), ensure_ascii=False))
    put("api_html_instead_of_json.html", "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
        "<body><h1>网关错误</h1></body></html>")
    put("api_truncated_json.json", json.dumps(registry(), ensure_ascii=False)[:300])
    put("api_error_envelope.json", json.dumps({"code": 40001, "message": "参数错误"}, ensure_ascii=False))
    put("api_bad_uscc_check_digit.json",
        json.dumps(registry(**{"4": {"uscc": wrong_last(registry()["data"][4]["uscc"])}}), ensure_ascii=False))
    put("api_bad_id_check_digit.json",
        json.dumps(registry(**{"5": {"legal_person_id": wrong_last(registry()["data"][5]["legal_person_id"])}}),
                   ensure_ascii=False))
    put("api_future_registered_on.json",
        json.dumps(registry(**{"6": {"registered_on": "2030-01-01"}}), ensure_ascii=False))
    put("api_sql_injection_values.json",
        json.dumps(registry(**{"7": {"entity_type": "'; DROP TABLE raw.scjgj__business_registry; --"}}),
                   ensure_ascii=False))
    # issue #23: a value that is not of the column's declared type is quarantined by <col>_type
    put("closed_at_not_a_timestamp.csv", text(one_bad(结案时间="昨天下午")))
    put("closed_at_infinity.csv", text(one_bad(结案时间="infinity")))
    put("closed_at_full_width_digits.csv", text(one_bad(结案时间="２０２６-１１-２５ １０:３０:００")))
    # issue #23: formula injection is detected (advisory by default) and escaped on export
    put("formula_injection_hyperlink.csv", text(one_bad(问题描述='=HYPERLINK("http://evil.example/x","点此查看")')))
    put("formula_injection_plus_cmd.csv", text(one_bad(事发地址="+cmd|' /C calc'!A0")))
    put("formula_injection_minus_arith.csv", text(one_bad(事发地址="-2+3+cmd|' /C calc'!A0")))
    # issue #23: hostile identifier cells must quarantine their row, never crash the ID check's SQL
    for name, value in (("api_id_full_width_digits", "５００１０８１９８００１０１００５Ｘ"),
                        ("api_id_old_15_digits", "500108800101005"),
                        ("api_id_stray_space", "500108 19800101005"), ("api_id_emoji", "😀" * 18),
                        ("api_id_control_chars", "\x00\x1b" * 9), ("api_id_10kb", "5" * 10_240)):
        put(f"{name}.json", json.dumps(registry(**{"5": {"legal_person_id": value}}), ensure_ascii=False))
    # issue #23: impossible identifiers whose final check character is right must still be quarantined
    from cityshare.identifiers import id_check_digit, uscc_check_char

    for name, first17 in (("api_id_birth_feb30", "50010819800230005"), ("api_id_birth_2099", "50010820990101005"),
                          ("api_id_birth_1800", "50010818000101005"), ("api_id_region_starts_0", "05010819800101005")):
        put(f"{name}.json", json.dumps(registry(**{"5": {"legal_person_id": first17 + id_check_digit(first17)}}),
                                       ensure_ascii=False))
    for name, first17 in (("api_uscc_letters_in_region", "915A0108MA0000058"),
                          ("api_uscc_unknown_authority", "B1500108MA0000058"),
                          ("api_uscc_bad_org_code_check", "91500108MA0000052")):
        put(f"{name}.json", json.dumps(registry(**{"5": {"uscc": first17 + uscc_check_char(first17)}}), ensure_ascii=False))
    # issue #23: file integrity before parsing — a file cut off in transfer is blocked as file_truncated
    # naming the line, one that does not decode strictly as encoding_invalid naming the byte offset
    body = text(good())
    put("file_truncated_last_field_no_newline.csv", body[:-5])  # "13800000030\n" → "1380000003"
    put("file_truncated_unterminated_quote.csv", text(good(5)) + ",".join(row(6)[:6]) + ',"占道经营，')
    multi = text(one_bad(30, 问题描述="第一行\n第二行"))
    put("file_truncated_inside_quoted_cell.csv", multi[: multi.index("第二行")])  # ends with the cell's own newline
    put("file_truncated_short_last_row_newline.csv", text(good()) + ",".join(row(31)[:5]) + "\n")
    put("short_row_mid_file.csv", text([r if i != 6 else r[:5] for i, r in enumerate(good())]))
    put("long_row_mid_file.csv", text([r if i != 6 else [*r, "多余"] for i, r in enumerate(good())]))
    put("encoding_invalid_utf8_cut_mid_character.csv", body.encode()[: body.encode().rindex("结案".encode()) + 2])
    cell = "Café de la Gare".encode("latin-1")  # one cell pasted from a Windows-1252 system
    latin = text(good()).encode() + ",".join(row(31, 事发地址="@")).encode().replace(b"@", cell) + b"\n"
    put("encoding_invalid_latin1_cell.csv", latin)
    reports = "\n".join(",".join(r) for r in [REPORT_HEADER, *(report(i) for i in range(1, 21))]) + "\n"
    put("gbk_auto_good.csv", reports, "gb18030")
    gbk = reports.encode("gb18030")
    put("gbk_auto_cut_mid_character.csv", gbk[: gbk.rindex("号".encode("gb18030")) + 1])
    put("gbk_auto_mixed_with_utf8_row.csv", gbk + ",".join(report(21, 违建地址="江北区观音桥街道")).encode() + b"\n")
    # issue #23: a missing or renamed column names the contract field and the most similar column that arrived
    def renamed(**names: str) -> list[str]:
        return [names.get(h, h) for h in HEADER]

    put("renamed_freshness_element.csv", text(good(), header=renamed(上报时间="报告时间")))
    put("renamed_column_typo.csv", text(good(), header=renamed(案件编号="案件编码")))
    put("renamed_two_timestamp_columns.csv", text(good(), header=renamed(上报时间="报告时间", 结案时间="办结时间")))
    put("renamed_column_contract_name_typo.csv", text(good(), header=renamed(上报人电话="reporter_phon")))
    # the 住建委 bridge sensor feed (JSON lines)
    lines = feed()
    put("jsonl_good.jsonl", "\n".join(lines) + "\n")
    put("jsonl_last_record_without_newline.jsonl", "\n".join(lines))
    put("jsonl_file_truncated_last_line.jsonl", "\n".join(lines)[:-30])
    put("jsonl_file_truncated_mid_file.jsonl", "\n".join([lines[0], lines[1][:50], *lines[2:]]) + "\n")
    put("jsonl_not_json_line.jsonl", "\n".join([lines[0], "WARN gateway restarted", *lines[1:]]) + "\n")
    put("jsonl_array_line.jsonl", "\n".join([lines[0], "[1, 2, 3]", *lines[1:]]) + "\n")
    gbk_line = reading(11, bridge={"id": "QL500108001", "name": "东水门长江大桥"}).encode("gb18030")
    put("jsonl_encoding_invalid_gbk_record.jsonl", ("\n".join(lines) + "\n").encode() + gbk_line + b"\n")
    # issue #23: the contract's own declaration — logicalTypeOptions bounds and a number that is not finite
    bad_reports = [report(i) if i != 7 else report(7, 违建面积="200000") for i in range(1, 21)]
    put("report_area_above_maximum.csv", "\n".join(",".join(r) for r in [REPORT_HEADER, *bad_reports]) + "\n", "gb18030")
    bad_reports = [report(i) if i != 7 else report(7, 违建面积="inf") for i in range(1, 21)]
    put("report_area_not_finite.csv", "\n".join(",".join(r) for r in [REPORT_HEADER, *bad_reports]) + "\n", "gb18030")
    put("api_registered_before_minimum.json",
        json.dumps(registry(**{"5": {"registered_on": "1900-01-01"}}), ensure_ascii=False))
    put("jsonl_value_above_maximum.jsonl", "\n".join([*lines[:6], reading(7, value=5000), *lines[7:]]) + "\n")
    put("evil.odcs.yaml", "apiVersion: v3.1.0\nkind: DataContract\nid: urn:evil\nname: evil\nversion: 1.0.0\n"
        "status: active\nservers: [{server: x, type: local, format: csv, path: /etc/passwd}]\n")


if __name__ == "__main__":
    main()
