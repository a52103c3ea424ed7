"""Another CityShare instance's shared table (数据交换 between 国家/市/区县 platforms).

Server (ODCS ``custom``; ``cityshare`` is not in ODCS's closed server-type enum): ``endpointUrl`` (the
providing instance's portal, ``${VAR}`` expanded), ``dataset`` (its shared table); customProperties:

- ``serverType: cityshare`` (selects this connector);
- ``version``: ``latest`` (default) or the published version to land (a pin);
- ``tokenEnv``: the variable holding the token the *providing* instance issued (never the token itself);
- ``receiptKeyId``: the providing instance's receipt key id (``/api/federation/identity``); without it the
  key seen first is pinned under ``<data dir>/federation/peers/`` (trust on first use);
- ``versionGap``: ``block`` (default) or ``allow`` — whether a version skipped since the last accepted
  batch blocks the batch.

The export is downloaded as Parquet with the contract's columns, then the delivery receipt the provider
signed is checked *before* anything lands: signature against the pinned key, sha256 and size of the
file, table and version. A bad receipt or a version gap raises ``FileRejected`` — the batch is recorded
as blocked with the reason, like a truncated file (the blocked batch is the receipt, so an accepted batch of
the same data keeps its verdict). The receipt is kept with the batch under
``<data dir>/federation/receipts/<dept>/<dataset>/<load_id>.receipt.json``. 有条件共享 tables need a
grant at the provider: its guard refuses the export otherwise (and audits the read either way).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from cityshare.contracts.model import Contract, expand
from cityshare.errors import FileRejected, SourceError, UnusableInput
from cityshare.settings import Settings
from cityshare.sources.base import Extract, RowBatcher, load_id_for, source_fields, to_text

RECEIPT_INVALID = "receipt_invalid"
VERSION_GAP = "version_gap"
TIMEOUT = 60.0


def receipts_dir(settings: Settings, contract: Contract) -> Path:
    return settings.data_dir / "federation" / "receipts" / contract.department / contract.dataset


def _payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The signed payload of a receipt document, empty when there is none."""
    payload = doc.get("receipt")
    return payload if isinstance(payload, dict) else {}


def delivery_problems(doc: dict[str, Any], data: Path, trusted_pem: str, table: str) -> list[str]:
    """Why a delivery cannot be trusted (empty: it can): signature, hash, size, table."""
    from cityshare.share.receipts import file_digest, signature_ok

    problems = []
    payload = _payload(doc)
    if not signature_ok(doc, trusted_pem):
        problems.append("签名无效：回执不是提供方平台签发，或内容被改动")
    digest, size = file_digest(data)
    if payload.get("sha256") != digest:
        problems.append(f"文件哈希不符：回执 {payload.get('sha256')}，文件 {digest}")
    if payload.get("bytes") != size:
        problems.append(f"文件大小不符：回执 {payload.get('bytes')} 字节，文件 {size} 字节")
    if payload.get("table") != f"shared.{table}":
        problems.append(f"表不符：回执 {payload.get('table')}，契约 shared.{table}")
    return problems


def version_problem(received: int, pin: str, last: int | None, gap: str) -> str | None:
    """A version pin not met, a version skipped (gap) or going back since the last accepted batch."""
    if pin != "latest" and received != int(pin):
        return f"版本不符：契约锁定 v{pin}，提供方交付 v{received}"
    if last is not None and received < last:
        return f"版本回退：上次入库 v{last}，本次交付 v{received}"
    if last is not None and received > last + 1 and gap != "allow":
        return f"版本不连续：上次入库 v{last}，本次交付 v{received}，缺 v{last + 1}…v{received - 1}"
    return None


def last_accepted_version(contract: Contract, settings: Settings) -> int | None:
    """The provider version of the newest accepted batch of this source (from the kept receipts)."""
    from cityshare.meta.batches import accepted_load_ids
    from cityshare.warehouse import connect

    folder = receipts_dir(settings, contract)
    if not folder.exists() or not settings.warehouse_path.exists():
        return None
    with connect(settings, read_only=True) as con:
        accepted = accepted_load_ids(con, contract.key)
    versions = [json.loads(p.read_text(encoding="utf-8"))["receipt"]["version"]
                for p in folder.glob("*.receipt.json") if p.name.removesuffix(".receipt.json") in accepted]
    return max(versions, default=None)


class _Peer:
    """HTTP calls to the providing instance: refusals become one-line errors quoting its reason."""

    def __init__(self, base: str, token: str | None, outcome: str = "no batch landed") -> None:
        import httpx

        self.base, self.outcome = base, outcome  # what a failure leaves: said at the end of its message
        self.http = httpx.Client(base_url=base, timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {token}"} if token else {})

    def check(self, resp: Any, what: str) -> Any:
        if resp.status_code == 200:
            return resp
        try:
            detail = resp.json().get("detail")
        except ValueError:
            detail = resp.text[:200]
        raise SourceError(f"{self.base}{what}: 提供方平台拒绝（HTTP {resp.status_code}）：{detail}；{self.outcome}")

    def get(self, path: str, **params: Any) -> Any:
        import httpx

        try:
            return self.check(self.http.get(path, params=params), path)
        except httpx.TransportError as exc:
            raise SourceError(f"{self.base}{path}: 提供方平台不可达（{type(exc).__name__}）; {self.outcome}") from None

    def download(self, path: str, params: dict[str, Any], target: Path) -> str:
        """Stream the export to ``target``; returns the delivery id the provider gave it."""
        import httpx

        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self.http.stream("GET", path, params=params) as resp:
                if resp.status_code != 200:
                    resp.read()
                    self.check(resp, path)
                with target.open("wb") as fh:
                    for chunk in resp.iter_bytes():
                        fh.write(chunk)
                return resp.headers.get("x-cityshare-delivery", "")
        except httpx.TransportError as exc:
            raise SourceError(f"{self.base}{path}: 下载中断（{type(exc).__name__}）; {self.outcome}") from None


def trusted_key(peer: _Peer, contract: Contract, settings: Settings) -> str:
    """The provider's receipt public key: must match ``receiptKeyId`` or the key pinned at first contact."""
    pem = str(peer.get("/api/federation/identity").json().get("receipt_public_key") or "")
    pinned = settings.data_dir / "federation" / "peers" / f"{contract.department}__{contract.dataset}.pem"
    check_key(pem, contract.server_option("receiptKeyId"), pinned, f"{contract.path}: servers[0]",
              "customProperties.receiptKeyId", "no batch landed")
    return pem


def check_key(pem: str, pin: object, pinned: Path, where: str, field: str, outcome: str) -> None:
    """A peer's receipt public key must match the ``pin`` (a key id) or, without one, the key recorded at first
    contact in ``pinned`` (trust on first use); SourceError naming ``where``/``field`` and ``outcome`` otherwise."""
    from cityshare.keys import write_secret
    from cityshare.share.receipts import key_id

    if pin and key_id(pem) != str(pin):
        raise UnusableInput(f"{where}.{field}: 提供方公钥 {key_id(pem)} 与锁定的 {pin} 不符；{outcome}")
    if not pin:
        if not pinned.exists():
            write_secret(pinned, pem.strip())
        elif pinned.read_text(encoding="utf-8").strip() != pem.strip():
            raise UnusableInput(f"{where}: 提供方公钥已变更（首次记录于 {pinned}）；确认后删除该文件或设置 "
                                f"{field.split('.')[-1]}；{outcome}")


def extract_peer(contract: Contract, load_date: dt.date, settings: Settings) -> Extract:
    from cityshare.share.receipts import file_digest
    from cityshare.sources.http_api import bearer_token

    server = contract.server
    base = expand(str(server.get("endpointUrl") or ""), settings).rstrip("/")
    table = str(server.get("dataset") or "")
    if not base or not table:
        raise UnusableInput(f"{contract.path}: servers[0]: a cityshare server needs endpointUrl and dataset")
    pin = str(contract.server_option("version", "latest"))
    if pin != "latest" and not pin.isdigit():
        raise UnusableInput(f"{contract.path}: servers[0].customProperties.version: latest or a version number, got {pin!r}")
    peer = _Peer(base, bearer_token(contract, settings))
    try:
        pem = trusted_key(peer, contract, settings)
        fields = source_fields(contract)
        staging = settings.data_dir / "federation" / "deliveries" / contract.department / contract.dataset
        part = staging / f"download-{load_date:%Y%m%d}.parquet.part"
        path_ = f"/api/tables/{table}/export"
        delivery = peer.download(path_, {"format": "parquet", "columns": ",".join(fields.values())}, part)
        doc = peer.get(f"/api/receipts/{delivery}").json()
    finally:
        peer.http.close()
    digest, _ = file_digest(part)
    data = staging / f"{digest}.parquet"
    part.replace(data)
    uri = f"{base}{path_}#delivery={delivery}"
    problems = delivery_problems(doc, data, pem, table)
    if problems:  # the blocked batch is this receipt (its id from the receipt's bytes): a good batch of the
        # same data keeps its verdict
        evidence = _keep(doc, settings, contract, load_date, None)
        _audit(settings, contract, base, delivery, doc, 422, "；".join(problems))
        raise FileRejected(RECEIPT_INVALID, evidence, f"delivery {delivery} from {base}", "；".join(problems))
    version = int(doc["receipt"]["version"])
    gap = version_problem(version, pin, last_accepted_version(contract, settings),
                          str(contract.server_option("versionGap", "block")))
    if gap:  # blocked as this delivery's receipt too
        evidence = _keep(doc, settings, contract, load_date, None)
        _audit(settings, contract, base, delivery, doc, 409, gap)
        raise FileRejected(VERSION_GAP, evidence, f"delivery {delivery} from {base}", gap)
    extract = Extract(source_uri=uri, batches=_rows(contract, data, fields), fingerprint_parts=[digest])
    extract.native_reason = "a peer delivery is read through its verified Parquet file"
    _keep(doc, settings, contract, load_date, load_id_for(load_date, extract.fingerprint))  # the batch's own id
    _audit(settings, contract, base, delivery, doc, 200, None)
    return extract


def _audit(settings: Settings, contract: Contract, base: str, delivery: str, doc: dict[str, Any], status: int,
           refused: str | None) -> None:
    """The receiving side's record of a delivery (the provider audited the export and its grant on its side)."""
    from cityshare.share import audit

    payload = _payload(doc)
    audit.record(settings, None, "federation.receive", contract.key, status=status, rows=payload.get("rows"),
                 grant_id=payload.get("grant_id"),
                 detail={"provider": base, "delivery": delivery, "table": payload.get("table"),
                         "version": payload.get("version"), "key_id": payload.get("key_id"),
                         **({"refused": refused} if refused else {})})


def _keep(doc: dict[str, Any], settings: Settings, contract: Contract, load_date: dt.date, load_id: str | None) -> Path:
    """Keep the receipt with its batch (``<load_id>.receipt.json``); a rejected one under its own digest's id."""
    import hashlib

    text = json.dumps(doc, ensure_ascii=False, indent=1)
    load_id = load_id or load_id_for(load_date, hashlib.sha256(text.encode()).hexdigest())
    kept = receipts_dir(settings, contract) / f"{load_id}.receipt.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(text, encoding="utf-8")
    return kept


def _rows(contract: Contract, data: Path, fields: dict[str, str]) -> Iterator[pa.RecordBatch]:
    """The delivered Parquet as string batches (贴源), column order of the contract."""
    import pyarrow.parquet as pq

    types = {p.name: p.logical_type for p in contract.properties}
    names = list(fields)
    for batch in pq.ParquetFile(data).iter_batches():
        cols = {n: batch.column(fields[n]).to_pylist() if fields[n] in batch.schema.names else [None] * batch.num_rows
                for n in names}
        out = RowBatcher(names, size=batch.num_rows + 1)
        for row in zip(*(cols[n] for n in names), strict=True):
            out.add(tuple(to_text(v, types[n]) for n, v in zip(names, row, strict=True)))
        if (flushed := out.flush()) is not None:
            yield flushed
