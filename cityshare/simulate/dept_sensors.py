"""JSON-lines sensor feeds: bridge monitoring (住建委), parking occupancy (交通局), elderly-care alerts (民政局).

Each feed file holds what arrived on a day: most records measured that day, ~4 % measured the day
before (late, held back by a gateway), in no particular order.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from cityshare.simulate._framework import Output, SimContext, jsonl_bytes, write_file
from cityshare.simulate._util import at, fmt_ts, scaled_count, stochastic_round

# Real Chongqing bridges of the central districts (市政桥梁), with the district they belong to.
BRIDGES: tuple[tuple[str, str, str], ...] = (
    ("QL500108001", "东水门长江大桥", "500108"), ("QL500103001", "千厮门嘉陵江大桥", "500103"),
    ("QL500108002", "菜园坝长江大桥", "500108"), ("QL500107001", "鹅公岩长江大桥", "500107"),
    ("QL500105001", "朝天门长江大桥", "500105"), ("QL500105002", "黄花园嘉陵江大桥", "500105"),
    ("QL500103002", "嘉华嘉陵江大桥", "500103"), ("QL500105003", "渝澳嘉陵江大桥", "500105"),
    ("QL500112001", "大佛寺长江大桥", "500112"), ("QL500107002", "李家沱长江大桥", "500107"),
    ("QL500103003", "牛角沱嘉陵江大桥", "500103"), ("QL500108003", "石板坡长江大桥", "500108"),
    ("QL500112002", "高家花园嘉陵江大桥", "500112"), ("QL500107003", "马桑溪长江大桥", "500107"),
    ("QL500105004", "石门大桥", "500105"),
)
# sensor kind → (unit, typical value, daily swing, alarm threshold)
SENSORS: dict[str, tuple[str, float, float, float]] = {
    "应变": ("με", 120.0, 40.0, 400.0), "位移": ("mm", 8.0, 6.0, 50.0), "挠度": ("mm", 15.0, 8.0, 80.0),
    "温度": ("℃", 16.0, 6.0, 60.0),
}
ELDER_ALERTS = (("紧急呼叫", 0.2), ("长时间无活动", 0.3), ("烟雾报警", 0.1), ("燃气泄漏", 0.08), ("跌倒检测", 0.12),
                ("门磁异常", 0.2))
LATE_SHARE = 0.04


def _feed(ctx: SimContext, out: Output, name: str, per_day: dict[dt.date, list[dict[str, Any]]],
          rng: random.Random) -> None:
    """Write each day's arrivals: the day's records minus the late ones, plus yesterday's late ones."""
    carried: list[dict[str, Any]] = []
    for day in ctx.days:
        records = per_day.get(day, [])
        late = [r for r in records if rng.random() < LATE_SHARE]
        late_ids = {id(r) for r in late}
        arrivals = carried + [r for r in records if id(r) not in late_ids]
        rng.shuffle(arrivals)
        out.defects["late_rows"] += len(carried)
        write_file(out, ctx.inbox(out.dataset, f"{name}_{day}.jsonl"), jsonl_bytes(arrivals), day, len(arrivals))
        carried = late


def bridge_sensor_readings(ctx: SimContext) -> Output:
    out = Output("zjw/bridge_sensor_readings", "jsonl")
    rng = ctx.rng(out.dataset)
    n_bridges = max(2, min(len(BRIDGES), round(len(BRIDGES) * ctx.scale)))
    sensors = [(b, f"{b[0]}-{kind}-{k}", kind) for b in BRIDGES[:n_bridges] for kind in SENSORS for k in (1,)]
    interval = 1800
    per_day: dict[dt.date, list[dict[str, Any]]] = {}
    for day in ctx.days:
        heavy = 1.3 if day.weekday() < 5 else 1.0  # weekday traffic loads the deck more
        rows = []
        for (bridge_id, bridge_name, _area), sensor_id, kind in sensors:
            unit, base, swing, alarm = SENSORS[kind]
            for step in range(86400 // interval):
                seconds = step * interval + rng.randint(0, 20)
                hour = seconds / 3600
                rush = 1.0 + 0.4 * heavy * (1 if 7 <= hour <= 9 or 17 <= hour <= 19 else 0)
                value = base * rush + swing * rng.uniform(-0.5, 0.5)
                rows.append({"sensor": {"id": sensor_id, "type": kind, "unit": unit},
                             "bridge": {"id": bridge_id, "name": bridge_name},
                             "ts": fmt_ts(at(day, seconds)), "value": round(value, 2),
                             "alarm": value > alarm})
        for r in rng.sample(rows, min(len(rows), stochastic_round(rng, ctx.defect_rate * len(rows)))):
            kind = rng.choice(("out_of_range_value", "missing_value"))
            r["value"] = 99999.0 if kind == "out_of_range_value" else None
            out.defects[kind] += 1
        per_day[day] = rows
    _feed(ctx, out, "bridge_sensor_readings", per_day, rng)
    return out


def parking_occupancy(ctx: SimContext) -> Output:
    out = Output("jtj/parking_occupancy", "jsonl")
    rng = ctx.rng(out.dataset)
    lots = [lot for lot in ctx.shared.get("parking_lots", []) if lot["smart"] and lot["total_spaces"] > 0]
    interval = 1800
    per_day: dict[dt.date, list[dict[str, Any]]] = {}
    for day in ctx.days:
        weekend = day.weekday() >= 5
        rows = []
        for lot in lots:
            if lot["opened_on"] > day.isoformat():
                continue
            total = lot["total_spaces"]
            for step in range(86400 // interval):
                hour = step * interval / 3600
                if weekend:  # shopping and leisure: a broad afternoon/evening peak
                    load = 0.25 + 0.6 * max(0.0, 1 - abs(hour - 16) / 7)
                else:  # commuting: mornings and late afternoons
                    load = 0.2 + 0.65 * max(0.0, 1 - abs(hour - 10) / 3) + 0.45 * max(0.0, 1 - abs(hour - 18.5) / 2.5)
                occupied = max(0, min(total, round(total * min(load, 0.98) + rng.gauss(0, total * 0.04))))
                rows.append({"lot_id": lot["lot_id"], "ts": fmt_ts(at(day, step * interval + rng.randint(0, 60))),
                             "occupancy": {"occupied": occupied, "free": total - occupied, "total": total}})
        for r in rng.sample(rows, min(len(rows), stochastic_round(rng, ctx.defect_rate * len(rows)))):
            r["occupancy"]["occupied"] = r["occupancy"]["total"] + rng.randint(5, 50)  # counter drift
            out.defects["occupied_above_total"] += 1
        per_day[day] = rows
    _feed(ctx, out, "parking_occupancy", per_day, rng)
    return out


def elderly_sensor_alerts(ctx: SimContext) -> Output:
    out = Output("mzj/elderly_sensor_alerts", "jsonl")
    rng = ctx.rng(out.dataset)
    elders = [e for e in ctx.shared.get("elders", []) if e["sensor"] == "是"]
    per_day: dict[dt.date, list[dict[str, Any]]] = {}
    for day in ctx.days:
        n = scaled_count(rng, 0.08 * len(elders) + 1, 1.0, 0.3) if elders else 0
        rows = []
        for seq in range(1, n + 1):
            e = rng.choice(elders)
            kind = rng.choices([k for k, _ in ELDER_ALERTS], weights=[w for _, w in ELDER_ALERTS])[0]
            alert_time = at(day, rng.randrange(86400))
            responded = alert_time + dt.timedelta(minutes=rng.uniform(3, 45 if kind in ("紧急呼叫", "跌倒检测") else 180))
            rows.append({"alert_id": f"YL{day:%Y%m%d}{e['street_code'][-3:]}{seq:04d}",
                         "device": {"id": f"SB{e['elder_id'][-8:]}{kind[:1]}", "type": kind},
                         "elder": {"id": e["elder_id"], "person_id": e["person_id"]},
                         "street_code": e["street_code"], "community": e["community"], "alert_time": fmt_ts(alert_time),
                         "response": {"by": rng.choices(("网格员", "志愿者", "社区医生", "家属"),
                                                        weights=(0.5, 0.2, 0.15, 0.15))[0],
                                      "at": fmt_ts(responded)}})
        for _ in range(min(n, stochastic_round(rng, ctx.defect_rate * n))):
            r = rng.choice(rows)
            r["response"]["at"] = fmt_ts(dt.datetime.fromisoformat(r["alert_time"]) - dt.timedelta(minutes=30))
            out.defects["responded_before_alert"] += 1
        per_day[day] = rows
    _feed(ctx, out, "elderly_sensor_alerts", per_day, rng)
    return out
