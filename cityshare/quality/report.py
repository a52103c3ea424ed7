"""Assemble the quality report (scorecards, timeliness, loads, city evaluation, charts) and render it
as HTML — the portal dashboard and the self-contained file written by ``cityshare report quality``
share one template (``cityshare/share/templates/quality.html``): the file has no links, no scripts and
no external resources (inline CSS and SVG only).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cityshare.quality import charts, evaluation, loads, scorecards, timeliness
from cityshare.quality.history import Period, default_period
from cityshare.settings import Settings, get_settings
from cityshare.vocabulary import BATCH_STATUS_ZH
from cityshare.workcal import to_beijing

TEMPLATES = Path(__file__).resolve().parent.parent / "share" / "templates"


def collect(settings: Settings, period: Period, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """Every figure of the report for the period, as plain data (the JSON API returns this)."""
    as_of = as_of or to_beijing(dt.datetime.now(dt.UTC))
    return {
        "period": {"start": period.start, "end": period.end, "label": period.label},
        "as_of": as_of,
        "scorecards": scorecards.scorecards(settings, period, as_of),
        "timeliness": timeliness.summary(settings, period, as_of),
        "loads": loads.problem_loads(settings, period),
        "evaluation": evaluation.evaluation(settings, period, as_of),
        "tables": table_status(settings),
        "method": {"dimension_weights": scorecards.WEIGHTS, "evaluation_weights": evaluation.WEIGHTS,
                   "grace_workdays": timeliness.GRACE_WORKDAYS},
    }


def table_status(settings: Settings) -> list[dict[str, Any]]:
    """Published tables that need attention, as the directory last recorded them: not published (audit or
    build failed, previous version kept; or waiting for a first delivery) or published from late inputs (滞后)."""
    from cityshare.directory.document import load_entries

    out = []
    for e in load_entries(settings):
        if e.get("kind") != "shared":
            continue
        status, fresh = e.get("发布状态") or {}, e.get("数据时效") or {}
        if status.get("状态") != "已发布" or fresh.get("状态") == "滞后":
            out.append({"name": e["信息资源名称"], "provider": e["信息资源提供方"], "version": e.get("version"),
                        "status": status.get("状态", ""), "reason": status.get("原因", ""),
                        "late": [f"{s['数据集']}（最新 {s['最新批次日期'] or '无'}）" for s in fresh.get("滞后来源", [])]})
    return out


def chart_svgs(data: dict[str, Any]) -> dict[str, str]:
    """The report's charts as inline SVG markup."""
    sc, ev = data["scorecards"], data["evaluation"]
    specs = {
        "scores": charts.scores_bar(sc["departments"]),
        "radar": charts.radar(sc["departments"]),
        "heatmap": charts.timeliness_heatmap(data["timeliness"]["heatmap"]),
        "trend": charts.trend_lines(sc["trend"]),
    }
    if ev["by_major_class"]:
        specs["evaluation"] = charts.evaluation_bars(ev["by_major_class"], "城市管理综合评价值（按事件大类）")
    return {name: charts.render(spec, prefix=f"c-{name}") for name, spec in specs.items()}


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html"]))
    env.filters["pct"] = lambda v, digits=1: "—" if v is None else f"{v * 100:.{digits}f}%"
    env.filters["score"] = lambda v: "—" if v is None else f"{v:.2f}"
    env.filters["ts"] = lambda v: "—" if v is None else v.strftime("%Y-%m-%d %H:%M")
    env.filters["batch_status_zh"] = lambda s: BATCH_STATUS_ZH.get(s, s)
    return env


def render_html(settings: Settings, period: Period, *, offline: bool, as_of: dt.datetime | None = None,
                data: dict[str, Any] | None = None) -> str:
    """The report page: ``offline`` for the standalone file (no links), else the portal dashboard."""
    data = data or collect(settings, period, as_of)
    from cityshare.departments import registry

    generated = to_beijing(dt.datetime.now(dt.UTC))
    names = {slug: d.get("short_name") or d["name"] for slug, d in registry(settings).items()}  # slugs never shown
    return _environment().get_template("quality.html").render(
        data=data, charts=chart_svgs(data), offline=offline, generated_at=generated,
        dimensions=scorecards.DIMENSIONS, indicators=evaluation.INDICATORS, dept_names=names)


def write_report(out: Path | None = None, start: dt.date | None = None, end: dt.date | None = None,
                 settings: Settings | None = None, as_of: dt.datetime | None = None) -> Path:
    """Write the self-contained HTML report for the period; the file appears whole or not at all."""
    settings = settings or get_settings()
    period = default_period(settings, start, end)
    out = out or settings.data_dir / "reports" / f"quality_{period.start}_{period.end}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    html = render_html(settings, period, offline=True, as_of=as_of)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out


def weekly_report(logical_date: str | None, settings: Settings | None = None) -> str:
    """The ``quality_report`` DAG task: the previous ISO week (Mon–Sun) before the run's logical date
    (today in Beijing for a run without one, e.g. triggered by hand)."""
    from cityshare.workcal import today_beijing

    day = dt.date.fromisoformat(logical_date[:10]) if logical_date else today_beijing()
    end = day - dt.timedelta(days=day.weekday() + 1)
    return str(write_report(start=end - dt.timedelta(days=6), end=end, settings=settings))
