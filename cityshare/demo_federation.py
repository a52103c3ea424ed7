"""``cityshare demo --federation``: a national, a city and two district instances on loopback, wired together.

Each instance is a small share world (cityshare.share.sample_world) with its own home, data dir, token key and
receipt key under ``<data dir>/federation-demo/<name>/``, served by uvicorn on a free 127.0.0.1 port in this
process. The wiring is the real one: the city harvests both districts and the national platform harvests the city
(目录汇聚), the city receives the national platform's code lists and the districts the city's (下发参考数据).
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cityshare.errors import InfrastructureError
from cityshare.settings import Settings


@dataclass(frozen=True)
class DemoInstance:
    """One instance of the demo federation: its entry name, identity and where its parts are."""

    name: str
    level: str
    area: str
    title: str
    harvests: tuple[str, ...] = ()  # names of the lower demo instances it harvests
    receives_from: str | None = None  # the higher demo instance whose code lists it receives


INSTANCES = (
    DemoInstance("national", "国家", "000000", "国家城市运行管理服务平台", harvests=("chongqing",)),
    DemoInstance("chongqing", "市", "500000", "重庆市城市运行和治理中心", harvests=("nanan", "yubei"),
                 receives_from="national"),
    DemoInstance("nanan", "区县", "500108", "南岸区城市运行和治理中心", receives_from="chongqing"),
    DemoInstance("yubei", "区县", "500112", "渝北区城市运行和治理中心", receives_from="chongqing"),
)


class LoopbackServer:
    """uvicorn serving one instance's app in a thread of this process."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from cityshare.ports import free_port
        from cityshare.share.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.server.started:
            raise InfrastructureError(f"{self.url}: the demo instance did not start within 30 s")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start(root: Path) -> tuple[dict[str, Settings], dict[str, LoopbackServer], dict[str, Any]]:
    """Create the four instances under ``root`` (anew), serve them, harvest upward and pull code lists downward.

    Returns each instance's settings and server and what the harvests and pulls did; the caller stops the servers.
    """
    from cityshare.federation.harvest import harvest
    from cityshare.federation.reference import pull
    from cityshare.share.sample_world import build_world

    shutil.rmtree(root, ignore_errors=True)
    settings = {i.name: build_world(root / i.name, rows=40, evaluation=i.level == "市", instance_level=i.level,
                                    instance_area=i.area, instance_name=i.title) for i in INSTANCES}
    servers: dict[str, LoopbackServer] = {}
    try:
        for i in INSTANCES:
            servers[i.name] = LoopbackServer(settings[i.name])
        by_name = {i.name: i for i in INSTANCES}
        for i in INSTANCES:
            entry = {"harvest": [_entry(by_name[n], servers[n].url) for n in i.harvests]}
            if i.receives_from:
                entry["reference"] = [_entry(by_name[i.receives_from], servers[i.receives_from].url)]
            (settings[i.name].catalog_dir / "federation.yml").write_text(
                yaml.safe_dump(entry, allow_unicode=True, sort_keys=False), encoding="utf-8")
        done: dict[str, Any] = {"harvests": [], "references": []}
        for i in INSTANCES:  # top down: a district receives the lists the city has just received
            if i.receives_from:
                done["references"].append((i.name, pull(i.receives_from, settings[i.name])))
        for i in reversed(INSTANCES):  # bottom up: the national platform sees the districts' entries via the city
            done["harvests"] += [(i.name, harvest(n, settings[i.name])) for n in i.harvests]
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return settings, servers, done


def _entry(target: DemoInstance, url: str) -> dict[str, str]:
    return {"name": target.name, "title": target.title, "endpoint": url, "level": target.level, "area": target.area}


def run(root: Path, console: Any, serve: bool = True) -> dict[str, str]:
    """Start the demo federation, print every instance's URL and what flowed, then serve until Ctrl-C (or return
    at once with ``serve=False``). Returns name → URL."""
    settings, servers, done = start(root)
    try:
        for i in INSTANCES:
            console.print(f"{i.title} · {i.level}级 · {i.area}: {servers[i.name].url}/  (data {settings[i.name].data_dir})",
                          soft_wrap=True)
        for who, r in done["harvests"]:
            console.print(f"目录汇聚 {who} ← {r['source']}: {r['received']} entries received, {r['entries']} there",
                          soft_wrap=True)
        for who, r in done["references"]:
            console.print(f"下发参考数据 {who} ← {r['source']}: {len(r['lists'])} code lists, versions "
                          + ", ".join(f"{x['code_list']} v{x.get('local_version')}" for x in r["lists"]), soft_wrap=True)
        if serve:
            console.print("serving the four instances; Ctrl-C stops them")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers.values():
            server.stop()
    return {name: server.url for name, server in servers.items()}
