"""三级平台互联互通 end to end: a district (南岸区) and a city (重庆市) instance, each a real ``cityshare serve``
process on loopback with its own data dir and keys, and a national instance harvesting the city.

The city harvests the district's directory (re-harvest is idempotent, an edit is one new version, a withdrawn
entry disappears, a stopped district leaves its entries flagged stale) and lands the district's 有条件共享
table through the normal ingest → gate path: refused without a grant, accepted with one, blocked when the
signed delivery receipt was tampered with on the way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cityshare.ports import free_port
from cityshare.share import audit
from cityshare.share.sample_world import build_world

pytestmark = pytest.mark.e2e  # the e2e tier: real processes end to end (≈ 1 min)
CLI = str(Path(sys.executable).parent / "cityshare")
TABLE = "theme_city_cases__case"
DAY = "2026-11-27"
# the city's source contract for the district's table (custom server, serverType cityshare)
CONSUMER_CONTRACT = Path(__file__).parent / "federation" / "nanan_city_cases.odcs.yaml"


class Instance:
    """One CityShare instance: its home, data dir, identity and (while started) its serve process."""

    def __init__(self, root: Path, level: str, area: str, name: str) -> None:
        self.settings = build_world(root, rows=40, instance_level=level, instance_area=area, instance_name=name)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CITYSHARE_HOME": str(self.settings.project_root),
                    "CITYSHARE_DATA_DIR": str(self.settings.data_dir), "CITYSHARE_TOKEN_KEY": self.settings.token_key,
                    "CITYSHARE_INSTANCE_LEVEL": level, "CITYSHARE_INSTANCE_AREA": area,
                    "CITYSHARE_INSTANCE_NAME": name}
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, *args], env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=300, check=False)

    def start(self) -> None:
        self.proc = subprocess.Popen([CLI, "serve", "--port", str(self.port)], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{self.url} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    def token(self, department: str, role: str) -> str:
        out = self.cli("token", "issue", "--department", department, "--user", f"{department}-{role}", "--role", role)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def directory(self) -> list[dict[str, Any]]:
        return json.loads((self.settings.directory_dir / "directory.json").read_text(encoding="utf-8"))["共享数据资源目录"]


class TamperingProxy:
    """Forwards to the district but changes the row count in every delivery receipt it passes on."""

    def __init__(self, upstream: str) -> None:
        self.port = free_port()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization",)}
                resp = httpx.get(upstream + self.path, headers=headers, timeout=30)
                body = resp.content
                if self.path.startswith("/api/receipts/"):
                    doc = resp.json()
                    doc["receipt"]["rows"] += 1
                    body = json.dumps(doc).encode()
                self.send_response(resp.status_code)
                for key in ("content-type", "x-cityshare-delivery"):
                    if key in resp.headers:
                        self.send_header(key, resp.headers[key])
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[tuple[Instance, Instance, Instance]]:
    district = Instance(tmp_path / "nanan", "区县", "500108", "南岸区城市运行和治理中心")
    city = Instance(tmp_path / "city", "市", "500000", "重庆市城市运行和治理中心")
    national = Instance(tmp_path / "national", "国家", "000000", "国家城市运行管理服务平台")
    (national.settings.catalog_dir / "federation.yml").write_text(yaml.safe_dump({"harvest": [
        {"name": "chongqing", "endpoint": city.url, "level": "市", "area": "500000"}]}, allow_unicode=True),
        encoding="utf-8")
    (city.settings.catalog_dir / "federation.yml").write_text(yaml.safe_dump({"harvest": [
        {"name": "nanan", "title": "南岸区城市运行和治理中心", "endpoint": "${CITYSHARE_PEER_NANAN_URL}",
         "level": "区县", "area": "500108"}]}, allow_unicode=True), encoding="utf-8")
    (city.settings.contracts_dir / "cyzx").mkdir()
    shutil.copy(CONSUMER_CONTRACT, city.settings.contracts_dir / "cyzx")
    city.env["CITYSHARE_PEER_NANAN_URL"] = district.url
    district.start()
    city.start()
    try:
        yield district, city, national
    finally:
        district.stop()
        city.stop()


def _harvested(city: Instance) -> dict[str, dict[str, Any]]:
    return {e["来源平台"]["原信息资源代码"]: e for e in city.directory() if e.get("kind") == "harvested"}


def test_district_city_national(federation: tuple[Instance, Instance, Instance]) -> None:
    district, city, national = federation

    # identity: both headers say who they are; the district's codes carry its area code
    assert "南岸区城市运行和治理中心 · 区县级平台 · 南岸区（500108）" in httpx.get(district.url + "/").text
    ident = httpx.get(district.url + "/api/federation/identity").json()
    assert (ident["level"], ident["area"]) == ("区县", "500108") and "PUBLIC KEY" in ident["receipt_public_key"]
    district_codes = {e["信息资源代码"] for e in district.directory()}
    assert len(district_codes) == 3 and all(c.split("/")[1].startswith("500108") for c in district_codes)

    # harvest: every district entry appears in the city directory with its origin, marked and requestable there
    out = city.cli("federation", "harvest", "nanan")
    assert out.returncode == 0, out.stderr
    assert "3 entries received, 3 changed, 0 withdrawn, 3 new entry versions" in out.stdout
    harvested = _harvested(city)
    assert set(harvested) == district_codes
    cases = next(e for e in harvested.values() if e["table"] == f"shared.{TABLE}")
    assert cases["信息资源代码"] in district_codes  # already globally unique: kept as is
    assert cases["来源平台"]["层级"] == "区县" and cases["来源平台"]["行政区划代码"] == "500108"
    assert cases["来源平台"]["原提供方"] == "重庆市城市管理局" and cases["汇聚状态"]["过期"] is False
    assert cases["申请方式"]["申请地址"] == f"{district.url}/entry?code={cases['信息资源代码']}"
    page = httpx.get(f"{city.url}/entry", params={"code": cases["信息资源代码"]}).text
    assert "下级平台汇聚" in page and f"{district.url}/entry?code=" in page and "南岸区城市运行和治理中心" in page
    found = httpx.get(f"{city.url}/api/directory", params={"q": "城市管理案件"}).json()["共享数据资源目录"]
    assert any(e["信息资源代码"] == cases["信息资源代码"] and e["汇聚方式"] == "下级平台汇聚" for e in found)
    # the national platform harvests the city: the city's own entries get its area code, the district's keep theirs
    up = national.cli("federation", "harvest", "chongqing")
    assert up.returncode == 0, up.stderr
    top = {e["信息资源代码"]: e for e in national.directory() if e.get("kind") == "harvested"}
    city_own = {e["信息资源代码"] for e in city.directory() if e.get("kind") != "harvested"}
    assert set(top) == district_codes | {f"{c.split('/')[0]}/500000{c.split('/')[1]}" for c in city_own}
    assert {top[c]["来源平台"]["层级"] for c in district_codes} == {"区县"}  # the first origin, not the city
    assert top[cases["信息资源代码"]]["申请方式"] == cases["申请方式"]

    again = city.cli("federation", "harvest", "nanan")
    assert again.returncode == 0 and "0 changed, 0 withdrawn, 0 new entry versions" in again.stdout
    assert _content(_harvested(city)) == _content(harvested)  # idempotent: only the harvest time moved

    # exchange without a grant: the district refuses the city's consumer (and audits the refusal); nothing lands
    city_token = district.token("cyzx", "consumer")
    peer_env = {"CITYSHARE_PEER_NANAN_TOKEN": city_token}
    refused = city.cli("ingest", "cyzx/nanan_city_cases", "--date", DAY, env=peer_env)
    assert refused.returncode == 2 and "提供方平台拒绝（HTTP 403" in refused.stderr, refused.stderr

    # grant at the provider, then the exchange lands through the gate with the verified receipt kept
    consumer = {"Authorization": f"Bearer {city_token}"}
    req = httpx.post(f"{district.url}/api/requests", headers=consumer, json={
        "table": TABLE, "purpose": "市级城市管理协同研判", "columns": ["case_id", "street_code", "status", "reported_at"],
        "period_days": 30})
    assert req.status_code == 201, req.text
    approver = {"Authorization": f"Bearer {district.token('cgj', 'approver')}"}
    decided = httpx.post(f"{district.url}/api/requests/{req.json()['id']}/decision", headers=approver,
                         json={"decision": "approve", "reason": "同意市级协同"})
    assert decided.status_code == 200, decided.text
    landed = city.cli("ingest", "cyzx/nanan_city_cases", "--date", DAY, env=peer_env)
    assert landed.returncode == 0, landed.stderr
    batches = _batches(city)
    assert [(b["status"], b["rows_accepted"]) for b in batches] == [("accepted", 40)]
    kept = list((city.settings.data_dir / "federation" / "receipts" / "cyzx" / "nanan_city_cases").glob("*.json"))
    assert [p.name for p in kept] == [f"{batches[0]['load_id']}.receipt.json"]
    receipt = json.loads(kept[0].read_text(encoding="utf-8"))["receipt"]
    assert receipt["table"] == f"shared.{TABLE}" and receipt["department"] == "cyzx" and receipt["rows"] == 40
    assert receipt["grant_id"] and receipt["key_id"] == ident["key_id"]
    # audited on both sides: the district's export under the grant (and the earlier refusal), the city's receipt
    provided = [r for r in audit.entries(district.settings, 200) if r["department"] == "cyzx"]
    assert any(r["action"] == "export" and r["status"] == 200 and r["grant_id"] == receipt["grant_id"] for r in provided)
    assert any(r["action"] == "export" and r["status"] == 403 for r in provided)
    received = [r for r in audit.entries(city.settings, 50) if r["action"] == "federation.receive"]
    assert [(r["status"], r["grant_id"], r["rows"]) for r in received] == [(200, receipt["grant_id"], 40)]

    # a receipt changed on the way: the batch is blocked with the reason, the good batch stays accepted
    proxy = TamperingProxy(district.url)
    try:
        tampered = city.cli("ingest", "cyzx/nanan_city_cases", "--date", DAY,
                            env={**peer_env, "CITYSHARE_PEER_NANAN_URL": f"http://127.0.0.1:{proxy.port}"})
    finally:
        proxy.close()
    assert tampered.returncode == 1 and "签名无效" in tampered.stderr and "receipt_invalid" in tampered.stderr
    statuses = sorted((b["status"], b["reason"]) for b in _batches(city))
    assert [s for s, _ in statuses] == ["accepted", "blocked"] and "签名无效" in statuses[1][1]
    refusal = audit.entries(city.settings, 1, action="federation.receive")[0]
    assert refusal["status"] == 422 and "签名无效" in refusal["detail"]

    # a contract pinned to a version the provider does not deliver: blocked with the reason, before landing
    pinned = city.settings.contracts_dir / "cyzx" / "nanan_city_cases.odcs.yaml"
    pinned.write_text(pinned.read_text(encoding="utf-8").replace("value: latest", "value: '2'"), encoding="utf-8")
    gap = city.cli("ingest", "cyzx/nanan_city_cases", "--date", DAY, env=peer_env)
    assert gap.returncode == 1 and "版本不符：契约锁定 v2，提供方交付 v1" in gap.stderr and "version_gap" in gap.stderr
    assert sorted(b["status"] for b in _batches(city)) == ["accepted", "blocked", "blocked"]
    shutil.copy(CONSUMER_CONTRACT, pinned)

    # an edit at the district: one new version in the city after re-harvest, then nothing
    contract = district.settings.contracts_dir / "shared" / "city_cases.odcs.yaml"
    doc = yaml.safe_load(contract.read_text(encoding="utf-8"))
    doc["description"]["purpose"] = "南岸区城市管理案件（含街道协同处置），每日更新。"
    contract.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (district.settings.contracts_dir / "shared" / "elderly_alone.odcs.yaml").unlink()  # withdrawn
    rebuilt = district.cli("directory", "build")
    assert rebuilt.returncode == 0, rebuilt.stderr
    before = cases["条目版本"]
    out = city.cli("federation", "harvest", "nanan")
    assert out.returncode == 0, out.stderr
    assert "1 changed, 1 withdrawn, 2 new entry versions" in out.stdout
    after = _harvested(city)
    assert len(after) == 2 and after[cases["来源平台"]["原信息资源代码"]]["条目版本"] == before + 1
    assert after[cases["来源平台"]["原信息资源代码"]]["信息资源摘要"].startswith("南岸区城市管理案件（含街道协同处置）")
    out = city.cli("federation", "harvest", "nanan")
    assert "0 changed, 0 withdrawn, 0 new entry versions" in out.stdout

    # the district goes down: the harvest says so, its entries stay, flagged stale with the last success
    district.stop()
    down = city.cli("federation", "harvest", "nanan")
    assert down.returncode == 2 and "下级平台不可达" in down.stderr and "flagged stale" in down.stderr
    stale = _harvested(city)
    assert set(stale) == set(after)
    assert all(e["汇聚状态"]["过期"] and e["汇聚状态"]["最近成功汇聚"] for e in stale.values())
    assert "汇聚已过期" in httpx.get(f"{city.url}/entry", params={"code": cases["信息资源代码"]}).text
    rebuilt = city.cli("directory", "build")  # nothing else fails, and the stale entries survive a rebuild
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert set(_harvested(city)) == set(after)


def _content(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {code: {k: v for k, v in e.items() if k != "汇聚状态"} for code, e in entries.items()}


def _batches(instance: Instance) -> list[dict[str, Any]]:
    import duckdb

    con = duckdb.connect(str(instance.settings.warehouse_path), read_only=True)
    try:
        cur = con.execute("SELECT load_id, status, rows_accepted, reason FROM meta.batches "
                          "WHERE dataset = 'cyzx/nanan_city_cases' ORDER BY gated_at")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
