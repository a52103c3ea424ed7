"""城管局 数字城管 cases (``cgj/city_cases``): one CSV export per day, Chinese column headers.

About a quarter of the cases are 0502 店外经营 (the storefront-order scenario); most of those name the
shop by its 统一社会信用代码, taken from the simulated 市场监管局 registry, so the two departments'
data can be joined downstream.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass, field

from cityshare.simulate import people
from cityshare.simulate._util import at, fmt_ts, scaled_count, stochastic_round
from cityshare.simulate.geography import EventClass, Geography

DATASET = "cgj/city_cases"

# (contract field, CSV header) in the order of the department's export.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("case_id", "案件编号"),
    ("event_class_code", "事件小类代码"),
    ("event_class_name", "事件小类名称"),
    ("area_code", "区县代码"),
    ("street_code", "街道代码"),
    ("address", "事发地址"),
    ("description", "问题描述"),
    ("shop_uscc", "涉事商户统一社会信用代码"),
    ("reported_at", "上报时间"),
    ("closed_at", "结案时间"),
    ("status", "案件状态"),
    ("report_channel", "上报渠道"),
    ("reporter_phone", "上报人电话"),
)
FIELDS: tuple[str, ...] = tuple(f for f, _ in COLUMNS)
HEADERS: tuple[str, ...] = tuple(h for _, h in COLUMNS)

DEFECT_KINDS: tuple[str, ...] = (
    "invalid_phone", "invalid_street_code", "closed_before_reported", "unknown_event_class", "duplicate_row",
)
UNKNOWN_EVENT_CLASS = "0999"

DAILY_CASES = 200
STOREFRONT_CLASS = "0502"
STOREFRONT_SHARE = 0.25
STOREFRONT_WITH_SHOP = 0.80
CLOSED_SHARE = 0.70
OVERDUE_SHARE = 0.15  # closed cases that exceeded the class's 处置时限

CHANNELS: tuple[tuple[str, float], ...] = (
    ("信息采集员", 0.45), ("12345热线", 0.20), ("视频智能发现", 0.20), ("街道网格员", 0.15),
)
OPEN_STATUSES: tuple[tuple[str, float], ...] = (("立案", 0.3), ("派遣", 0.35), ("处置", 0.35))
MAJOR_WEIGHTS: dict[str, float] = {"01": 3.0, "02": 2.0, "03": 1.2, "04": 0.5, "05": 3.0, "06": 0.3}
# Reports by hour of day: few at night, peaks mid-morning and late afternoon.
HOUR_WEIGHTS: tuple[float, ...] = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 3.0, 4.0, 4.0, 3.5, 2.5, 2.5, 3.5, 4.0, 3.8, 3.0, 2.5, 2.2,
    2.0, 1.5, 1.0, 0.6,
)

DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "0101": ("人行道旁私自搭建彩钢棚", "屋顶违规搭建阳光房"),
    "0102": ("路边有暴露垃圾未清运", "垃圾桶旁散落生活垃圾"),
    "0103": ("道路边积存建筑渣土", "绿化带内堆积垃圾渣土"),
    "0104": ("路面有油污和泥浆", "人行道有大面积污渍"),
    "0105": ("河道水面有漂浮垃圾", "景观水池内有垃圾"),
    "0106": ("绿地内有垃圾杂物", "绿化带被踩踏且有杂物"),
    "0107": ("路边停放一辆长期无人使用的废弃车辆", "小区外废弃摩托车占用车位"),
    "0199": ("市容环境问题，需现场核实", "沿街立面破损影响市容"),
    "0201": ("电杆上张贴非法小广告", "墙面喷涂办证小广告"),
    "0202": ("商户违规悬挂广告牌匾", "门头招牌破损有坠落隐患"),
    "0203": ("人行道上摆放占道广告牌", "商户在路口放置立式广告牌"),
    "0299": ("宣传广告设置不规范", "横幅悬挂过期未撤除"),
    "0301": ("工地夜间施工噪音扰民", "施工机械清晨作业扰民"),
    "0302": ("工地未覆盖裸土扬尘严重", "工地出入口车辆带泥上路"),
    "0303": ("施工废弃料堆放在路边", "装修垃圾随意堆放"),
    "0304": ("施工围挡占用人行道", "施工材料占道堆放"),
    "0305": ("未经许可开挖人行道", "道路被擅自开挖未恢复"),
    "0399": ("施工管理问题，需现场核实", "施工现场安全标识缺失"),
    "0401": ("路面出现塌陷坑洞", "人行道地面下沉"),
    "0402": ("自来水管破裂路面冒水", "消防栓旁水管漏水"),
    "0403": ("闻到明显燃气味疑似管道破裂", "燃气管道被施工挖破"),
    "0404": ("下水道堵塞污水外溢", "雨水篦子破损"),
    "0405": ("降雨后路面积水严重", "下穿道积水影响通行"),
    "0406": ("架空线缆脱落垂至路面", "通信线缆凌乱下垂"),
    "0499": ("突发事件，需现场处置", "行道树倒伏阻碍交通"),
    "0501": ("流动摊贩占道经营", "游商在路口摆摊售卖水果"),
    "0502": ("商户在店外摆放桌椅占道经营", "店外摆放货架商品占用人行道", "餐馆在门前设置灶台炒菜",
             "商户在店外堆放纸箱杂物"),
    "0503": ("机动车占用人行道停放", "车辆在禁停路段乱停放"),
    "0504": ("共享单车乱停放堵塞人行道", "电瓶车在门前乱停乱放"),
    "0505": ("路边乱堆物堆料", "楼道口堆放杂物"),
    "0506": ("夜间露天烧烤油烟扰民", "人行道上设置露天烧烤摊"),
    "0507": ("沿街晾晒衣物影响市容", "在护栏上晾挂被褥"),
    "0599": ("街面秩序问题，需现场核实", "占道洗车"),
    "0699": ("其他城市管理问题", "群众反映其他问题需核实"),
}


@dataclass
class CasesResult:
    """One CSV body per day, with counts."""

    files: dict[dt.date, bytes] = field(default_factory=dict)
    rows_per_day: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DEFECT_KINDS, 0))


def _weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def _case(
    rng: random.Random,
    geo: Geography,
    day: dt.date,
    classes: list[EventClass],
    class_weights: list[float],
    storefront: EventClass,
    shops: dict[str, list[tuple[str, str]]],
) -> dict[str, str]:
    street = geo.pick_street(rng)
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    reported = at(day, hour * 3600 + rng.randrange(3600))
    shop_uscc = ""
    address = geo.address(rng, street, suffix=False) + rng.choice(("", "", "附近", "路口", "旁"))
    if rng.random() < STOREFRONT_SHARE:
        event = storefront
        candidates = shops.get(street.code, [])
        if candidates and rng.random() < STOREFRONT_WITH_SHOP:
            shop_uscc, shop_address = rng.choice(candidates)
            address = shop_address + "门前"
    else:
        event = rng.choices(classes, weights=class_weights)[0]
    closed_at = ""
    if rng.random() < CLOSED_SHARE:
        status = "结案"
        limit = event.disposal_hours
        hours = limit * rng.uniform(1.1, 2.0) if rng.random() < OVERDUE_SHARE else min(limit, 24.0) * rng.uniform(0.2, 0.95)
        closed_at = fmt_ts(reported + dt.timedelta(seconds=max(600, round(hours * 3600))))
    else:
        status = _weighted(rng, OPEN_STATUSES)
    return {
        "case_id": "",  # numbered after sorting by report time
        "event_class_code": event.code,
        "event_class_name": event.name,
        "area_code": street.area_code,
        "street_code": street.code,
        "address": address,
        "description": rng.choice(DESCRIPTIONS.get(event.code, ("需现场核实",))),
        "shop_uscc": shop_uscc,
        "reported_at": fmt_ts(reported),
        "closed_at": closed_at,
        "status": status,
        "report_channel": _weighted(rng, CHANNELS),
        "reporter_phone": people.mobile(rng),
    }


def _corrupt(rng: random.Random, row: dict[str, str], kind: str) -> None:
    if kind == "invalid_phone":
        row["reporter_phone"] = row["reporter_phone"][:10]
    elif kind == "invalid_street_code":
        row["street_code"] = row["area_code"] + "999"
    elif kind == "closed_before_reported":
        reported = dt.datetime.strptime(row["reported_at"], "%Y-%m-%d %H:%M:%S")
        row["closed_at"] = fmt_ts(reported - dt.timedelta(minutes=rng.randint(10, 360)))
        row["status"] = "结案"
    elif kind == "unknown_event_class":
        row["event_class_code"] = UNKNOWN_EVENT_CLASS
        row["event_class_name"] = "其他"
        row["shop_uscc"] = ""
    else:  # pragma: no cover - duplicate rows are inserted by the caller
        raise ValueError(kind)


def _to_csv(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADERS)
    writer.writerows([row[f] for f in FIELDS] for row in rows)
    return buf.getvalue().encode("utf-8")


def simulate_cases(
    geo: Geography,
    days: list[dt.date],
    scale: float,
    defect_rate: float,
    rng: random.Random,
    open_shops: dict[dt.date, dict[str, list[tuple[str, str]]]],
) -> CasesResult:
    """Simulate each day's case export; ``open_shops`` comes from the registry simulation."""
    storefront = next(e for e in geo.event_classes if e.code == STOREFRONT_CLASS)
    classes = [e for e in geo.event_classes if e.code != STOREFRONT_CLASS]
    class_weights = [MAJOR_WEIGHTS.get(e.major_code, 1.0) * (0.3 if e.code.endswith("99") else 1.0)
                     for e in classes]
    result = CasesResult()
    for day in days:
        weekend = day.weekday() >= 5
        n = scaled_count(rng, DAILY_CASES * (0.85 if weekend else 1.0), scale, 0.15)
        rows = [_case(rng, geo, day, classes, class_weights, storefront, open_shops.get(day, {}))
                for _ in range(n)]
        rows.sort(key=lambda r: r["reported_at"])
        for seq, row in enumerate(rows, start=1):
            row["case_id"] = f"CG{day:%Y%m%d}{seq:06d}"

        n_defects = min(n, stochastic_round(rng, defect_rate * n))
        offset = rng.randrange(len(DEFECT_KINDS))
        kinds = [DEFECT_KINDS[(offset + i) % len(DEFECT_KINDS)] for i in range(n_defects)]
        targets = rng.sample(range(n), n_defects)
        duplicates: list[int] = []
        for kind, pos in zip(kinds, targets, strict=True):
            if kind == "duplicate_row":
                duplicates.append(pos)  # a clean row (targets are distinct), copied verbatim below
            else:
                _corrupt(rng, rows[pos], kind)
            result.defects[kind] += 1
        # Insert the copies from the end so earlier positions stay valid; each lands after its original.
        for pos in sorted(duplicates, reverse=True):
            rows.insert(rng.randint(pos + 1, min(pos + 20, len(rows))), dict(rows[pos]))

        result.files[day] = _to_csv(rows)
        result.rows_per_day[day.isoformat()] = len(rows)
    return result
