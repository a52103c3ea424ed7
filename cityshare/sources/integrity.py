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
and the file's digest, in the same pass (8 MB blocks: memory stays bounded).
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cityshare.errors import FileRejected, SourceError

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
        raise SourceError(f"servers[0].encoding {declared!r} is not a known encoding") from None
    return ["utf-8-sig", "gb18030" if name in _GB else name]


def check_text(path: Path, declared: str) -> TextFile:
    """Decode ``path`` strictly with the declared encoding's candidates; FileRejected if none fits."""
    with path.open("rb") as fh:
        head = fh.read(4)
    try:
        tried = candidates(declared)
    except SourceError as exc:
        raise SourceError(f"{path}: {exc}") from None
    if declared.lower() == "auto" and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        tried = ["utf-16"]
    stops: list[_Stop] = []
    for codec in tried:
        result = _scan(path, codec)
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
