"""The compiled catalogue (编译后的契约目录): every contract's YAML parsed once, kept as JSON.

Parsing one contract costs ≈ 7 ms (PyYAML's constructor runs in Python), and every process reading the catalogue
paid it for every contract — the DAG file, each build, the directory, the share service: ≈ 20 s per process at
3,000 contracts. The parsed documents are kept in ``<data dir>/cache/contracts.json`` with each file's size,
mtime and SHA-256; a process stats every contract file and reads again only those whose size or mtime changed
(or that changed too recently for their mtime to tell, as git does for its index), and parses again only those
whose content hash changed. ``content_hash`` (over every file's path and SHA-256) names this state of the
contracts. ``cityshare contracts compile`` rebuilds the cache from scratch.

JSON, not pickle: a cache file is data, never code. Files that do not parse are never cached; their
ContractError is reported every time, like before.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshare.contracts.document import Contract, ContractError, contract_from_raw, contract_paths, parse_raw
from cityshare.settings import Settings, get_settings

FORMAT = 1
# A file modified less than this before the cache was verified may change again within the same mtime tick
# without changing size: it is hashed again until it is older.
_RACY_NS = 2_000_000_000


@dataclass
class _Entry:
    mtime_ns: int
    size: int
    sha256: str
    raw: dict[str, Any]
    contract: Contract | None = None


@dataclass
class Catalogue:
    """Every contract file of the project: parsed contracts, or the error that stops one from parsing."""

    paths: list[Path]  # every contract file, sorted
    contracts: list[Contract]  # the ones that parse, sorted by path
    errors: dict[Path, ContractError]
    content_hash: str  # SHA-256 over every file's relative path and content hash
    file_hashes: dict[str, str] = field(default_factory=dict)  # "<department>/<file>" → SHA-256
    parsed: int = 0  # files this call had to parse (0: everything came from the cache)

    def first_error(self) -> ContractError | None:
        return next((self.errors[p] for p in self.paths if p in self.errors), None)


# In-process state per contracts folder: (entries by relative path, when they were last verified).
_MEMORY: dict[Path, tuple[dict[str, _Entry], int]] = {}


def cache_file(settings: Settings) -> Path:
    return settings.data_dir / "cache" / "contracts.json"


def _read_cache(settings: Settings) -> tuple[dict[str, _Entry], int]:
    try:
        text = cache_file(settings).read_text(encoding="utf-8")
    except OSError:
        return {}, 0
    gc.disable()  # millions of small objects, none of them garbage: the collector would only slow the load
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT or doc.get("contracts_dir") != str(settings.contracts_dir):
            return {}, 0
        return {rel: _Entry(e["mtime_ns"], e["size"], e["sha256"], e["raw"]) for rel, e in doc["files"].items()}, int(
            doc["verified_ns"])
    except (ValueError, KeyError, TypeError, AttributeError):  # damaged: only a slower run
        return {}, 0
    finally:
        gc.enable()


def _write_cache(settings: Settings, entries: dict[str, _Entry], verified_ns: int) -> None:
    path = cache_file(settings)
    files = {}
    for rel, e in sorted(entries.items()):
        try:  # a YAML value JSON cannot hold as it is (a date, a timestamp): that file is parsed each time
            json.dumps(e.raw)
        except (TypeError, ValueError):
            continue
        files[rel] = {"mtime_ns": e.mtime_ns, "size": e.size, "sha256": e.sha256, "raw": e.raw}
    doc = {"format": FORMAT, "contracts_dir": str(settings.contracts_dir), "verified_ns": verified_ns, "files": files}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)  # readers see the old or the new file, never half of one
    except OSError:  # a read-only data dir: the catalogue is still right, only not kept
        pass


def catalogue(settings: Settings | None = None, rebuild: bool = False) -> Catalogue:
    """The contracts as they are on disk now, parsing only files whose content changed since they were cached.

    ``rebuild``: ignore the cache and parse every file (``cityshare contracts compile``).
    The contracts are shared by every caller in the process while unchanged: treat them as read-only."""
    settings = settings or get_settings()
    root = settings.contracts_dir
    entries: dict[str, _Entry]
    if rebuild:
        entries, verified_ns = {}, 0
    elif root in _MEMORY:
        entries, verified_ns = _MEMORY[root]
    else:
        entries, verified_ns = _read_cache(settings)
    now_ns = time.time_ns()
    paths = contract_paths(settings)
    fresh: dict[str, _Entry] = {}
    errors: dict[Path, ContractError] = {}
    dirty = rebuild
    parsed = 0
    for path in paths:
        rel = f"{path.parent.name}/{path.name}"
        old = entries.get(rel)
        try:
            st = path.stat()
        except OSError as exc:
            errors[path] = ContractError(path, "file", f"cannot read: {exc.strerror}")
            continue
        same_stat = old is not None and old.mtime_ns == st.st_mtime_ns and old.size == st.st_size
        if old is not None and same_stat and st.st_mtime_ns < verified_ns - _RACY_NS:
            fresh[rel] = old
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            errors[path] = ContractError(path, "file", f"cannot read: {exc.strerror}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if old and old.sha256 == digest:
            fresh[rel] = old if same_stat else _Entry(st.st_mtime_ns, st.st_size, digest, old.raw, old.contract)
            # a new mtime is recorded; a file old enough now is recorded as verified, so it is not read again
            dirty = dirty or not same_stat or st.st_mtime_ns < now_ns - _RACY_NS
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors[path] = ContractError(path, f"byte {exc.start}", "not UTF-8 text (contracts are UTF-8 YAML)")
            continue
        try:
            raw = parse_raw(path, text)
            contract = contract_from_raw(path, raw)
        except ContractError as exc:
            errors[path] = exc
            continue
        parsed += 1
        dirty = True
        fresh[rel] = _Entry(st.st_mtime_ns, st.st_size, digest, raw, contract)
    if dirty or fresh.keys() != entries.keys():  # something changed (a file added, edited or removed)
        verified_ns = now_ns
        _write_cache(settings, fresh, verified_ns)
    _MEMORY[root] = (fresh, verified_ns)
    contracts = []
    for path in paths:
        entry = fresh.get(f"{path.parent.name}/{path.name}")
        if entry is None:
            continue
        if entry.contract is None:  # read from the cache file: built once per process
            try:
                entry.contract = contract_from_raw(path, entry.raw)
            except ContractError as exc:
                errors[path] = exc
                continue
        contracts.append(entry.contract)
    hashes = {rel: e.sha256 for rel, e in sorted(fresh.items())}
    total = hashlib.sha256("".join(f"{rel}\0{h}\n" for rel, h in hashes.items()).encode()).hexdigest()
    return Catalogue(paths, contracts, errors, total, hashes, parsed)
