"""`cityshare demo --federation`: four instances on loopback, each with its own data dir and keys, wired both ways."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from rich.console import Console

from cityshare.demo_federation import INSTANCES, start


def test_four_instances_harvest_upward_and_pass_code_lists_down(tmp_path: Path) -> None:
    settings, servers, _ = start(tmp_path / "demo")
    try:
        idents = {n: httpx.get(f"{s.url}/api/federation/identity", timeout=10).json() for n, s in servers.items()}
        lists = httpx.get(f"{servers['nanan'].url}/api/federation/reference", timeout=10).json()["code_lists"]
    finally:
        for server in servers.values():
            server.stop()
    assert {n: (i["level"], i["area"]) for n, i in idents.items()} == {i.name: (i.level, i.area) for i in INSTANCES}
    assert len({i["key_id"] for i in idents.values()}) == 4  # separate receipt keys
    assert len({s.data_dir for s in settings.values()}) == 4
    # the district serves the lists it received from the city, which received them from the national platform
    assert {cl["origin"]["area"] for cl in lists} == {"000000"}
    national = json.loads((settings["national"].directory_dir / "directory.json").read_text(encoding="utf-8"))
    areas = {e["来源平台"]["行政区划代码"] for e in national["共享数据资源目录"] if e.get("kind") == "harvested"}
    assert areas == {"500000", "500108", "500112"}  # the districts' entries reach the top through the city


def test_the_demo_prints_every_url(tmp_path: Path) -> None:
    from cityshare.demo_federation import run

    console = Console(record=True, width=200)
    urls = run(tmp_path / "demo", console, serve=False)
    text = console.export_text()
    assert len(set(urls.values())) == 4 and all(f"{url}/" in text for url in urls.values())
    assert "目录汇聚 national ← chongqing" in text and "下发参考数据 nanan ← chongqing" in text
