"""Fault #4 (issue 32), in part: a published version number is never reused.

Rebuilding a lost warehouse used to restart a table's versions at 1 and overwrite the old ``version=1``
snapshot with different rows — a consumer holding a receipt for v1 could no longer find what it was
given. Versions continue from the snapshots on disk, and no snapshot file is ever rewritten.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cityshare.contracts.model import get_contract
from cityshare.publish import Audited, publish
from cityshare.share.sample_world import build_world

pytestmark = pytest.mark.faults

TABLE = "base_legal_entity"


def _audited(settings, rows: list[dict]) -> Audited:
    staged = settings.exports_dir / ".staging" / f"{TABLE}.parquet"
    staged.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), staged)
    digest = hashlib.md5(repr(rows).encode()).hexdigest()
    return Audited(get_contract("shared/legal_entity", settings), "base", staged, len(rows), digest, [])


def test_rebuilding_a_lost_warehouse_continues_versions_and_keeps_old_snapshots(tmp_path):
    settings = build_world(tmp_path, rows=5)  # version 1 published, with its snapshot
    v1 = settings.exports_dir / "shared" / TABLE / "version=1" / f"{TABLE}.parquet"
    kept = v1.read_bytes()
    settings.warehouse_path.unlink()  # the warehouse is lost; the exports volume survives

    report = publish([_audited(settings, [{"uscc": "91500108MA00000001", "entity_name": "新的一行"}])], settings)
    assert [r["version"] for r in report] == [2]
    assert v1.read_bytes() == kept  # v1 is still what v1 was
    v2 = settings.exports_dir / "shared" / TABLE / "version=2" / f"{TABLE}.parquet"
    assert pq.read_table(v2).to_pylist() == [{"uscc": "91500108MA00000001", "entity_name": "新的一行"}]
