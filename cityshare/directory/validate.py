"""Validate directory entries against the 《政务信息资源目录编制指南》 rules.

A directory that departments exchange must not carry an entry the guideline would reject, so a build
with any invalid entry writes nothing; every message names the contract file and the field.
"""

from __future__ import annotations

import re
from typing import Any

from cityshare.errors import CityShareError
from cityshare.identifiers import is_valid_uscc
from cityshare.vocabulary import SharingType

SHARING_METHODS = ("共享平台/接口", "共享平台/数据库", "共享平台/文件", "邮件", "介质", "邮件/介质")
OPEN_TYPES = ("无条件开放", "有条件开放", "不予开放")
UPDATE_CYCLES = ("实时", "每日", "每周", "每月", "每季度", "每半年", "每年", "其他")
FORMAT_CLASSES = ("电子文件", "电子表格", "数据库", "图形图像", "流媒体", "自描述格式", "服务接口")
TYPE_LETTERS = frozenset("CNYDTLMGBIF")
CODE_PATTERN = re.compile(r"^(\d{6}\d*)/((?:\d{6})?\d{5})$")  # optional GB/T 2260 area before the sequence


class DirectoryInvalid(CityShareError):
    """One or more directory entries break the 编制指南 rules (exit code 2: bad input)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("directory entries invalid, nothing written: " + "; ".join(problems))


def entry_problems(entry: dict[str, Any], where: str) -> list[str]:
    """Every rule an entry breaks, each as ``<contract file>: <field>: <rule>``."""
    problems: list[str] = []

    def bad(field: str, rule: str) -> None:
        problems.append(f"{where}: {field}: {rule}")

    for field in ("信息资源名称", "信息资源摘要", "信息资源提供方"):
        if not str(entry.get(field) or "").strip():
            bad(field, "不得为空 (required)")
    code = str(entry.get("信息资源代码") or "")
    match = CODE_PATTERN.match(code)
    cls = entry.get("分类") or {}
    if not match:
        bad("信息资源代码", f"{code!r} must be 类项目[细目] digits + '/' + [6-digit area code +] 5-digit sequence")
    elif cls and match.group(1) != cls.get("code_prefix"):
        bad("信息资源代码", f"{code!r} does not start with its classification {cls.get('code_prefix')!r}")
    if not is_valid_uscc(entry.get("提供方代码")):
        bad("提供方代码", f"{entry.get('提供方代码')!r} is not a valid 统一社会信用代码 (catalog/departments.yml)")
    fmt = entry.get("信息资源格式") or {}
    if fmt.get("格式分类") not in FORMAT_CLASSES:
        bad("customProperties.resourceFormat", f"格式分类 {fmt.get('格式分类')!r} must be one of {'/'.join(FORMAT_CLASSES)}")
    share = entry.get("共享属性") or {}
    kind = share.get("共享类型")
    if kind not in list(SharingType):
        bad("customProperties.sharingType", f"共享类型 {kind!r} must be one of {SharingType.names_zh()}")
    if kind in (SharingType.UNCONDITIONAL, SharingType.CONDITIONAL) and share.get("共享方式") not in SHARING_METHODS:
        bad("customProperties.sharingMethod",
            f"{kind} needs a 共享方式 among {'、'.join(SHARING_METHODS)}, got {share.get('共享方式')!r}")
    if kind == SharingType.CONDITIONAL and not str(share.get("共享条件") or "").strip():
        bad("customProperties.sharingCondition", "有条件共享 needs a 共享条件")
    if kind == SharingType.NOT_SHARED and not str(share.get("不予共享依据") or "").strip():
        bad("customProperties.legalBasis", "不予共享 needs its legal or policy basis (不予共享依据)")
    open_type = (entry.get("开放属性") or {}).get("开放类型")
    if open_type not in OPEN_TYPES:
        bad("customProperties.openType", f"开放类型 {open_type!r} must be one of {'/'.join(OPEN_TYPES)}")
    if entry.get("更新周期") not in UPDATE_CYCLES:
        bad("customProperties.updateCycle", f"更新周期 {entry.get('更新周期')!r} must be one of {'/'.join(UPDATE_CYCLES)}")
    items = entry.get("信息项信息") or []
    if not items:
        bad("schema[0].properties", "信息项信息 needs at least one item")
    for item in items:
        if item.get("数据类型") not in TYPE_LETTERS:
            bad(f"schema[0].properties.{item.get('name')}", f"数据类型 {item.get('数据类型')!r} is not a 编制指南 letter")
        if not str(item.get("信息项名称") or "").strip():
            bad(f"schema[0].properties.{item.get('name')}", "信息项名称 (businessName) 不得为空")
    return problems
