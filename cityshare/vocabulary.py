"""The platform's fixed vocabulary, in one place: the sharing types (共享类型) of 国发〔2016〕51号 and the
政务信息资源目录编制指南. Values are the Chinese terms the contracts, the directory and the portal use, so a
member compares equal to the plain string read from a contract or a directory entry."""

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
