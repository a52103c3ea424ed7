"""GB 11643 / GB 32100 check characters and the mobile-number rule."""

from __future__ import annotations

import datetime as dt

import pytest

from cityshare.identifiers import (
    ID_CHECK_TABLE,
    USCC_ALPHABET,
    complete_uscc,
    id_check_digit,
    is_valid_id_number,
    is_valid_mobile,
    is_valid_uscc,
    org_code_check_char,
    uscc_check_char,
)

VALID_ID = "11010519491231002X"
VALID_USCC = "91350100M000100Y43"


def test_known_examples_are_valid() -> None:
    assert id_check_digit(VALID_ID[:17]) == "X"
    assert is_valid_id_number(VALID_ID)
    assert uscc_check_char(VALID_USCC[:17]) == "3"
    assert is_valid_uscc(VALID_USCC)


def test_other_known_ids() -> None:
    # Hand-computed: the weighted digits of 50010819800101001 sum to 147, 147 mod 11 = 4 -> "8".
    assert id_check_digit("50010819800101001") == "8"
    # 51010219900307001 sums to 186, 186 mod 11 = 10 -> "2".
    assert id_check_digit("51010219900307001") == "2"


@pytest.mark.parametrize("check", [c for c in ID_CHECK_TABLE if c != "X"])
def test_id_with_wrong_check_digit_is_invalid(check: str) -> None:
    assert not is_valid_id_number(VALID_ID[:17] + check)


@pytest.mark.parametrize("check", [c for c in USCC_ALPHABET if c != "3"])
def test_uscc_with_wrong_check_char_is_invalid(check: str) -> None:
    assert not is_valid_uscc(VALID_USCC[:17] + check)


def test_any_single_digit_change_in_an_id_is_detected() -> None:
    for pos in range(17):
        for digit in "0123456789":
            if digit != VALID_ID[pos]:
                changed = VALID_ID[:pos] + digit + VALID_ID[pos + 1 :]
                assert not is_valid_id_number(changed), changed


def test_any_single_character_change_in_a_uscc_is_detected() -> None:
    for pos in range(17):
        for ch in USCC_ALPHABET:
            if ch != VALID_USCC[pos]:
                changed = VALID_USCC[:pos] + ch + VALID_USCC[pos + 1 :]
                assert not is_valid_uscc(changed), changed


def test_id_with_impossible_birth_date_is_invalid_even_with_a_matching_check_digit() -> None:
    for first17 in ("11010519491331002", "11010519490230002", "11010518000101002"):
        assert not is_valid_id_number(first17 + id_check_digit(first17))
    leap = "11010520000229002"  # 2000-02-29 exists
    assert is_valid_id_number(leap + id_check_digit(leap))


@pytest.mark.parametrize(
    "value",
    [
        "11010519491231002x",  # lower-case x
        "11010519491231002",
        "11010519491231002X0",
        "1101051949123100AX",
        "",
        None,
        110105,
    ],
)
def test_malformed_ids_are_invalid(value: object) -> None:
    assert not is_valid_id_number(value)


@pytest.mark.parametrize(
    "value",
    [
        "91350100m000100Y43",  # lower case
        "91350100M000100Y4",  # too short
        "91350100M000100Y430",  # too long
        "9135O100M000100Y43",  # letter O is not in the alphabet
        "913501I0M000100Y43",  # letter I is not in the alphabet
        "91A50100M000100Y4" + "0",  # region code must be digits
        None,
    ],
)
def test_malformed_usccs_are_invalid(value: object) -> None:
    assert not is_valid_uscc(value)


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100A", "110105194912310021"])
def test_id_check_digit_rejects_malformed_prefix(bad: str) -> None:
    with pytest.raises(ValueError):
        id_check_digit(bad)


@pytest.mark.parametrize("bad", ["91350100M000100Y", "91350100M000100YI", "91350100m000100Y4"])
def test_uscc_check_char_rejects_malformed_prefix(bad: str) -> None:
    with pytest.raises(ValueError):
        uscc_check_char(bad)


@pytest.mark.parametrize("value", ["13800138000", "19912345678", "15023456789"])
def test_valid_mobiles(value: str) -> None:
    assert is_valid_mobile(value)


@pytest.mark.parametrize(
    "value",
    ["1380013800", "138001380001", "12800138000", "23800138000", "1380013800a", "１３８００１３８０００",
     "138-0013-8000", "", None, 13800138000],
)
def test_invalid_mobiles(value: object) -> None:
    assert not is_valid_mobile(value)


def test_published_real_uscc_passes_including_its_organization_code() -> None:
    # python-stdnum's documented example; its organization code 60003734-1 satisfies GB 11714
    assert is_valid_uscc("91110000600037341L") and org_code_check_char("60003734") == "1"
    assert complete_uscc("9111000060003734") == "91110000600037341L"


@pytest.mark.parametrize(("value", "why"), [
    ("B1110000600037341L", "authority code B is not in GB 32100"),
    ("94110000600037341L", "工商 has categories 1-3 only"),
    ("911100A0600037341L", "letter in the region code"),
])
def test_uscc_authority_category_and_region_are_checked(value: str, why: str) -> None:
    fixed = value[:17] + uscc_check_char(value[:17])  # a matching final check char does not save it
    assert not is_valid_uscc(fixed), why


def test_uscc_with_a_wrong_organization_code_check_is_invalid_even_with_a_matching_final_check() -> None:
    first17 = "9111000060003734" + "2"
    assert not is_valid_uscc(first17 + uscc_check_char(first17))


def test_id_region_birth_window_and_future() -> None:
    today = dt.date(2026, 11, 25)
    for first17 in ("01010519491231002", "11010520261126002", "11010518991231002"):
        assert not is_valid_id_number(first17 + id_check_digit(first17), today=today), first17
    for first17 in ("11010519000101002", "11010520261125002"):
        assert is_valid_id_number(first17 + id_check_digit(first17), today=today), first17
