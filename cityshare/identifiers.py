"""Check digits of the Chinese national identifiers that CityShare's contracts validate.

Departments key people by the 居民身份证号 (GB 11643-1999) and legal entities by the 统一社会信用代码
(GB 32100-2015). Both carry a check character, so a typo made at a service counter is detectable
without a lookup; the quality gate uses these functions to send such rows to quarantine, and the
department simulator uses them to produce valid identifiers (and deliberately invalid ones).
"""

from __future__ import annotations

import datetime as dt
import re

# GB 11643-1999: weights W_i = 2^(17-i) mod 11 for positions 1..17; check = table[sum mod 11].
ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_TABLE = "10X98765432"

# GB 32100-2015: 31 characters (no I, O, Z, S, V, so they cannot be misread as digits).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUES: dict[str, int] = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS: tuple[int, ...] = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_DIGITS17 = re.compile(r"[0-9]{17}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # [0-9], not \d: \d would also accept full-width digits


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character ("0"-"9" or "X") for the first 17 digits of an ID number.

    Raises ValueError when ``first17`` is not exactly 17 ASCII digits, because a check digit of a
    malformed prefix would look valid and hide the real error.
    """
    if not isinstance(first17, str) or not _DIGITS17.fullmatch(first17):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(ch) * w for ch, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_TABLE[total % 11]


def is_valid_id_number(s: object) -> bool:
    """Whether ``s`` is a well-formed 18-digit 居民身份证号.

    Checks the shape (17 digits + a digit or upper-case "X"), that positions 7-14 form a real
    calendar date (YYYYMMDD, year from 1900) — a check digit alone accepts "19491331" — and the
    check character.
    """
    if not isinstance(s, str) or len(s) != 18:
        return False
    first17, check = s[:17], s[17]
    if not _DIGITS17.fullmatch(first17) or check not in "0123456789X":
        return False
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    return id_check_digit(first17) == check


def uscc_check_char(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters of a 统一社会信用代码.

    Raises ValueError when ``first17`` is not 17 characters of the code's 31-character alphabet.
    """
    if not isinstance(first17, str) or len(first17) != 17 or any(ch not in USCC_VALUES for ch in first17):
        raise ValueError(f"expected 17 characters of {USCC_ALPHABET}, got {first17!r}")
    total = sum(USCC_VALUES[ch] * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(s: object) -> bool:
    """Whether ``s`` is a well-formed 18-character 统一社会信用代码.

    Checks the alphabet (upper case only), that characters 3-8 are the six-digit GB/T 2260 region
    code, and the check character.
    """
    if not isinstance(s, str) or len(s) != 18:
        return False
    if any(ch not in USCC_VALUES for ch in s) or not s[2:8].isdigit():
        return False
    return uscc_check_char(s[:17]) == s[17]


def is_valid_mobile(s: object) -> bool:
    """Whether ``s`` is a mainland mobile number (11 digits, ``^1[3-9]\\d{9}$``)."""
    return isinstance(s, str) and _MOBILE.fullmatch(s) is not None
