"""城管局 beyond 数字城管 cases: street-lamp faults (城市照明) and muck-truck GPS (渣土车运行).

- ``cgj/street_lamp_faults``: the lighting centre's daily fault sheet, an .xlsx workbook with one sheet
  per district, a merged title row, the road merged over its faults, and a sign-off line.
- ``cgj/muck_truck_gps``: GPS points of muck trucks, pushed as JSON lines; trucks run at night
  (22:00-06:00, the city's muck-transport window), ~5 % of points arrive a day late and a file is
  not in time order.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from cityshare.simulate._framework import CHONGQING_BBOX, Output, SimContext, jsonl_bytes, near, write_file, write_xlsx
from cityshare.simulate._util import at, fmt_ts, scaled_count, stochastic_round

LAMP_HEADERS = ["故障单号", "路灯编号", "街道代码", "道路名称", "故障类型", "报修时间", "修复时间", "处理状态"]
FAULT_TYPES = (("灯不亮", 0.55), ("白天亮灯", 0.1), ("闪烁", 0.15), ("灯杆倾斜", 0.05), ("灯具破损", 0.08),
               ("线路故障", 0.07))
DAILY_FAULTS = 40
GPS_FIELDS_SITE = ("工地", "消纳场")
DAILY_TRUCKS = 40
PLATE_LETTERS = "ABCDFGH"


def _weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def street_lamp_faults(ctx: SimContext) -> Output:
    out = Output("cgj/street_lamp_faults", "xlsx")
    rng = ctx.rng(out.dataset)
    streets = list(ctx.geo.streets)
    for day in ctx.days:
        rain = rng.random() < 0.3  # rainy nights bring more faults
        n = scaled_count(rng, DAILY_FAULTS * (1.6 if rain else 1.0), ctx.scale, 0.2)
        rows: list[list[Any]] = []
        for seq in range(1, n + 1):
            street = ctx.geo.pick_street(rng)
            road = rng.choice(street.roads)
            reported = at(day, rng.choice((rng.randint(0, 6 * 3600), rng.randint(18 * 3600, 86399))))
            status = rng.choices(("已修复", "维修中", "待修"), weights=(0.6, 0.25, 0.15))[0]
            repaired = fmt_ts(reported + dt.timedelta(hours=rng.uniform(2, 36))) if status == "已修复" else None
            lamp = f"LD{street.code[4:]}{rng.randint(1, 3999):04d}"
            rows.append([f"LDGZ{day:%Y%m%d}{seq:04d}", lamp, street.code, road, _weighted(rng, FAULT_TYPES),
                         fmt_ts(reported), repaired, status, street.area_name])
        for _ in range(min(n, stochastic_round(rng, ctx.defect_rate * n))):
            row, kind = rng.choice(rows), rng.choice(("invalid_street_code", "repaired_before_reported", "missing_lamp_id"))
            if kind == "invalid_street_code":
                row[2] = row[2][:6] + "999"
            elif kind == "repaired_before_reported":
                row[6], row[7] = fmt_ts(dt.datetime.fromisoformat(row[5]) - dt.timedelta(hours=3)), "已修复"
            else:
                row[1] = None
            out.defects[kind] += 1
        headers = list(LAMP_HEADERS)
        if ctx.file_defects and rng.random() < ctx.defect_rate * 5:
            headers[4] = "故障类别"  # a clerk renamed the column: the gate blocks the day's batch
            out.defects["renamed_column"] += 1
        sheets: dict[str, list[list[object]]] = {}
        for row in sorted(rows, key=lambda r: (r[8], r[3], r[0])):
            sheets.setdefault(row[8], []).append(row[:8])
        for area in sorted({s.area_name for s in streets}):
            sheets.setdefault(area, [])
        path = ctx.inbox(out.dataset, f"street_lamp_faults_{day}.xlsx")
        write_xlsx(path, f"城市照明路灯故障报修日报（{day:%Y年%m月%d日}）", headers, sheets, merge_column=3,
                   footer=f"填报单位：重庆市城市照明管理中心　　填报日期：{day}")
        out.files.append(path)
        out.rows[day.isoformat()] = n
    return out


def _plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return f"渝{rng.choice(PLATE_LETTERS)}{rng.choice(letters)}{rng.randint(0, 9999):04d}"


def muck_truck_gps(ctx: SimContext) -> Output:
    out = Output("cgj/muck_truck_gps", "jsonl")
    rng = ctx.rng(out.dataset)
    fleet = [(_plate(rng), f"ZTC{i:04d}", ctx.geo.pick_street(rng).code) for i in range(max(4, round(60 * ctx.scale)))]
    carried: list[dict[str, object]] = []  # late points of the previous day
    for day in ctx.days:
        weekend = day.weekday() >= 5
        active = rng.sample(fleet, min(len(fleet), scaled_count(rng, DAILY_TRUCKS * (0.8 if weekend else 1.0),
                                                               ctx.scale, 0.1)))
        today: list[dict[str, Any]] = []
        late: list[dict[str, Any]] = []
        for plate, truck_id, street in active:
            site = f"GD{street[-3:]}{rng.randint(1, 40):03d}"
            start = rng.choice((rng.randint(0, 3600), rng.randint(20 * 3600, 21 * 3600)))  # night shifts
            lng, lat = near(rng, street, 0.03)
            for step in range(rng.randint(30, 70)):
                seconds = start + step * 300 + rng.randint(0, 30)
                if seconds >= 86400:
                    break
                lng += rng.uniform(-0.003, 0.003)
                lat += rng.uniform(-0.003, 0.003)
                point = {"device_id": truck_id, "plate_no": plate,
                         "gps": {"time": fmt_ts(at(day, seconds)), "lng": round(lng, 6), "lat": round(lat, 6),
                                 "speed_kmh": round(rng.uniform(0, 45), 1), "heading": rng.randrange(360)},
                         "site": {"id": site, "type": rng.choice(GPS_FIELDS_SITE)}, "load_state": rng.choice(("重载", "空载"))}
                (late if rng.random() < 0.05 else today).append(point)
        for _ in range(min(len(today), stochastic_round(rng, ctx.defect_rate * len(today)))):
            point = rng.choice(today)
            kind = rng.choice(("out_of_range_position", "missing_time"))
            gps = point["gps"]
            assert isinstance(gps, dict)
            if kind == "out_of_range_position":
                gps["lng"] = round(CHONGQING_BBOX[2] + rng.uniform(1, 5), 6)
            else:
                gps["time"] = None
            out.defects[kind] += 1
        records = carried + today
        rng.shuffle(records)  # gateways flush per device: the file is not in time order
        out.defects["late_rows"] += len(carried)
        path = ctx.inbox(out.dataset, f"muck_truck_gps_{day}.jsonl")
        write_file(out, path, jsonl_bytes(records), day, len(records))
        carried = late
    return out
