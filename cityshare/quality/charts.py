"""Charts as Vega-Lite specs rendered server-side to SVG by vl-convert (offline: no data URLs allowed,
no JavaScript in the page). Vega-Lite has no radar mark, so the radar is drawn as closed lines in a
cartesian plane with polar coordinates computed here (rings at 20/40/60/80/100 and one spoke per
GB/T 36344 dimension).
"""

from __future__ import annotations

import math
import re
from typing import Any

from cityshare.quality.scorecards import DIMENSIONS

FONT = "Noto Sans CJK SC, Source Han Sans SC, WenQuanYi Micro Hei, Microsoft YaHei, PingFang SC, sans-serif"
CONFIG = {"font": FONT, "view": {"stroke": None}, "axis": {"labelFontSize": 11, "titleFontSize": 12},
          "legend": {"labelFontSize": 11, "titleFontSize": 12}}
GRADE_COLORS = {"domain": ["A", "B", "C", "D", "E"],
                "range": ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]}
HEATMAP_MAX_DAYS = 62
_NS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def render(spec: dict[str, Any], prefix: str = "") -> str:
    """SVG markup for inlining in HTML: namespace declarations dropped (the HTML parser supplies them)
    and element ids prefixed, so several charts on one page never share a gradient or clip id."""
    import vl_convert

    spec = {"config": CONFIG, "background": "white", **spec}
    svg = vl_convert.vegalite_to_svg(spec, allowed_base_urls=[], format_locale="zh-CN",
                                     time_format_locale="zh-CN")
    svg = _NS.sub("", svg).replace("xlink:href", "href")
    if prefix:
        svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
        svg = re.sub(r'(url\(#|href="#)', rf"\g<1>{prefix}-", svg)
    return svg


def scores_bar(departments: list[dict[str, Any]]) -> dict[str, Any]:
    """综合得分 by department, coloured by grade; departments without data say so."""
    values = [{"部门": d["department_name"], "综合得分": d["overall"], "等级": d["grade"] or "无数据",
               "标注": f'{d["overall"]:.1f}（{d["grade"]}）' if d["overall"] is not None else "无数据"}
              for d in departments]
    order = [v["部门"] for v in sorted(values, key=lambda v: -(v["综合得分"] or -1))]
    y = {"field": "部门", "type": "nominal", "sort": order, "title": None}
    return {
        "title": "各部门数据质量综合得分", "width": 460, "height": {"step": 26},
        "data": {"values": values},
        "layer": [
            {"transform": [{"filter": "datum['综合得分'] != null"}], "mark": {"type": "bar"},
             "encoding": {"y": y, "x": {"field": "综合得分", "type": "quantitative",
                                        "scale": {"domain": [0, 100]}, "title": "综合得分"},
                          "color": {"field": "等级", "type": "nominal", "scale": GRADE_COLORS,
                                    "title": "等级"}}},
            {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
             "encoding": {"y": y, "x": {"field": "综合得分", "type": "quantitative"},
                          "text": {"field": "标注"}},
             "transform": [{"calculate": "datum['综合得分'] == null ? 0 : datum['综合得分']",
                            "as": "综合得分"}]},
        ],
    }


def radar(departments: list[dict[str, Any]], size: int = 360) -> dict[str, Any]:
    """Dimension radar: one closed polygon per department with data, on rings of 20…100."""
    n = len(DIMENSIONS)

    def point(i: int, r: float) -> tuple[float, float]:
        angle = 2 * math.pi * i / n
        return round(r * math.sin(angle), 3), round(r * math.cos(angle), 3)

    rings = [{"ring": f"{lvl}", "i": i, "x": point(i % n, lvl)[0], "y": point(i % n, lvl)[1]}
             for lvl in (20, 40, 60, 80, 100) for i in range(n + 1)]
    spokes = [{"x": 0, "y": 0, "x2": point(i, 100)[0], "y2": point(i, 100)[1]} for i in range(n)]
    labels = [{"x": point(i, 118)[0], "y": point(i, 118)[1], "label": d} for i, d in enumerate(DIMENSIONS)]
    series, missing = [], []
    for d in departments:
        if d["overall"] is None:
            continue
        run = 0  # a dimension without data has no point: the outline breaks there instead of dipping to 0
        for i in range(n + 1):
            dim = DIMENSIONS[i % n]
            x_val = d["dimensions"][dim]["X"]
            if x_val is None:
                run += 1
                continue
            x, y = point(i % n, x_val)
            series.append({"部门": d["department_name"], "段": f"{d['department_name']}/{run}", "维度": dim, "i": i,
                           "x": x, "y": y, "得分": f"{x_val:.1f}"})
        missing += [f"{d['department_name']}·{dim}" for dim in DIMENSIONS if d["dimensions"][dim]["X"] is None]
    note = ("无评估数据的维度不画点，轮廓在该处断开：" + "、".join(missing[:6]) + ("等" if len(missing) > 6 else "")
            if missing else "各部门六个维度均有评估数据")
    scale = {"domain": [-135, 135], "nice": False}
    axis_x = {"field": "x", "type": "quantitative", "scale": scale, "axis": None}
    axis_y = {"field": "y", "type": "quantitative", "scale": scale, "axis": None}
    grey = "#c8c8c8"
    return {
        "title": {"text": "GB/T 36344 六维度雷达图（X = A/B，%）", "subtitle": note},
        "width": size, "height": size,
        "layer": [
            {"data": {"values": rings}, "mark": {"type": "line", "color": grey, "strokeWidth": 0.8},
             "encoding": {"x": axis_x, "y": axis_y, "detail": {"field": "ring"},
                          "order": {"field": "i", "type": "quantitative"}}},
            {"data": {"values": spokes}, "mark": {"type": "rule", "color": grey, "strokeWidth": 0.8},
             "encoding": {"x": axis_x, "y": axis_y, "x2": {"field": "x2"}, "y2": {"field": "y2"}}},
            {"data": {"values": labels}, "mark": {"type": "text", "fontSize": 12, "fontWeight": "bold"},
             "encoding": {"x": axis_x, "y": axis_y, "text": {"field": "label"}}},
            {"data": {"values": series}, "mark": {"type": "line", "strokeWidth": 2, "point": True},
             "encoding": {"x": axis_x, "y": axis_y, "detail": {"field": "段"},
                          "color": {"field": "部门", "type": "nominal", "title": "部门",
                                    "legend": {"orient": "bottom", "columns": 3, "symbolLimit": 0}},
                          "order": {"field": "i", "type": "quantitative"},
                          "tooltip": [{"field": "部门"}, {"field": "维度"}, {"field": "得分"}]}},
        ],
    }


def timeliness_heatmap(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Department × day: 及时率 of the deliveries due for that day; grey where nothing was due."""
    days = sorted({c["day"] for c in cells})[-HEATMAP_MAX_DAYS:]
    values = [{**c, "日期": c["day"][5:], "部门": c["department_name"],
               "说明": f'{c["on_time"]}/{c["expected"]} 按时' if c["expected"] else f'无应报（{c["day_kind"]}）'}
              for c in cells if c["day"] in days]
    x = {"field": "日期", "type": "ordinal", "title": "日期", "sort": [d[5:] for d in days],
         "axis": {"labelAngle": -60}}
    y = {"field": "部门", "type": "nominal", "title": None,
         "sort": list(dict.fromkeys(c["department_name"] for c in cells))}
    tooltip = [{"field": "部门"}, {"field": "day", "title": "日期"}, {"field": "day_kind", "title": "日历"},
               {"field": "说明"}]
    return {
        "title": "数据报送及时率热力图（部门 × 日）", "width": {"step": 16}, "height": {"step": 22},
        "data": {"values": values},
        "layer": [
            {"transform": [{"filter": "datum.expected == 0"}], "mark": {"type": "rect", "color": "#eeeeee"},
             "encoding": {"x": x, "y": y, "tooltip": tooltip}},
            {"transform": [{"filter": "datum.expected > 0"}], "mark": {"type": "rect"},
             "encoding": {"x": x, "y": y, "tooltip": tooltip,
                          "color": {"field": "及时率", "type": "quantitative", "title": "及时率",
                                    "scale": {"domain": [0, 1], "scheme": "redyellowgreen"},
                                    "legend": {"format": ".0%"}}}},
        ],
    }


def trend_lines(trend: list[dict[str, Any]]) -> dict[str, Any]:
    """Weekly 综合得分 per department (weeks without data have no point)."""
    values = [{"周": t["week_label"], "部门": t["department_name"], "综合得分": t["overall"]}
              for t in trend if t["overall"] is not None]
    weeks = sorted({t["week_label"] for t in trend})
    return {
        "title": "各部门综合得分周趋势", "width": 460, "height": 220, "data": {"values": values},
        "mark": {"type": "line", "point": True},
        "encoding": {"x": {"field": "周", "type": "ordinal", "sort": weeks, "scale": {"domain": weeks},
                           "title": "周（ISO）"},
                     "y": {"field": "综合得分", "type": "quantitative", "scale": {"domain": [0, 100]}},
                     "color": {"field": "部门", "type": "nominal"},
                     "tooltip": [{"field": "部门"}, {"field": "周"}, {"field": "综合得分"}]},
    }


def evaluation_bars(groups: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """综合评价值 per group (event major class or street), coloured by grade."""
    values = [{"对象": g["name"], "综合评价值": g["综合评价值"], "等级": g["grade"]}
              for g in groups if g["综合评价值"] is not None]
    return {
        "title": title, "width": 420, "height": {"step": 20}, "data": {"values": values},
        "mark": "bar",
        "encoding": {"y": {"field": "对象", "type": "nominal", "sort": "-x", "title": None},
                     "x": {"field": "综合评价值", "type": "quantitative", "scale": {"domain": [0, 100]}},
                     "color": {"field": "等级", "type": "nominal", "scale": GRADE_COLORS}},
    }
