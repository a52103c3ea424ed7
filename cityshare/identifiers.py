"""The Chinese national identifiers CityShare's contracts validate — in Python and as DuckDB SQL, here only.

Departments key people by the 居民身份证号 (GB 11643-1999), legal entities by the 统一社会信用代码
(GB 32100-2015) and contacts by mainland mobile numbers. The quality gate checks them in SQL (one
DuckDB pass over the batch); the simulator, the directory validator and the tests check them in
Python. Both forms live in this module and a property-based test (tests/unit/test_identifier_truth.py)
proves they agree on valid, near-valid and garbage strings, and agree with python-stdnum.

What "valid" means (stricter than a check character alone, which accepts 1949-13-31 or a USCC with
letters in its region code):

* 居民身份证号: 17 ASCII digits + a digit or upper-case ``X``; the 6-digit region prefix (GB/T 2260)
  does not start with 0; positions 7-14 are a real date from 1900-01-01 up to today; the check
  character (ISO 7064 MOD 11-2). The 15-digit pre-1999 form is not accepted.
* 统一社会信用代码: 18 characters of the 31-character alphabet; positions 1-2 an authority/category
  pair of the standard's table (``USCC_CATEGORIES``); positions 3-8 the 6-digit region code;
  positions 9-17 the 主体标识码 (organization code, GB 11714) with its own check character; the
  check character (MOD 31).
* mobile: 11 ASCII digits ``1[3-9]xxxxxxxxx``.

The SQL forms never raise on any string (no bare casts) and are never NULL: a malformed cell is
``false``, so one bad cell quarantines one row and never stops a load.
"""

from __future__ import annotations

import datetime as dt
import re

from cityshare.sqlquote import lit

# GB 11643-1999: weights W_i = 2^(17-i) mod 11 for positions 1..17; check = table[sum mod 11].
ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_TABLE = "10X98765432"
ID_EARLIEST_BIRTH = dt.date(1900, 1, 1)

# GB 32100-2015: 31 characters (no I, O, Z, S, V, so they cannot be misread as digits).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUES: dict[str, int] = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# 登记管理部门代码 → its 机构类别代码 (GB 32100-2015 table 1, with the departments assigned since:
# 1 机构编制, 2 外交, 3 司法行政, 4 文化, 5 民政, 6 旅游, 7 宗教, 8 工会, 9 工商 (1 企业, 2 个体工商户,
# 3 农民专业合作社), A 中央军委改革和编制办公室, N 农业, Y 其他).
USCC_CATEGORIES: dict[str, str] = {
    "1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129", "7": "129", "8": "19",
    "9": "123", "A": "19", "N": "1239", "Y": "1",
}
USCC_PREFIXES: tuple[str, ...] = tuple(a + c for a, cats in USCC_CATEGORIES.items() for c in cats)
# GB 11714-1997 organization code: 8 characters (digit = its value, letter A-Z = 10-35) + a check character.
ORG_WEIGHTS: tuple[int, ...] = (3, 7, 9, 10, 5, 8, 4, 2)
ORG_CHECK_TABLE = "0123456789X"  # index (11 - sum mod 11) mod 11

_ID = re.compile(r"[1-9][0-9]{16}[0-9X]")  # [0-9], not \d: \d would also accept full-width digits
_USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")


# -- Python ------------------------------------------------------------------------------------------
def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character ("0"-"9" or "X") for the first 17 digits of an ID number.

    Raises ValueError when ``first17`` is not exactly 17 ASCII digits, because a check digit of a
    malformed prefix would look valid and hide the real error.
    """
    if not isinstance(first17, str) or not re.fullmatch(r"[0-9]{17}", first17):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(ch) * w for ch, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_TABLE[total % 11]


def is_valid_id_number(s: object, today: dt.date | None = None) -> bool:
    """Whether ``s`` is a well-formed 18-digit 居民身份证号 (see the module docstring).

    ``today`` bounds the birth date (default: the local date, as DuckDB's ``current_date``).
    """
    if not isinstance(s, str) or not _ID.fullmatch(s):
        return False
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if not ID_EARLIEST_BIRTH <= born <= (today or dt.date.today()):
        return False
    return id_check_digit(s[:17]) == s[17]


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a 统一社会信用代码.

    Raises ValueError when ``first17`` is not 17 characters of the code's 31-character alphabet.
    """
    if not isinstance(first17, str) or len(first17) != 17 or any(ch not in USCC_VALUES for ch in first17):
        raise ValueError(f"expected 17 characters of {USCC_ALPHABET}, got {first17!r}")
    total = sum(USCC_VALUES[ch] * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_char(body8: str) -> str:
    """The GB 11714 check character of an 8-character organization code body (ASCII digits/upper-case letters)."""
    if not isinstance(body8, str) or not re.fullmatch(r"[0-9A-Z]{8}", body8):
        raise ValueError(f"expected 8 digits or upper-case letters, got {body8!r}")
    total = sum((int(ch) if ch.isdigit() else ord(ch) - 55) * w for ch, w in zip(body8, ORG_WEIGHTS, strict=True))
    return ORG_CHECK_TABLE[(11 - total % 11) % 11]


def complete_uscc(first16: str) -> str:
    """A full 统一社会信用代码 from its first 16 characters (authority, category, region, organization
    code body): appends the organization code's check character and the code's own."""
    first17 = first16 + org_code_check_char(first16[8:16])
    return first17 + uscc_check_char(first17)


def is_valid_uscc(s: object) -> bool:
    """Whether ``s`` is a well-formed 18-character 统一社会信用代码 (see the module docstring)."""
    if not isinstance(s, str) or not _USCC.fullmatch(s) or s[:2] not in USCC_PREFIXES:
        return False
    return org_code_check_char(s[8:16]) == s[16] and uscc_check_char(s[:17]) == s[17]


def is_valid_mobile(s: object) -> bool:
    """Whether ``s`` is a mainland mobile number (11 ASCII digits, ``1[3-9]`` then 9 digits)."""
    return isinstance(s, str) and _MOBILE.fullmatch(s) is not None


# -- DuckDB SQL (``expr`` is a SQL expression of type VARCHAR; the result is a non-NULL boolean) --------
def _sql_list(values: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, values)) + "]"


def id_number_sql(expr: str) -> str:
    """:func:`is_valid_id_number` as DuckDB SQL (``today`` is ``current_date``)."""
    weights = _sql_list(ID_WEIGHTS)
    digits = f"list_transform(range(1, 18), lambda i: coalesce(try_cast(substr({expr}, i, 1) AS INTEGER), 0) * {weights}[i])"
    check = f"substr({lit(ID_CHECK_TABLE)}, 1 + try_cast(list_sum({digits}) AS BIGINT) % 11, 1)"
    born = f"try_cast(concat_ws('-', substr({expr}, 7, 4), substr({expr}, 11, 2), substr({expr}, 13, 2)) AS DATE)"
    return (f"coalesce(regexp_full_match({expr}, {lit(_ID.pattern)}) "
            f"AND {born} BETWEEN DATE '{ID_EARLIEST_BIRTH.isoformat()}' AND current_date "
            f"AND substr({expr}, 18, 1) = {check}, false)")


def uscc_sql(expr: str) -> str:
    """:func:`is_valid_uscc` as DuckDB SQL."""
    alphabet = lit(USCC_ALPHABET)
    weights = _sql_list(USCC_WEIGHTS)
    values = f"list_transform(range(1, 18), lambda i: (instr({alphabet}, substr({expr}, i, 1)) - 1) * {weights}[i])"
    check = f"substr({alphabet}, 1 + (31 - try_cast(list_sum({values}) AS BIGINT) % 31) % 31, 1)"
    org_char = f"substr({expr}, 8 + i, 1)"
    org_value = f"CASE WHEN {org_char} BETWEEN '0' AND '9' THEN ascii({org_char}) - 48 ELSE ascii({org_char}) - 55 END"
    org_sum = f"try_cast(list_sum(list_transform(range(1, 9), lambda i: ({org_value}) * {_sql_list(ORG_WEIGHTS)}[i])) AS BIGINT)"
    org_check = f"substr({lit(ORG_CHECK_TABLE)}, 1 + (11 - {org_sum} % 11) % 11, 1)"
    prefixes = ", ".join(lit(p) for p in USCC_PREFIXES)
    return (f"coalesce(regexp_full_match({expr}, {lit(_USCC.pattern)}) AND substr({expr}, 1, 2) IN ({prefixes}) "
            f"AND substr({expr}, 17, 1) = {org_check} AND substr({expr}, 18, 1) = {check}, false)")


def mobile_sql(expr: str) -> str:
    """:func:`is_valid_mobile` as DuckDB SQL."""
    return f"coalesce(regexp_full_match({expr}, {lit(_MOBILE.pattern)}), false)"


# contract rule ``arguments: {checkDigit: <kind>}`` → its SQL check
IDENTIFIER_SQL = {"id_number": id_number_sql, "uscc": uscc_sql, "mobile": mobile_sql}
