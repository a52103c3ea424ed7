"""Process-wide DuckDB instances, so a short-lived connection costs a cursor instead of a database.

Creating a DuckDB instance (``duckdb.connect``) costs ≈ 11 ms on this kind of machine, in memory or on a file,
before any query; a cursor on an existing instance ≈ 0.2 ms, attaching a database file to it ≈ 1.5 ms. The
warehouse is opened per step (another process may need its lock next) and the lake writes every batch through a
scratch DuckDB, so a 10 M-row day of 540 batches paid ≈ 3 instances a batch (≈ 20 s of the 10 M-row bench).

- :func:`scratch`: a cursor on an in-memory instance with this memory limit and spill folder (one per pair).
- :func:`attached`: a cursor on a database file, attached to an in-memory instance under the name a direct
  ``duckdb.connect`` gives it (the file's stem: ``warehouse``) and made the cursor's default catalog. The file is
  detached — its lock released and its WAL checkpointed, as closing a connection does — when the last cursor of
  the process on it closes. One instance per file, so two warehouses open at once never share a catalog name.

Each cursor is a DuckDB connection of its own: its transaction and temp objects are its own, as before. An
instance is never carried into a forked child (its threads and file handles do not survive ``fork``): idle ones
are closed before forking; one still in use is abandoned in the child, never closed there (closing it would
checkpoint a file the parent holds).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityshare.sqlquote import lit, q

_lock = threading.RLock()


@dataclass
class _Instance:
    db: Any  # the DuckDB instance (its first connection)
    users: int = 0  # cursors open on it
    read_only: bool = False  # how its file is attached (attached instances)
    attached: bool = False


_scratch: dict[tuple[str, str], _Instance] = {}
_files: OrderedDict[str, _Instance] = OrderedDict()  # least recently used first
_abandoned: list[_Instance] = []  # inherited by a forked child while in use: kept, never closed
IDLE_FILE_INSTANCES = 4  # instances of files no cursor uses that stay open (a test run opens hundreds of warehouses)


@contextmanager
def scratch(memory_limit: str, temp_directory: Path) -> Iterator[Any]:
    """A cursor on the process's in-memory instance with this memory limit, spilling to ``temp_directory``."""
    import duckdb

    key = (memory_limit, str(temp_directory))
    with _lock:
        instance = _scratch.get(key)
        if instance is None:
            instance = _scratch[key] = _Instance(duckdb.connect(config={"memory_limit": memory_limit,
                                                                         "temp_directory": str(temp_directory)}))
        cursor = instance.db.cursor()
        instance.users += 1
    try:
        yield cursor
    finally:
        with _lock:
            cursor.close()
            instance.users -= 1


def catalog_name(path: Path) -> str:
    """The catalog name DuckDB gives a database file opened directly: its stem (``warehouse``)."""
    return path.stem


@contextmanager
def attached(path: Path, read_only: bool = False) -> Iterator[Any]:
    """A cursor whose default catalog is the database file ``path`` (created if missing, unless ``read_only``).

    Raises what ``duckdb.connect(path, read_only=...)`` raises: ``duckdb.IOException`` while another process holds
    the file's lock, ``duckdb.ConnectionException`` for a read-write use while this process has it read-only.
    A read-only use while this process has it read-write shares that attachment, as DuckDB's own instance cache
    shares a connection's database."""
    import duckdb

    key = str(path.resolve())
    with _lock:
        instance = _files.get(key)
        if instance is None:
            instance = _files[key] = _Instance(duckdb.connect(config={"temp_directory": f"{path}.tmp"}))
        _files.move_to_end(key)
        if not instance.attached:
            instance.db.execute(f"ATTACH {lit(str(path))} AS {q(catalog_name(path))}"
                                + (" (READ_ONLY)" if read_only else ""))
            instance.attached, instance.read_only = True, read_only
        elif instance.read_only and not read_only:
            raise duckdb.ConnectionException(f"{path} is open read-only in this process: close that connection "
                                             "before opening it for writing")
        cursor = instance.db.cursor()
        instance.users += 1
    try:
        cursor.execute(f"USE {q(catalog_name(path))}")
        yield cursor
    finally:
        with _lock:
            cursor.close()
            instance.users -= 1
            if instance.users == 0:
                instance.attached = False
                try:
                    instance.db.execute(f"DETACH {q(catalog_name(path))}")
                except Exception:  # e.g. its checkpoint failed (a full disk): close the whole instance instead
                    _files.pop(key, None)
                    instance.db.close()
                    raise
                _close_idle_files(keep=IDLE_FILE_INSTANCES)


def _close_idle_files(keep: int) -> None:
    idle = [key for key, instance in _files.items() if instance.users == 0]
    for key in idle[:max(len(idle) - keep, 0)]:
        _files.pop(key).db.close()


def _close_idle_before_fork() -> None:
    if _lock.acquire(blocking=False):
        try:
            _close_idle_files(keep=0)
            for key in [k for k, instance in _scratch.items() if instance.users == 0]:
                _scratch.pop(key).db.close()
        finally:
            _lock.release()


def _forget_in_child() -> None:
    global _lock
    _abandoned.extend([*_scratch.values(), *_files.values()])
    _scratch.clear()
    _files.clear()
    _lock = threading.RLock()  # a lock held by another thread of the parent would never be released here


os.register_at_fork(before=_close_idle_before_fork, after_in_child=_forget_in_child)
