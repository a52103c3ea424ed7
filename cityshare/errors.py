"""Errors users see. Each maps to an exit code and carries a message naming file/row/field/rule."""

from __future__ import annotations

import errno
import re


class CityShareError(Exception):
    """Base class; ``exit_code`` follows the CLI contract (1 blocked by a gate, 2 bad input)."""

    exit_code = 2


class SourceError(CityShareError):
    """A department source could not be read (unreachable API, dropped connection, bad CSV …).

    A plain SourceError may pass (a source down or slow): an Airflow land task retries it. What cannot pass
    by waiting is an :class:`UnusableInput`.
    """


class UnusableInput(SourceError):
    """The delivery or the source's contract cannot be used as it is: an empty or non-CSV file, duplicated
    headers, a ragged row, invalid JSON, a broken workbook, a source setting that is missing or wrong.

    A verdict, not a transient fault: the CLI exits 2 and an Airflow land task fails at once with the one-line
    message (no retry; a corrected delivery or contract and a re-run of the window are the remedy).
    """


class GateBlocked(CityShareError):
    """A batch failed its contract gate; it is kept out of the warehouse."""

    exit_code = 1


class AuditFailed(CityShareError):
    """A built table failed its published contract; the previous version stays published."""

    exit_code = 1


class BuildFailed(CityShareError):
    """dbt failed to build the layers."""

    exit_code = 1


class NoDelivery(SourceError):
    """Nothing was delivered for the load window (no file): a timeliness miss, not bad data.

    The CLI exits 2 with the message; an Airflow land task is skipped with it (no retry: a re-run
    of the window after the delivery arrives is the remedy).
    """


class FileRejected(GateBlocked):
    """A delivered file failed an integrity check before parsing: the batch is blocked (exit 1).

    ``rule`` is ``file_truncated`` or ``encoding_invalid``; the message names the file, the line
    (and byte offset for an encoding fault) and the rule on one line.
    """

    def __init__(self, rule: str, path: object, where: str, detail: str) -> None:
        self.rule, self.path, self.where, self.detail = rule, path, where, detail
        super().__init__(f"{path}: {where}: {detail} [{rule}]")


class InfrastructureError(CityShareError):
    """The machine, not the data: a full disk, a read-only or unwritable volume, a held lock, no memory, or
    state that needs an operator (exit 3, never the gate's 1). The message says what to do."""

    exit_code = 3

    @property
    def reason_zh(self) -> str:
        """The fault in the words a portal user reads (no paths, no advice meant for the operator)."""
        text = str(self)
        return next((zh for zh in ("磁盘已满", "只读文件系统", "无访问权限", "内存不足", "仓库被占用") if zh in text),
                    "存储不可用")


class Stopped(CityShareError):
    """Stopped on SIGTERM at a safe point (exit 143, as a process ended by SIGTERM)."""

    exit_code = 143


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS,)
_NO_ACCESS = (errno.EACCES, errno.EPERM)
# the same faults as DuckDB, SQLite and dbt word them when they wrap the OSError in their own exception
_TEXT = (("no space left on device", _DISK_FULL[0]), ("database or disk is full", _DISK_FULL[0]),
         ("disk quota exceeded", _DISK_FULL[1]), ("read-only file system", _READ_ONLY[0]),
         ("permission denied", _NO_ACCESS[0]))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen and len(seen) < 20:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return seen


def infrastructure_error(exc: BaseException, where: object = None) -> InfrastructureError | None:
    """The one-line, exit-3 form of an infrastructure fault anywhere in ``exc``'s chain; None if it is not one.

    ``where`` names the data dir in the advice (df -h, mount)."""
    place = f" {where}" if where else ""
    for e in _chain(exc):
        if isinstance(e, InfrastructureError):
            return e
        code, name = getattr(e, "errno", None), getattr(e, "filename", None)
        text = str(e).lower()
        if code is None:
            code = next((c for phrase, c in _TEXT if phrase in text), None)
        target = f" ({name})" if name else ""
        if code in _DISK_FULL:
            return InfrastructureError(f"disk full 磁盘已满{target}: free space on the data volume (df -h{place}) and "
                                       "rerun the same command; nothing half-written was published")
        if code in _READ_ONLY:
            return InfrastructureError(f"read-only file system 只读文件系统{target}: remount the data volume read-write "
                                       f"(mount | grep{place or ' <data dir>'}) and rerun the same command")
        if code in _NO_ACCESS:
            return InfrastructureError(f"permission denied 无访问权限{target}: the user running cityshare must be able to "
                                       f"read and write it (ls -ld{place}); fix the owner or mode and rerun")
        if isinstance(e, MemoryError) or "out of memory" in text or type(e).__name__ == "OutOfMemoryException":
            return InfrastructureError("out of memory 内存不足: stop other jobs on this machine or give it more memory, "
                                       "then rerun the same command; nothing half-written was published")
        if ("could not set lock" in text or "conflicting lock" in text or "database is locked" in text):
            held = re.search(r"held in (.+? \(PID \d+\))", str(e))
            holder = held.group(1) if held else ""
            return InfrastructureError("the warehouse is locked by another process 仓库被占用"
                                       f"{' (' + holder + ')' if holder else ''}: wait for that build or task to "
                                       "finish (or stop it) and rerun the same command")
    return None
