"""File integrity before parsing (文件完整性): strict decoding and truncation checks of text deliveries.

A department's CSV/JSONL file is decoded strictly, never guessed: a charset detector reads a GBK file cut
inside a character as iso8859-5 and loads mojibake. The candidates are tried in order, and the first that
decodes every byte wins; when none does, the batch is blocked as ``encoding_invalid`` naming the byte offset
(and line) where the candidate that got furthest stopped:

=============================  ============================================================
``servers[0].encoding``        candidates, in order
=============================  ============================================================
``auto``                       UTF-8 (a BOM tolerated), GB18030 (UTF-16 only with its BOM)
``UTF-8``                      UTF-8 — the contract is binding; the error says when GB18030 fits
GBK / GB2312 / GB18030         UTF-8, GB18030 (the superset office software writes as "GBK")
any other codec (Big5 …)       UTF-8, that codec — not GB18030, which reads most Big5 byte pairs
                               as other characters without an error
=============================  ============================================================

UTF-8 goes first because valid non-ASCII UTF-8 is practically never another codec's text. The scan also
yields what truncation checks need — line count, whether the file ends with a line break, its last line —
and the file's digest, in the same pass (8 MB blocks: memory stays bounded). UTF-8 is checked without
decoding first (:func:`_scan_utf8`, ≈ 3× faster); only a file that fails it is decoded to say where.
"""

from __future__ import annotations

import codecs
import hashlib
import struct
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cityshare.errors import FileRejected, SourceError, UnusableInput

ENCODING_INVALID = "encoding_invalid"
FILE_TRUNCATED = "file_truncated"
_BLOCK = 8 << 20
_TAIL = 4 << 20  # longest last line kept for the truncation diagnosis
_GB = {"gb2312", "gbk", "gb18030", "cp936", "hz", "gb18030-2000"}


@dataclass(frozen=True)
class TextFile:
    """A delivered text file that decodes in full with ``codec``."""

    path: Path
    codec: str
    digest: str
    lines: int  # physical lines; a last line without a line break counts
    ends_with_newline: bool
    last_line: str  # the final physical line when it has no line break, else ""


@dataclass(frozen=True)
class _Stop:
    """Where a candidate codec failed."""

    codec: str
    offset: int
    line: int
    reason: str
    at_end: bool  # the file ends inside a character


def candidates(declared: str) -> list[str]:
    """Python codec names to try for a contract's declared encoding (see the module docstring)."""
    if declared.lower() == "auto":
        return ["utf-8-sig", "gb18030"]
    if declared.upper().replace("_", "-") in ("UTF-8", "UTF8"):
        return ["utf-8-sig"]
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise UnusableInput(f"servers[0].encoding {declared!r} is not a known encoding") from None
    return ["utf-8-sig", "gb18030" if name in _GB else name]


def check_text(path: Path, declared: str) -> TextFile:
    """Decode ``path`` strictly with the declared encoding's candidates; FileRejected if none fits."""
    with path.open("rb") as fh:
        head = fh.read(4)
    try:
        tried = candidates(declared)
    except SourceError as exc:
        raise UnusableInput(f"{path}: {exc}") from None
    if declared.lower() == "auto" and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        tried = ["utf-16"]
    stops: list[_Stop] = []
    for codec in tried:
        result = (_scan_utf8(path) if codec == "utf-8-sig" else None) or _scan(path, codec)
        if isinstance(result, TextFile):
            return result
        stops.append(result)
    best = max(stops, key=lambda s: s.offset)
    if len(stops) == 1:
        detail = f"not valid {_label(best.codec)} ({best.reason})"
    else:
        detail = "neither " + " nor ".join(f"{_label(s.codec)} (byte offset {s.offset}: {s.reason})" for s in stops)
    if best.at_end:
        detail += " — the file ends inside a character: the delivery was cut off"
    if tried == ["utf-8-sig"]:
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            detail += " — the file starts with a UTF-16 byte-order mark"
        elif isinstance(_scan(path, "gb18030"), TextFile):
            detail += " — the file decodes as GBK/GB18030: set the server customProperty encoding to auto or GB18030"
    raise FileRejected(ENCODING_INVALID, path, f"line {best.line}, byte offset {best.offset}", detail)


def _label(codec: str) -> str:
    return {"utf-8-sig": "UTF-8", "gb18030": "GB18030", "utf-16": "UTF-16"}.get(codec, codec)


def _scan(path: Path, codec: str) -> TextFile | _Stop:
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    digest = hashlib.sha256()
    consumed = newlines = 0
    tail, last = "", ""
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                offset = consumed - pending + exc.start
                line = newlines + exc.object[:exc.start].count(b"\n") + 1
                return _Stop(codec, offset, line, exc.reason, at_end=not block)
            if not block:
                break
            digest.update(block)
            consumed += len(block)
            if text:
                newlines += text.count("\n")
                last = text[-1]
                cut = text.rfind("\n")
                tail = text[cut + 1:] if cut >= 0 else (tail + text)[-_TAIL:]
    ends = last in ("\n", "\r")
    lines = newlines + (0 if ends or consumed == 0 else 1)
    return TextFile(path, codec, digest.hexdigest(), lines, ends or consumed == 0, "" if ends else tail)


def _scan_utf8(path: Path) -> TextFile | None:
    """What ``_scan(path, "utf-8-sig")`` returns for a valid UTF-8 file, or None if it is not valid UTF-8.

    Python's decoder builds a str of each block (≈ 0.35 s per 180 MB of Chinese text); here Arrow's UTF-8
    validation (C, the same strictness as Python's: overlong forms, surrogates and code points beyond U+10FFFF
    fail; tests/unit/test_sources_files.py) checks the bytes in ≈ 0.03 s, and line breaks are counted in
    the bytes, since UTF-8 never uses their bytes inside another character. Only the last line is decoded.
    The digest, the costliest part left (≈ 0.12 s), runs on a second thread (hashlib releases the GIL), one
    block behind at most.
    """
    digest = hashlib.sha256()
    size = newlines = final = 0
    carry = b""  # the first bytes of a character the last block boundary cut
    tail, tail_at, whole = b"", 0, False  # bytes after the last line break, their offset, the whole last line?
    with path.open("rb") as fh, ThreadPoolExecutor(1) as hasher:
        hashed: Future[None] | None = None
        while block := fh.read(_BLOCK):
            if hashed is not None:
                hashed.result()
            hashed = hasher.submit(digest.update, block)
            newlines += block.count(b"\n")
            final = block[-1]
            rest = _valid_through(carry, block)
            if rest is None:
                return None
            carry = rest
            cut = block.rfind(b"\n")
            if cut >= 0:  # as _scan: a last line that began in this block is kept whole
                tail, tail_at, whole = block[cut + 1:], size + cut + 1, True
            else:  # … one that spans blocks, its last _TAIL characters (at most 4 bytes each, + a cut one)
                tail = (tail + block)[-(4 * _TAIL + 3):]
                tail_at, whole = size + len(block) - len(tail), False
            size += len(block)
        if hashed is not None:
            hashed.result()
    if carry:  # the file ends inside a character
        return None
    if size and final in b"\n\r":
        return TextFile(path, "utf-8-sig", digest.hexdigest(), newlines, True, "")
    while tail and 0x80 <= tail[0] < 0xC0:  # a character cut when the tail was trimmed
        tail, tail_at = tail[1:], tail_at + 1
    last = tail.decode("utf-8-sig" if tail_at == 0 else "utf-8")
    return TextFile(path, "utf-8-sig", digest.hexdigest(), newlines + (1 if size else 0), size == 0,
                    last if whole else last[-_TAIL:])


def _utf8(data: bytes | memoryview) -> bool:
    """Whether ``data`` is valid UTF-8 (Arrow's validation of a one-value string array over it, no copy)."""
    import pyarrow as pa

    offsets = pa.py_buffer(struct.pack("<ii", 0, len(data)))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _valid_through(carry: bytes, block: bytes) -> bytes | None:
    """Validate ``block`` as the continuation of a file whose previous blocks were valid UTF-8 but for ``carry``
    (a character they cut); returns the new carry, or None if the bytes are not UTF-8."""
    start = 0
    while start < min(3, len(block)) and 0x80 <= block[start] < 0xC0:  # a cut character's last bytes
        start += 1
    if carry or start:
        head = carry + block[:start]
        if start == len(block) and len(head) < _width(head[0]):  # a tiny last block: still inside the character
            return head
        if not _utf8(head):
            return None
    end = len(block)  # where a character the block's end cuts begins: its bytes go with the next block
    lead = end - 1
    while lead > max(start, end - 4) and 0x80 <= block[lead] < 0xC0:
        lead -= 1
    if lead >= start and block[lead] >= 0xC0 and lead + _width(block[lead]) > end:
        end = lead
    return block[end:] if _utf8(memoryview(block)[start:end]) else None


def _width(lead: int) -> int:
    """Bytes of the UTF-8 character ``lead`` begins (an invalid lead fails validation later, whatever this says)."""
    return 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
