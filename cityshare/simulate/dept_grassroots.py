"""Grassroots sources: 南坪街道 and 礼嘉街道 (grids, grid workers, street-raised cases), 民政局 elderly
living alone, and the 水电气讯 joint-installation platform.

南坪街道 follows the article's calibration: 12 dedicated grids (专属网格), 156 community grids (社区网格)
and 312 grid workers (two per community grid; a dedicated grid is led by one of them 兼任). Community
names and codes below the street are illustrative (the street codes are real).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from cityshare.simulate import people
from cityshare.simulate._framework import Output, SimContext, csv_bytes, write_file, write_xlsx
from cityshare.simulate._util import at, fmt_ts, scaled_count, stochastic_round
from cityshare.workcal import is_workday

NANPING, LIJIA = "500108003", "500112019"
STREETS: dict[str, dict[str, Any]] = {
    "jd_nanping": {"code": NANPING, "name": "南坪街道", "dedicated": 12, "community_grids": 156, "cases": 30,
                   "communities": ("后堡社区", "南湖社区", "东路社区", "西路社区", "北路社区", "白鹤社区", "响水路社区",
                                   "福红社区", "万寿路社区", "南坪村社区", "烟雨社区", "学府社区")},
    "jd_lijia": {"code": LIJIA, "name": "礼嘉街道", "dedicated": 5, "community_grids": 60, "cases": 12,
                 "communities": ("礼嘉社区", "白云湖社区", "金山社区", "龙塘社区", "天湖社区")},
}
DEDICATED_KINDS = ("商圈", "学校", "医院", "农贸市场", "交通枢纽", "老旧小区", "工地")
GRID_HEADERS = ["网格编码", "网格名称", "网格类型", "所属社区", "网格员编号", "网格员姓名", "身份证号", "联系电话", "岗位",
                "入职日期"]
CASE_HEADERS = ["吹哨编号", "网格编码", "问题类别", "问题描述", "吹哨时间", "报到部门", "派单时间", "报到时间", "办结时间",
                "办理状态", "吹哨人编号"]
CASE_KINDS = (("店外经营", "cgj", 0.25), ("占道停车", "jtj", 0.15), ("违章搭建", "ghzrj", 0.1), ("工地扬尘", "zjw", 0.1),
              ("独居老人关爱", "mzj", 0.1), ("管网报修", "sdqx", 0.1), ("垃圾清运", "cgj", 0.2))
DEPT_NAMES = {"cgj": "城管局", "jtj": "交通局", "ghzrj": "规划和自然资源局", "zjw": "住建委", "mzj": "民政局",
              "sdqx": "水电气讯联合报装"}


def _grids(dept: str, rng: random.Random) -> list[dict[str, Any]]:
    """One row per (grid, worker) assignment of the street."""
    s = STREETS[dept]
    communities = s["communities"]
    rows: list[dict[str, Any]] = []
    workers: list[dict[str, Any]] = []
    areas = [s["code"][:6]] * 6 + ["500101", "500110", "500222", "500230"]
    for g in range(s["community_grids"]):
        community = communities[g % len(communities)]
        grid = {"code": f"{s['code']}{(g % len(communities)) + 1:03d}{g // len(communities) + 1:03d}",
                "name": f"{community}第{g // len(communities) + 1}网格", "kind": "社区网格", "community": community}
        for _ in range(2):
            male = rng.random() < 0.45
            worker = {"id": f"WGY{s['code'][-3:]}{len(workers) + 1:04d}", "name": people.person_name(rng, male),
                      "person_id": people.id_number(rng, areas, male, 1965, 2000), "phone": people.mobile(rng),
                      "joined": (dt.date(2019, 1, 1) + dt.timedelta(days=rng.randint(0, 2000))).isoformat()}
            workers.append(worker)
            first = not rows or rows[-1]["grid"] is not grid
            rows.append({"grid": grid, "worker": worker, "role": "专职网格员" if first else "兼职网格员"})
    for d in range(s["dedicated"]):
        kind = DEDICATED_KINDS[d % len(DEDICATED_KINDS)]
        community = communities[d % len(communities)]
        grid = {"code": f"{s['code']}9{d + 1:02d}001", "name": f"{community}{kind}专属网格", "kind": "专属网格",
                "community": community}
        rows.append({"grid": grid, "worker": rng.choice(workers), "role": "专属网格长（兼任）"})
    return rows


def grid_workers(ctx: SimContext, dept: str) -> Output:
    out = Output(f"{dept}/grid_workers", "xlsx")
    rng = ctx.rng(out.dataset)
    assignments = _grids(dept, rng)
    ctx.shared[f"{dept}_grids"] = assignments
    name = STREETS[dept]["name"]
    for day in ctx.days:
        sheets: dict[str, list[list[Any]]] = {}
        for a in sorted(assignments, key=lambda a: (a["grid"]["community"], a["grid"]["code"], a["worker"]["id"])):
            g, w = a["grid"], a["worker"]
            sheets.setdefault(g["community"], []).append(
                [g["code"], g["name"], g["kind"], g["community"], w["id"], w["name"], w["person_id"], w["phone"], a["role"],
                 w["joined"]])
        for _ in range(stochastic_round(rng, ctx.defect_rate * len(assignments))):
            row = rng.choice(rng.choice(list(sheets.values())))
            row[6] = row[6][:-1] + ("0" if row[6][-1] != "0" else "1")
            out.defects["id_check_digit"] += 1
        path = ctx.inbox(out.dataset, f"grid_workers_{day}.xlsx")
        # Each community's sheet: the grid columns merged over the grid's workers.
        write_xlsx(path, f"{name}网格及网格员花名册（截至{day:%Y年%m月%d日}）", GRID_HEADERS, sheets, merge_column=0,
                   footer=f"填报单位：{name}办事处　　审核人：网格管理中心")
        out.files.append(path)
        out.rows[day.isoformat()] = len(assignments)
    return out


def street_cases(ctx: SimContext, dept: str) -> Output:
    """街道吹哨、部门报到: cases the street raises and the departments' response times."""
    out = Output(f"{dept}/street_cases", "csv")
    rng = ctx.rng(out.dataset)
    s = STREETS[dept]
    assignments = ctx.shared.get(f"{dept}_grids") or _grids(dept, random.Random(0))
    community = [a for a in assignments if a["grid"]["kind"] == "社区网格"]
    for day in ctx.days:
        n = scaled_count(rng, s["cases"] * (1.0 if is_workday(day) else 0.6), ctx.scale, 0.3)
        rows = []
        for seq in range(1, n + 1):
            a = rng.choice(community)
            kind, dept_slug, _ = rng.choices(CASE_KINDS, weights=[w for *_, w in CASE_KINDS])[0]
            raised = at(day, rng.randint(8 * 3600, 20 * 3600))
            dispatched = raised + dt.timedelta(minutes=rng.uniform(5, 90))
            reported = dispatched + dt.timedelta(hours=rng.uniform(0.3, 30))  # 报到: the department arrives
            done = rng.random() < 0.75
            closed = fmt_ts(reported + dt.timedelta(hours=rng.uniform(1, 72))) if done else ""
            rows.append([f"CS{s['code'][-3:]}{day:%Y%m%d}{seq:04d}", a["grid"]["code"], kind, f"{a['grid']['name']}{kind}问题",
                         fmt_ts(raised), DEPT_NAMES[dept_slug], fmt_ts(dispatched), fmt_ts(reported), closed,
                         "已办结" if done else rng.choice(("已派单", "已报到", "办理中")), a["worker"]["id"]])
        for _ in range(min(n, stochastic_round(rng, ctx.defect_rate * n))):
            kind = rng.choice(("duplicate_key", "reported_before_raised"))
            if kind == "duplicate_key":
                rows.append(list(rng.choice(rows)))
            else:
                row = rng.choice(rows)
                row[7] = fmt_ts(dt.datetime.fromisoformat(row[4]) - dt.timedelta(hours=1))
            out.defects[kind] += 1
        encoding = "utf-8"
        if dept == "jd_lijia":
            encoding = "gb18030"  # 礼嘉街道's office PC exports in GBK (the contract says encoding auto)
        elif rng.random() < ctx.defect_rate * 5:
            encoding = "gb18030"  # a GBK file where UTF-8 is usual: auto-detection must cope
            out.defects["gbk_file"] += 1
        headers = list(CASE_HEADERS)
        if ctx.file_defects and rng.random() < ctx.defect_rate * 5:
            headers[2] = "问题类型"
            out.defects["renamed_column"] += 1
        path = ctx.inbox(out.dataset, f"street_cases_{day}.csv")
        write_file(out, path, csv_bytes(headers, rows, encoding=encoding), day, len(rows))
    return out


def elderly_living_alone(ctx: SimContext) -> Output:
    """民政局 高龄独居老人台账: one workbook a day, one sheet per community, grid cells merged."""
    out = Output("mzj/elderly_living_alone", "xlsx")
    rng = ctx.rng(out.dataset)
    elders = []
    for dept, share in (("jd_nanping", 1.0), ("jd_lijia", 0.35)):
        s = STREETS[dept]
        assignments = ctx.shared.get(f"{dept}_grids") or _grids(dept, random.Random(0))
        grids = [a["grid"] for a in assignments if a["grid"]["kind"] == "社区网格"]
        for i in range(max(3, round(260 * share * ctx.scale))):
            male = rng.random() < 0.38
            grid = rng.choice(grids)
            person_id = people.id_number(rng, [s["code"][:6]], male, 1928, 1946)  # 80 years and older
            elders.append({"elder_id": f"GLDJ{s['code']}{i + 1:05d}", "name": people.person_name(rng, male),
                           "person_id": person_id,
                           "gender": "男" if male else "女", "street_code": s["code"], "community": grid["community"],
                           "grid_code": grid["code"],
                           "address": f"{grid['community']}{rng.randint(1, 40)}栋{rng.randint(1, 30)}-{rng.randint(1, 4)}",
                           "phone": people.mobile(rng), "contact_phone": people.mobile(rng),
                           "care_level": rng.choices(("一级", "二级", "三级"), weights=(0.2, 0.35, 0.45))[0],
                           "sensor": "是" if rng.random() < 0.6 else "否",
                           "registered_on": (dt.date(2021, 1, 1) + dt.timedelta(days=rng.randint(0, 1500))).isoformat()})
    ctx.shared["elders"] = elders
    headers = ["老人编号", "姓名", "身份证号", "性别", "街道代码", "所属社区", "网格编码", "居住地址", "本人电话",
               "紧急联系人电话",
               "照护等级", "是否安装智能设备", "登记日期"]
    keys = ["elder_id", "name", "person_id", "gender", "street_code", "community", "grid_code", "address", "phone",
            "contact_phone", "care_level", "sensor", "registered_on"]
    for day in ctx.days:
        sheets: dict[str, list[list[Any]]] = {}
        for e in sorted(elders, key=lambda e: (e["community"], e["grid_code"], e["elder_id"])):
            sheets.setdefault(e["community"], []).append([e[k] for k in keys])
        for _ in range(stochastic_round(rng, ctx.defect_rate * len(elders))):
            row = rng.choice(rng.choice(list(sheets.values())))
            kind = rng.choice(("invalid_phone", "missing_name"))
            if kind == "invalid_phone":
                row[8] = row[8][:9]
            else:
                row[1] = None
            out.defects[kind] += 1
        path = ctx.inbox(out.dataset, f"elderly_living_alone_{day}.xlsx")
        write_xlsx(path, f"高龄独居老人关爱台账（{day:%Y年%m月%d日}）", headers, sheets, merge_column=6,
                   footer="填报单位：南岸区民政局、渝北区民政局（汇总）")
        out.files.append(path)
        out.rows[day.isoformat()] = len(elders)
    return out


UTILITIES = (("供水", "重庆水务集团股份有限公司"), ("供电", "国网重庆市电力公司"), ("供气", "重庆燃气集团股份有限公司"),
             ("通信", "中国电信股份有限公司重庆分公司"))
STAGES = ("accepted_at", "surveyed_at", "approved_at", "built_at", "connected_at")
SDQX_HEADERS = ["申请编号", "报装类型", "供应单位", "申请单位", "申请单位统一社会信用代码", "区县代码", "街道代码", "项目地址",
                "申请时间", "受理时间", "现场踏勘时间", "方案审批时间", "外线施工完成时间", "通水通电通气时间", "办理状态"]


def installation_applications(ctx: SimContext) -> Output:
    """水电气讯一站式联合报装: one row per application that moved on a day (tab-separated, UTF-8 BOM)."""
    out = Output("sdqx/installation_applications", "csv")
    rng = ctx.rng(out.dataset)
    shops = [v for v in ctx.registry_versions if v.get("entity_type") != "个体工商户"] or ctx.registry_versions
    open_apps: list[dict[str, Any]] = []
    for day in ctx.days:
        moved: list[dict[str, Any]] = []
        workday = is_workday(day)
        # Applications come in online every day; the utilities' staff move them on working days.
        for seq in range(1, scaled_count(rng, 30 if workday else 8, ctx.scale, 0.3) + 1):
            utility, provider = rng.choice(UTILITIES)
            street = ctx.geo.pick_street(rng)
            applicant = rng.choice(shops) if shops else {"entity_name": "重庆某某公司", "uscc": ""}
            app: dict[str, Any] = {"id": f"LHBZ{day:%Y%m%d}{seq:04d}", "utility": utility, "provider": provider,
                   "applicant": applicant["entity_name"], "uscc": applicant["uscc"], "area": street.area_code,
                   "street": street.code, "address": ctx.geo.address(rng, street),
                   "applied_at": fmt_ts(at(day, rng.randint(9 * 3600, 17 * 3600))), "stage": 0}
            open_apps.append(app)
            moved.append(app)
        if workday:
            for app in list(open_apps):
                if app in moved or rng.random() > 0.45:
                    continue
                previous = str(app[STAGES[app["stage"] - 1]] if app["stage"] else app["applied_at"])
                hours = rng.uniform(2, 40) if app["stage"] < 3 else rng.uniform(24, 120)
                when = max(dt.datetime.fromisoformat(previous) + dt.timedelta(hours=hours), at(day, 9 * 3600))
                app[STAGES[app["stage"]]] = fmt_ts(min(when, at(day, 18 * 3600)))
                app["stage"] += 1
                moved.append(app)
                if app["stage"] == len(STAGES):
                    open_apps.remove(app)
        rows = [[a["id"], a["utility"], a["provider"], a["applicant"], a["uscc"], a["area"], a["street"], a["address"],
                 a["applied_at"], *[a.get(s, "") for s in STAGES],
                 "已通" if a["stage"] == len(STAGES) else ("已受理" if a["stage"] else "已申请")] for a in moved]
        for _ in range(min(len(rows), stochastic_round(rng, ctx.defect_rate * len(rows)))):
            row = rng.choice(rows)
            row[1] = "供热"  # not one of the four joint utilities
            out.defects["invalid_utility_type"] += 1
        path = ctx.inbox(out.dataset, f"installation_applications_{day}.tsv")
        write_file(out, path, csv_bytes(SDQX_HEADERS, rows, delimiter="\t", bom=True), day, len(rows))
    return out
