"""Where the lake lives: a local folder (embedded default) or an S3-compatible bucket, chosen by settings.

Every lake path goes through :func:`lake_root`, which returns a ``pathlib.Path`` for the local folder
or a ``upath.UPath`` (fsspec / s3fs underneath) for ``CITYSHARE_LAKE_URL=s3://bucket/prefix``; both
support ``/``, ``.name``, ``.parent`` and ``.exists()``, so the lake layout code is written once.

Atomic commit on object storage: S3 has no rename. A lake file is always produced completely in the
local scratch folder first and then uploaded with one ``put`` of the finished file; S3 makes an object
visible only when its upload completes (a single PUT, or CompleteMultipartUpload for large files), so
readers see the whole object or nothing. A batch is one object (``part-0.parquet``), so its key
appearing is the commit; dbt sees it only once the gate records it in ``meta.batches`` (the manifest).
A second writer of the same content finds the key already there and keeps the first (idempotent).

DuckDB reads the object store through the same fsspec filesystem (``register_filesystem``): the
httpfs extension cannot be installed from the package registries this project uses.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from cityshare.settings import Settings

LakePath = Any  # pathlib.Path (local) or upath.UPath (object storage)


def is_remote(settings: Settings) -> bool:
    """True when the lake is on object storage."""
    return bool(settings.lake_url) and "://" in settings.lake_url and not settings.lake_url.startswith("file://")


def storage_options(settings: Settings) -> dict[str, Any]:
    """fsspec/s3fs options from settings; empty credentials fall back to the environment's chain."""
    # no listings cache: other workers commit batches meanwhile, and "exists" must see them
    opts: dict[str, Any] = {"client_kwargs": {"region_name": settings.s3_region}, "use_listings_cache": False}
    if settings.s3_endpoint_url:
        opts["endpoint_url"] = settings.s3_endpoint_url
    if settings.s3_access_key_id:
        opts["key"] = settings.s3_access_key_id
        opts["secret"] = settings.s3_secret_access_key
    return opts


@lru_cache(maxsize=8)
def _filesystem(protocol: str, endpoint: str, region: str, key: str, secret: str) -> Any:
    import fsspec

    opts: dict[str, Any] = {"client_kwargs": {"region_name": region}, "use_listings_cache": False}
    if endpoint:
        opts["endpoint_url"] = endpoint
    if key:
        opts.update(key=key, secret=secret)
    return fsspec.filesystem(protocol, **opts)


def filesystem(settings: Settings) -> Any:
    """The fsspec filesystem of the lake (one cached instance per endpoint and credentials)."""
    if not is_remote(settings):
        import fsspec

        return fsspec.filesystem("file")
    protocol = settings.lake_url.split("://", 1)[0]
    return _filesystem(protocol, settings.s3_endpoint_url, settings.s3_region, settings.s3_access_key_id,
                       settings.s3_secret_access_key)


def lake_root(settings: Settings) -> LakePath:
    """The lake's root: ``settings.lake_dir`` locally, else a UPath on the bucket."""
    if not is_remote(settings):
        return settings.lake_dir
    from upath import UPath

    return UPath(settings.lake_url, **storage_options(settings))


def lake_uri(settings: Settings, *parts: str) -> str:
    """A lake location as the string DuckDB reads (``s3://…`` or a local path)."""
    path = lake_root(settings)
    for part in parts:
        path = path / part
    return str(path)


def is_remote_path(path: Any) -> bool:
    return "://" in str(path) and not str(path).startswith("file://")


def scratch_dir(settings: Settings) -> Path:
    """Local working space for files on their way into (or out of) the lake."""
    path = settings.lake_dir / ".scratch"
    path.mkdir(parents=True, exist_ok=True)
    return path


def register_lake(con: Any, settings: Settings) -> None:
    """Let a DuckDB connection read ``s3://`` lake paths (no-op for the local lake). Once per DuckDB instance: a
    warehouse connection is a cursor on an instance that outlives it (cityshare.duckdb_instances)."""
    if is_remote(settings):
        fs = filesystem(settings)
        protocols = [fs.protocol] if isinstance(fs.protocol, str) else list(fs.protocol)
        if not set(protocols) & set(con.list_filesystems()):
            con.register_filesystem(fs)


def put_file(settings: Settings, local: Path, final: LakePath) -> bool:
    """Commit a finished local file at ``final``; False when it already existed (first writer wins).

    Locally a rename; on object storage one upload of the complete file (atomic per object).
    """
    if not is_remote_path(final):
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            return False
        local.replace(final)
        return True
    fs = filesystem(settings)
    if fs.exists(str(final)):
        return False
    fs.put_file(str(local), str(final))
    return True


@contextmanager
def local_copy(settings: Settings, path: LakePath) -> Iterator[Path]:
    """A local file with the content of a lake file: the file itself locally, a scratch download remotely.

    Lake files are immutable, so reading a copy is exact; this lets GX's own DuckDB connections (which
    cannot be given our filesystem) read a remote batch.
    """
    if not is_remote_path(path):
        yield Path(path)
        return
    tmp = scratch_dir(settings) / f"get-{uuid.uuid4().hex[:12]}-{Path(str(path)).name}"
    try:
        filesystem(settings).get_file(str(path), str(tmp))
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def staged_dir(settings: Settings, final: LakePath) -> Iterator[Path]:
    """Yield a local temp folder; its files are committed under ``final`` only if the block succeeds.

    Locally the folder is renamed into place (one atomic rename, as before); remotely each file is
    uploaded whole. If ``final`` already exists (the same content landed meanwhile) the first is kept.
    """
    if not is_remote_path(final):
        final = Path(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        # A writer killed before its rename leaves its temp folder behind; the same final name means
        # the same content (the load id carries the fingerprint) and runs of one source never overlap
        # (max_active_runs=1), so an earlier attempt's leftovers are safe to sweep.
        for stale in final.parent.glob(f".tmp-{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    else:
        tmp = scratch_dir(settings) / f"put-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    try:
        yield tmp
        if not is_remote_path(final):
            if final.exists():
                shutil.rmtree(tmp)
            else:
                tmp.rename(final)
            return
        for file in sorted(tmp.iterdir()):
            put_file(settings, file, final / file.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stored_path(settings: Settings, path: Any) -> str | None:
    """A location as the ``meta`` tables keep it: relative to the data dir when it lies under it (so the
    data dir can be moved or restored elsewhere, docs/recovery.md), else as given (object storage, a file
    outside the data dir)."""
    if path is None:
        return None
    text = str(path)
    if is_remote_path(text):
        return text
    try:
        return Path(text).relative_to(settings.data_dir).as_posix()
    except ValueError:
        return text


def resolved_path(settings: Settings, stored: str | None) -> str | None:
    """The readable location of a path kept by :func:`stored_path` (relative ones under today's data dir)."""
    if not stored or is_remote_path(stored) or Path(stored).is_absolute():
        return stored
    return str(settings.data_dir / stored)
