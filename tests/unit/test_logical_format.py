"""ODCS ``logicalTypeOptions.format`` (格式) as the gate enforces it (issue #23): the SQL verdict per format on
hostile and near-valid text, against Python's own parsers where there is one; unknown formats are contract errors."""

from __future__ import annotations

import ipaddress
import uuid

import duckdb
import pytest

from cityshare.contracts.model import ContractError
from cityshare.contracts.predicates import format_ok_sql, jdk_date_format
from cityshare.contracts.rules import compile_rules
from tests.unit.test_rules import _contract

HOSTILE = [None, "", " ", "😀", "１.２.３.４", "a" * 10_241, "\x00", "=1+1", "'; DROP TABLE x; --"]


def _verdicts(logical_type: str, fmt: str, values: list[str | None]) -> list[bool]:
    sql = format_ok_sql("v", logical_type, fmt)
    rows = duckdb.connect().execute(f"SELECT i, {sql} FROM (SELECT unnest(?) AS v, generate_subscripts(?, 1) AS i) "
                                    "ORDER BY i", [values, values]).fetchall()
    return [ok for _, ok in rows]


def _python(parse, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


IP_VALUES = ["1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "::", "::1", "1::",
             "fe80::1", "2001:db8::8a2e:370:7334", "2001:0db8:0000:0000:0000:ff00:0042:8329", "::ffff:192.0.2.128",
             "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:1.2.3.4",
             "::1.2.3.4", ":1", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "64:ff9b::192.0.2.33"]


@pytest.mark.parametrize(("fmt", "parse"), [("ipv4", ipaddress.IPv4Address), ("ipv6", ipaddress.IPv6Address)])
def test_ip_formats_agree_with_python_ipaddress(fmt, parse):
    values = IP_VALUES + [v for v in HOSTILE if v is not None]
    assert _verdicts("string", fmt, values) == [_python(parse, v) for v in values]


def test_uuid_email_uri_hostname_byte_on_valid_near_valid_and_hostile_text():
    good_uuid = str(uuid.uuid4())
    cases = {
        "uuid": ([good_uuid, good_uuid.upper()], [good_uuid[:-1], good_uuid.replace("-", ""), good_uuid + "0"]),
        "email": (["zhangsan@cq.gov.cn", "a.b+c@example.com"], ["zhangsan@", "@cq.gov.cn", "a@b", "张三@cq.gov.cn",
                                                                  "a b@cq.gov.cn"]),
        "uri": (["https://data.cq.gov.cn/api?x=1", "urn:cityshare:vocab"], ["data.cq.gov.cn", "://x", "http:// x"]),
        "hostname": (["data.cq.gov.cn", "localhost", "P1"], ["-a.cn", "a_b.cn", "a..b", "a" * 64 + ".cn"]),
        "byte": (["", "YWJj", "YWI=", "YQ=="], ["YWJ", "YQ=", "Y===", "abc!"]),
    }
    for fmt, (good, bad) in cases.items():
        values = good + bad + [v for v in HOSTILE if v not in good]
        assert _verdicts("string", fmt, values) == [v in good for v in values], fmt


@pytest.mark.parametrize(("logical_type", "fmt", "good", "bad"), [
    ("date", "yyyy-MM-dd", ["2026-11-25", "2024-02-29"], ["2026-11-2", "2026-02-30", "20261125", "2026-11-25 ", "inf"]),
    ("date", "yyyyMMdd", ["20261125"], ["2026-11-25", "20261325", "2026112"]),
    ("timestamp", "yyyy-MM-dd HH:mm:ss", ["2026-11-25 09:05:07"], ["2026-11-25T09:05:07", "2026-11-25 24:00:00",
                                                                     "2026-11-25 9:05:07"]),
    ("timestamp", "yyyy-MM-dd'T'HH:mm:ss.SSS", ["2026-11-25T09:05:07.123"], ["2026-11-25T09:05:07", "2026-11-25 09:05:07.123"]),
    ("integer", "i8", ["127", "-128", "0"], ["128", "-129"]),
    ("integer", "u16", ["65535", "0"], ["65536", "-1"]),
    ("number", "f32", ["3.4e38", "-1.5", "0"], ["3.5e38", "1e39"]),
])
def test_date_pattern_and_numeric_width_formats(logical_type, fmt, good, bad):
    values = good + bad + HOSTILE
    assert _verdicts(logical_type, fmt, values) == [v in good for v in values]


def test_jdk_pattern_translation_and_unsupported_fields():
    assert jdk_date_format("yyyy-MM-dd'T'HH:mm")[0] == "%Y-%m-%dT%H:%M"
    with pytest.raises(ValueError, match="'EEE'"):
        jdk_date_format("EEE, dd MMM yyyy")


def test_unknown_or_misplaced_format_is_a_contract_error_and_password_adds_no_rule(tmp_path):
    for changes, message in [({"parent": {"logicalTypeOptions": {"format": "phone"}}}, "string format must be one of"),
                             ({"amount": {"logicalTypeOptions": {"format": "i32"}}}, "number format must be one of"),
                             ({"day": {"logicalTypeOptions": {"format": "yyyy-ww"}}}, "unsupported date-time field"),
                             ({"kind": {"logicalType": "boolean", "logicalTypeOptions": {"format": "x"}}},
                              "no format for boolean")]:
        with pytest.raises(ContractError, match=message):
            compile_rules(_contract(tmp_path, changes))
    rules = {r.name for r in compile_rules(_contract(tmp_path, {"parent": {"logicalTypeOptions": {"format": "password"}}}))}
    assert "parent_format" not in rules
