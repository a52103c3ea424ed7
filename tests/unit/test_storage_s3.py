"""The object-storage lake against moto's S3 server (an emulator of the S3 API) on loopback.

A CSV delivery is landed and gated into the bucket; the raw view then reads the accepted batch back
from ``s3://`` through DuckDB, and nothing of the lake stays on the local disk.
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid

import pytest

from cityshare.settings import get_settings

DAY = dt.date(2026, 11, 25)
BUCKET = f"cityshare-lake-{uuid.uuid4().hex[:8]}"  # moto keeps buckets for the whole process
HEADER = ["案件编号", "事件小类代码", "事件小类名称", "区县代码", "街道代码", "事发地址", "问题描述",
          "涉事商户统一社会信用代码", "上报时间", "结案时间", "案件状态", "上报渠道", "上报人电话"]


def _row(i: int, phone: str = "13812345678") -> list[str]:
    return [f"CG20261125{i:06d}", "0502", "店外经营", "500108", "500108003", "南岸区南坪街道南坪西路1号",
            "占道经营", "", "2026-11-25 09:00:00", "2026-11-25 10:30:00", "结案", "信息采集员", phone]


@pytest.fixture
def s3_settings(tmp_path, monkeypatch):
    """Settings pointing the lake at a fresh bucket on a loopback moto server."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test-key", aws_secret_access_key="test-secret")
    client.create_bucket(Bucket=BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):  # fresh for every test
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    for key, value in {
        "CITYSHARE_DATA_DIR": str(tmp_path / "data"),
        "CITYSHARE_LAKE_URL": f"s3://{BUCKET}/lake",
        "CITYSHARE_S3_ENDPOINT_URL": endpoint,
        "CITYSHARE_S3_ACCESS_KEY_ID": "test-key",
        "CITYSHARE_S3_SECRET_ACCESS_KEY": "test-secret",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        yield get_settings(), client
    finally:
        server.stop()


def _write_delivery(settings, rows: list[list[str]]) -> None:
    path = settings.inbox_dir / "cgj" / "city_cases" / f"city_cases_{DAY}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


def _keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_a_batch_lands_and_gates_into_s3_and_duckdb_reads_it_back(s3_settings):
    from cityshare.contracts.model import get_contract
    from cityshare.gate.run import run_gate
    from cityshare.ingest import commit_gate
    from cityshare.lake import land
    from cityshare.sources import extract
    from cityshare.warehouse import connect

    settings, client = s3_settings
    rows = [_row(i) for i in range(1, 21)] + [_row(21, phone="1381234567")]  # one bad phone (10 digits)
    _write_delivery(settings, rows)
    contract = get_contract("cgj/city_cases", settings)

    landed = land(contract, DAY, extract(contract, DAY, settings), settings)
    assert str(landed.path).startswith(f"s3://{BUCKET}/lake/raw/cgj/city_cases/load_date=2026-11-25/")
    outcome = run_gate(contract, landed, settings)
    commit_gate(outcome, landed, settings)

    assert (outcome.status, outcome.rows, outcome.rows_accepted, outcome.rows_quarantined) == ("accepted", 21, 20, 1)
    batch = f"load_date=2026-11-25/batch={landed.load_id}/part-0.parquet"
    assert _keys(client) == [f"lake/_journal/cgj__city_cases/{landed.load_id}.json",  # the decision (cityshare.journal)
                             *(f"lake/{zone}/cgj/city_cases/{batch}" for zone in ("accepted", "quarantine", "raw"))]
    # nothing of the lake is left on local disk (only the empty scratch space)
    assert not [p for p in settings.lake_dir.rglob("*.parquet")]

    with connect(settings, read_only=True) as con:
        path = con.execute("SELECT accepted_path FROM meta.batches").fetchone()[0]
        assert path == f"s3://{BUCKET}/lake/accepted/cgj/city_cases/{batch}"
        in_view = con.execute('SELECT count(*), count(DISTINCT case_id) FROM raw."cgj__city_cases"').fetchone()
        bad = con.execute(
            f"SELECT case_id, _failed_rules FROM read_parquet('s3://{BUCKET}/lake/quarantine/**/*.parquet')"
        ).fetchall()
    assert in_view == (20, 20)
    assert bad[0][0] == "CG20261125000021" and bad[0][1]


def test_relanding_the_same_window_reuses_the_s3_batch(s3_settings):
    from cityshare.contracts.model import get_contract
    from cityshare.lake import land
    from cityshare.sources import extract

    settings, client = s3_settings
    _write_delivery(settings, [_row(i) for i in range(1, 6)])
    contract = get_contract("cgj/city_cases", settings)
    first = land(contract, DAY, extract(contract, DAY, settings), settings)
    second = land(contract, DAY, extract(contract, DAY, settings), settings)
    assert (first.load_id, first.reused, second.reused) == (second.load_id, False, True)
    assert len(_keys(client)) == 1


def test_the_local_lake_stays_the_default(settings):
    from pathlib import Path

    from cityshare.storage import is_remote, lake_root

    assert not is_remote(settings)
    assert isinstance(lake_root(settings), Path) and lake_root(settings) == settings.lake_dir
