"""The classification scheme (信息资源分类 类/项/目/细目) from ``catalog/classification.yml``.

The 类 is the directory view (目录视图: 基础/主题/部门信息资源); the classification part of a resource
code is 类(1) + 项(2) + 目(3) + 细目(variable), so the scheme is the only place those digits live.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from cityshare.contracts.model import Contract

_LEVEL = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Classification:
    """One resolved 信息资源分类 of a contract."""

    cls: str
    item: str
    subject: str
    detail: str
    names: tuple[str, ...]  # 类, 项, 目[, 细目] names

    @property
    def code_prefix(self) -> str:
        """类(1) + 项(2) + 目(3) + 细目 — the classification part of a resource code."""
        return f"{self.cls}{self.item.zfill(2)}{self.subject.zfill(3)}{self.detail}"

    @property
    def path(self) -> str:
        """``类/项/目[/细目]`` as written in contracts."""
        return "/".join(p for p in (self.cls, self.item, self.subject, self.detail) if p)

    @property
    def view(self) -> str:
        """目录视图: 基础信息资源 / 主题信息资源 / 部门信息资源."""
        return self.names[0]

    def as_dict(self) -> dict[str, Any]:
        labels = ("类", "项", "目", "细目")
        return {"代码": self.path, "目录视图": self.view,
                **{label: name for label, name in zip(labels, self.names, strict=False)},
                "名称": " > ".join(self.names)}


@cache
def load_scheme(catalog_dir: Path) -> dict[str, dict[str, str]]:
    """The scheme: ``classes``, ``items``, ``subjects``, ``details`` keyed by ``类/项/目/细目`` paths."""
    data = yaml.safe_load((catalog_dir / "classification.yml").read_text(encoding="utf-8")) or {}
    return {level: {str(k): str(v) for k, v in (data.get(level) or {}).items()}
            for level in ("classes", "items", "subjects", "details")}


def classify(contract: Contract, catalog_dir: Path) -> Classification:
    """Resolve a contract's ``classification`` (+ ``classificationDetail``) against the scheme.

    Raises ValueError with a message naming the unknown level, so callers can name the contract.
    """
    raw = str(contract.custom.get("classification", "")).strip()
    parts = raw.split("/")
    detail = str(contract.custom.get("classificationDetail", "") or "").strip()
    if len(parts) != 3 or not all(_LEVEL.match(p) for p in parts):
        raise ValueError(f"customProperties.classification {raw!r} must be 类/项/目 digits, e.g. 2/10/002")
    if detail and not _LEVEL.match(detail):
        raise ValueError(f"customProperties.classificationDetail {detail!r} must be digits (细目)")
    cls, item, subject = parts[0], parts[1].zfill(2), parts[2].zfill(3)
    if len(cls) != 1 or len(item) != 2 or len(subject) != 3:
        raise ValueError(f"customProperties.classification {raw!r}: 类 has 1 digit, 项 2, 目 3")
    scheme = load_scheme(catalog_dir)
    keys = [("classes", cls, "类"), ("items", f"{cls}/{item}", "项"), ("subjects", f"{cls}/{item}/{subject}", "目")]
    if detail:
        keys.append(("details", f"{cls}/{item}/{subject}/{detail}", "细目"))
    # A new department's 项 and 目 may be named by its contract (``classificationNames: 项名/目名``) instead of
    # catalog/classification.yml, so onboarding needs no edit there; the scheme wins where it has the level.
    declared = [n.strip() for n in str(contract.custom.get("classificationNames") or "").split("/") if n.strip()]
    own = dict(zip(("目", "项"), reversed(declared), strict=False))
    names = []
    for level, key, label in keys:
        name = scheme[level].get(key) or own.get(label)
        if name is None:
            raise ValueError(f"customProperties.classification: {label} {key!r} is not in catalog/classification.yml "
                             f"(add it there, or name it in the contract: classificationNames: 项名/目名)")
        names.append(name)
    return Classification(cls, item, subject, detail, tuple(names))
