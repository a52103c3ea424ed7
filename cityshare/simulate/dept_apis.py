"""Departments served by the loopback HTTP API: 市场监管局 smart-kitchen alerts, 交通局 parking lots.

- ``scjgj/kitchen_alerts`` (智慧厨房): AI cameras in restaurant kitchens raise alerts (no mask, no chef
  hat, rodent, smoking, uncovered bin). 南坪街道 has the article's 108 smart kitchens; a few dozen more
  sit in other streets. Alerts peak while food is prepared (10-13 h, 16-20 h) and on weekends. The
  API nests the kitchen and the alert: ``{"alert_id", "kitchen": {...}, "alert": {...}}``, cursor
  pagination.
- ``jtj/parking_lots`` (停车场): the parking-lot registry, served as a snapshot as of a date with
  offset pagination; the lots open on different days.

Both are kept as JSON Lines under the department's folder; :mod:`cityshare.simulate.api` serves them.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from cityshare.identifiers import USCC_ALPHABET, complete_uscc
from cityshare.simulate._framework import Output, SimContext, jsonl_bytes, near
from cityshare.simulate._util import at, fmt_ts, scaled_count, stochastic_round, write_atomic
from cityshare.simulate.geography import NANPING_STREET

NANPING_SMART_KITCHENS = 108  # calibration from the article (南坪街道)
OTHER_SMART_KITCHENS = 40
ALERT_TYPES = (("未戴口罩", 0.3), ("未戴厨师帽", 0.25), ("吸烟", 0.1), ("玩手机", 0.15), ("垃圾桶未盖", 0.12),
               ("发现鼠患", 0.08))
HOUR_WEIGHTS = (0, 0, 0, 0, 0, 0, 0.2, 0.5, 1, 2, 4, 5, 3, 1, 1, 1.5, 3, 4.5, 4, 2, 1, 0.6, 0.3, 0.1)
LOT_TYPES = (("路外公共停车场", 0.45), ("配建停车场", 0.35), ("路内停车泊位", 0.2))


def _uscc(rng: random.Random, area_code: str) -> str:
    drawn = "91" + area_code + "MA" + "".join(rng.choice(USCC_ALPHABET) for _ in range(7))
    return complete_uscc(drawn[:16])  # 17th character: the organization code check (GB 11714)


def kitchen_alerts(ctx: SimContext) -> Output:
    out = Output("scjgj/kitchen_alerts", "api")
    rng = ctx.rng(out.dataset)
    restaurants: dict[str, dict[str, str]] = {}
    for v in ctx.registry_versions:  # the registry's restaurants, by street, so the alerts join to it
        if v.get("industry") == "餐饮" and v.get("status") == "存续":
            restaurants.setdefault(v["street_code"], {})[v["uscc"]] = v["entity_name"]
    kitchens = []
    for street_code, count in ((NANPING_STREET, NANPING_SMART_KITCHENS), (None, OTHER_SMART_KITCHENS)):
        for i in range(count):
            street = ctx.geo.street(street_code) if street_code else ctx.geo.pick_street(rng)
            known = sorted(restaurants.get(street.code, {}).items())
            made_up = (_uscc(rng, street.area_code), f"重庆市{street.area_name}{rng.choice('渝巴嘉')}{i}号餐馆")
            uscc, name = known[i] if i < len(known) else made_up
            kitchens.append({"id": f"ZHCF{street.code}{i + 1:03d}", "uscc": uscc, "name": name,
                             "street_code": street.code, "area_code": street.area_code})
    records = []
    for day in ctx.days:
        factor = 1.3 if day.weekday() >= 5 else 1.0
        n = scaled_count(rng, 0.8 * len(kitchens) * factor, ctx.scale, 0.2)
        rows: list[dict[str, Any]] = []
        for _ in range(n):
            k = rng.choice(kitchens)
            hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
            rows.append({"kitchen": dict(k), "alert": {
                "type": rng.choices([t for t, _ in ALERT_TYPES], weights=[w for _, w in ALERT_TYPES])[0],
                "level": rng.choices((1, 2, 3), weights=(0.6, 0.3, 0.1))[0],
                "time": fmt_ts(at(day, hour * 3600 + rng.randrange(3600)))},
                "handled": rng.random() < 0.7})
        rows.sort(key=lambda r: (r["alert"]["time"], r["kitchen"]["id"]))
        for seq, r in enumerate(rows, 1):
            r["alert_id"] = f"CFGJ{day:%Y%m%d}{seq:05d}"
            r["snapshot"] = f"/snapshots/{day:%Y%m%d}/{r['alert_id']}.jpg"
        for _ in range(min(n, stochastic_round(rng, ctx.defect_rate * n))):
            r, kind = rng.choice(rows), rng.choice(("uscc_check_char", "alert_level_out_of_range"))
            if kind == "uscc_check_char":
                good = r["kitchen"]["uscc"][-1]
                r["kitchen"]["uscc"] = r["kitchen"]["uscc"][:-1] + rng.choice([c for c in USCC_ALPHABET if c != good])
            else:
                r["alert"]["level"] = 9
            out.defects[kind] += 1
        records += rows
        out.rows[day.isoformat()] = n
    path = ctx.department_dir("scjgj") / "kitchen_alerts.jsonl"
    write_atomic(path, jsonl_bytes(records))
    out.files.append(path)
    return out


def parking_lots(ctx: SimContext) -> Output:
    out = Output("jtj/parking_lots", "api")
    rng = ctx.rng(out.dataset)
    first = ctx.days[0]
    lots: list[dict[str, Any]] = []
    n_initial = max(5, round(300 * ctx.scale))
    for i in range(n_initial + scaled_count(rng, len(ctx.days) * 0.3, ctx.scale, 0.2, minimum=0)):
        street = ctx.geo.pick_street(rng)
        lot_type = rng.choices([t for t, _ in LOT_TYPES], weights=[w for _, w in LOT_TYPES])[0]
        spaces = rng.randint(8, 40) if lot_type == "路内停车泊位" else rng.randint(40, 1200)
        opened = first - dt.timedelta(days=rng.randint(30, 3000)) if i < n_initial else rng.choice(ctx.days)
        lng, lat = near(rng, street.code, 0.015)
        road = rng.choice(street.roads)
        lots.append({
            "lot_id": f"TCC{street.code}{i + 1:04d}", "lot_name": f"{road}{rng.choice(('公共', '', '地下'))}停车场{i + 1}",
            "lot_type": lot_type, "area_code": street.area_code, "street_code": street.code,
            "address": ctx.geo.address(rng, street, suffix=False), "total_spaces": spaces,
            "charging_spaces": rng.randint(0, spaces // 5), "operator_uscc": _uscc(rng, street.area_code),
            "location": {"lng": lng, "lat": lat}, "fee": {"first_hour_yuan": rng.choice((0, 5, 8, 10)),
                                                          "per_hour_yuan": rng.choice((2, 3, 5))},
            "opened_on": opened.isoformat(), "smart": rng.random() < 0.25,
        })
    for _ in range(stochastic_round(rng, ctx.defect_rate * len(lots))):
        lot, kind = rng.choice(lots), rng.choice(("negative_spaces", "invalid_street_code"))
        if kind == "negative_spaces":
            lot["total_spaces"] = -lot["total_spaces"]
        else:
            lot["street_code"] = lot["area_code"] + "999"
        out.defects[kind] += 1
    for day in ctx.days:
        out.rows[day.isoformat()] = sum(1 for lot in lots if lot["opened_on"] <= day.isoformat())
    ctx.shared["parking_lots"] = lots
    path = ctx.department_dir("jtj") / "parking_lots.jsonl"
    write_atomic(path, jsonl_bytes(lots))
    out.files.append(path)
    return out
