"""The raw views dbt reads: ``raw.<dept>__<dataset>`` over the latest accepted batch of every load date."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cityshare.meta.batches import latest_accepted, latest_accepted_by_dataset, record_view_batches, view_batches
from cityshare.settings import Settings
from cityshare.sqlquote import lit
from cityshare.storage import resolved_path

if TYPE_CHECKING:  # a contract is only read here (its raw table and columns)
    from cityshare.contracts.model import Contract


# A raw view's rows carry their batch's commit sequence as ``_batch_seq``: the standard models keep the row of
# the latest delivery per key by it (dbt macro cs_latest_per), not by ``_loaded_at``, the landing worker's clock.
RawBatch = tuple[str, str, int]  # (load id, accepted file, commit sequence) of one batch a raw view reads


def _raw_view_body(contract: Contract, batches: list[RawBatch]) -> str:
    """The SELECT of a raw view reading ``batches`` (empty but typed when there are none)."""
    if batches:
        files = ", ".join(lit(path) for _, path, _ in batches)
        seqs = ", ".join(f"({lit(load_id)}, {int(seq)})" for load_id, _, seq in batches)
        return (f"SELECT r.*, CAST(s.seq AS BIGINT) AS _batch_seq FROM read_parquet([{files}], union_by_name = true) "
                f"AS r LEFT JOIN (VALUES {seqs}) AS s(load_id, seq) ON r._load_id = s.load_id")
    cols = [f'CAST(NULL AS VARCHAR) AS "{name}"' for name in contract.column_names]
    cols += [
        "CAST(NULL AS VARCHAR) AS _load_id", "CAST(NULL AS TIMESTAMP) AS _loaded_at",
        "CAST(NULL AS VARCHAR) AS _source", "CAST(NULL AS BIGINT) AS _source_row",
        "CAST(NULL AS VARCHAR) AS _row_hash", "CAST(NULL AS DATE) AS _load_date", "CAST(NULL AS BIGINT) AS _batch_seq",
    ]
    return f"SELECT {', '.join(cols)} WHERE false"


def raw_view_stamp(contract: Contract, batches: list[RawBatch]) -> str:
    """What a raw view's comment holds: the hash of the SELECT it was created with (see stale_raw_views)."""
    import hashlib

    return "cityshare:" + hashlib.md5(_raw_view_body(contract, batches).encode()).hexdigest()


def refresh_raw_view(con: Any, contract: Contract, settings: Settings) -> None:
    """Point ``raw.<dept>__<dataset>`` at the latest accepted batch of every load date.

    With nothing accepted yet the view is empty but typed, so dbt still builds (and the audit then
    refuses to publish an empty table). The view's comment is the hash of its SELECT, so a build can tell
    a current view from one to create again without reading any Parquet file (stale_raw_views).
    """
    batches = [(load_id, resolved_path(settings, path) or "", seq)
               for load_id, path, seq in latest_accepted(con, contract.key)]
    view = f'raw."{contract.raw_table}"'
    con.execute(f"CREATE OR REPLACE VIEW {view} AS {_raw_view_body(contract, batches)}")
    con.execute(f"COMMENT ON VIEW {view} IS {lit(raw_view_stamp(contract, batches))}")
    # The view's batches as rows, written with the view (callers hold one transaction): the incremental models
    # compare them with the batches they processed (dbt_project/macros/incremental.sql) without scanning the
    # Parquet files' _load_id column four times per model.
    record_view_batches(con, contract.raw_table, [load_id for load_id, _, _ in batches])


def stale_raw_views(con: Any, contracts: list[Contract], settings: Settings) -> list[Contract]:
    """The contracts whose raw view is missing or not exactly the view refresh_raw_view would create now
    (other batches, other columns, or the same batches at another place: a data dir moved or restored).

    Each gate refreshes its dataset's view (cityshare.ingest), so before a build most are current, and creating
    one again would re-read the footer of every Parquet file it reads — and a no-op build of a city's thousands
    of sources, most without a batch yet, would re-create thousands of empty views. A view is current when its
    comment is the hash of the SELECT it would get now (its batches' files and sequences, or its contract's columns when it has
    none) and its batches are on record in meta.raw_view_batches. Three queries for all contracts.
    """
    accepted = latest_accepted_by_dataset(con)
    stamps = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'raw'").fetchall())
    held = view_batches(con)
    stale = []
    for c in contracts:
        batches = [(i, resolved_path(settings, p) or "", q) for i, p, q in accepted.get(c.key, [])]
        if (stamps.get(c.raw_table) != raw_view_stamp(c, batches)
                or sorted(i for i, _, _ in batches) != sorted(held.get(c.raw_table) or [])):
            stale.append(c)
    return stale
