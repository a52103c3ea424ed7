"""The code lists an instance builds with (下发参考数据): each is a dbt seed, replaced by the list received from a
higher instance when there is one (cityshare.federation.reference pulls it). The one owner of "which list is in
use": the build (seeds' post-hook, fingerprint), the gate's ``referenceSeed`` rules, the identity check and what
the instance serves further down all ask here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from cityshare.settings import PROJECT_ROOT, Settings, get_settings

RECEIVED, SEED = "received", "seed"  # a list in use: received from a higher instance, or the project's own seed
# The code lists a higher level governs (seed name → title); the seeds of local project rules are not served.
CODE_LISTS = {
    "chongqing_areas": "区县代码（GB/T 2260）",
    "chongqing_streets": "街道乡镇代码（统计用区划代码）",
    "area_code_changes": "区划代码变更（县改区）",
    "event_classes": "数字城管事件分类（GB/T 30428.2）",
    "component_classes": "数字城管部件分类（GB/T 30428.2）",
    "evaluation_indicators": "数字城管综合评价指标及权重（GB/T 30428.4）",
}
# The lists' column names as the portal shows them (参考数据 page); a column not here is shown as named.
COLUMN_TITLES = {
    "code": "代码", "name": "名称", "province_code": "省级代码", "city_code": "市级代码", "area_code": "区县代码",
    "old_code": "原代码", "new_code": "现代码", "old_name": "原名称", "new_name": "现名称", "changed_year": "变更年份",
    "major_code": "大类代码", "major_name": "大类名称", "disposal_hours": "处置时限（小时）",
    "definition": "定义", "weight": "权重", "basis": "依据",
}


def received_dir(settings: Settings) -> Path:
    return settings.data_dir / "federation" / "reference"


def seed_path(settings: Settings, name: str) -> Path:
    """The project's own seed of a code list (a home without a dbt project uses the shipped one)."""
    seed = settings.dbt_project_dir / "seeds" / f"{name}.csv"
    return seed if seed.exists() else PROJECT_ROOT / "dbt_project" / "seeds" / f"{name}.csv"


def code_list_path(settings: Settings, name: str) -> Path:
    """The list this instance uses: the one received from a higher instance, else its seed."""
    received = received_dir(settings) / f"{name}.csv"
    return received if received.exists() else seed_path(settings, name)


def current(settings: Settings, name: str) -> dict[str, Any] | None:
    """The signed document and local version of the received list in use (None: the seed is used)."""
    path = received_dir(settings) / f"{name}.json"
    if not path.exists() or not (received_dir(settings) / f"{name}.csv").exists():
        return None
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def received_lists(settings: Settings) -> dict[str, str]:
    """Seed name → received CSV, for the seeds' post-hook (``var('cs_code_lists')``) that loads it instead."""
    return {n: str(received_dir(settings) / f"{n}.csv") for n in CODE_LISTS if current(settings, n)}


def received_digests(settings: Settings) -> list[str]:
    """``name=sha256`` of every received list in use: part of the build's project fingerprint (a new list
    rebuilds everything that reads the seed)."""
    return [f"{n}={doc['receipt']['sha256']}" for n in CODE_LISTS if (doc := current(settings, n))]


def parse(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """A code list's CSV text: its columns and rows."""
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def status(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every code list: in use from the seed or received (local version, content version, from where, when)."""
    settings = settings or get_settings()
    out = []
    for name, title in CODE_LISTS.items():
        doc = current(settings, name)
        payload = doc["receipt"] if doc else {}
        out.append({"code_list": name, "title": title, "in_use": RECEIVED if doc else SEED,
                    "local_version": doc["local_version"] if doc else None,
                    "version": payload.get("version") or hashlib.sha256(
                        code_list_path(settings, name).read_bytes()).hexdigest()[:12],
                    "rows": payload.get("rows") or len(parse(code_list_path(settings, name).read_text(encoding="utf-8"))[1]),
                    "origin": (payload.get("origin") or {}).get("name"),
                    "source": doc["source"] if doc else None, "received_at": doc["received_at"] if doc else None})
    return out

