"""One identifier truth: the gate's SQL and the Python functions agree, and both agree with python-stdnum.

Property-based (hypothesis) over valid, near-valid (one character changed, dropped, doubled, swapped,
impossible dates, wrong authority codes, letters in the region code, lower case, full-width digits)
and garbage strings. The default run draws 1,000 examples per identifier kind; ``-m slow`` draws
10,000. The SQL is evaluated by DuckDB on one connection, the way the gate evaluates it.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc
from stdnum.util import isdigits

from cityshare.identifiers import (
    USCC_ALPHABET,
    USCC_PREFIXES,
    complete_uscc,
    id_check_digit,
    id_number_sql,
    is_valid_id_number,
    is_valid_mobile,
    is_valid_uscc,
    mobile_sql,
    org_code_check_char,
    uscc_check_char,
    uscc_sql,
)

TODAY = dt.date.today()
DIGITS = "0123456789"
NOISE = DIGITS + "X x０１９Ｘ-\u3000\n\x00😀" + "IOZSV" + "ABMN"
_QUERY = {"id": id_number_sql("v"), "uscc": uscc_sql("v"), "mobile": mobile_sql("v")}


def sql(kind: str, values: list[str | None]) -> list[bool]:
    """The gate's SQL verdicts for ``values``, in one DuckDB query (as the gate evaluates a batch)."""
    rows = duckdb.connect().execute(f"SELECT i, {_QUERY[kind]} FROM (SELECT unnest(?) AS v, "
                                    "generate_subscripts(?, 1) AS i) ORDER BY i", [values, values]).fetchall()
    return [ok for _, ok in rows]


# -- strategies ------------------------------------------------------------------------------------------------
def _mutate(data: st.DataObject, s: str, alphabet: str) -> str:
    """One typo: change, drop, double or swap a character, or cut/extend the string."""
    i = data.draw(st.integers(0, len(s) - 1))
    how = data.draw(st.sampled_from(["change", "drop", "double", "swap", "cut", "extend", "lower", "fullwidth"]))
    if how == "change":
        return s[:i] + data.draw(st.sampled_from(alphabet + NOISE)) + s[i + 1:]
    if how == "drop":
        return s[:i] + s[i + 1:]
    if how == "double":
        return s[:i] + s[i] + s[i:]
    if how == "swap" and i < len(s) - 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if how == "cut":
        return s[:i]
    if how == "lower":
        return s.lower()
    if how == "fullwidth":
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in s)
    return s + data.draw(st.sampled_from(alphabet))


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "500108", "500228", "652901", "010101", "000000", "999999"]))
    kind = draw(st.sampled_from(["valid", "valid", "date", "near", "garbage", "old15"]))
    born = draw(st.dates(dt.date(1900, 1, 1), TODAY))
    body = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    if kind == "date":  # impossible or out-of-range birth dates, with a matching check digit
        y, m, d = draw(st.sampled_from([(1800, 1, 1), (1899, 12, 31), (2099, 1, 1), (TODAY.year + 1, 1, 1),
                                         (2023, 2, 29), (1949, 13, 1), (1949, 2, 30), (1949, 4, 31), (1949, 0, 10)]))
        body = f"{region}{y:04d}{m:02d}{d:02d}{draw(st.integers(0, 999)):03d}"
    if kind == "old15":
        return f"{region}{born:%y%m%d}{draw(st.integers(0, 999)):03d}"
    if kind == "garbage":
        return draw(st.one_of(st.text(max_size=24), st.text(alphabet=NOISE, min_size=17, max_size=19)))
    full = body + id_check_digit(body)
    return _mutate(draw(st.data()), full, DIGITS + "X") if kind == "near" else full


@st.composite
def usccs(draw: st.DrawFn) -> str:
    prefix = draw(st.one_of(st.sampled_from(USCC_PREFIXES), st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2)))
    region = draw(st.sampled_from(["500108", "110000", "350100", "5001A8", "50O108"]))
    body = draw(st.text(alphabet=USCC_ALPHABET, min_size=8, max_size=8))
    kind = draw(st.sampled_from(["valid", "valid", "near", "garbage", "bad_org"]))
    if kind == "garbage":
        return draw(st.one_of(st.text(max_size=24), st.text(alphabet=USCC_ALPHABET + NOISE, min_size=17, max_size=19)))
    first16 = prefix + region + body
    if any(c not in USCC_ALPHABET for c in first16):  # a letter outside the alphabet: check chars by position only
        return first16 + draw(st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2))
    full = complete_uscc(first16)
    if kind == "bad_org":  # right final check character over a wrong organization code check
        first17 = first16 + draw(st.sampled_from([c for c in DIGITS + "X" if c != full[16]]))
        return first17 + uscc_check_char(first17)
    return _mutate(draw(st.data()), full, USCC_ALPHABET) if kind == "near" else full


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    good = draw(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True).filter(str.isascii))
    kind = draw(st.sampled_from(["valid", "near", "garbage"]))
    if kind == "garbage":
        return draw(st.text(max_size=14))
    return _mutate(draw(st.data()), good, DIGITS) if kind == "near" else good


# -- the properties ------------------------------------------------------------------------------------------
def _stdnum_ric_structure(s: str) -> bool:
    """stdnum's own checks of a RIC number except the birth-place table: length, digits, checksum, real date."""
    if len(s) != 18 or not isdigits(s[:-1]) or ric.calc_check_digit(s) != s[-1]:
        return False
    try:
        born = ric.get_birth_date(s)
    except Exception:
        return False
    return dt.date(1900, 1, 1) <= born <= TODAY


def check_id(s: str) -> None:
    py = is_valid_id_number(s)
    if s.isascii() and s.isalnum() and ric.compact(s) == s:  # stdnum normalises case/separators: compare as-is only
        assert py == (_stdnum_ric_structure(s) and s[0] != "0"), s
        if ric.is_valid(s) and dt.date(1900, 1, 1) <= ric.get_birth_date(s) <= TODAY:
            assert py, s


def check_uscc(s: str) -> None:
    py = is_valid_uscc(s)
    if s.isascii() and s.isalnum() and uscc.compact(s) == s and s[:2].isdigit():  # stdnum wants a numeric prefix
        org_ok = len(s) == 18 and all(c in USCC_ALPHABET for c in s[8:16]) and org_code_check_char(s[8:16]) == s[16]
        assert py == (uscc.is_valid(s) and s[:2] in USCC_PREFIXES and org_ok), s


def check_mobile(s: str) -> None:
    is_valid_mobile(s)  # no oracle in stdnum for mobile numbers: SQL == Python only


CHECKS = {"id": (id_numbers(), check_id, is_valid_id_number), "uscc": (usccs(), check_uscc, is_valid_uscc),
          "mobile": (mobiles(), check_mobile, is_valid_mobile)}


def _run(kind: str, examples: int) -> None:
    """Python vs stdnum per example (hypothesis shrinks a failure); then SQL vs Python on all examples at once."""
    strategy, check, python = CHECKS[kind]
    drawn: list[str] = []

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(strategy)
    def prop(s: str) -> None:
        check(s)
        drawn.append(s)

    prop()
    verdicts = sql(kind, drawn)
    disagree = [s for s, ok in zip(drawn, verdicts, strict=True) if ok != python(s)]
    assert not disagree, f"{kind}: SQL and Python disagree on {disagree[:10]!r}"
    assert len(drawn) >= examples and len(set(drawn)) >= examples * 0.5, "hypothesis drew too few distinct strings"
    assert any(verdicts) and not all(verdicts), f"{kind}: the examples must include valid and invalid strings"


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_sql_and_python_agree_with_each_other_and_with_stdnum(kind):
    _run(kind, 1_000)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_sql_and_python_agree_10k(kind):
    _run(kind, 10_000)


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_sql_is_false_not_null_and_never_raises(kind):
    hostile = [None, "", "\x00" * 18, "😀" * 18, "１" * 18, "a" * 10_240, "11010519491231002X\n"]
    assert sql(kind, hostile) == [False] * len(hostile)
