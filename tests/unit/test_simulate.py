"""The department simulator: real codes, valid identifiers, counted defects, determinism, the API."""

from __future__ import annotations

import csv
import datetime as dt
import json
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cityshare.identifiers import is_valid_id_number, is_valid_mobile, is_valid_uscc
from cityshare.settings import PROJECT_ROOT, Settings, get_settings
from cityshare.simulate import cases_path, registry_path, simulate, start_api_server

SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"
START = dt.date(2025, 6, 2)  # a Monday
FOCUS_AREAS = {"500108", "500103", "500112", "500105", "500107"}
NANPING = "500108003"

CASE_HEADER = [
    "案件编号", "事件小类代码", "事件小类名称", "区县代码", "街道代码", "事发地址", "问题描述",
    "涉事商户统一社会信用代码", "上报时间", "结案时间", "案件状态", "上报渠道", "上报人电话",
]
CASE_FIELDS = [
    "case_id", "event_class_code", "event_class_name", "area_code", "street_code", "address", "description",
    "shop_uscc", "reported_at", "closed_at", "status", "report_channel", "reporter_phone",
]
ENTITY_TYPES = {"有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "个体工商户", "农民专业合作社"}
REGISTRY_FIELDS = [
    "uscc", "entity_name", "entity_type", "industry", "legal_person_name", "legal_person_id", "area_code",
    "street_code", "address", "registered_on", "status", "updated_at",
]


def _codes(name: str) -> set[str]:
    with (SEEDS / name).open(encoding="utf-8", newline="") as fh:
        return {row["code"] for row in csv.DictReader(fh)}


AREAS = _codes("chongqing_areas.csv")
STREETS = _codes("chongqing_streets.csv")
EVENT_CLASSES = _codes("event_classes.csv")


def _settings(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Settings:
    monkeypatch.setenv("CITYSHARE_DATA_DIR", str(data_dir))
    monkeypatch.delenv("CITYSHARE_HOME", raising=False)
    return get_settings()


def _run(monkeypatch: pytest.MonkeyPatch, data_dir: Path, **kwargs: Any) -> tuple[Settings, dict[str, Any]]:
    settings = _settings(monkeypatch, data_dir)
    kwargs.setdefault("start", START)
    kwargs.setdefault("departments", ())  # the storefront pair only; the other departments: test_simulate_departments.py
    return settings, simulate(settings, **kwargs)


def _registry(settings: Settings) -> list[dict[str, str]]:
    lines = registry_path(settings).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _cases(settings: Settings, day: dt.date) -> list[dict[str, str]]:
    with cases_path(settings, day).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == CASE_HEADER
    return [dict(zip(CASE_FIELDS, row, strict=True)) for row in rows[1:]]


def _ts(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def _days(n: int) -> list[dt.date]:
    return [START + dt.timedelta(days=i) for i in range(n)]


def test_files_and_summary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings, summary = _run(monkeypatch, tmp_path, days=3)
    expected = [settings.departments_dir / "scjgj" / "business_registry.jsonl"] + [
        settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{d:%Y-%m-%d}.csv" for d in _days(3)
    ]
    assert summary["files"] == [str(p) for p in expected]
    assert all(p.is_file() for p in expected)
    assert (summary["start"], summary["end"]) == ("2025-06-02", "2025-06-04")

    by_day = Counter(r["updated_at"][:10] for r in _registry(settings))
    rows = summary["rows"]["scjgj/business_registry"]
    assert rows == {d.isoformat(): by_day[d.isoformat()] for d in _days(3)}
    assert sum(by_day.values()) == sum(summary["rows"]["scjgj/business_registry"].values())
    for day in _days(3):
        assert summary["rows"]["cgj/city_cases"][day.isoformat()] == len(_cases(settings, day))
    json.dumps(summary)  # the CLI prints it


def test_volumes_follow_scale(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, summary = _run(monkeypatch, tmp_path, days=3, scale=0.5, defect_rate=0)
    registry = summary["rows"]["scjgj/business_registry"]
    cases = summary["rows"]["cgj/city_cases"]
    assert 300 <= registry["2025-06-02"] <= 300 + 15  # initial registry + a day's registrations
    assert all(3 <= registry[d.isoformat()] <= 20 for d in _days(3)[1:])
    assert all(80 <= n <= 120 for n in cases.values())


def test_clean_run_has_only_valid_identifiers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings, summary = _run(monkeypatch, tmp_path, days=3, defect_rate=0)
    assert all(n == 0 for kinds in summary["defects"].values() for n in kinds.values())

    records = _registry(settings)
    for r in records:
        assert list(r) == REGISTRY_FIELDS
        assert all(isinstance(v, str) for v in r.values())
        assert is_valid_uscc(r["uscc"]), r
        assert r["uscc"][:2] in {"91", "92"}
        assert r["uscc"][2:8] == r["area_code"]
        assert (r["uscc"][:2] == "92") == (r["entity_type"] == "个体工商户")
        assert r["entity_type"] in ENTITY_TYPES
        assert r["industry"] in {"餐饮", "零售", "住宿", "居民服务", "其他"}
        assert is_valid_id_number(r["legal_person_id"]), r
        assert r["legal_person_id"][:6] in AREAS
        assert 1955 <= int(r["legal_person_id"][6:10]) <= 2000
        assert 2 <= len(r["legal_person_name"]) <= 3
        assert r["status"] in {"存续", "注销", "吊销"}
        assert dt.date.fromisoformat(r["registered_on"]) <= _ts(r["updated_at"]).date()
        assert r["entity_name"].startswith("重庆")
    assert Counter(r["industry"] for r in records).most_common(2)[0][0] in {"餐饮", "零售"}

    for day in _days(3):
        rows = _cases(settings, day)
        assert len({r["case_id"] for r in rows}) == len(rows)
        for r in rows:
            assert r["case_id"].startswith(f"CG{day:%Y%m%d}") and len(r["case_id"]) == 16
            assert is_valid_mobile(r["reporter_phone"]), r
            assert r["event_class_code"] in EVENT_CLASSES
            assert _ts(r["reported_at"]).date() == day
            assert r["report_channel"] in {"信息采集员", "12345热线", "视频智能发现", "街道网格员"}
            if r["status"] == "结案":
                assert _ts(r["closed_at"]) >= _ts(r["reported_at"])
            else:
                assert r["status"] in {"立案", "派遣", "处置"} and r["closed_at"] == ""
            if r["event_class_code"] != "0502":
                assert r["shop_uscc"] == ""


def test_codes_are_real_and_nanping_is_busiest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings, _ = _run(monkeypatch, tmp_path, days=3, defect_rate=0)
    rows = _registry(settings) + [r for d in _days(3) for r in _cases(settings, d)]
    for r in rows:
        assert r["area_code"] in AREAS and r["area_code"] in FOCUS_AREAS
        assert r["street_code"] in STREETS
        assert r["street_code"][:6] == r["area_code"]
        assert r["street_code"][6] == "0"  # a 街道 office, not a town
    for source in (_registry(settings), [r for d in _days(3) for r in _cases(settings, d)]):
        counts = Counter(r["street_code"] for r in source)
        assert counts.most_common(1)[0][0] == NANPING
        assert {r["area_code"] for r in source} == FOCUS_AREAS


def test_storefront_cases_name_open_shops_of_the_street(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings, _ = _run(monkeypatch, tmp_path, days=3, defect_rate=0)
    versions = _registry(settings)
    storefront = with_shop = total = 0
    for day in _days(3):
        # The registry as of the end of the day: each business's latest version dated on or before it.
        state: dict[str, dict[str, str]] = {}
        for v in versions:
            if _ts(v["updated_at"]).date() <= day:
                state[v["uscc"]] = v
        for r in _cases(settings, day):
            total += 1
            if r["event_class_code"] != "0502":
                continue
            storefront += 1
            if r["shop_uscc"]:
                with_shop += 1
                shop = state[r["shop_uscc"]]
                assert shop["status"] == "存续"
                assert shop["street_code"] == r["street_code"]
    assert 0.18 <= storefront / total <= 0.32
    assert 0.65 <= with_shop / storefront <= 0.92


def test_registry_versions_are_unique_per_day_and_include_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings, _ = _run(monkeypatch, tmp_path, days=4, defect_rate=0)
    versions = _registry(settings)
    assert versions == sorted(versions, key=lambda v: (v["updated_at"], v["uscc"]))
    seen: dict[str, dict[str, str]] = {}
    changes = Counter()
    for day in _days(4):
        today = [v for v in versions if v["updated_at"][:10] == day.isoformat()]
        assert len({v["uscc"] for v in today}) == len(today)  # uscc is the batch's key
        for v in today:
            before = seen.get(v["uscc"])
            if before is None:
                if day > START:
                    assert v["registered_on"] == day.isoformat() and v["status"] == "存续"
            else:
                assert before["status"] == "存续"  # closed businesses do not change again
                if v["status"] != before["status"]:
                    changes["status"] += 1
                    assert v["status"] in {"注销", "吊销"}
                else:
                    changes["address"] += 1
                    assert v["address"] != before["address"]
                assert v["registered_on"] == before["registered_on"]
            seen[v["uscc"]] = v
    assert changes["status"] > 0 and changes["address"] > 0


def test_defects_are_injected_and_counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rate = 0.1
    settings, summary = _run(monkeypatch, tmp_path, days=3, defect_rate=rate)
    cases_defects = summary["defects"]["cgj/city_cases"]
    found = Counter()
    n_original = 0
    for day in _days(3):
        rows = _cases(settings, day)
        unique = {tuple(r.values()) for r in rows}
        found["duplicate_row"] += len(rows) - len(unique)
        assert len({r["case_id"] for r in rows}) == len(unique)  # duplicates are exact copies
        n_original += len(unique)
        for r in rows:
            found["invalid_phone"] += not is_valid_mobile(r["reporter_phone"])
            found["invalid_street_code"] += r["street_code"] not in STREETS
            found["unknown_event_class"] += r["event_class_code"] not in EVENT_CLASSES
            closed = r["closed_at"]
            found["closed_before_reported"] += bool(closed) and _ts(closed) < _ts(r["reported_at"])
    assert dict(found) == cases_defects
    assert all(n > 0 for n in cases_defects.values())
    assert abs(sum(cases_defects.values()) - rate * n_original) <= 3

    versions = _registry(settings)
    registry_defects = summary["defects"]["scjgj/business_registry"]
    assert sum(not is_valid_uscc(v["uscc"]) for v in versions) == registry_defects["uscc_check_char"]
    assert sum(not is_valid_id_number(v["legal_person_id"]) for v in versions) == (
        registry_defects["legal_person_id_check_digit"]
    )
    assert all(n > 0 for n in registry_defects.values())
    assert abs(sum(registry_defects.values()) - rate * len(versions)) <= 3
    # A corrupted check character is the only defect: the rest of the identifier stays well formed.
    for v in versions:
        assert v["uscc"][:2] in {"91", "92"} and v["uscc"][2:8] == v["area_code"]


def test_same_arguments_give_byte_identical_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, first = _run(monkeypatch, tmp_path / "a", days=2, defect_rate=0.05, seed=11)
    _, second = _run(monkeypatch, tmp_path / "b", days=2, defect_rate=0.05, seed=11)
    _, other = _run(monkeypatch, tmp_path / "c", days=2, defect_rate=0.05, seed=12)
    assert len(first["files"]) == 3
    for a, b, c in zip(first["files"], second["files"], other["files"], strict=True):
        assert Path(a).read_bytes() == Path(b).read_bytes()
        assert Path(a).read_bytes() != Path(c).read_bytes()
    first.pop("files")
    second.pop("files")
    assert first == second


def test_rerun_overwrites_and_drops_stale_case_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings, summary = _run(monkeypatch, tmp_path, days=3)
    before = {p: Path(p).read_bytes() for p in summary["files"]}
    _, again = _run(monkeypatch, tmp_path, days=3)
    assert again["files"] == summary["files"] and again["removed_files"] == []
    assert {p: Path(p).read_bytes() for p in again["files"]} == before

    _, shorter = _run(monkeypatch, tmp_path, days=2)
    stale = cases_path(settings, _days(3)[2])
    assert shorter["removed_files"] == [str(stale)]
    assert not stale.exists()
    assert sorted(p.name for p in stale.parent.iterdir()) == [f"city_cases_{d}.csv" for d in _days(2)]


def test_default_start_ends_yesterday(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = _settings(monkeypatch, tmp_path)
    summary = simulate(settings, days=2, scale=0.05)
    assert summary["end"] == (dt.date.today() - dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize("kwargs", [{"days": 0}, {"scale": 0}, {"defect_rate": -0.1}, {"defect_rate": 1.5}])
def test_bad_arguments_are_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kwargs: dict) -> None:
    settings = _settings(monkeypatch, tmp_path)
    with pytest.raises(ValueError):
        simulate(settings, **kwargs)


# --- the 市场监管局 API ---------------------------------------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def _get(url: str, token: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _OPENER.open(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_api_pages_cover_the_day_exactly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings, _ = _run(monkeypatch, tmp_path, days=2, scale=0.5)
    token = settings.sim_api_token
    versions = _registry(settings)
    with start_api_server(settings, port=0) as api:
        assert api.url == f"http://127.0.0.1:{api.port}" and api.port > 0
        for day in _days(2):
            expected = [v for v in versions if v["updated_at"][:10] == day.isoformat()]
            got: list[dict[str, str]] = []
            page = 1
            while True:
                status, body = _get(
                    f"{api.url}/api/v1/business_registry?updated_on={day}&page={page}&page_size=40", token
                )
                assert status == 200
                assert (body["page"], body["page_size"], body["total"]) == (page, 40, len(expected))
                assert len(body["data"]) <= 40
                if not body["data"]:
                    break
                got.extend(body["data"])
                page += 1
            assert got == expected
            assert page - 1 == -(-len(expected) // 40)
        status, body = _get(f"{api.url}/api/v1/business_registry?updated_on=2020-01-01", token)
        assert (status, body["data"], body["total"], body["page"], body["page_size"]) == (200, [], 0, 1, 500)


def test_api_serves_a_new_simulation_without_restart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings, _ = _run(monkeypatch, tmp_path, days=1, scale=0.05, seed=1)
    url = f"/api/v1/business_registry?updated_on={START}&page_size=1000"
    with start_api_server(settings, port=0) as api:
        _, first = _get(api.url + url, settings.sim_api_token)
        simulate(settings, days=1, start=START, scale=0.05, seed=2)
        _, second = _get(api.url + url, settings.sim_api_token)
    assert first["data"] and second["data"]
    assert first["data"] != second["data"]
    assert second["data"] == _registry(settings)


def test_api_rejects_missing_token_and_bad_parameters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings, _ = _run(monkeypatch, tmp_path, days=1, scale=0.05)
    endpoint = "/api/v1/business_registry"
    day = "?updated_on=2025-06-02"
    with start_api_server(settings, port=0) as api:
        for token in (None, "wrong-token", ""):
            status, body = _get(api.url + endpoint + day, token)
            assert status == 401 and "error" in body and "data" not in body
        good = settings.sim_api_token
        for query in (
            "?updated_on=2025-13-01", "?updated_on=20250602", "?updated_on=", "", day + "&page=0",
            day + "&page=x", day + "&page=-1", day + "&page_size=0", day + "&page_size=100000",
        ):
            status, body = _get(api.url + endpoint + query, good)
            assert status == 400, query
            assert body["error"] == "Bad Request" and body["message"]
        assert _get(api.url + "/api/v1/other", good)[0] == 404
        assert _get(api.url + "/health", None) == (200, {"status": "ok"})
    # stopped: the port no longer answers
    with pytest.raises(urllib.error.URLError):
        _OPENER.open(api.url + "/health", timeout=2)
