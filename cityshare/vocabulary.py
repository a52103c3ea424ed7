"""The platform's fixed vocabulary and its zh-CN labels, in one place: the sharing types (共享类型) of
国发〔2016〕51号 and the 政务信息资源目录编制指南, the batch statuses a gate records, the layers a table lives in
and the GB/T 36344 quality dimensions. Members are StrEnums, so they compare equal to the plain strings read from
a contract, a directory entry or the warehouse; portal, reports and directory show the ``*_ZH`` labels."""

from __future__ import annotations

from enum import StrEnum


class SharingType(StrEnum):
    """共享类型, from the least to the most restrictive."""

    UNCONDITIONAL = "无条件共享"  # every government department may read it
    CONDITIONAL = "有条件共享"  # readable with the provider's approval (a grant), within its limits
    NOT_SHARED = "不予共享"  # the provider only; needs a legal or policy basis

    @classmethod
    def rank(cls, value: str, unknown: int = 2) -> int:
        """Restrictiveness 0–2 of ``value``; ``unknown`` for anything that is not a sharing type."""
        members = list(cls)
        return members.index(cls(value)) if value in members else unknown

    @classmethod
    def names_zh(cls) -> str:
        """``无条件共享/有条件共享/不予共享``, for messages."""
        return "/".join(cls)


class BatchStatus(StrEnum):
    """What the gate (or a retraction) decided for a batch, as ``meta.batches.status`` holds it."""

    ACCEPTED = "accepted"  # its rows (less the quarantined ones) are in the raw view and the layers
    BLOCKED = "blocked"  # a batch rule failed: none of its rows reach the layers
    RETRACTED = "retracted"  # taken back by `cityshare batches retract` (audited); restore brings it back


BATCH_STATUS_ZH = {BatchStatus.ACCEPTED: "已接收", BatchStatus.BLOCKED: "已阻断", BatchStatus.RETRACTED: "已撤回"}

# The warehouse schemas a table lives in, by layer (数据共享模型法: 标准库 → 基础库/主题库 → 协同专题库 → 共享库).
LAYER_ZH = {"raw": "原始库", "standard": "标准库", "base": "基础库", "theme": "主题库", "collab": "协同专题库",
            "shared": "共享库"}

# ODCS quality dimension → GB/T 36344-2018 dimension (数据质量评价指标). Duplicate rate sits under 准确性.
QUALITY_DIMENSION_ZH = {
    "conformity": "规范性",
    "completeness": "完整性",
    "coverage": "完整性",
    "accuracy": "准确性",
    "uniqueness": "准确性",
    "consistency": "一致性",
    "timeliness": "时效性",
    "accessibility": "可访问性",
}
