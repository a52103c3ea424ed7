"""How the portal shows things to a department clerk (展示): Chinese names for departments, tables,
columns, statuses and classifications, and Beijing wall-clock times to the second.

Pages never show a department slug, a table's physical name, an English enum, a classification code
such as ``pii-masked`` or a timestamp with ``+00:00`` / microseconds: ``DENY`` lists what a page must
not contain (the browser tests check every page against it).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from cityshare.settings import Settings
from cityshare.workcal import to_beijing

STATUS_ZH = {"pending": "待审批", "approved": "已批准", "refused": "不予批准", "open": "待办理", "fixed": "已更正",
             "rejected": "不予更正"}
STAGE_ZH = {"gate": "入库检查", "audit": "发布审计", "batch": "批次", "sample": "抽样"}
CLASS_ZH = {"pii": "个人信息", "pii-masked": "个人信息（已脱敏）", "pii-token": "个人信息（令牌化）",
            "public": "公开", "internal": "内部", "sensitive": "敏感"}
ACTION_ZH = {"login": "登录", "logout": "退出", "read": "读取", "sample": "预览样例", "export": "下载",
             "request.submit": "提交申请", "request.decide": "审批申请", "grant.revoke": "撤销授权",
             "rows": "读取", "entry": "查看目录",
             "receipt.read": "查看回执", "correction.submit": "提交纠错", "correction.resolve": "办结纠错",
             "correction.list": "查看纠错", "quarantine.read": "查看隔离数据", "refuse": "拒绝访问",
             "request.escalate": "超期上报"}
FORMAT_ZH = {"csv": "CSV（Excel 可直接打开）", "xlsx": "Excel 工作簿（XLSX）", "jsonl": "JSON Lines",
             "parquet": "Parquet", "arrow": "Arrow IPC"}
# What a portal page must never show a clerk (checked by tests/browser/test_share_portal.py).
DENY = [re.compile(p) for p in (r"pii-masked", r"pii-token", r"\+00:00", r"\d{2}:\d{2}:\d{2}\.\d{3,6}",
                                r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", r"\b(?:jd_nanping|cgj|cyzx|scjgj|mzj)\b",
                                r"\btheme_[a-z_]+__[a-z_]+\b", r"\bbase_legal_entity\b", r"\bNone\b")]


def department(settings: Settings, slug: str | None, full: bool = False) -> str:
    """A department's Chinese name (short by default); an unknown slug is shown as is, marked."""
    from cityshare.departments import registry

    if not slug:
        return "—"
    known = registry(settings).get(slug)
    if known is None:
        return f"未登记部门（{slug}）"
    return known["name"] if full else known.get("short_name") or known["name"]


def table_title(settings: Settings, name: str | None) -> str:
    """A shared table's Chinese title (its contract's name)."""
    from cityshare.share.tables import shared_tables

    if not name:
        return "—"
    t = shared_tables(settings).get(name.removeprefix("shared."))
    return t.title if t else name


def column_names(settings: Settings, table: str | None, columns: list[str] | None) -> str:
    """Columns as their item names, joined with 、 (全部 when none are listed)."""
    from cityshare.share.tables import shared_tables

    if not columns:
        return "全部字段"
    t = shared_tables(settings).get((table or "").removeprefix("shared."))
    return "、".join((t.business_names.get(c) if t else None) or c for c in columns)


def beijing(value: Any, seconds: bool = True) -> str:
    """A time as Beijing wall-clock ``YYYY-MM-DD HH:MM:SS``; naive values are UTC (as the warehouse keeps them)."""
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        return to_beijing(value).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return str(value)


def install(env: Any, settings: Settings) -> None:
    """Register the display filters on a Jinja environment (every router's templates)."""
    env.filters.update({
        "dept": lambda slug: department(settings, slug),
        "dept_full": lambda slug: department(settings, slug, full=True),
        "table_title": lambda name: table_title(settings, name),
        "columns_zh": lambda columns, table=None: column_names(settings, table, columns),  # type: ignore[misc]
        "bjtime": beijing,
        "status_zh": lambda s: STATUS_ZH.get(s, s),
        "stage_zh": lambda s: STAGE_ZH.get(s, s),
        "class_zh": lambda c: CLASS_ZH.get(c, c) if c else "—",
        "action_zh": lambda a: ACTION_ZH.get(a, a),
        "format_zh": lambda f: FORMAT_ZH.get(f, f),
        "blank": lambda v: "" if v is None else v,
    })
