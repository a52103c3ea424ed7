"""Real Chongqing geography for the simulator: GB/T 2260 codes, street offices, event classes.

Codes are read from the dbt seeds (``dbt_project/seeds/``) — the same code tables the standard layer
checks against — so every simulated area and street code exists in the reference data. Activity is
concentrated on the street offices (街道, 7th digit of the code is ``0``) of five central districts,
with 南岸区南坪街道 the busiest, matching the storefront-order (门前三包/店外经营) pilot.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

SEEDS_SUBDIR = Path("dbt_project") / "seeds"

# The central districts the simulated activity is concentrated on.
FOCUS_AREAS: tuple[str, ...] = ("500108", "500103", "500112", "500105", "500107")
NANPING_STREET = "500108003"  # 南岸区南坪街道: the pilot street, always the busiest

# Relative activity of a street office (businesses and cases). Unlisted focus streets weigh 1.0.
STREET_WEIGHTS: dict[str, float] = {
    NANPING_STREET: 10.0,
    "500108002": 3.0,  # 花园路
    "500108001": 2.0,  # 铜元局
    "500108004": 2.0,  # 海棠溪
    "500108005": 2.0,  # 龙门浩
    "500108006": 2.5,  # 弹子石
    "500103003": 3.5,  # 解放碑
    "500103001": 2.0,  # 七星岗
    "500103004": 2.0,  # 两路口
    "500103012": 2.5,  # 大坪
    "500105006": 3.5,  # 观音桥
    "500105001": 2.0,  # 华新街
    "500107001": 3.0,  # 杨家坪
    "500107005": 2.5,  # 石桥铺
    "500107003": 2.0,  # 谢家湾
    "500112011": 2.5,  # 龙溪
    "500112012": 2.0,  # 龙山
    "500112002": 2.0,  # 双龙湖
    "500112016": 1.5,  # 两路
    "500112019": 1.5,  # 礼嘉
}

# Well-known roads of some street offices; other streets get roads named after the street.
STREET_ROADS: dict[str, tuple[str, ...]] = {
    NANPING_STREET: (
        "南坪西路", "南坪东路", "南坪正街", "南城大道", "江南大道", "响水路", "福红路", "万寿路",
        "南坪北路", "学府大道",
    ),
    "500108002": ("花园路", "南湖路", "花园路正街", "南城大道"),
    "500108001": ("铜元局正街", "南滨路", "铜元路"),
    "500108004": ("海棠溪正街", "南滨路", "烟雨路"),
    "500108005": ("南滨路", "上新街", "龙门浩正街"),
    "500108006": ("弹子石正街", "南滨路", "泰昌路"),
    "500108007": ("南山路", "黄桷垭正街"),
    "500103001": ("中山一路", "和平路", "民生路"),
    "500103003": ("民族路", "民权路", "邹容路", "八一路", "五四路", "新华路", "中华路"),
    "500103004": ("中山二路", "中山三路", "长江二路"),
    "500103005": ("中山四路", "人民路", "嘉陵桥路"),
    "500103008": ("解放东路", "凯旋路"),
    "500103010": ("陕西路", "新华路", "朝东路"),
    "500103012": ("大坪正街", "长江二路", "大坪支路"),
    "500105001": ("华新街", "建新西路", "北滨一路"),
    "500105006": ("建新北路", "建新东路", "建新南路", "洋河路", "观音桥步行街"),
    "500105007": ("五红路", "五里店正街"),
    "500107001": ("杨家坪正街", "西郊路", "杨九路", "珠江路"),
    "500107002": ("黄桷坪正街", "四川美院路"),
    "500107003": ("谢家湾正街", "鹤兴路"),
    "500107005": ("石杨路", "科园一路", "科园二路", "渝州路"),
    "500107007": ("渝州路", "奥体路"),
    "500112002": ("双龙大道", "双湖路"),
    "500112011": ("松石北路", "红锦大道", "新牌坊一路", "龙溪路"),
    "500112012": ("龙山大道", "红锦大道"),
    "500112014": ("星光大道", "金渝大道"),
}


@dataclass(frozen=True)
class Street:
    """A 街道 office with its 9-digit statistical code."""

    code: str
    name: str
    area_code: str
    area_name: str
    roads: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class EventClass:
    """One minor class of the 数字城管 event code table (GB/T 30428.2 style)."""

    code: str
    name: str
    major_code: str
    major_name: str
    disposal_hours: float


@dataclass(frozen=True)
class Geography:
    """The reference data the simulator draws from."""

    areas: dict[str, str]  # GB/T 2260 code -> name, all of Chongqing
    street_codes: frozenset[str]  # all of Chongqing's street/town codes
    streets: tuple[Street, ...]  # the focus street offices, in code order
    event_classes: tuple[EventClass, ...]

    def street(self, code: str) -> Street:
        for street in self.streets:
            if street.code == code:
                return street
        raise KeyError(code)

    def pick_street(self, rng: random.Random) -> Street:
        """A focus street, weighted by its activity."""
        return rng.choices(self.streets, weights=[s.weight for s in self.streets])[0]

    def address(self, rng: random.Random, street: Street, suffix: bool = True) -> str:
        """A door-plate address inside ``street``, e.g. 南岸区南坪街道南坪西路23号."""
        number = rng.randint(1, 399)
        text = f"{street.area_name}{street.name}{rng.choice(street.roads)}{number}号"
        if suffix:
            roll = rng.random()
            if roll < 0.15:
                text += f"附{rng.randint(1, 30)}号"  # Chongqing's 附号 for shops along a main number
            elif roll < 0.25:
                text += f"{rng.randint(1, 3)}楼"
        return text


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _default_roads(name: str) -> tuple[str, ...]:
    stem = name.removesuffix("街道")
    if stem.endswith(("路", "街")):  # 石油路街道, 华新街街道: the street office is named after its road
        return (stem,)
    return (f"{stem}路", f"{stem}正街", f"{stem}大道")


def load_geography(project_root: Path) -> Geography:
    """Read areas, streets and event classes from the dbt seeds under ``project_root``."""
    seeds = project_root / SEEDS_SUBDIR
    areas = {row["code"]: row["name"] for row in _read_csv(seeds / "chongqing_areas.csv")}
    street_rows = _read_csv(seeds / "chongqing_streets.csv")
    streets = tuple(
        Street(
            code=row["code"],
            name=row["name"],
            area_code=row["area_code"],
            area_name=areas[row["area_code"]],
            roads=STREET_ROADS.get(row["code"], _default_roads(row["name"])),
            weight=STREET_WEIGHTS.get(row["code"], 1.0),
        )
        for row in sorted(street_rows, key=lambda r: r["code"])
        if row["area_code"] in FOCUS_AREAS and row["code"][6] == "0"
    )
    missing = [a for a in FOCUS_AREAS if not any(s.area_code == a for s in streets)]
    if missing or NANPING_STREET not in {s.code for s in streets}:
        raise ValueError(f"reference data under {seeds} lacks the focus districts/streets {missing}")
    event_classes = tuple(
        EventClass(
            code=row["code"],
            name=row["name"],
            major_code=row["major_code"],
            major_name=row["major_name"],
            disposal_hours=float(row["disposal_hours"]),
        )
        for row in _read_csv(seeds / "event_classes.csv")
    )
    return Geography(
        areas=areas,
        street_codes=frozenset(row["code"] for row in street_rows),
        streets=streets,
        event_classes=event_classes,
    )
