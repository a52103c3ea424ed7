"""Plausible people for the simulator: Chinese names, resident ID numbers, mobile numbers.

Everything is drawn from a caller-supplied ``random.Random`` so a seed reproduces the same people.
"""

from __future__ import annotations

import datetime as dt
import random

from cityshare.identifiers import id_check_digit

# Common surnames, weighted towards those frequent in Chongqing (谭, 冉, 向 are typical locally).
SURNAMES: tuple[tuple[str, int], ...] = (
    ("陈", 9), ("李", 9), ("王", 8), ("张", 8), ("刘", 8), ("杨", 6), ("黄", 5), ("周", 5), ("罗", 4),
    ("吴", 4), ("谭", 3), ("何", 3), ("徐", 3), ("唐", 3), ("邓", 3), ("冉", 2), ("向", 2), ("曾", 2),
    ("彭", 2), ("蒋", 2), ("余", 2), ("秦", 2), ("胡", 2), ("赵", 2), ("马", 1), ("朱", 1), ("郭", 1),
    ("林", 1), ("高", 1), ("熊", 1), ("廖", 1), ("傅", 1), ("袁", 1), ("雷", 1),
)
_SURNAME_CHOICES = tuple(s for s, _ in SURNAMES)
_SURNAME_WEIGHTS = tuple(w for _, w in SURNAMES)

MALE_GIVEN = "伟强磊军勇杰涛明超刚建国斌鹏辉波宇浩飞林华平志兵亮俊峰江川渝"
FEMALE_GIVEN = "芳娜敏静丽艳娟秀霞英红玉兰婷雪琴云梅燕莉萍倩玲丹晓慧"

# Mobile prefixes of the three operators (a subset of real number segments).
MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
    "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "183", "185", "186", "187",
    "188", "189", "191", "198", "199",
)


def surname(rng: random.Random) -> str:
    return rng.choices(_SURNAME_CHOICES, weights=_SURNAME_WEIGHTS)[0]


def person_name(rng: random.Random, male: bool) -> str:
    """A two- or three-character name whose given name fits the gender."""
    pool = MALE_GIVEN if male else FEMALE_GIVEN
    given = rng.choice(pool) if rng.random() < 0.35 else rng.choice(pool) + rng.choice(pool)
    return surname(rng) + given


def id_number(rng: random.Random, area_codes: list[str], male: bool, born_from: int = 1955,
              born_to: int = 2000) -> str:
    """A valid 18-digit 居民身份证号: address code, birth date, sequence (odd for men), check digit."""
    start = dt.date(born_from, 1, 1)
    span = (dt.date(born_to, 12, 31) - start).days
    born = start + dt.timedelta(days=rng.randint(0, span))
    sequence = rng.randrange(1 if male else 0, 1000, 2)
    first17 = f"{rng.choice(area_codes)}{born:%Y%m%d}{sequence:03d}"
    return first17 + id_check_digit(first17)


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
