"""``cityshare demo --federation``: a national, a city and two district instances on loopback, wired together.

Each instance is a small share world (cityshare.share.sample_world) with its own home, data dir, token key and
receipt key under ``<data dir>/federation-demo/<name>/``, served by uvicorn on a free 127.0.0.1 port in this
process. The wiring is the real one: the city harvests both districts and the national platform harvests the city
(目录汇聚), the city receives the national platform's code lists and the districts the city's (下发参考数据), the
city lands both districts' case tables by data exchange (数据交换: grant at the district, signed receipt verified,
gate) and builds and publishes a table combining them and the street × month indicators computed from it, which the
national platform lands (上报指标), its lineage running back through the city to the districts' tables. The extra
contracts and the city's models are files under ``deploy/federation-demo/<name>/``, copied into the instance's home:
contracts stay the only place a dataset is declared.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cityshare.contracts.model import Contract
from cityshare.errors import CityShareError, InfrastructureError
from cityshare.settings import PROJECT_ROOT, Settings, environment

# per instance name: files copied over that instance's home (contracts, the city's dbt models)
DEMO_FILES = PROJECT_ROOT / "deploy" / "federation-demo"
# the load date of the demo's exchanges: the day of the sample worlds' rows
DEMO_DAY = dt.date(2026, 11, 27)
# what a home with demo models gets from the shipped dbt project to build them (not its models: their sources)
DBT_BASE = ("dbt_project.yml", "profiles.yml", "macros", "seeds")
_PEER_URL = re.compile(r"\$\{CITYSHARE_PEER_([A-Z0-9_]+)_URL\}")


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


@dataclass
class Federation:
    """The running demo: each instance's settings and server, what flowed, and the peer variables (URL and token
    of each data exchange, as an operator sets them for ``serve`` and the DAGs) this process holds until ``stop``."""

    settings: dict[str, Settings]
    servers: dict[str, LoopbackServer]
    done: dict[str, Any] = field(default_factory=dict)
    env: ExitStack = field(default_factory=ExitStack)  # the peer variables set, restored on stop

    def setenv(self, name: str, value: str) -> None:
        self.env.enter_context(environment({name: value}))

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.env.close()


def start(root: Path) -> Federation:
    """Create the four instances under ``root`` (anew), serve them, pull code lists downward, exchange data (the
    city lands the districts' cases and publishes them combined and as monthly indicators, the national platform those
    indicators) and harvest upward. The caller stops the returned federation."""
    from cityshare.federation.harvest import harvest
    from cityshare.federation.reference import pull
    from cityshare.share.sample_world import build_world

    shutil.rmtree(root, ignore_errors=True)
    settings = {i.name: build_world(root / i.name, rows=40, evaluation=i.level == "市", instance_level=i.level,
                                    instance_area=i.area, instance_name=i.title,
                                    layers=(DEMO_FILES / i.name / "dbt_project").is_dir()) for i in INSTANCES}
    for name, s in settings.items():
        install_demo_files(name, s)
    fed = Federation(settings, {})
    servers = fed.servers
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
        done: dict[str, Any] = {"harvests": [], "references": [], "exchanges": [], "published": []}
        fed.done = done
        for i in INSTANCES:  # top down: a district receives the lists the city has just received
            if i.receives_from:
                done["references"].append((i.name, pull(i.receives_from, settings[i.name])))
        for i in reversed(INSTANCES):  # bottom up: the national platform sees the districts' entries via the city,
            # and the city's combined table, published before the national platform harvests and lands from it
            done["harvests"] += [(i.name, harvest(n, settings[i.name])) for n in i.harvests]
            exchange_all(fed, i.name)
    except BaseException:
        fed.stop()
        raise
    return fed


def install_demo_files(name: str, settings: Settings) -> None:
    """Copy ``deploy/federation-demo/<name>/`` over the instance's home; a home that gets dbt models also gets the
    shipped project's configuration, macros and seeds (the code lists) to build them with."""
    files = DEMO_FILES / name
    if not files.is_dir():
        return
    shutil.copytree(files, settings.project_root, dirs_exist_ok=True)
    if (files / "dbt_project").is_dir():
        for part in DBT_BASE:
            src, dst = PROJECT_ROOT / "dbt_project" / part, settings.dbt_project_dir / part
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True)
            else:
                shutil.copy(src, dst)


def exchange_all(fed: Federation, name: str) -> None:
    """Land every shared table the instance's contracts name at another demo instance (数据交换), then, when it has
    dbt models, build and publish, and rebuild its directory (the directory DAG's step) so the portal lists what
    arrived, with lineage from the providers' harvested entries."""
    from cityshare.contracts.model import load_contracts
    from cityshare.directory.builder import build_directory
    from cityshare.lineage import peer_table

    settings = fed.settings[name]
    peers = [c for c in load_contracts(settings, kind="source") if peer_table(c)]
    if not peers:
        return
    for contract in peers:
        fed.done["exchanges"].append((name, exchange(fed, name, contract)))
    if settings.dbt_project_dir.is_dir():
        fed.done["published"].append((name, build_and_publish(settings)))
    build_directory(settings)


def exchange(fed: Federation, name: str, contract: Contract) -> dict[str, Any]:
    """One data exchange as an operator runs it: a token the providing instance issues to this instance's
    department, a grant there through its request-approve API when the table is 有条件共享, the peer variables
    the contract names, then ``ingest`` (the receipt is verified before the batch lands, then the gate)."""
    from cityshare.ingest import ingest
    from cityshare.share.tables import shared_tables
    from cityshare.share.tokens import issue
    from cityshare.sources.cityshare_peer import receipts_dir
    from cityshare.vocabulary import SharingType

    endpoint, table = str(contract.server.get("endpointUrl") or ""), str(contract.server.get("dataset") or "")
    found, token_env = _PEER_URL.fullmatch(endpoint), str(contract.server_option("tokenEnv") or "")
    provider = found.group(1).lower() if found else ""
    if found is None or provider not in fed.servers or provider == name:
        raise CityShareError(f"{contract.path}: servers[0].endpointUrl {endpoint!r}: the demo lands another demo "
                             f"instance's table, ${{CITYSHARE_PEER_<NAME>_URL}} with NAME one of "
                             + ", ".join(n.upper() for n in fed.servers if n != name))
    if not token_env:
        raise CityShareError(f"{contract.path}: servers[0].customProperties.tokenEnv: the variable for the token "
                             f"{provider} issues")
    at, url = fed.settings[provider], fed.servers[provider].url
    shared = shared_tables(at).get(table)
    if shared is None:
        raise CityShareError(f"{contract.path}: servers[0].dataset {table!r} is not a shared table of {provider}")
    _, token = issue(at, contract.department, f"{name}-platform", "consumer")
    request = None
    if shared.sharing_type == SharingType.CONDITIONAL:
        request = _granted(url, token, at, shared.provider, table, contract)
    fed.setenv(endpoint[2:-1], url)  # as an operator sets them for the ingestion DAG and the directory build
    fed.setenv(token_env, token)
    landed = ingest(contract.key, DEMO_DAY, fed.settings[name])
    kept = receipts_dir(fed.settings[name], contract) / f"{landed['load_id']}.receipt.json"
    receipt = json.loads(kept.read_text(encoding="utf-8"))["receipt"]  # verified before the batch landed
    return {**landed, "provider": provider, "request_id": request, "receipt_path": str(kept), "receipt": receipt}


def _granted(url: str, token: str, at: Settings, provider: str, table: str, contract: Contract) -> str:
    """Apply at the providing instance for the contract's columns and have its approver approve (its real API):
    returns the request id."""
    import httpx

    from cityshare.share.tokens import issue
    from cityshare.sources.base import source_fields

    req = httpx.post(f"{url}/api/requests", headers={"Authorization": f"Bearer {token}"}, timeout=30, json={
        "table": table, "purpose": f"数据交换：{contract.name}", "columns": list(source_fields(contract).values()),
        "period_days": 30})
    if req.status_code != 201:
        raise InfrastructureError(f"{url}/api/requests: 申请被拒绝（HTTP {req.status_code}）：{req.text[:300]}")
    _, approver = issue(at, provider, f"{provider}-approver", "approver")
    decided = httpx.post(f"{url}/api/requests/{req.json()['id']}/decision", timeout=30,
                         headers={"Authorization": f"Bearer {approver}"},
                         json={"decision": "approve", "reason": "同意平台间数据交换（演示）"})
    if decided.status_code != 200:
        raise InfrastructureError(f"{url}/api/requests: 审批失败（HTTP {decided.status_code}）：{decided.text[:300]}")
    return str(req.json()["id"])


def build_and_publish(settings: Settings) -> dict[str, Any]:
    """``cityshare build`` for the instance (dbt build, audit, publish): dbt and its plugin read the settings from the
    environment, so the instance's are set for the build and restored afterwards."""
    from cityshare.contracts.model import load_contracts
    from cityshare.policy import current_lineage, upstream_sources
    from cityshare.publish import audit_and_publish
    from cityshare.transform import build

    with environment({"CITYSHARE_HOME": str(settings.project_root), "CITYSHARE_DATA_DIR": str(settings.data_dir),
                       "CITYSHARE_TOKEN_KEY": settings.token_key}):
        built = build(settings)
        if built["failed"]:
            raise InfrastructureError(f"{settings.project_root}: dbt build failed: {built['failed']}")
        outcome = audit_and_publish(settings)
    if outcome["blocked"]:
        raise InfrastructureError(f"{settings.project_root}: not published: {outcome['blocked']}")
    contracts = load_contracts(settings)
    graph = current_lineage(settings, contracts)
    by_table = {f"shared.{c.model_name}": c for c in contracts}
    changed = [t for t in outcome["published"] if t["changed"]]  # the sample world's own tables stay as they were
    return {**outcome, "published": [
        {**t, "sources": upstream_sources(by_table[t["table"]], contracts, graph) if graph else []} for t in changed]}


def _entry(target: DemoInstance, url: str) -> dict[str, str]:
    return {"name": target.name, "title": target.title, "endpoint": url, "level": target.level, "area": target.area}


def summary(fed: Federation) -> list[str]:
    """What a user reads after the demo started: every instance's URL and data dir, then what flowed."""
    lines = [f"{i.title} · {i.level}级 · {i.area}: {fed.servers[i.name].url}/  (data {fed.settings[i.name].data_dir})"
             for i in INSTANCES]
    levels = {i.name: i.level for i in INSTANCES}
    for who, r in fed.done["harvests"]:
        lines.append(f"目录汇聚 {who} ← {r['source']}: {r['received']} entries received, {r['entries']} there")
    for who, r in fed.done["references"]:
        lines.append(f"下发参考数据 {who} ← {r['source']}: {len(r['lists'])} code lists, versions "
                     + ", ".join(f"{x['code_list']} v{x.get('local_version')}" for x in r["lists"]))
    exchanges: dict[str, list[str]] = {"数据交换": [], "上报指标": []}  # 上报指标: the city's report to the national platform
    for who, r in fed.done["exchanges"]:
        receipt = r["receipt"]
        exchanges["上报指标" if levels[who] == "国家" else "数据交换"].append(
            f"{who} ← {r['provider']}: {receipt['table']} v{receipt['version']} → {r['dataset']}, {r['accepted']} rows "
            f"accepted, receipt verified (key {receipt['key_id']}"
            + (f", grant {receipt['grant_id']}" if receipt.get("grant_id") else "") + ")")
    lines += [f"数据交换 {line}" for line in exchanges["数据交换"]]
    for who, outcome in fed.done["published"]:
        for t in outcome["published"]:
            lines.append(f"发布 {who}: {t['table']} v{t['version']}, {t['rows']} rows ({t['sharing_type']}), "
                         f"from {', '.join(t['sources'])}")
    lines += [f"上报指标 {line}" for line in exchanges["上报指标"]]
    return lines


def run(root: Path, console: Any, serve: bool = True) -> dict[str, str]:
    """Start the demo federation under ``root`` and show it (see ``show``). Returns name → URL."""
    return show(start(root), console, serve)


def show(fed: Federation, console: Any, serve: bool = True) -> dict[str, str]:
    """Print every instance's URL and what flowed, then serve until Ctrl-C (or return at once with
    ``serve=False``); the federation is stopped either way. Returns name → URL."""
    try:
        for line in summary(fed):
            console.print(line, soft_wrap=True)
        if serve:
            console.print("serving the four instances; Ctrl-C stops them")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fed.stop()
    return {name: server.url for name, server in fed.servers.items()}
