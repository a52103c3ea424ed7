"""Errors users see. Each maps to an exit code and carries a message naming file/row/field/rule."""

from __future__ import annotations


class CityShareError(Exception):
    """Base class; ``exit_code`` follows the CLI contract (1 blocked by a gate, 2 bad input)."""

    exit_code = 2


class SourceError(CityShareError):
    """A department source could not be read (missing file, bad CSV, API error)."""


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
