"""Connectors: one module per source kind, each yields Arrow record batches of string columns.

Raw data stays as the department delivered it (贴源): every value a string, typed later in the
standard layer. A connector also returns a fingerprint of what it read, so a re-run of the same
window is recognised as the same batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from cityshare.contracts.model import Contract
from cityshare.settings import Settings


@dataclass
class Extract:
    """A running extract: iterate ``batches``; afterwards ``fingerprint`` identifies the content."""

    source_uri: str
    batches: Iterator[pa.RecordBatch]
    fingerprint_parts: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256("|".join(self.fingerprint_parts).encode()).hexdigest()


def extract(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    """Open the contract's server for one load window (the load date)."""
    kind = contract.server.get("type")
    if kind == "local":
        from cityshare.sources.csv_inbox import extract_csv

        return extract_csv(contract, load_date, settings)
    if kind == "api":
        from cityshare.sources.http_api import extract_api

        return extract_api(contract, load_date, settings)
    from cityshare.errors import SourceError

    raise SourceError(f"{contract.path}: servers[0].type: no connector for {kind!r}")


def string_schema(names: list[str]) -> pa.Schema:
    return pa.schema([pa.field(n, pa.string()) for n in names])
