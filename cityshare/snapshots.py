"""Published versions on the exports volume: immutable snapshot folders and one pointer per table.

Layout::

    exports/shared/<table>/version=N/<table>.parquet     the rows of version N (never rewritten)
    exports/shared/<table>/version=N/_publication.json   its rows, content hash and publish time
    exports/shared/<table>/current.json                  the published version: {"version": N}

Publishing is a pointer swap (issue 32 #4): the version folder is written, fsynced and renamed into place
*before* the warehouse commit that records it in ``meta.publications``; the pointer moves after that
commit. A crash in between leaves either an unpublished folder (no pointer to it; the next publish of the
same rows reuses it, ``cityshare check`` sets other ones aside) or a committed version whose pointer lags
(the next publish or ``cityshare check`` moves it). The share service reads only the pointer, so it never
shows a version the warehouse has not committed. Folders written before pointers existed (no
``_publication.json``) are read as before: the highest one is current.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from cityshare.settings import Settings

SIDECAR = "_publication.json"
POINTER = "current.json"
_VERSION = re.compile(r"^version=(\d+)$")


def table_dir(settings: Settings, name: str) -> Path:
    return settings.exports_dir / "shared" / name


def snapshot_file(settings: Settings, name: str, version: int) -> Path:
    return table_dir(settings, name) / f"version={version}" / f"{name}.parquet"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write a small JSON file through a temp name, fsynced before and after the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{uuid.uuid4().hex[:8]}-{path.name}"
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(doc, fh, ensure_ascii=False, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def versions(settings: Settings, name: str) -> dict[int, Path]:
    """version → folder, for every complete snapshot folder of a table."""
    base = table_dir(settings, name)
    found: dict[int, Path] = {}
    if base.is_dir():
        for child in base.iterdir():
            m = _VERSION.match(child.name)
            if m and (child / f"{name}.parquet").is_file():
                found[int(m.group(1))] = child
    return found


def sidecar(folder: Path) -> dict[str, Any] | None:
    """A version folder's publication record, or None (a folder from before pointers existed)."""
    try:
        return json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def highest(settings: Settings, name: str) -> int:
    """The highest ``version=N`` folder of a table on the exports volume (0 if none)."""
    base = table_dir(settings, name)
    numbers = [int(m.group(1)) for p in base.glob("version=*") if (m := _VERSION.match(p.name))] if base.is_dir() else []
    return max(numbers, default=0)


def pointer(settings: Settings, name: str) -> int | None:
    try:
        return int(json.loads((table_dir(settings, name) / POINTER).read_text(encoding="utf-8"))["version"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def set_pointer(settings: Settings, name: str, version: int) -> None:
    """Make ``version`` the one the share service serves (after the commit that published it)."""
    write_json_atomic(table_dir(settings, name) / POINTER, {"table": name, "version": version})


def current(settings: Settings, name: str) -> tuple[int | None, Path | None]:
    """The served version and its Parquet file: the pointer's; without a pointer, the highest folder written
    before pointers existed (a folder with a publication record is visible only through the pointer)."""
    found = versions(settings, name)
    number = pointer(settings, name)
    if number is None:
        legacy = [v for v, folder in found.items() if sidecar(folder) is None]
        number = max(legacy, default=None)
    if number is None or number not in found:
        return None, None
    return number, found[number] / f"{name}.parquet"


def write_version(settings: Settings, name: str, version: int, source: Path, record: dict[str, Any]) -> Path:
    """Write ``version=N`` complete (rows + publication record), fsynced, renamed into place; returns the file.

    An existing folder is never rewritten: it is returned as it is (the same rows, from an attempt that died
    before its commit — the caller checked its record)."""
    final = snapshot_file(settings, name, version)
    folder = final.parent
    if folder.exists():
        return final
    base = folder.parent
    base.mkdir(parents=True, exist_ok=True)
    for stale in base.glob(".tmp-version=*"):  # left by a writer killed mid-copy; never read by anyone
        shutil.rmtree(stale, ignore_errors=True)
    tmp = base / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        shutil.copyfile(source, tmp / final.name)
        _fsync_file(tmp / final.name)
        with (tmp / SIDECAR).open("w", encoding="utf-8") as fh:
            json.dump({"table": name, "version": version, **record}, fh, ensure_ascii=False, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(tmp)
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fsync_dir(base)
    return final
