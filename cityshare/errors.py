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
