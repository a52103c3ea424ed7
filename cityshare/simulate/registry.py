"""市场监管局 business registry (市场主体登记, ``scjgj/business_registry``).

The department's system is simulated as a JSON Lines file: one line per *version* of a record, in
the order (``updated_at``, ``uscc``). A version belongs to the day of its ``updated_at``; the
department's HTTP API (:mod:`cityshare.simulate.api`) serves one day's versions per request, which
is how CityShare pulls the registry incrementally.

Day 1 carries the initial registry (about 600×scale businesses, all dated day 1); every day then
brings new registrations and a few changes (address moves, 注销/吊销). A business changes at most
once per day, so ``uscc`` is unique within a daily batch, as its contract requires.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field

from cityshare.identifiers import ID_CHECK_TABLE, USCC_ALPHABET, complete_uscc
from cityshare.simulate import people
from cityshare.simulate._util import at, fmt_ts, scaled_count, stochastic_round
from cityshare.simulate.geography import FOCUS_AREAS, Geography, Street

DATASET = "scjgj/business_registry"

FIELDS: tuple[str, ...] = (
    "uscc", "entity_name", "entity_type", "industry", "legal_person_name", "legal_person_id",
    "area_code", "street_code", "address", "registered_on", "status", "updated_at",
)

DEFECT_KINDS: tuple[str, ...] = ("uscc_check_char", "legal_person_id_check_digit")

INITIAL_BUSINESSES = 600
DAILY_REGISTRATIONS = 15
DAILY_UPDATES = 5

ENTITY_TYPES: tuple[tuple[str, float], ...] = (
    ("有限责任公司", 0.30), ("个人独资企业", 0.05), ("合伙企业", 0.02), ("股份有限公司", 0.01),
)
SOLE_TRADER_SHARE = 0.62  # 个体工商户 (USCC prefix 92) dominate street-front shops

INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("餐饮", 0.45), ("零售", 0.33), ("居民服务", 0.10), ("住宿", 0.05), ("其他", 0.07),
)

SHOP_ITEMS: dict[str, tuple[str, ...]] = {
    "餐饮": (
        "火锅店", "小面馆", "串串香店", "烧烤店", "江湖菜馆", "豆花饭庄", "酸辣粉店", "抄手店", "冒菜馆",
        "烤鱼店", "面馆", "中餐馆", "奶茶店", "甜品店", "包子铺", "鸡公煲店", "汤锅店", "饺子馆",
    ),
    "零售": (
        "便利店", "超市", "水果店", "烟酒店", "五金店", "副食店", "文具店", "服装店", "日杂店", "茶叶店",
        "粮油店", "鲜肉店", "眼镜店", "手机店",
    ),
    "住宿": ("宾馆", "旅馆", "酒店", "民宿", "招待所"),
    "居民服务": ("理发店", "美容美发店", "洗衣店", "家政服务部", "家电维修部", "摄影店", "开锁店", "修鞋店"),
    "其他": ("广告设计工作室", "信息咨询服务部", "文化传播工作室", "打印复印店", "宠物店"),
}
COMPANY_LINES: dict[str, tuple[str, ...]] = {
    "餐饮": ("餐饮管理", "餐饮文化", "火锅", "食品"),
    "零售": ("商贸", "超市", "贸易", "百货"),
    "住宿": ("酒店管理", "宾馆"),
    "居民服务": ("家政服务", "美容美发", "物业服务"),
    "其他": ("文化传播", "信息咨询", "广告", "科技"),
}
SHOP_BRANDS: tuple[str, ...] = (
    "渝味", "山城", "巴渝", "嘉陵", "南滨", "朝天", "鹅岭", "两江", "涂山", "龙门", "好又来", "百味", "川渝",
    "老街", "江湾", "磁器口", "渝乡", "小巷", "一品", "蜀香", "久久", "金桥", "黄桷", "缙云", "幺妹", "红火",
)
BRAND_CHARS = "鑫盛恒泰瑞丰佳禾锦程德润和美乐家兴隆金诚宏发顺达福满聚源嘉博远华宇天成永昌茂信新创"


@dataclass
class _Business:
    record: dict[str, str]
    created: dt.date
    defective: bool
    active: bool = True


@dataclass
class RegistryResult:
    """The simulated registry: every version, counts, and the shops open on each day."""

    versions: list[dict[str, str]] = field(default_factory=list)
    rows_per_day: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DEFECT_KINDS, 0))
    # day -> street code -> [(uscc, address)] of businesses 存续 at the end of that day (clean rows only)
    open_shops: dict[dt.date, dict[str, list[tuple[str, str]]]] = field(default_factory=dict)

    def to_jsonl(self) -> bytes:
        return "".join(json.dumps(v, ensure_ascii=False) + "\n" for v in self.versions).encode("utf-8")


class _Registry:
    def __init__(self, geo: Geography, rng: random.Random) -> None:
        self.geo = geo
        self.rng = rng
        self.businesses: dict[str, _Business] = {}
        self.org_codes: set[str] = set()  # the first 17 characters, so corrupting a check char cannot collide
        self.names: set[str] = set()
        # Legal persons are mostly locals, but come from all over Chongqing.
        focus = list(FOCUS_AREAS)
        self.birth_areas = focus * 6 + sorted(geo.areas)

    def _weighted(self, table: tuple[tuple[str, float], ...]) -> str:
        return self.rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]

    def _uscc(self, prefix: str, area_code: str) -> str:
        while True:
            org = "MA" + "".join(self.rng.choice(USCC_ALPHABET) for _ in range(7))
            code = complete_uscc(f"{prefix}{area_code}{org}"[:16])  # 17th: organization code check (GB 11714)
            if code[:17] not in self.org_codes:
                self.org_codes.add(code[:17])
                return code

    def _brand(self, attempt: int) -> str:
        n = 2 if attempt < 40 else 3
        return "".join(self.rng.choice(BRAND_CHARS) for _ in range(n))

    def _entity_name(self, entity_type: str, industry: str, street: Street, legal_surname: str) -> str:
        rng = self.rng
        for attempt in range(200):
            if entity_type == "个体工商户":
                roll = rng.random()
                if roll < 0.25:
                    brand = f"老{legal_surname}"
                elif roll < 0.45:
                    brand = f"{legal_surname}记"
                elif roll < 0.55:
                    brand = legal_surname + rng.choice(("二娃", "幺妹", "嬢嬢", "师傅"))
                else:
                    brand = rng.choice(SHOP_BRANDS) if attempt < 40 else self._brand(attempt)
                name = f"重庆市{street.area_name}{brand}{rng.choice(SHOP_ITEMS[industry])}"
            else:
                brand = self._brand(attempt)
                line = rng.choice(COMPANY_LINES[industry])
                place = "重庆" if rng.random() < 0.7 else f"重庆市{street.area_name}"
                suffix = {
                    "有限责任公司": "有限公司",
                    "股份有限公司": "股份有限公司",
                    "个人独资企业": "经营部",
                    "合伙企业": "中心（普通合伙）",
                }[entity_type]
                name = f"{place}{brand}{line}{suffix}"
            if name not in self.names:
                self.names.add(name)
                return name
        raise RuntimeError("could not find a unique entity name; the scale is too large")  # pragma: no cover

    def create(self, day: dt.date, registered_on: dt.date, seconds: int, status: str) -> dict[str, str]:
        rng = self.rng
        street = self.geo.pick_street(rng)
        sole_trader = rng.random() < SOLE_TRADER_SHARE
        entity_type = "个体工商户" if sole_trader else self._weighted(ENTITY_TYPES)
        industry = self._weighted(INDUSTRIES)
        male = rng.random() < 0.58
        legal_name = people.person_name(rng, male)
        record = {
            "uscc": self._uscc("92" if sole_trader else "91", street.area_code),
            "entity_name": self._entity_name(entity_type, industry, street, legal_name[0]),
            "entity_type": entity_type,
            "industry": industry,
            "legal_person_name": legal_name,
            "legal_person_id": people.id_number(rng, self.birth_areas, male),
            "area_code": street.area_code,
            "street_code": street.code,
            "address": self.geo.address(rng, street),
            "registered_on": registered_on.isoformat(),
            "status": status,
            "updated_at": fmt_ts(at(day, seconds)),
        }
        return record

    def change(self, business: _Business, day: dt.date, seconds: int) -> dict[str, str]:
        rng = self.rng
        record = dict(business.record)
        if rng.random() < 0.6:  # 住所变更: mostly within the street, sometimes to another one of the district
            street = self.geo.street(record["street_code"])
            if rng.random() < 0.3:
                street = rng.choice([s for s in self.geo.streets if s.area_code == street.area_code])
            record["street_code"] = street.code
            record["address"] = self.geo.address(rng, street)
        else:
            record["status"] = "注销" if rng.random() < 0.85 else "吊销"
            business.active = False
        record["updated_at"] = fmt_ts(at(day, seconds))
        business.record = record
        return record


def _office_seconds(rng: random.Random) -> int:
    """A time of day during the registry's working hours (08:30-18:00)."""
    return rng.randint(8 * 3600 + 1800, 18 * 3600)


def _corrupt(rng: random.Random, record: dict[str, str], kind: str) -> None:
    if kind == "uscc_check_char":
        good = record["uscc"][-1]
        record["uscc"] = record["uscc"][:-1] + rng.choice([c for c in USCC_ALPHABET if c != good])
    else:
        good = record["legal_person_id"][-1]
        record["legal_person_id"] = record["legal_person_id"][:-1] + rng.choice(
            [c for c in ID_CHECK_TABLE if c != good]
        )


def simulate_registry(
    geo: Geography, days: list[dt.date], scale: float, defect_rate: float, rng: random.Random
) -> RegistryResult:
    """Simulate the registry over ``days`` (day 1 carries the initial registry)."""
    reg = _Registry(geo, rng)
    result = RegistryResult()
    for index, day in enumerate(days):
        created: list[dict[str, str]] = []
        if index == 0:
            for _ in range(max(1, round(INITIAL_BUSINESSES * scale))):
                # Established businesses: registered over the past ~18 years, more of them recently.
                registered_on = day - dt.timedelta(days=1 + int(6500 * rng.random() ** 1.6))
                roll = rng.random()
                status = "存续" if roll < 0.93 else ("注销" if roll < 0.98 else "吊销")
                created.append(reg.create(day, registered_on, _office_seconds(rng), status))
        for _ in range(scaled_count(rng, DAILY_REGISTRATIONS, scale, 0.3)):
            created.append(reg.create(day, day, _office_seconds(rng), "存续"))

        # Changes touch businesses created before today, at most once a day, never a defective one.
        candidates = sorted(
            uscc for uscc, b in reg.businesses.items() if b.active and not b.defective and b.created < day
        )
        n_changes = 0 if index == 0 else scaled_count(rng, DAILY_UPDATES, scale, 0.4, minimum=0)
        changed = [
            reg.change(reg.businesses[u], day, _office_seconds(rng))
            for u in rng.sample(candidates, min(n_changes, len(candidates)))
        ]

        # Defects: a share of the day's rows, injected into new records (the error is made at the counter).
        n_defects = min(len(created), stochastic_round(rng, defect_rate * (len(created) + len(changed))))
        offset = rng.randrange(len(DEFECT_KINDS))
        defective: set[int] = set()
        for i, pos in enumerate(sorted(rng.sample(range(len(created)), n_defects))):
            kind = DEFECT_KINDS[(offset + i) % len(DEFECT_KINDS)]
            _corrupt(rng, created[pos], kind)
            result.defects[kind] += 1
            defective.add(pos)
        for pos, record in enumerate(created):
            reg.businesses[record["uscc"]] = _Business(
                record=record, created=day, defective=pos in defective, active=record["status"] == "存续"
            )

        rows = sorted(created + changed, key=lambda r: (r["updated_at"], r["uscc"]))
        result.versions.extend(rows)
        result.rows_per_day[day.isoformat()] = len(rows)
        shops: dict[str, list[tuple[str, str]]] = {}
        for uscc in sorted(reg.businesses):
            b = reg.businesses[uscc]
            if b.active and not b.defective:
                shops.setdefault(b.record["street_code"], []).append((uscc, b.record["address"]))
        result.open_shops[day] = shops
    return result
