"""The batch journal (批次日志): every batch decision, also kept in the lake beside the batches.

The warehouse is the working copy of what the gate decided; the journal makes it rebuildable
(``cityshare recover``, cityshare.recovery). After each committed decision — a gate verdict, a retraction,
a restore — the batch's rows of the ``meta`` tables that describe it (its ``meta.batches`` row with its
verdict and commit sequence, its content hash, its gate quality results and history, its watermark, its
retractions) are written to ``lake/_journal/<department>__<dataset>/<load_id>.json``, replacing the
previous record of that batch. Paths in it are relative to the data dir, like the warehouse's.

Written after the commit: a crash between the two leaves a decision the journal lacks; ``recover`` then
gates that landed batch again, as a rerun of the ingest would.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from cityshare.meta import batch_rows
from cityshare.settings import Settings
from cityshare.storage import filesystem, is_remote, lake_root

FOLDER = "_journal"


def _entry(settings: Settings, dataset: str, load_id: str) -> Any:
    return lake_root(settings) / FOLDER / dataset.replace("/", "__") / f"{load_id}.json"


def _value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def write(con: Any, settings: Settings, dataset: str, load_id: str) -> None:
    """Journal one batch as the warehouse now records it (call after the deciding commit)."""
    from cityshare.snapshots import write_json_atomic

    tables = {table: {"columns": part["columns"], "rows": [[_value(v) for v in row] for row in part["rows"]]}
              for table, part in batch_rows.read(con, dataset, load_id).items()}
    doc: dict[str, Any] = {"dataset": dataset, "load_id": load_id, "tables": tables}
    path = _entry(settings, dataset, load_id)
    if is_remote(settings):  # one whole-object PUT: visible complete or not at all
        filesystem(settings).pipe_file(str(path), json.dumps(doc, ensure_ascii=False).encode())
    else:
        write_json_atomic(Path(path), doc)


def entries(settings: Settings) -> list[dict[str, Any]]:
    """Every journaled batch, in commit order (their ``meta.batches`` sequence)."""
    root = lake_root(settings) / FOLDER
    if is_remote(settings):
        fs = filesystem(settings)
        files = fs.glob(f"{root}/*/*.json") if fs.exists(str(root)) else []
        docs = [json.loads(fs.cat_file(f)) for f in files]
    else:
        docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(root).glob("*/*.json"))]

    def seq(doc: dict[str, Any]) -> int:
        table = doc["tables"].get("batches") or {"columns": [], "rows": []}
        if not table["rows"]:
            return 0
        return int(dict(zip(table["columns"], table["rows"][0], strict=True)).get("seq") or 0)

    return sorted(docs, key=seq)


def replay(con: Any, doc: dict[str, Any]) -> None:
    """Insert one journaled batch's rows into an (empty) warehouse, by column name."""
    batch_rows.replace(con, doc["dataset"], doc["load_id"], doc["tables"])
