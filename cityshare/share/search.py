"""Directory search (目录检索): Chinese keyword match over name, abstract, items and provider.

No word segmenter and no pinyin: a term matches a field when it is a substring of it, or — for
Chinese terms of 3+ characters — when most of its character bigrams occur in it (so 城管案件 finds
城市管理案件 only if enough bigrams overlap). Weighted by field: name > items > abstract/provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

WEIGHTS = {"name": 5.0, "items": 2.0, "abstract": 1.0, "provider": 1.5, "code": 4.0}
BIGRAM_SHARE = 0.6
_SPLIT = re.compile(r"[\s,，、;；]+")


def bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


@dataclass
class Indexed:
    entry: dict[str, Any]
    fields: dict[str, str]
    grams: dict[str, set[str]]


def index(entries: list[dict[str, Any]]) -> list[Indexed]:
    out = []
    for e in entries:
        items = " ".join(f"{i.get('信息项名称', '')} {i.get('name', '')}" for i in e.get("信息项信息") or [])
        fields = {"name": e.get("信息资源名称") or "", "items": items, "abstract": e.get("信息资源摘要") or "",
                  "provider": f"{e.get('信息资源提供方') or ''} {e.get('department') or ''}",
                  "code": e.get("信息资源代码") or ""}
        fields = {k: v.lower() for k, v in fields.items()}
        out.append(Indexed(e, fields, {k: bigrams(v) for k, v in fields.items()}))
    return out


def _term_score(doc: Indexed, term: str) -> float:
    best = 0.0
    grams = bigrams(term) if len(term) >= 3 else set()
    for name, text in doc.fields.items():
        if term in text:
            best = max(best, WEIGHTS[name] * 2)
        elif grams:
            share = len(grams & doc.grams[name]) / len(grams)
            if share >= BIGRAM_SHARE:
                best = max(best, WEIGHTS[name] * share)
    return best


def _keep(e: dict[str, Any], classification: str | None, provider: str | None, sharing_type: str | None,
          update_cycle: str | None, kind: str | None) -> bool:
    if classification and not str(e.get("信息资源分类") or "").startswith(classification):
        return False
    if provider and provider not in {e.get("department"), e.get("信息资源提供方"), e.get("提供方代码")}:
        return False
    if sharing_type and (e.get("共享属性") or {}).get("共享类型") != sharing_type:
        return False
    if update_cycle and e.get("更新周期") != update_cycle:
        return False
    return not (kind and e.get("kind") != kind)


def search(docs: list[Indexed], q: str | None = None, *, classification: str | None = None,
           provider: str | None = None, sharing_type: str | None = None, update_cycle: str | None = None,
           kind: str | None = None) -> list[dict[str, Any]]:
    """Entries matching every term and filter, best first (directory order when no terms)."""
    terms = [t for t in _SPLIT.split((q or "").strip().lower()) if t][:10]
    hits: list[tuple[float, int, dict[str, Any]]] = []
    for pos, doc in enumerate(docs):
        if not _keep(doc.entry, classification, provider, sharing_type, update_cycle, kind):
            continue
        score = 0.0
        for term in terms:
            s = _term_score(doc, term)
            if s == 0:
                break
            score += s
        else:
            hits.append((score, pos, doc.entry))
    hits.sort(key=lambda h: (-h[0], h[1]))
    return [h[2] for h in hits]
