"""Directory search with Chinese word segmentation: words match on word boundaries, long terms are cut
into words, a department's short name finds its data."""

from __future__ import annotations

from cityshare.share.search import index, search


def _entry(code: str, name: str, dept: str, provider: str, items: tuple[str, ...] = ()) -> dict:
    return {"信息资源代码": code, "信息资源名称": name, "department": dept, "信息资源提供方": provider,
            "信息资源摘要": "", "信息项信息": [{"信息项名称": i, "name": f"c{n}"} for n, i in enumerate(items)],
            "共享属性": {"共享类型": "无条件共享"}, "kind": "shared"}


ENTRIES = [_entry("1", "城市管理案件主题库", "cgj", "重庆市城市管理局", ("案件编号", "上报时间")),
           _entry("2", "执法人员名册", "cgj", "重庆市城市管理局", ("执法证号",)),
           _entry("3", "法人单位基础库", "scjgj", "重庆市市场监督管理局", ("统一社会信用代码",)),
           _entry("4", "高龄独居老人关爱名册", "mzj", "重庆市民政局", ("姓名",))]
DOCS = index(ENTRIES, {"cgj": "城管局", "scjgj": "市场监管局", "mzj": "民政局"})


def names(q: str) -> list[str]:
    return [e["信息资源名称"] for e in search(DOCS, q)]


def test_a_two_character_word_matches_on_word_boundaries_only():
    assert names("案件") == ["城市管理案件主题库"]
    assert names("法人") == ["法人单位基础库"]  # not 执法人员名册, where 法人 straddles 执法|人员
    assert names("名册") == ["执法人员名册", "高龄独居老人关爱名册"]


def test_a_longer_term_is_cut_into_words_that_must_all_match():
    assert names("城管案件") == ["城市管理案件主题库"]  # 城管 (城管局) + 案件; no substring of either text
    assert names("独居老人名册") == ["高龄独居老人关爱名册"]
    assert names("案件数据") == ["城市管理案件主题库"]  # 数据 says nothing about which entry
    assert names("城管 法人") == []  # every term must match


def test_codes_and_column_names_match_as_substrings():
    assert names("c1") == ["城市管理案件主题库"]
    assert names("民政局") == ["高龄独居老人关爱名册"]
    assert len(names("")) == 4
