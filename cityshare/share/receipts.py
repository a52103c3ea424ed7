"""Signed delivery receipts (交付回执): Ed25519 over the export's hash, size, rows and grant.

The platform key is generated on first use under ``<data dir>/keys`` (mode 0600, never committed);
consumers verify a receipt against the platform's public key (``/api/keys/receipt``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cityshare.errors import CityShareError
from cityshare.keys import owner_only_dir
from cityshare.settings import Settings

_keys: dict[Path, Any] = {}


def key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "receipt_ed25519.pem"


def _private_key(settings: Settings) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path(settings)
    if path in _keys:
        return _keys[path]
    owner_only_dir(path.parent)
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:  # O_EXCL: two processes starting at once keep one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
        except FileExistsError:
            pass
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    _keys[path] = key
    return key


def public_key_pem(settings: Settings) -> str:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = _private_key(settings).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def key_id(public_pem: str) -> str:
    return hashlib.sha256(public_pem.strip().encode()).hexdigest()[:16]


def _trusted_key(public_pem: str) -> Any:
    """The trusted Ed25519 public key; any other key type is refused (ValueError), never half-checked."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the trusted key is not an Ed25519 public key")
    return key


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def sign(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    """A receipt: the payload, the signer's key id and public key, and the Ed25519 signature."""
    public = public_key_pem(settings)
    payload = {**payload, "key_id": key_id(public)}
    signature = _private_key(settings).sign(_canonical(payload))
    return {"receipt": payload, "algorithm": "Ed25519", "public_key": public,
            "signature": base64.b64encode(signature).decode()}


def signature_ok(doc: dict[str, Any], trusted_public_pem: str) -> bool:
    """Whether a signed document (``sign``'s output) was signed by the trusted key, unchanged."""
    from cryptography.exceptions import InvalidSignature

    try:
        _trusted_key(trusted_public_pem).verify(
            base64.b64decode(doc["signature"], validate=True), _canonical(doc["receipt"]))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True


def file_digest(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def verify(receipt_file: Path, data_file: Path, trusted_public_pem: str) -> dict[str, Any]:
    """Check signature (against the trusted key, not the embedded one), sha256, size; list problems."""
    from cryptography.exceptions import InvalidSignature

    try:
        doc = json.loads(receipt_file.read_text(encoding="utf-8"))
        payload, signature = doc["receipt"], base64.b64decode(doc["signature"], validate=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CityShareError(f"{receipt_file}: not a CityShare receipt ({exc})") from None
    problems: list[str] = []
    try:
        public = _trusted_key(trusted_public_pem)
    except ValueError as exc:
        raise CityShareError(f"trusted key: {exc}") from None
    try:
        public.verify(signature, _canonical(payload))
    except InvalidSignature:
        problems.append("签名无效：回执不是平台签发，或内容被改动")
    digest, size = file_digest(data_file)
    if digest != payload.get("sha256"):
        problems.append(f"文件哈希不符：回执 {payload.get('sha256')}，文件 {digest}")
    if size != payload.get("bytes"):
        problems.append(f"文件大小不符：回执 {payload.get('bytes')} 字节，文件 {size} 字节")
    return {"ok": not problems, "problems": problems, "receipt": payload}
