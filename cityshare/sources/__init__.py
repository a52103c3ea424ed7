"""Connectors: one module per source kind, each yields Arrow record batches of string columns.

Raw data stays as the department delivered it (贴源): every value a string, typed later in the
standard layer. A connector also returns a fingerprint of what it read, so a re-run of the same
window is recognised as the same batch.

The contract's first ``servers`` entry picks the connector:

=====================  ======================================  =========================
server ``type``        ``format``                              module
=====================  ======================================  =========================
``local``              ``csv`` (default)                       :mod:`.csv_inbox`
``local``              ``xlsx``                                :mod:`.excel`
``local``              ``jsonl``                               :mod:`.jsonl_feed`
``local``              ``sqlite``                              :mod:`.sql_db`
``postgresql``/``postgres``                                    :mod:`.sql_db`
``api``                                                        :mod:`.http_api`
``custom`` +           another CityShare instance's shared     :mod:`.cityshare_peer`
``serverType:          table (数据交换 between platforms)
cityshare``
=====================  ======================================  =========================

A property may name where its value comes from with the customProperty ``sourceField``: a header
(CSV/Excel, besides ``name`` and ``businessName``), a column (SQL) or a dotted path into nested JSON
(APIs, JSONL), which is how the contract flattens nested records.
"""

from __future__ import annotations

import datetime as dt

from cityshare.contracts.model import Contract
from cityshare.settings import Settings
from cityshare.sources.base import (
    BATCH_ROWS,
    SERVER_KINDS,
    Extract,
    NativeScan,
    RowBatcher,
    Watermark,
    dig,
    load_id_for,
    modified_at,
    server_kind,
    source_fields,
    string_schema,
    to_text,
)

__all__ = [
    "BATCH_ROWS",
    "SERVER_KINDS",
    "Extract",
    "NativeScan",
    "RowBatcher",
    "Watermark",
    "dig",
    "extract",
    "load_id_for",
    "modified_at",
    "server_kind",
    "source_fields",
    "string_schema",
    "to_text",
]


def extract(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    """Open the contract's server for one load window (the load date)."""
    from cityshare.errors import UnusableInput

    kind, fmt = server_kind(contract)
    if kind == "local" and fmt == "csv":
        from cityshare.sources.csv_inbox import extract_csv

        return extract_csv(contract, load_date, settings)
    if kind == "local" and fmt == "xlsx":
        from cityshare.sources.excel import extract_xlsx

        return extract_xlsx(contract, load_date, settings)
    if kind == "local" and fmt == "jsonl":
        from cityshare.sources.jsonl_feed import extract_jsonl

        return extract_jsonl(contract, load_date, settings)
    if (kind == "local" and fmt == "sqlite") or kind in ("postgresql", "postgres"):
        from cityshare.sources.sql_db import extract_sql

        return extract_sql(contract, load_date, settings)
    if kind == "api":
        from cityshare.sources.http_api import extract_api

        return extract_api(contract, load_date, settings)
    if kind == "cityshare":
        from cityshare.sources.cityshare_peer import extract_peer

        return extract_peer(contract, load_date, settings)
    what = f"{kind!r} with format {fmt!r}" if kind == "local" else repr(kind)
    raise UnusableInput(f"{contract.path}: servers[0].type: no connector for {what}")
