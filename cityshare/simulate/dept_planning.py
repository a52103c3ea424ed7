"""住建委 construction permits and 规划和自然资源局 planning permits (department SQLite databases), and
规划和自然资源局 illegal-construction reports (a GBK CSV from its older case system).

The databases use the departments' own column names (pinyin initials, as their systems do); the
contracts map them with ``sourceField``. Every insert and update stamps the update-time column, which
CityShare reads incrementally as its watermark. Permits are issued on working days only (Chinese
calendar, with 调休).
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path
from typing import Any

from cityshare.identifiers import USCC_ALPHABET, complete_uscc
from cityshare.simulate._framework import Output, SimContext, csv_bytes, near, write_file
from cityshare.simulate._util import at, fmt_ts, scaled_count, stochastic_round
from cityshare.workcal import is_workday

PERMIT_COLUMNS = ("XKZBH", "XMMC", "JSDW", "JSDW_TYDM", "SGDW", "QXDM", "JDDM", "XMDZ", "JZMJ", "HTJE",
                  "FZRQ", "ZT", "GXSJ")
PLAN_COLUMNS = ("GHXKZH", "XMMC", "JSDW", "JSDW_TYDM", "QXDM", "JDDM", "YDMJ", "JZMJ", "YDXZ", "FZRQ", "ZT",
                "UPDATE_TIME")
REPORT_HEADERS = ["线索编号", "线索来源", "区县代码", "街道代码", "违建地址", "违建面积", "结构类型", "发现日期", "规划许可证号",
                  "处置状态", "经度", "纬度"]
PROJECT_KINDS = ("住宅小区", "商业综合体", "学校", "医院", "厂房", "安置房", "停车楼", "社区服务中心")
BUILDERS = ("中建八局", "中冶建工", "重庆建工", "中铁二十局", "重庆城建控股", "华姿建设", "渝发建设")


def _uscc(rng: random.Random, area: str) -> str:
    drawn = "91" + area + "MA" + "".join(rng.choice(USCC_ALPHABET) for _ in range(7))
    return complete_uscc(drawn[:16])  # 17th character: the organization code check (GB 11714)


def _office_time(rng: random.Random, day: dt.date) -> str:
    return fmt_ts(at(day, rng.randint(9 * 3600, 17 * 3600 + 1800)))


def _write_db(path: Path, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]], index: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.execute(f"CREATE TABLE {table} ({', '.join(c + ' TEXT' for c in columns)})")
        con.execute(f"CREATE INDEX ix_{table}_{index} ON {table} ({index})")
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in columns)})",
                        [tuple(r[c] for c in columns) for r in rows])
        con.commit()
    finally:
        con.close()
    tmp.replace(path)


def _permits(ctx: SimContext, out: Output, rng: random.Random, prefix: str, initial: int, daily: float,
             make: Any, progress: tuple[str, ...], stamp: str) -> list[dict[str, Any]]:
    """Initial history + permits issued on working days + status updates (in place, restamped)."""
    rows: list[dict[str, Any]] = []
    first = ctx.days[0]
    for i in range(max(3, round(initial * ctx.scale))):
        issued = first - dt.timedelta(days=rng.randint(1, 720))
        rows.append(make(rng, f"{prefix}{issued:%Y%m%d}{i:04d}", issued, _office_time(rng, issued)))
    for day in ctx.days:
        n = scaled_count(rng, daily, ctx.scale, 0.4, minimum=0) if is_workday(day) else 0
        new = [make(rng, f"{prefix}{day:%Y%m%d}{1000 + k:04d}", day, _office_time(rng, day)) for k in range(n)]
        updates = 0
        if is_workday(day):
            for row in rng.sample(rows, min(len(rows), scaled_count(rng, daily / 2, ctx.scale, 0.5, minimum=0))):
                if row["ZT"] in progress[:-1]:
                    row["ZT"] = progress[progress.index(row["ZT"]) + 1]
                    row[stamp] = _office_time(rng, day)
                    updates += 1
        for _ in range(min(n, stochastic_round(rng, ctx.defect_rate * (n + updates)))):
            row, kind = rng.choice(new), rng.choice(("uscc_check_char", "invalid_street_code"))
            if kind == "uscc_check_char":
                good = row["JSDW_TYDM"][-1]
                row["JSDW_TYDM"] = row["JSDW_TYDM"][:-1] + rng.choice([c for c in USCC_ALPHABET if c != good])
            else:
                row["JDDM"] = row["QXDM"] + "999"
            out.defects[kind] += 1
        rows += new
        out.rows[day.isoformat()] = n + updates
    return rows


def construction_permits(ctx: SimContext) -> Output:
    out = Output("zjw/construction_permits", "sqlite")
    rng = ctx.rng(out.dataset)

    def make(rng: random.Random, number: str, issued: dt.date, stamp: str) -> dict[str, Any]:
        street = ctx.geo.pick_street(rng)
        kind = rng.choice(PROJECT_KINDS)
        area = rng.randint(2000, 180000)
        return {"XKZBH": number, "XMMC": f"{street.name.removesuffix('街道')}{kind}项目（{rng.choice('一二三四')}期）",
                "JSDW": f"重庆{rng.choice(('渝', '巴', '嘉', '江'))}{rng.choice(('城', '兴', '润', '和'))}置业有限公司",
                "JSDW_TYDM": _uscc(rng, street.area_code), "SGDW": f"{rng.choice(BUILDERS)}集团有限公司",
                "QXDM": street.area_code, "JDDM": street.code, "XMDZ": ctx.geo.address(rng, street, suffix=False),
                "JZMJ": f"{area:.2f}", "HTJE": f"{area * rng.uniform(0.25, 0.45):.2f}",
                "FZRQ": issued.isoformat(), "ZT": rng.choice(("已发证", "在建")), "GXSJ": stamp}

    rows = _permits(ctx, out, rng, "5001", 300, 6, make, ("已发证", "在建", "竣工验收"), "GXSJ")
    path = ctx.department_dir("zjw") / "zjw_approval.sqlite"
    _write_db(path, "SGXK", PERMIT_COLUMNS, rows, "GXSJ")
    out.files.append(path)
    return out


def planning_permits(ctx: SimContext) -> Output:
    out = Output("ghzrj/planning_permits", "sqlite")
    rng = ctx.rng(out.dataset)

    def make(rng: random.Random, number: str, issued: dt.date, stamp: str) -> dict[str, Any]:
        street = ctx.geo.pick_street(rng)
        land = rng.randint(1500, 90000)
        return {"GHXKZH": f"建字第{number}号", "XMMC": f"{street.name.removesuffix('街道')}{rng.choice(PROJECT_KINDS)}",
                "JSDW": f"重庆{rng.choice(('渝', '巴', '两江', '南岸'))}{rng.choice(('城投', '建设', '开发'))}有限公司",
                "JSDW_TYDM": _uscc(rng, street.area_code), "QXDM": street.area_code, "JDDM": street.code,
                "YDMJ": f"{land:.2f}", "JZMJ": f"{land * rng.uniform(1.2, 3.5):.2f}",
                "YDXZ": rng.choice(("二类居住用地", "商业用地", "教育科研用地", "医疗卫生用地", "工业用地")),
                "FZRQ": issued.isoformat(), "ZT": "有效", "UPDATE_TIME": stamp}

    rows = _permits(ctx, out, rng, "500", 200, 4, make, ("有效", "已变更", "已注销"), "UPDATE_TIME")
    ctx.shared["planning_permits"] = [(r["GHXKZH"], r["JDDM"]) for r in rows]
    path = ctx.department_dir("ghzrj") / "ghzrj_planning.sqlite"
    _write_db(path, "JSGCGHXK", PLAN_COLUMNS, rows, "UPDATE_TIME")
    out.files.append(path)
    return out


def illegal_construction_reports(ctx: SimContext) -> Output:
    """Daily GBK export of illegal-construction leads (卫片执法, 群众举报, 网格巡查, 数字城管)."""
    out = Output("ghzrj/illegal_construction_reports", "csv")
    rng = ctx.rng(out.dataset)
    permits = ctx.shared.get("planning_permits", [])
    for day in ctx.days:
        n = scaled_count(rng, 15 * (0.6 if day.weekday() >= 5 else 1.0), ctx.scale, 0.3)
        rows = []
        for seq in range(1, n + 1):
            street = ctx.geo.pick_street(rng)
            lng, lat = near(rng, street.code)
            source = rng.choices(("卫片执法", "群众举报", "网格巡查", "数字城管"), weights=(0.2, 0.35, 0.3, 0.15))[0]
            # A fifth concern building beyond an existing permit (超出许可): the permit number is given.
            permit = rng.choice(permits)[0] if permits and rng.random() < 0.2 else ""
            rows.append([f"WJ{day:%Y%m%d}{seq:04d}", source, street.area_code, street.code,
                         ctx.geo.address(rng, street), f"{rng.uniform(6, 600):.1f}",
                         rng.choice(("彩钢瓦", "砖混", "钢架", "框架", "简易棚")),
                         (day - dt.timedelta(days=rng.choice((0, 0, 0, 1, 2)))).isoformat(), permit,
                         rng.choice(("核查中", "已立案", "整改中", "已拆除")), f"{lng:.6f}", f"{lat:.6f}"])
        for _ in range(min(n, stochastic_round(rng, ctx.defect_rate * n))):
            row, kind = rng.choice(rows), rng.choice(("negative_area", "missing_street_code"))
            if kind == "negative_area":
                row[5] = f"-{row[5]}"
            else:
                row[3] = ""
            out.defects[kind] += 1
        headers = list(REPORT_HEADERS)
        if ctx.file_defects and rng.random() < ctx.defect_rate * 5:
            headers[5] = "面积（平方米）"
            out.defects["renamed_column"] += 1
        path = ctx.inbox(out.dataset, f"illegal_construction_reports_{day}.csv")
        write_file(out, path, csv_bytes(headers, rows, encoding="gb18030"), day, n)
    return out
