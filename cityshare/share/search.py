"""Directory search (目录检索): Chinese word segmentation (jieba) over name, items, abstract and provider.

A Chinese term matches a field where it occurs on word boundaries of the field's segmentation (jieba's
precise cut, long words also cut into their leading and trailing parts): 案件 finds 城市管理案件主题库 (城市/管理/案件/主题/库),
while 法人 does not find 执法人员 (执法/人员), where the two characters only happen to be adjacent.
A term found nowhere whole is cut into words, each of which must match (城管案件 → 城管 + 案件, with 城管
in the provider's short name 城管局); failing that, most of its character bigrams must occur. Terms
without Chinese (codes, column names) match as substrings. Weighted by field: name > code > items >
provider > abstract. Segmentations are cached per distinct text: a catalogue repeats its item names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

WEIGHTS = {"name": 5.0, "items": 2.0, "abstract": 1.0, "provider": 1.5, "code": 4.0}
BIGRAM_SHARE = 0.6
_SPLIT = re.compile(r"[\s,，、;；。.!！?？:：()（）/]+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
STOPWORDS = frozenset({"的", "了", "和", "与", "及", "或", "在", "是", "有", "之", "等", "把", "被", "对", "从",
                       "关于", "以及"})
# Words that say nothing about which entry is meant once a longer term is cut (案件数据 → 案件).
NOISE = STOPWORDS | {"数据", "信息", "查询", "查找", "资源", "相关", "情况"}


@cache
def _jieba() -> Any:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@lru_cache(maxsize=1 << 16)
def boundaries(text: str) -> frozenset[int]:
    """Offsets where a word starts or ends in ``text``: jieba's precise cut, plus the cuts of a long word's
    leading and trailing dictionary words (执法人员 → 执法|人员), never of a part straddling them (法人)."""
    if not _CJK.search(text):
        return frozenset()
    jieba = _jieba()
    known = jieba.dt.FREQ
    cuts: set[int] = set()
    for word, start, end in jieba.tokenize(text, HMM=False):
        cuts.update((start, end))
        for k in range(2, len(word) - 1 if len(word) >= 4 else 0):
            if known.get(word[:k]):
                cuts.add(start + k)
            if known.get(word[-k:]):
                cuts.add(end - k)
        if len(word) == 3:  # 主题库 → 主题|库, 老年人 → 老年|人
            cuts.update(start + k for k in (1, 2) if known.get(word[:k]) and known.get(word[k:]))
    return frozenset(cuts)


@lru_cache(maxsize=1 << 12)
def words(term: str) -> tuple[str, ...]:
    """A query term's words (jieba's precise mode), stopwords and punctuation dropped."""
    return tuple(w for w in _jieba().lcut(term, HMM=False) if w.strip() and w not in NOISE and not _SPLIT.fullmatch(w))


def bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


@dataclass
class Indexed:
    entry: dict[str, Any]
    fields: dict[str, str]
    grams: dict[str, set[str]]


def index(entries: list[dict[str, Any]], short_names: dict[str, str] | None = None) -> list[Indexed]:
    """Search documents for ``entries``; ``short_names`` (slug → 简称, e.g. 城管局) are searchable too."""
    out = []
    for e in entries:
        items = " ".join(f"{i.get('信息项名称', '')} {i.get('name', '')}" for i in e.get("信息项信息") or [])
        dept = e.get("department") or ""
        fields = {"name": e.get("信息资源名称") or "", "items": items, "abstract": e.get("信息资源摘要") or "",
                  "provider": f"{e.get('信息资源提供方') or ''} {(short_names or {}).get(dept, '')} {dept}",
                  "code": e.get("信息资源代码") or ""}
        fields = {k: v.lower() for k, v in fields.items()}
        for text in fields.values():  # segment once when the directory loads, not in the first search
            boundaries(text)
        out.append(Indexed(e, fields, {k: bigrams(v) for k, v in fields.items()}))
    return out


def occurs(term: str, text: str) -> bool:
    """``term`` in ``text`` — for a Chinese term, only where it starts and ends on word boundaries."""
    if not _CJK.search(term):
        return term in text
    at = text.find(term)
    cuts = boundaries(text) if at >= 0 else frozenset()
    while at >= 0:
        if at in cuts and at + len(term) in cuts:
            return True
        at = text.find(term, at + 1)
    return False


def _best(doc: Indexed, term: str) -> float:
    return max((WEIGHTS[name] * 2 for name, text in doc.fields.items() if occurs(term, text)), default=0.0)


def _term_score(doc: Indexed, term: str) -> float:
    if best := _best(doc, term):
        return best
    parts = words(term) if _CJK.search(term) and len(term) >= 3 else ()
    if parts and parts != (term,):
        scores = [_best(doc, p) for p in parts]
        if all(scores):
            return 0.8 * sum(scores) / len(scores)
    grams = bigrams(term) if len(term) >= 3 else set()
    best = 0.0
    for name in doc.fields if grams else ():
        share = len(grams & doc.grams[name]) / len(grams)
        if share >= BIGRAM_SHARE:
            best = max(best, WEIGHTS[name] * share)
    return best


def terms(q: str | None) -> list[str]:
    """The query's terms: split on spaces and punctuation, stopwords dropped (at most ten)."""
    return [t for t in _SPLIT.split((q or "").strip().lower()) if t and t not in STOPWORDS][:10]


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
    wanted = terms(q)
    hits: list[tuple[float, int, dict[str, Any]]] = []
    for pos, doc in enumerate(docs):
        if not _keep(doc.entry, classification, provider, sharing_type, update_cycle, kind):
            continue
        score = 0.0
        for term in wanted:
            s = _term_score(doc, term)
            if s == 0:
                break
            score += s
        else:
            hits.append((score, pos, doc.entry))
    hits.sort(key=lambda h: (-h[0], h[1]))
    return [h[2] for h in hits]
