"""Sharing-policy propagation along lineage blocks a leaking publication, naming the path."""

from __future__ import annotations

import pytest
from test_directory_support import built_home, clone_built

from cityshare.errors import AuditFailed
from cityshare.policy import check_policy
from cityshare.publish import audit
from cityshare.warehouse import connect

CONDITION = "  - {property: sharingCondition, value: 限城市管理协同处置用途，经城管局审批}\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_home(tmp_path_factory.getbasetemp())


@pytest.fixture
def home(built, tmp_path):
    return clone_built(built, tmp_path / "home")


def _edit(settings, dataset, old, new):
    path = settings.contracts_dir / "shared" / f"{dataset}.odcs.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_shipped_contracts_have_no_conflict(built):
    assert check_policy(built) == []


def test_a_conditional_upstream_published_as_unconditional_blocks_publication(home):
    _edit(home, "city_cases", "value: 有条件共享}", "value: 无条件共享}")
    _edit(home, "city_cases", CONDITION, "")
    problems = check_policy(home)
    assert len(problems) == 1
    assert ("cgj/city_cases（有条件共享）: raw.cgj__city_cases → standard.stg_cgj__city_cases → "
            "theme.theme_city_cases__case → shared.theme_city_cases__case（shared/city_cases 无条件共享）") in problems[0]
    with connect(home, read_only=True) as con:
        before = con.execute("SELECT * FROM meta.publications ORDER BY ALL").fetchall()
    with pytest.raises(AuditFailed, match=r"city_cases\.odcs\.yaml: 共享类型 无条件共享"):
        audit(home)
    with connect(home, read_only=True) as con:
        assert con.execute("SELECT * FROM meta.publications ORDER BY ALL").fetchall() == before


def test_the_aggregate_exception_is_what_lets_the_storefront_table_publish(home):
    _edit(home, "storefront_order_street_day", "  - property: sharingException\n", "  - property: unusedNote\n")
    problems = check_policy(home)
    assert {p.split("血缘路径 ")[1].split("（")[0] for p in problems} == {"cgj/city_cases", "shared/city_cases"}
    assert all("shared.collab_storefront_order__street_day" in p for p in problems)


def test_an_exception_without_reason_is_refused(home):
    _edit(home, "storefront_order_street_day", "value: {reason: 聚合统计，不含个人信息（按街道、日汇总的案件数与商户数）, ",
          "value: {")
    assert check_policy(home) == ["storefront_order_street_day.odcs.yaml: customProperties.sharingException needs a reason"]


def test_an_unmasked_column_derived_from_personal_data_is_refused(home):
    _edit(home, "city_cases", "physicalType: VARCHAR, classification: pii-masked,", "physicalType: VARCHAR,")
    problems = check_policy(home)
    assert len(problems) == 1
    assert "字段 reporter_phone 源自个人信息字段 cgj/city_cases.reporter_phone" in problems[0]
    assert "raw.cgj__city_cases.reporter_phone → standard.stg_cgj__city_cases.reporter_phone" in problems[0]
