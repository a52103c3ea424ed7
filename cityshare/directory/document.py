"""``directory.json``, the published directory (共享数据资源目录): written whole and atomically, read by the
portal, the exporters and the sinks. The builder writes this instance's entries; the federation adds harvested ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cityshare.settings import Settings, get_settings


def export_json(entries: list[dict[str, Any]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"共享数据资源目录": entries}, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def load_entries(settings: Settings | None = None) -> list[dict[str, Any]]:
    settings = settings or get_settings()
    path = settings.directory_dir / "directory.json"
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["共享数据资源目录"]
    return entries
