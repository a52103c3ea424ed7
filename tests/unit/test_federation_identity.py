"""Instance identity: levels and GB/T 2260 area codes checked against the reference seed; codes carry the area."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cityshare.directory.document import load_entries
from cityshare.directory.exporters import dcat_document
from cityshare.instance import IdentityError, code_infix, instance
from cityshare.settings import get_settings


def _with(level: str, area: str, name: str = "南岸区城市运行和治理中心"):  # type: ignore[no-untyped-def]
    return dataclasses.replace(get_settings(), instance_level=level, instance_area=area, instance_name=name)


def test_default_identity_is_the_city_platform() -> None:
    me = instance(get_settings())
    assert (me.level, me.area, me.area_name) == ("市", "500000", "重庆市")
    assert code_infix(get_settings()) == ""


def test_district_identity_names_the_district_from_the_seed() -> None:
    me = instance(_with("区县", "500108"))
    assert me.area_name == "南岸区" and me.label == "区县级平台 · 南岸区（500108）"
    assert code_infix(_with("区县", "500108")) == "500108"
    assert instance(_with("国家", "000000", "国家城市运行管理服务平台")).area_name == "中华人民共和国"


@pytest.mark.parametrize(("level", "area", "says"), [
    ("区县", "500199", "not a GB/T 2260 code"),  # no such district in the reference data
    ("区县", "500000", "is a 市-level code"),
    ("市", "500108", "is a 区县-level code"),
    ("省", "500000", "must be one of 国家, 市, 区县"),
])
def test_a_wrong_identity_names_the_setting(level: str, area: str, says: str) -> None:
    with pytest.raises(IdentityError, match=says) as exc:
        instance(_with(level, area))
    assert "CITYSHARE_INSTANCE_" in str(exc.value)


def test_dcat_catalog_carries_the_identity(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = dataclasses.replace(_with("区县", "500108"), data_dir=tmp_path)
    doc = dcat_document([], "http://x", {}, settings)
    assert doc["dct:publisher"]["foaf:name"]["@value"] == "南岸区城市运行和治理中心"
    assert doc["dct:spatial"]["dct:identifier"] == "500108" and doc["cityshare:instanceLevel"] == "区县"
    json.dumps(doc)


def test_district_directory_codes_carry_the_area_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cityshare.directory.validate import CODE_PATTERN
    from cityshare.share.sample_world import build_world

    build_world(tmp_path / "city", rows=5)
    district = build_world(tmp_path / "district", rows=5, instance_level="区县", instance_area="500108")
    city_codes = [e["信息资源代码"] for e in load_entries(get_settings_of(tmp_path / "city"))]
    codes = [e["信息资源代码"] for e in load_entries(district)]
    assert codes and all(c.split("/")[1].startswith("500108") and CODE_PATTERN.match(c) for c in codes)
    assert all(len(c.split("/")[1]) == 11 for c in codes)
    assert all(len(c.split("/")[1]) == 5 for c in city_codes)  # the default instance's codes are unchanged
    assert not set(codes) & set(city_codes)


def get_settings_of(root):  # type: ignore[no-untyped-def]
    return dataclasses.replace(get_settings(), project_root=root / "home", data_dir=root / "data")
